"""Calling a model while a caller waits (a deployment's endpoints): one pooled HTTP client per server, shared by
every thread of the process, so an answer costs one HTTP round trip and no set-up.

Remote models are called at their OpenAI-compatible base URL. Local models are never loaded here (the web
process does not import torch): they are called at the model server's URL (`TASKLLM_MODEL_SERVER_URL`), which
speaks the same API, and a model server that is not running is reported as such.

Unlike `client.Caller` (runs and evals), nothing is retried after a wait: the caller is waiting, and a
deployment's error is better reported at once (502) than after a minute of backoff.
"""

import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx2
from django.conf import settings

from . import outbound
from .client import Completion, ModelCallError, parse_answer
from .models import Model, Provider

_clients: dict[tuple, httpx2.Client] = {}
_clients_lock = threading.Lock()
_json_object_only: set[tuple] = set()  # servers that refused json_schema


class ServingError(ModelCallError):
    """A call that failed; `status` is what the endpoint answers (502 unless the server refused the request)."""

    def __init__(self, message: str, *, status: int = 502, code: str = "model_unreachable"):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Target:
    base_url: str
    model_name: str
    api_key: str
    is_model_server: bool


def target_of(model: Model) -> Target:
    if model.provider == Provider.LOCAL:
        return Target(settings.TASKLLM_MODEL_SERVER_URL.rstrip("/"), model_server_name(model), "", True)
    return Target(model.base_url.rstrip("/"), model.model_id, model.call_api_key(), False)


def model_server_name(model: Model) -> str:
    """The name the model server knows a local model by."""
    return f"model-{model.id}"


def _client(target: Target, timeout: float) -> httpx2.Client:
    key = (target.base_url, target.api_key, timeout)
    client = _clients.get(key)
    if client is None:
        if not target.is_model_server:
            try:
                outbound.check_base_url(target.base_url)  # once per process and server: where we may send requests
            except outbound.OutboundRefused as exc:
                raise ServingError(str(exc), code="model_refused_by_policy") from None
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                headers = {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}
                client = httpx2.Client(base_url=target.base_url, headers=headers, timeout=timeout,
                                       limits=httpx2.Limits(max_connections=256, max_keepalive_connections=128))
                _clients[key] = client
    return client


def _unreachable(target: Target, exc: Exception) -> ServingError:
    if target.is_model_server and isinstance(exc, httpx2.ConnectError):
        return ServingError(f"The model server is not running at {target.base_url} (start it with "
                            "`python manage.py model_server`, or set TASKLLM_MODEL_SERVER_URL).")
    if isinstance(exc, httpx2.TimeoutException):
        return ServingError(f"The model at {target.base_url} did not answer in time.", code="model_timeout")
    return ServingError(f"Could not reach the model at {target.base_url}: {exc.__class__.__name__}.")


def _status_error(target: Target, response: httpx2.Response) -> ServingError:
    try:
        body = response.json()
        message = (body.get("error") or {}).get("message") or body.get("detail") or response.text[:300]
    except (ValueError, AttributeError):
        message = response.text[:300]
    if response.status_code >= 500 or response.status_code in (401, 403, 404, 429):
        # Our credentials or the server's health, not the caller's request: the caller sees a bad gateway.
        return ServingError(f"The model server at {target.base_url} answered {response.status_code}: {message}")
    return ServingError(f"The model server refused the request ({response.status_code}): {message}",
                        status=response.status_code, code="model_refused")


def chat(model: Model, body: dict) -> dict:
    """Send an OpenAI chat completions body (its `model` replaced by the server's name); the reply as a dict."""
    target = target_of(model)
    try:
        response = _client(target, model.timeout_seconds).post("/chat/completions",
                                                               json={**body, "model": target.model_name})
    except httpx2.HTTPError as exc:
        raise _unreachable(target, exc) from None
    if response.status_code != 200:
        raise _status_error(target, response)
    try:
        reply = response.json()
    except ValueError:
        raise ServingError(f"The model server at {target.base_url} answered with invalid JSON.") from None
    if not isinstance(reply, dict) or not reply.get("choices"):
        raise ServingError(f"The model server at {target.base_url} answered with no choices.")
    return reply


