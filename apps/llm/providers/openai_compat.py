"""Any OpenAI-compatible chat completions server (OpenAI, vLLM, Ollama, llama.cpp's server).

Structured output asks for `json_schema`; a server that refuses it gets `json_object`
from then on. Rate limits, server errors, timeouts and dropped connections are retried
with exponential backoff and jitter, honouring Retry-After; other errors fail at once.
"""

import asyncio
import json
import random
import time
from email.utils import parsedate_to_datetime

import openai

from .. import outbound
from ..client import ModelCallError, RawReply

BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 30.0
RETRY_AFTER_CAP_SECONDS = 60.0
# A malformed 200 (invalid JSON, or JSON of the wrong shape) is a server hiccup too: retried.
TRANSIENT = (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError,
             openai.APIResponseValidationError, json.JSONDecodeError)

ASYNC = True  # called from an asyncio event loop (see llm.client.Caller)
_json_object_only: set[tuple] = set()  # (base_url, model_id) of servers that refused json_schema


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


async def areply(client: openai.AsyncOpenAI, model, messages: list[dict], schema: dict) -> RawReply:
    server = (model.base_url, model.model_id)
    attempts = model.max_retries + 1
    for attempt in range(attempts):
        body = {"model": model.model_id, "messages": messages, "temperature": model.temperature,
                "max_tokens": model.max_tokens, "response_format": _response_format(server, schema)}
        try:
            # The client's generic post: the same request, errors and auth as chat.completions.create, without
            # re-validating our plain-dict parameters or building typed objects, which cost CPU on every call.
            response = await client.post("/chat/completions", cast_to=dict, body=body)
        except openai.BadRequestError as exc:
            if server not in _json_object_only and _refuses_json_schema(exc):
                _json_object_only.add(server)
                continue
            raise ModelCallError(f"The server refused the request: {_describe(exc)}") from None
        except TRANSIENT as exc:
            if attempt == attempts - 1:
                raise ModelCallError(f"Gave up after {attempts} tries: {_describe(exc)}") from None
            await asyncio.sleep(_delay(attempt, exc))
            continue
        except openai.APIStatusError as exc:
            raise ModelCallError(f"The server answered {exc.status_code}: {_describe(exc)}") from None
        return _reply_of(response)
    raise ModelCallError(f"Gave up after {attempts} tries.")


def _response_format(server: tuple, schema: dict) -> dict:
    if server in _json_object_only:
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}


def _refuses_json_schema(exc: openai.BadRequestError) -> bool:
    text = str(exc).lower()
    return "response_format" in text or "json_schema" in text


def _reply_of(response) -> RawReply:
    choices = response.get("choices") if isinstance(response, dict) else None
    if not choices:
        raise ModelCallError("The server answered with no choices.")
    usage = response.get("usage") or {}
    message = choices[0].get("message") or {}
    return RawReply(
        text=message.get("content") or "",
        input_tokens=usage.get("prompt_tokens") or 0,
        output_tokens=usage.get("completion_tokens") or 0,
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


def _describe(exc: Exception) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "the request timed out"
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return "the server's answer was not valid JSON"
    if isinstance(exc, openai.APIConnectionError):
        return "could not connect to the server (or it dropped the connection)"
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        message = body.get("message") or (body.get("error") or {}).get("message") if body else None
        return f"HTTP {exc.status_code}: {message or exc.message}"
    return str(exc)
