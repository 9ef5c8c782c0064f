"""The one way to call a model: messages and an answer schema in; answer, validity, latency and tokens out.

`llm` knows nothing of projects or records: callers pass the answer's JSON schema and,
if they want validity checked, a `validate` callable that returns the answer's problems.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .models import Model, Provider


class ModelCallError(Exception):
    """A call that failed for good (after any retries); the message says why, for people."""


@dataclass
class RawReply:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Completion:
    text: str = ""
    answer: dict | None = None
    valid: bool = False
    problems: list[str] = field(default_factory=list)
    latency_ms: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    error: str = ""

    @property
    def status(self) -> str:
        return "error" if self.error else ("ok" if self.valid else "invalid")


def _provider(model: Model):
    if model.provider == Provider.LOCAL:
        from .providers import local

        return local
    from .providers import openai_compat

    return openai_compat


def complete(model: Model, messages: list[dict], *, schema: dict,
             validate: Callable[[dict], list[str]] | None = None) -> Completion:
    """Ask `model` for an answer in `schema`'s shape. Never raises for a failed call: the error is recorded."""
    started = time.perf_counter()
    provider = _provider(model)
    try:
        provider.prepare(model)  # loading a local model is not part of an answer's latency
        started = time.perf_counter()
        reply = provider.reply(model, messages, schema)
    except ModelCallError as exc:
        return Completion(error=str(exc), latency_ms=_ms_since(started))
    completion = Completion(text=reply.text, latency_ms=_ms_since(started), input_tokens=reply.input_tokens,
                            output_tokens=reply.output_tokens)
    completion.answer, parse_problem = parse_answer(reply.text)
    completion.problems = [parse_problem] if parse_problem else (validate(completion.answer) if validate else [])
    completion.valid = not completion.problems
    return completion


def parse_answer(text: str) -> tuple[dict | None, str]:
    """The JSON object in a reply (tolerating code fences and prose around it), or the reason there is none."""
    candidate = text.strip()
    if candidate.startswith("```"):
        candidate = candidate.strip("`").removeprefix("json").strip()
    try:
        answer = json.loads(candidate)
    except json.JSONDecodeError:
        start, end = candidate.find("{"), candidate.rfind("}")
        if start == -1 or end <= start:
            return None, "the answer is not JSON"
        try:
            answer = json.loads(candidate[start : end + 1])
        except json.JSONDecodeError as exc:
            return None, f"the answer is not valid JSON ({exc.msg})"
    if not isinstance(answer, dict):
        return None, "the answer is not a JSON object"
    return answer, ""


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
