"""Score one answer against a test case's expected answer (the task kind decides how); the judge model's prompt."""

import json

from apps.projects.kinds import Score, answer_key, kind_for, strip_reasoning

__all__ = ["JUDGE_SCHEMA", "Score", "answer_key", "judge_messages", "judge_problems", "score_answer"]


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
DEFAULT_RUBRIC = "The answer says the same as the expected answer, with no wrong or missing facts."


def judge_messages(project, *, text: str, expected, answer) -> list[dict]:
    rubric = project.judge_rubric.strip() or DEFAULT_RUBRIC
    shown = strip_reasoning(answer)
    return [
        {"role": "system", "content": JUDGE_SYSTEM.format(rubric=rubric)},
        {"role": "user", "content": f"Input:\n{text}\n\nExpected answer:\n{json.dumps(expected, ensure_ascii=False)}"
                                    f"\n\nModel's answer:\n{json.dumps(shown, ensure_ascii=False)}"},
    ]


def judge_problems(answer: dict) -> list[str]:
    return [] if isinstance(answer.get("pass"), bool) else ["the judge's reply has no true/false 'pass'"]
