"""Score one answer against a test case's expected answer, by task kind; and the judge model's prompt."""

import hashlib
import json
from dataclasses import dataclass

from . import metrics


@dataclass(frozen=True)
class Score:
    passed: bool | None  # None: a judge model must decide
    score: float | None = None
    true_positives: int | None = None
    false_positives: int | None = None
    false_negatives: int | None = None


def score_answer(project, expected: dict, answer, *, valid: bool) -> Score:
    """Classification: the exact label. NER: entity F1 at least the project's threshold. Generation: the judge's."""
    kind = project.task_kind
    if kind == "classification":
        hit = valid and metrics.label_match(expected, answer)
        return Score(hit, 1.0 if hit else 0.0)
    if kind == "ner":
        spans = metrics.span_score(expected, answer if valid else None)
        return Score(spans.f1 >= project.f1_threshold - 1e-9, spans.f1, spans.true_positives,
                     spans.false_positives, spans.false_negatives)
    return Score(None if valid else False, None if valid else 0.0)


def answer_key(answer) -> str:
    """A short digest of the answer as consistency compares it (reasoning left out, entities as a multiset)."""
    return hashlib.blake2b(metrics.answer_identity(answer).encode(), digest_size=16).hexdigest()


JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string"}, "pass": {"type": "boolean"}},
    "required": ["reason", "pass"],
    "additionalProperties": False,
}
JUDGE_SYSTEM = ("You grade answers of a model against a rubric. Read the input, the expected answer and the "
                "model's answer; decide whether the model's answer passes.\n\nRubric:\n{rubric}\n\n"
                'Reply with JSON only: {{"reason": "<one sentence>", "pass": true or false}}.')
DEFAULT_RUBRIC = "The answer says the same as the expected answer, with no wrong or missing facts."


def judge_messages(project, *, text: str, expected, answer) -> list[dict]:
    rubric = project.judge_rubric.strip() or DEFAULT_RUBRIC
    shown = {k: v for k, v in answer.items() if k != "reasoning"} if isinstance(answer, dict) else answer
    return [
        {"role": "system", "content": JUDGE_SYSTEM.format(rubric=rubric)},
        {"role": "user", "content": f"Input:\n{text}\n\nExpected answer:\n{json.dumps(expected, ensure_ascii=False)}"
                                    f"\n\nModel's answer:\n{json.dumps(shown, ensure_ascii=False)}"},
    ]


def judge_problems(answer: dict) -> list[str]:
    return [] if isinstance(answer.get("pass"), bool) else ["the judge's reply has no true/false 'pass'"]
