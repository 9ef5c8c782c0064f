"""Any OpenAI-compatible chat completions server (OpenAI, vLLM, Ollama, llama.cpp's server, transformers serve).

Structured output is asked for the model's way (`Model.structured_output`, see llm/structured.py); a model
still on `json_schema` whose server refuses it (a 4xx, or a 5xx whose text names the method) gets
`json_object` from then on, and a server that refuses the `stop` parameter is asked without it. Rate limits,
server errors and dropped connections are retried with exponential backoff and jitter, honouring
Retry-After; a timeout is retried only on a hosted API, because a self-hosted server that timed out is
still working on the request and a retry only lengthens its queue.
Errors name the URL and carry the server's own text; a refusal about the model lists the server's model ids.
"""

import asyncio
import json
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import openai

from .. import outbound, structured
from ..client import ModelCallError, RawReply
from ..errors import server_error_text, short
from ..models import StructuredOutput

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
RETRY_AFTER_CAP_SECONDS = 60.0
MODELS_LIST_TIMEOUT_SECONDS = 5.0
# A malformed 200 (invalid JSON, or JSON of the wrong shape) is a server hiccup too: retried.
TRANSIENT = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError,
             openai.APIResponseValidationError, json.JSONDecodeError)

ASYNC = True  # called from an asyncio event loop (see llm.client.Caller)
_json_object_only: set[tuple] = set()  # (base_url, model_id) of servers that refused json_schema
_no_stop: set[tuple] = set()  # (base_url, model_id) of servers that refused the `stop` parameter


class MethodRefused(ModelCallError):
    """The server does not support the way structured output was asked for (said by a 4xx or a 5xx)."""


def prepare(model) -> None:
    """Nothing to load for a remote server; its base URL must be one TaskLLM may call (llm/outbound.py)."""
    outbound.check_base_url(model.base_url)
    # Walks the parent chain here, outside the event loop, so open_client reads the parents from the cache
    # (a database query inside the loop is refused).
    model.call_api_key()


async def open_client(model) -> openai.AsyncOpenAI:
    # Retries are ours (with Retry-After and jitter); the client's own are off.
    return openai.AsyncOpenAI(base_url=model.base_url or None, api_key=model.call_api_key() or "not-needed",
                              timeout=model.timeout_seconds, max_retries=0,
                              http_client=openai.DefaultAsyncHttpxClient(follow_redirects=False))


async def areply(client: openai.AsyncOpenAI, model, messages: list[dict], schema: dict, *,
                 method: str | None = None, on_pressure: Callable[[], None] | None = None) -> RawReply:
    """One answer. `method` overrides the model's (the probe tries each); then a refusal raises MethodRefused."""
    server = (model.base_url, model.model_id)
    attempts, attempt = model.max_retries + 1, 0
    while True:  # a fallback (json_object for json_schema, no `stop`) is asked at once and is not a try
        chosen = method or _method_of(model, server)
        stop = [] if server in _no_stop else structured.stop_sequences(schema)
        try:
            response = await client.post("/chat/completions", cast_to=dict,
                                         body=_body(model, messages, schema, chosen, stop))
        except openai.APIStatusError as exc:
            text = server_error_text(exc.body, exc.response.text)
            if stop and exc.status_code in (400, 422) and structured.names_stop(text):
                _no_stop.add(server)
                continue
            if _refuses_method(exc, text, chosen):
                if method is None and chosen == StructuredOutput.JSON_SCHEMA and server not in _json_object_only:
                    _json_object_only.add(server)
                    continue
                raise MethodRefused(f"The server does not support {chosen}: {_describe(exc)}") from None
            if not isinstance(exc, TRANSIENT):
                raise ModelCallError(await _refusal(client, model, exc, text)) from None
            failure = exc
        except TRANSIENT as exc:
            if isinstance(exc, openai.APITimeoutError) and not _may_retry_timeout(model, exc):
                if on_pressure:
                    on_pressure()
                raise ModelCallError(_describe(exc, model) + " The request was cancelled, not retried: the server "
                                     "may still be working on it. Lower the concurrency or raise the timeout."
                                     ) from None
            failure = exc
        else:
            return _reply_of(response, chosen, stopped=bool(stop))
        if on_pressure and isinstance(failure, openai.RateLimitError | openai.APITimeoutError):
            on_pressure()
        if attempt == attempts - 1:
            raise ModelCallError(f"Gave up after {attempts} tries: {_describe(failure, model)}") from None
        await asyncio.sleep(_delay(attempt, failure))
        attempt += 1


def _method_of(model, server: tuple) -> str:
    method = getattr(model, "structured_output", "") or StructuredOutput.JSON_SCHEMA
    if method == StructuredOutput.JSON_SCHEMA and server in _json_object_only:
        return StructuredOutput.JSON_OBJECT
    return method


def _body(model, messages: list[dict], schema: dict, method: str, stop: list[str]) -> dict:
    # Sent with the client's generic post: the same request, errors and auth as chat.completions.create,
    # without re-validating our plain-dict parameters or building typed objects, which cost CPU on every call.
    body = {"model": model.model_id, "messages": structured.messages_for(method, messages, schema),
            "temperature": model.temperature, "max_tokens": model.max_tokens,
            **structured.request_fields(method, schema)}
    if stop:
        body["stop"] = stop
    return body


