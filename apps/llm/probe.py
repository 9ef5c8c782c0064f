"""Test connection as a probe: what does this server do with each way of asking for structured output?

For each method in turn it sends the task's schema and messages once and checks that the reply parses
and fits the schema. A method that hands the schema to the server (`ENFORCED_METHODS`) and passes gets a
second question that does not describe the JSON at all ("What is the capital of France?"): a server that
enforces the schema still answers JSON that fits, one that ignores the field answers free text, and the
method is reported "ignored" — the task's own instruction asks for JSON, so a pass on it alone proves
nothing. The report says what it found ("reachable; ignores response_format; prompt works; 1.3 s per
answer") and which method to save: the first that worked, in the order of `METHODS` (the server enforcing
the schema before the schema merely described in the prompt).
"""

import asyncio
import copy
import time
from dataclasses import dataclass, field

from .client import ModelCallError
from .models import StructuredOutput
from .structured import parse_reply, schema_problems

METHODS = [StructuredOutput.JSON_SCHEMA, StructuredOutput.LLAMACPP_SCHEMA, StructuredOutput.GUIDED_JSON,
           StructuredOutput.OLLAMA_FORMAT, StructuredOutput.GRAMMAR, StructuredOutput.JSON_OBJECT,
           StructuredOutput.PROMPT]
# The methods that carry the schema to the server (the others describe it in the prompt): the probe checks
# that the server enforces it.
ENFORCED_METHODS = {StructuredOutput.JSON_SCHEMA, StructuredOutput.LLAMACPP_SCHEMA, StructuredOutput.GUIDED_JSON,
                    StructuredOutput.OLLAMA_FORMAT, StructuredOutput.GRAMMAR}
# Methods sent in `response_format`: when none of them is enforced, the server ignores that field.
RESPONSE_FORMAT_METHODS = (StructuredOutput.JSON_SCHEMA, StructuredOutput.LLAMACPP_SCHEMA)
# A question whose instruction says nothing of JSON: only a server that enforces the schema answers it in JSON.
PLAIN_QUESTION = [{"role": "system", "content": "You are a helpful assistant. Answer in one short sentence."},
                  {"role": "user", "content": "What is the capital of France?"}]
PROBE_MAX_TOKENS = 200

WORKS, OUTSIDE, NOT_JSON, NOT_SUPPORTED, FAILED = "works", "outside the schema", "not JSON", "not supported", "error"
IGNORED = "ignored"  # 200 and an answer to the task's prompt, but the schema is not enforced


@dataclass
class MethodResult:
    method: str
    outcome: str
    detail: str = ""
    latency_ms: int = 0
    text: str = ""

    @property
    def works(self) -> bool:
        return self.outcome == WORKS


@dataclass
class ProbeReport:
    base_url: str
    reachable: bool = False
    error: str = ""
    model_ids: list[str] = field(default_factory=list)
    results: list[MethodResult] = field(default_factory=list)

    @property
    def recommended(self) -> str:
        """The method to save: the first one that worked (empty when none did)."""
        return next((r.method for r in self.results if r.works), "")

    @property
    def seconds_per_answer(self) -> float | None:
        answered = [r.latency_ms for r in self.results if r.outcome in (WORKS, OUTSIDE, NOT_JSON, IGNORED)]
        return sum(answered) / len(answered) / 1000 if answered else None

    @property
    def summary(self) -> str:
        if not self.reachable:
            return f"unreachable: {self.error}"
        if self.error:
            return f"reachable, but: {self.error}"
        parts = ["reachable"]
        by_method = {r.method: r for r in self.results}
        tried = [by_method[m] for m in RESPONSE_FORMAT_METHODS if m in by_method]
        if tried and all(r.outcome in (IGNORED, OUTSIDE, NOT_JSON) for r in tried):
            parts.append("ignores response_format")
        for result in self.results:
            parts.append(f"{result.method} {'works' if result.works else result.outcome}")
        if self.seconds_per_answer is not None:
            parts.append(f"{self.seconds_per_answer:.1f} s per answer")
        return "; ".join(parts)

    def as_dict(self) -> dict:
        return {"base_url": self.base_url, "reachable": self.reachable, "error": self.error,
                "summary": self.summary, "recommended": self.recommended,
                "seconds_per_answer": self.seconds_per_answer, "model_ids": self.model_ids,
                "results": [{"method": r.method, "outcome": r.outcome, "detail": r.detail,
                             "latency_ms": r.latency_ms, "text": r.text[:300]} for r in self.results]}


def probe(model, *, messages: list[dict], schema: dict, methods: list[str] | None = None) -> ProbeReport:
    """Try each method once against `model`'s server (no retries, at most PROBE_MAX_TOKENS tokens)."""
    return asyncio.run(_probe(model, messages, schema, methods or METHODS))


async def _probe(model, messages, schema, methods) -> ProbeReport:
    from .providers import openai_compat

    trial = copy.copy(model)
    trial.max_retries = 0
    trial.max_tokens = min(model.max_tokens, PROBE_MAX_TOKENS)
    report = ProbeReport(base_url=model.base_url)
    try:
        openai_compat.prepare(trial)  # a base URL TaskLLM may call (llm/outbound.py)
    except ModelCallError as exc:
        report.error = str(exc)
        return report
    client = await openai_compat.open_client(trial)
    try:
        report.model_ids = await openai_compat._listed_ids(client)
        for method in methods:
            result = await _try(openai_compat, client, trial, messages, schema, method)
            if result.outcome == FAILED and not report.results:
                # The first call failed for a reason other than the method (no server, a wrong model id or
                # key, a timeout): the other methods would fail the same way.
                report.reachable = "could not connect" not in result.detail
                report.error = result.detail
                return report
            report.reachable = True
            report.results.append(result)
    finally:
        await client.close()
    return report


async def _try(provider, client, model, messages, schema, method) -> MethodResult:
    started = time.perf_counter()
    try:
        reply = await provider.areply(client, model, messages, schema, method=method)
    except provider.MethodRefused as exc:
        return MethodResult(method, NOT_SUPPORTED, str(exc), _ms(started))
    except ModelCallError as exc:
        return MethodResult(method, FAILED, str(exc), _ms(started))
    latency_ms = _ms(started)
    outcome, detail = _judged(reply.text, schema)
    if outcome == WORKS and method in ENFORCED_METHODS:
        outcome, detail = await _enforcement(provider, client, model, schema, method)
    return MethodResult(method, outcome, detail, latency_ms, reply.text)


async def _enforcement(provider, client, model, schema, method) -> tuple[str, str]:
    """WORKS when the server holds even an answer to PLAIN_QUESTION to the schema, else IGNORED (or FAILED)."""
    try:
        reply = await provider.areply(client, model, PLAIN_QUESTION, schema, method=method)
    except ModelCallError as exc:
        return FAILED, f"asked a question that does not describe the JSON: {exc}"
    outcome, detail = _judged(reply.text, schema)
    if outcome == WORKS:
        return WORKS, ""
    return IGNORED, (f"the schema is not enforced: a question that does not describe the JSON got "
                     f"{reply.text[:80]!r} ({detail})")


def _judged(text: str, schema: dict) -> tuple[str, str]:
    answer, problem = parse_reply(text, schema)
    if problem:
        return NOT_JSON, problem
    problems = schema_problems(answer, schema)
    if problems:
        return OUTSIDE, "; ".join(problems)
    return WORKS, ""


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