def chat_stream(model: Model, body: dict) -> tuple[Iterator[bytes], dict]:
    """Open a streamed chat completion. Returns the raw server-sent-event lines and a dict that holds, once the
    lines are consumed, the assembled `text`, any `usage` and any `confidence`. Failing to connect raises before
    any line."""
    target = target_of(model)
    client = _client(target, model.timeout_seconds)
    request = client.build_request("POST", "/chat/completions", json={**body, "model": target.model_name})
    try:
        response = client.send(request, stream=True)
    except httpx2.HTTPError as exc:
        raise _unreachable(target, exc) from None
    if response.status_code != 200:
        response.read()
        response.close()
        raise _status_error(target, response)
    collected = {"text": "", "usage": {}, "error": "", "confidence": None}

    def lines() -> Iterator[bytes]:
        parts = []
        try:
            for line in response.iter_lines():
                yield (line + "\n").encode()
                if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
                    _collect(line[5:].strip(), parts, collected)
        except httpx2.HTTPError as exc:
            collected["error"] = str(_unreachable(target, exc))
        finally:
            response.close()
            collected["text"] = "".join(parts)

    return lines(), collected


def _collect(data: str, parts: list, collected: dict) -> None:
    try:
        chunk = json.loads(data)
    except ValueError:
        return
    for choice in chunk.get("choices") or []:
        parts.append((choice.get("delta") or {}).get("content") or "")
    if chunk.get("usage"):
        collected["usage"] = chunk["usage"]
    if chunk.get("taskllm"):
        collected["confidence"] = confidence_of(chunk)


def answer(model: Model, messages: list[dict], *, schema: dict, validate) -> Completion:
    """The model's answer in `schema`'s shape, validated; a failed call comes back with `error` set."""
    server = (model.provider, model.base_url, model.model_id)
    started = time.perf_counter()
    body = {"messages": messages, "temperature": model.temperature, "max_tokens": model.max_tokens,
            "response_format": _response_format(server, schema)}
    try:
        try:
            reply = chat(model, body)
        except ServingError as exc:
            if exc.status != 400 or server in _json_object_only or "response_format" not in str(exc):
                raise
            _json_object_only.add(server)
            reply = chat(model, {**body, "response_format": {"type": "json_object"}})
    except ServingError as exc:
        return Completion(error=str(exc), latency_ms=round((time.perf_counter() - started) * 1000))
    return completion_of(reply, started, validate)


def completion_of(reply: dict, started: float, validate) -> Completion:
    choice = reply["choices"][0]
    usage = reply.get("usage") or {}
    text = (choice.get("message") or {}).get("content") or ""
    completion = Completion(text=text, latency_ms=round((time.perf_counter() - started) * 1000),
                            input_tokens=usage.get("prompt_tokens") or 0, output_tokens=usage.get("completion_tokens")
                            or 0)
    completion.answer, problem = parse_answer(text)
    completion.problems = [problem] if problem else (validate(completion.answer) if validate else [])
    completion.valid = not completion.problems
    completion.confidence = confidence_of(reply)
    return completion


def confidence_of(reply: dict) -> float | None:
    """How sure the model was, where the server says: the model server's label-score margin (`taskllm.confidence`
    in its reply or last streamed chunk), or the geometric mean of the answer's token probabilities when the
    server returns logprobs."""
    reported = (reply.get("taskllm") or {}).get("confidence")
    if isinstance(reported, int | float):
        return float(reported)
    choice = (reply.get("choices") or [{}])[0]
    tokens = ((choice.get("logprobs") or {}).get("content")) or []
    values = [t["logprob"] for t in tokens if isinstance(t, dict) and isinstance(t.get("logprob"), int | float)]
    return math.exp(sum(values) / len(values)) if values else None


def _response_format(server: tuple, schema: dict) -> dict:
    if server in _json_object_only:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
