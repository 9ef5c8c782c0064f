"""A server's own error text, from whatever shape it comes in, short enough to show to people.

OpenAI and vLLM say `{"error": {"message": ...}}`, some servers `{"error": "..."}` or `{"message": ...}`,
FastAPI servers (transformers serve) `{"detail": "..."}` or a list of validation errors, and a proxy in
front of any of them a page of HTML. People see the message, the status and the URL, never an HTML dump.
"""

import html
import json
import re

MAX_CHARS = 300
_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.IGNORECASE | re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def server_error_text(body, raw: str = "") -> str:
    """The message in an error body (parsed JSON or text); else a short, tag-free excerpt of `raw`."""
    if isinstance(body, str | bytes):
        try:
            body = json.loads(body)
        except (ValueError, TypeError):
            pass
    message = _message_of(body)
    return short(message if message else (raw or (body if isinstance(body, str) else "")))


def _message_of(body) -> str:
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str) and error:
        return error
    if body.get("message"):
        return str(body["message"])
    detail = body.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):  # FastAPI's validation errors: [{"loc": [...], "msg": "..."}]
        return "; ".join(_validation_error(item) for item in detail[:5])
    return ""


def _validation_error(item) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc") or [] if part != "body")
    return f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", ""))


def short(text: str) -> str:
    """Text without markup or control characters, whitespace collapsed, at most MAX_CHARS characters."""
    text = html.unescape(_TAG.sub(" ", str(text)))
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"
