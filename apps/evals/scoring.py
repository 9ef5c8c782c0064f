"""Score one answer against a test case's expected answer (the task kind decides how); the judge model's prompt."""

import json
import re

from apps.projects.kinds import Score, answer_key, kind_for, strip_reasoning

__all__ = ["JUDGE_PROMPT_NAME", "JUDGE_SCHEMA", "JUDGE_USER", "Score", "answer_key", "judge_messages", "judge_problems",
           "judge_system", "score_answer"]


def score_answer(project, expected: dict, answer, *, valid: bool, text: str = "") -> Score:
    """Classification: the exact label. NER: entity F1 (entities placed in `text`, the test case's input) at least
    the project's threshold. Generation: the judge's."""
    return kind_for(project).score(project, expected, answer, valid=valid, text=text)


JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string"}, "pass": {"type": "boolean"}},
    "required": ["reason", "pass"],
    "additionalProperties": False,
}
JUDGE_SYSTEM = ("You grade answers of a model against a rubric. Read the input, the expected answer and the "
                "model's answer; decide whether the model's answer passes.\n\nRubric:\n{rubric}\n\n"
                'Reply with JSON only: {{"reason": "<one sentence>", "pass": true or false}}.')
JUDGE_USER = "Input:\n{text}\n\nExpected answer:\n{expected}\n\nModel's answer:\n{answer}"
JUDGE_PROMPT_NAME = "Judge"
DEFAULT_RUBRIC = "The answer says the same as the expected answer, with no wrong or missing facts."


def judge_system(project) -> str:
    """The judge prompt's system message for the project's rubric (its own, else the default)."""
    return JUDGE_SYSTEM.format(rubric=project.judge_rubric.strip() or DEFAULT_RUBRIC)


def judge_messages(version, *, text: str, expected, answer) -> list[dict]:
    """The judge prompt version's messages for one answer: {text}, {expected} and {answer} filled in its user
    message (each once, so braces inside them are never read as placeholders)."""
    shown = json.dumps(strip_reasoning(answer), ensure_ascii=False)
    values = {"text": text, "expected": json.dumps(expected, ensure_ascii=False), "answer": shown}
    user = _fill(version.user_template, values)
    return [{"role": "system", "content": version.system}, {"role": "user", "content": user}]


def _fill(template: str, values: dict) -> str:
    pattern = re.compile("|".join(re.escape("{" + name + "}") for name in values))
    return pattern.sub(lambda m: values[m.group(0)[1:-1]], template)


def judge_problems(answer: dict) -> list[str]:
    return [] if isinstance(answer.get("pass"), bool) else ["the judge's reply has no true/false 'pass'"]
