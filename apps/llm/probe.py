"""Test connection as a probe: what does this server do with each way of asking for structured output?

For each method in turn it sends the task's schema and messages once and checks that the reply parses
and fits the schema. The report says what it found ("reachable; json_schema not supported; json_object with
the schema works; 1.3 s per answer") and which method to save: the first that worked, in the order of
`METHODS` (the server enforcing the schema before the schema merely described in the prompt).
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
PROBE_MAX_TOKENS = 200

WORKS, OUTSIDE, NOT_JSON, NOT_SUPPORTED, FAILED = "works", "outside the schema", "not JSON", "not supported", "error"


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
        answered = [r.latency_ms for r in self.results if r.outcome in (WORKS, OUTSIDE, NOT_JSON)]
        return sum(answered) / len(answered) / 1000 if answered else None

    @property
    def summary(self) -> str:
        if not self.reachable:
            return f"unreachable: {self.error}"
        if self.error:
            return f"reachable, but: {self.error}"
        parts = ["reachable"]
        by_method = {r.method: r for r in self.results}
        ignored = [by_method.get(m) for m in (StructuredOutput.JSON_SCHEMA, StructuredOutput.JSON_OBJECT)]
        if all(r is not None and r.outcome in (OUTSIDE, NOT_JSON) for r in ignored):
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
    answer, problem = parse_reply(reply.text, schema)
    if problem:
        return MethodResult(method, NOT_JSON, problem, _ms(started), reply.text)
    problems = schema_problems(answer, schema)
    if problems:
        return MethodResult(method, OUTSIDE, "; ".join(problems), _ms(started), reply.text)
    return MethodResult(method, WORKS, "", _ms(started), reply.text)


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
