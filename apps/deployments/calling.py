"""Answering an application's call: the deployment key, the rate limit, the task endpoint, the OpenAI-compatible
gateway, the shadow candidate and the trace of each call.

The request path does the least it can: one query for the key with everything the call needs, one Redis
round trip for the rate limit, the model's HTTP call, and an append to the in-process trace buffer.
"""

import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.utils import timezone

from apps.llm import serving
from apps.llm.client import Completion, parse_answer
from apps.projects.kinds import answer_problems, kind_for, same_answer
from apps.prompts.rendering import render_messages, schema_for

from .models import DeploymentKey, Trace, TraceStatus
from .selectors import key_for_secret
from .trace_buffer import BUFFER

MAX_INPUTS = 100
_shadow_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="shadow")
_batch_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="predict-batch")


class CallError(Exception):
    """What the endpoint answers instead of an answer, in OpenAI's error shape."""

    def __init__(self, status: int, message: str, *, code: str, kind: str = "invalid_request_error",
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.kind = status, message, code, kind
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": None, "code": self.code}}


# --- who is calling ----------------------------------------------------------------------

def key_from_header(authorization: str) -> DeploymentKey:
    """The active deployment key in an `Authorization: Bearer <key>` header. A member's API token is not a
    deployment key and is refused like any unknown key."""
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise CallError(401, "Send a deployment key: Authorization: Bearer <key>.", code="missing_key",
                        kind="authentication_error")
    try:
        key = key_for_secret(secret.strip())
    except DatabaseError:
        raise CallError(503, "The deployment's settings cannot be read right now; retry shortly.",
                        code="unavailable", kind="api_error", headers={"Retry-After": "1"}) from None
    if key is None or key.revoked_at is not None:
        raise CallError(401, "This deployment key is unknown or revoked.", code="invalid_api_key",
                        kind="authentication_error")
    return key


def deployment_of(key: DeploymentKey, slug: str):
    """The key's deployment when it is the one named; any other slug is unknown to this key (404)."""
    deployment = key.deployment
    if deployment.slug != slug:
        raise CallError(404, f"No deployment '{slug}' for this key.", code="model_not_found")
    if not deployment.is_live:
        raise CallError(404, f"The deployment '{slug}' has no promoted version yet.", code="model_not_found")
    return deployment


def rate_limit(key: DeploymentKey) -> None:
    """A fixed one-minute window per key in the shared cache (Redis); over the limit → 429 with Retry-After.
    If the cache is unreachable the call goes through: a rate limit must not take the endpoint down."""
    limit = key.rate_limit_per_minute or settings.TASKLLM_DEPLOYMENT_RATE_LIMIT_PER_MINUTE
    if not limit:
        return
    now = time.time()
    window = int(now // 60)
    name = f"deployment-key-rate:{key.id}:{window}"
    try:
        cache.add(name, 0, timeout=70)
        count = cache.incr(name)
    except Exception:  # noqa: BLE001 - any cache failure fails open
        return
    if count > limit:
        retry_after = max(1, int(60 - now % 60 + 0.999))
        raise CallError(429, f"Rate limit of {limit} calls a minute for this key reached; retry in {retry_after} s.",
                        code="rate_limit_exceeded", kind="rate_limit_error", headers={"Retry-After": str(retry_after)})


# --- the task endpoint -------------------------------------------------------------------

@dataclass
class Item:
    text: str
    metadata: dict


def parse_inputs(body) -> tuple[list[Item], bool]:
    """`{"text", "metadata"}` or a list of up to 100 of them; returns the items and whether a list was sent."""
    many = isinstance(body, list)
    items = body if many else [body]
    if many and not 1 <= len(items) <= MAX_INPUTS:
        raise CallError(400, f"Send between 1 and {MAX_INPUTS} inputs.", code="too_many_inputs")
    parsed = []
    for position, item in enumerate(items):
        where = f"input {position}: " if many else ""
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
            raise CallError(400, f'{where}send {{"text": "...", "metadata": {{...}}}}.', code="invalid_input")
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise CallError(400, f"{where}metadata must be an object.", code="invalid_input")
        parsed.append(Item(item["text"], metadata))
    return parsed, many


def predict(key: DeploymentKey, deployment, items: list[Item]) -> list[dict]:
    """The kind's answer for each input, traced; a list's inputs are answered concurrently."""
    if len(items) == 1:
        return [_predict_one(key, deployment, items[0])]
    return list(_batch_pool.map(lambda item: _predict_one(key, deployment, item), items))


def _predict_one(key: DeploymentKey, deployment, item: Item) -> dict:
    started = time.perf_counter()
    project, version, model = deployment.project, deployment.prompt_version, deployment.model
    messages = render_messages(project, version, item.text)
    completion = serving.answer(model, messages, schema=schema_for(project, version),
                                validate=lambda answer: answer_problems(project, answer, text=item.text))
    trace = _trace(key, deployment, "predict", item.text, messages, completion, item.metadata, started)
    _record(trace, deployment, item.text)
    result = {"trace_id": str(trace.id), "valid": completion.valid, "problems": completion.problems,
              **({"error": completion.error} if completion.error else {}), **_answer_fields(completion.answer),
              "latency_ms": trace.latency_ms, "versions": versions(deployment)}
    return result


def _answer_fields(answer) -> dict:
    return dict(answer) if isinstance(answer, dict) else {}


def versions(deployment) -> dict:
    version = deployment.prompt_version
    return {"deployment": deployment.slug, "promotion": deployment.current_promotion_id,
            "model": {"id": deployment.model_id, "name": deployment.model.name},
            "prompt_version": {"id": version.id, "name": str(version)}}


# --- the OpenAI-compatible gateway -------------------------------------------------------

def chat_body(body) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        raise CallError(400, "Send an OpenAI chat completions body with 'model' and 'messages'.",
                        code="invalid_request")
    return body


def chat(key: DeploymentKey, deployment, body: dict) -> tuple[dict, str]:
    """Pass the messages through to the deployment's model; the model's reply (its `model` set back to the slug)
    and the trace id."""
    started = time.perf_counter()
    try:
        reply = serving.chat(deployment.model, body)
    except serving.ServingError as exc:
        completion = Completion(error=str(exc), latency_ms=_ms_since(started))
        _record(_chat_trace(key, deployment, body, completion, started), deployment, "")
        raise CallError(exc.status, str(exc), code=exc.code, kind="api_error" if exc.status >= 500
                        else "invalid_request_error") from None
    completion = serving.completion_of(reply, started, None)
    trace = _chat_trace(key, deployment, body, completion, started)
    _record(trace, deployment, trace.text)
    return {**reply, "model": deployment.slug}, str(trace.id)


def chat_stream(key: DeploymentKey, deployment, body: dict):
    """Stream the model's server-sent events through unchanged; the trace is recorded when the stream ends."""
    started = time.perf_counter()
    try:
        lines, collected = serving.chat_stream(deployment.model, body)
    except serving.ServingError as exc:
        completion = Completion(error=str(exc), latency_ms=_ms_since(started))
        _record(_chat_trace(key, deployment, body, completion, started), deployment, "")
        raise CallError(exc.status, str(exc), code=exc.code, kind="api_error") from None
    trace_id = uuid.uuid4()

    def events():
        finished = False
        try:
            yield from lines
            finished = True
        finally:  # also when the caller disconnects: closing the response closes this generator
            usage = collected["usage"] or {}
            completion = Completion(text=collected["text"], error=collected["error"],
                                    latency_ms=_ms_since(started), input_tokens=usage.get("prompt_tokens") or 0,
                                    output_tokens=usage.get("completion_tokens") or 0,
                                    confidence=collected["confidence"])
            trace = _chat_trace(key, deployment, body, completion, started, trace_id=trace_id,
                                status=None if finished else TraceStatus.DISCONNECTED)
            _record(trace, deployment, trace.text)

    return events(), str(trace_id)


def _chat_trace(key, deployment, body, completion: Completion, started: float, trace_id=None,
                status: str | None = None) -> Trace:
    messages = body["messages"]
    text = next((str(m.get("content") or "") for m in reversed(messages)
                 if isinstance(m, dict) and m.get("role") == "user"), "")
    if not completion.error and completion.answer is None:
        completion.answer, problem = parse_answer(completion.text)
        completion.problems = [problem] if problem else []
    if not completion.error and completion.answer is not None and not completion.problems:
        completion.problems = answer_problems(deployment.project, completion.answer, text=text)
    completion.valid = not completion.error and not completion.problems
    metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    if status == TraceStatus.DISCONNECTED:
        completion.valid = False
        completion.error = completion.error or "The client disconnected before the stream ended."
    trace = _trace(key, deployment, "chat", text, messages, completion, metadata, started, status=status)
    if trace_id is not None:
        trace.id = trace_id
    return trace


# --- traces, shadow and sampling ---------------------------------------------------------

def _trace(key, deployment, endpoint: str, text: str, messages: list, completion: Completion, metadata: dict,
           started: float, status: str | None = None) -> Trace:
    status = status or (TraceStatus.ERROR if completion.error else
                        TraceStatus.OK if completion.valid else TraceStatus.INVALID)
    trace = Trace(deployment_id=deployment.id, endpoint=endpoint, model_id=deployment.model_id,
                  prompt_version_id=deployment.prompt_version_id, text=text, messages=messages,
                  answer=completion.answer, raw_text=completion.text, valid=completion.valid,
                  problems=completion.problems, status=status, error=completion.error,
                  latency_ms=_ms_since(started), input_tokens=completion.input_tokens,
                  output_tokens=completion.output_tokens, confidence=completion.confidence,
                  categories=kind_for(deployment.project).categories(completion.answer),
                  metadata=metadata, key_id=key.id, created_at=timezone.now())
    trace.sampled_reason = _sample_reason(deployment, trace)
    return trace


def _sample_reason(deployment, trace: Trace) -> str:
    if deployment.sample_invalid and trace.status in (TraceStatus.INVALID, TraceStatus.ERROR):
        return "invalid answer" if trace.status == TraceStatus.INVALID else "error"
    if deployment.sample_low_confidence and trace.confidence is not None \
            and trace.confidence < deployment.sample_low_confidence:
        return "low confidence"
    if deployment.sample_share and random.random() < deployment.sample_share:
        return "random share"
    return ""


def _record(trace: Trace, deployment, text: str) -> None:
    """Hand the trace to the buffer; a share of task calls first goes to the shadow, on a thread of its own, and
    the trace follows with the shadow's answer. Neither waits for the database."""
    has_shadow = deployment.shadow_model_id and deployment.shadow_prompt_version_id and text \
        and trace.endpoint == "predict" and trace.status != TraceStatus.ERROR
    if has_shadow and random.random() < deployment.shadow_share:
        _shadow_pool.submit(_shadow_then_record, trace, deployment, text)
    else:
        BUFFER.record(trace)


def _shadow_then_record(trace: Trace, deployment, text: str) -> None:
    try:
        project, version = deployment.project, deployment.shadow_prompt_version
        completion = serving.answer(deployment.shadow_model, render_messages(project, version, text),
                                    schema=schema_for(project, version),
                                    validate=lambda answer: answer_problems(project, answer, text=text))
        trace.shadow_model_id = deployment.shadow_model_id
        trace.shadow_answer = completion.answer if not completion.error else {"error": completion.error}
        trace.shadow_agrees = (not completion.error and completion.answer is not None
                               and same_answer(project, completion.answer, trace.answer))
        if not trace.shadow_agrees and deployment.sample_shadow_disagreement and not trace.sampled_reason:
            trace.sampled_reason = "shadow disagreement"
    finally:
        BUFFER.record(trace)


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