def _refuses_method(exc: openai.APIStatusError, text: str, method: str) -> bool:
    """A 4xx, or a 5xx (llama.cpp's server crashes on an OpenAI-style json_schema), about the method."""
    if exc.status_code in (401, 403, 404, 408, 409, 429):
        return False
    return structured.names_the_method(text, method)


async def _refusal(client, model, exc: openai.APIStatusError, text: str) -> str:
    described = _describe(exc, model, text)
    if exc.status_code in (400, 404, 422) and _about_the_model(model, text, exc.status_code):
        ids = await _listed_ids(client)
        if ids and model.model_id not in ids:
            described += f" This server serves: {', '.join(ids[:20])}. Set one of them as the model id."
    prefix = "The server refused the request" if exc.status_code == 400 else f"The server answered {exc.status_code}"
    return f"{prefix}: {described}"


def _about_the_model(model, text: str, status: int) -> bool:
    lowered = text.lower()
    return status == 404 or "model" in lowered or (model.model_id and model.model_id.lower() in lowered)


async def _listed_ids(client: openai.AsyncOpenAI) -> list[str]:
    """The model ids a server lists at /models (empty when it lists none or cannot say)."""
    try:
        listing = await client.get("/models", cast_to=dict, options={"timeout": MODELS_LIST_TIMEOUT_SECONDS})
    except (openai.OpenAIError, json.JSONDecodeError):
        return []
    data = listing.get("data") if isinstance(listing, dict) else None
    return [str(item["id"]) for item in data or [] if isinstance(item, dict) and item.get("id")]


def server_model_ids(model) -> list[str]:
    """The model ids the model's server lists, for the model form's pick list; raises ModelCallError."""

    prepare(model)  # a base URL TaskLLM may call (llm/outbound.py)

    async def fetch():
        client = await open_client(model)
        try:
            return await client.get("/models", cast_to=dict, options={"timeout": MODELS_LIST_TIMEOUT_SECONDS})
        finally:
            await client.close()

    try:
        listing = asyncio.run(fetch())
    except (openai.OpenAIError, json.JSONDecodeError) as exc:
        raise ModelCallError(_describe(exc, model)) from None
    data = listing.get("data") if isinstance(listing, dict) else None
    return [str(item["id"]) for item in data or [] if isinstance(item, dict) and item.get("id")]


def _may_retry_timeout(model, exc: openai.APITimeoutError) -> bool:
    """Retry a timeout only before the server had the request (connecting) or on a hosted API."""
    from ..services import is_hosted

    cause = type(exc.__cause__).__name__ if exc.__cause__ else ""
    return "Connect" in cause or "Pool" in cause or is_hosted(model.base_url)


def _reply_of(response, method: str, *, stopped: bool) -> RawReply:
    choices = response.get("choices") if isinstance(response, dict) else None
    if not choices:
        raise ModelCallError("The server answered with no choices.")
    usage = response.get("usage") or {}
    message = choices[0].get("message") or {}
    text = message.get("content") or ""
    if stopped:
        text = structured.close_stopped(text)
    return RawReply(
        text=text,
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
        method=method,
    )


def _delay(attempt: int, exc: Exception) -> float:
    backoff = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt) * random.uniform(0.5, 1.5)
    return max(backoff, _retry_after(exc))


def _retry_after(exc: Exception) -> float:
    response = getattr(exc, "response", None)
    if response is None:
        return 0.0
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return min(RETRY_AFTER_CAP_SECONDS, float(headers["retry-after-ms"]) / 1000)
        if "retry-after" in headers:
            value = headers["retry-after"]
            try:
                return min(RETRY_AFTER_CAP_SECONDS, float(value))
            except ValueError:
                return min(RETRY_AFTER_CAP_SECONDS, max(0.0, parsedate_to_datetime(value).timestamp() - time.time()))
    except (TypeError, ValueError):
        return 0.0
    return 0.0


def _url(exc: Exception, model=None) -> str:
    request = getattr(exc, "request", None)
    try:
        return str(request.url) if request is not None else (model.base_url if model else "")
    except RuntimeError:  # an error built without a request
        return model.base_url if model else ""


def _describe(exc: Exception, model=None, text: str | None = None) -> str:
    url = _url(exc, model)
    if isinstance(exc, openai.APITimeoutError):
        seconds = f" within {model.timeout_seconds:g} s" if model is not None else ""
        return f"no answer from {url}{seconds}."
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return f"the answer from {url} was not valid JSON"
    if isinstance(exc, openai.APIConnectionError):
        reason = short(str(exc.__cause__)) if exc.__cause__ else "it dropped the connection"
        return f"could not connect to {url} ({reason})"
    if isinstance(exc, openai.APIStatusError):
        text = text if text is not None else server_error_text(exc.body, exc.response.text)
        return f"HTTP {exc.status_code} from {url}: {text or 'no error text'}"
    return short(str(exc))
