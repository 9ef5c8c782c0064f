"""Freeze a project's training examples into an OpenAI chat fine-tuning file, and say why one cannot be used."""

import hashlib
import json
from dataclasses import dataclass, field

from apps.review.exporters import openai_chat_line
from apps.review.models import TestCase, TrainingExample

from .models import Backend

MIN_EXAMPLES = {Backend.OPENAI: 10, Backend.LOCAL: 2}
MAX_TOKENS = {Backend.OPENAI: 65_536, Backend.LOCAL: 2_048}
ROLES = {"system", "user", "assistant"}


def estimate_tokens(text: str) -> int:
    """About four characters a token: good enough to refuse what cannot fit, without loading a tokenizer."""
    return max(1, len(text) // 4)


@dataclass
class TrainingFile:
    training: list[dict] = field(default_factory=list)
    validation: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    token_estimate: int = 0

    @staticmethod
    def jsonl(lines: list[dict]) -> bytes:
        return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jsonl(self.training)).hexdigest()


def examples_for(project, point_ids=()) -> list[TrainingExample]:
    examples = project.training_examples.order_by("id")
    if point_ids:
        examples = examples.filter(points__in=point_ids).distinct()
    return list(examples)


def build(project, *, backend: str, point_ids=(), validation_share: float = 0.0) -> TrainingFile:
    """One {"messages": [...]} line per example, the answer as the assistant's turn; every problem listed."""
    examples = examples_for(project, point_ids)
    result = TrainingFile()
    held_out = set(TestCase.objects.filter(project=project).values_list("text_hash", flat=True))
    seen: dict[str, int] = {}
    lines = []
    for example in examples:
        line = openai_chat_line(example)
        problems = _line_problems(line, backend)
        if example.text_hash in held_out:
            problems.append("its text is also a held-out test case (leakage)")
        key = json.dumps(line, sort_keys=True)
        if key in seen:
            problems.append(f"it duplicates training example #{seen[key]}")
        seen.setdefault(key, example.id)
        result.problems.extend(f"Training example #{example.id}: {p}." for p in problems)
        result.token_estimate += estimate_tokens(key)
        lines.append(line)
    minimum = MIN_EXAMPLES[backend]
    if len(lines) < minimum:
        result.problems.append(f"There are {len(lines)} training examples; this backend needs at least {minimum}.")
    result.training, result.validation = _split(lines, validation_share)
    return result


def _line_problems(line: dict, backend: str) -> list[str]:
    messages = line["messages"]
    problems = []
    roles = [m.get("role") for m in messages]
    if any(role not in ROLES for role in roles):
        problems.append(f"wrong roles ({', '.join(str(r) for r in roles)}); use system, user and assistant")
    if "user" not in roles:
        problems.append("no user message")
    if not str(messages[-1].get("content") or "").strip():
        problems.append("the assistant's answer is empty")
    tokens = estimate_tokens(json.dumps(line))
    if tokens > MAX_TOKENS[backend]:
        problems.append(f"about {tokens} tokens, over this backend's limit of {MAX_TOKENS[backend]}")
    return problems


def _split(lines: list[dict], share: float) -> tuple[list[dict], list[dict]]:
    """Every k-th line goes to validation, so the split is the same each time for the same examples."""
    if share <= 0 or len(lines) < 4:
        return lines, []
    every = max(2, round(1 / share))
    validation = [line for i, line in enumerate(lines) if i % every == every - 1]
    training = [line for i, line in enumerate(lines) if i % every != every - 1]
    return training, validation
