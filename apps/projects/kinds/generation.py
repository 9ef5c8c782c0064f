"""Generation: free-text answers, {"answer": "<text>"}, graded by people or a judge model."""

from django import forms

from .base import Kind, Score, json_answer


class TextAnswerField(forms.CharField):
    """A text area whose value is an answer: {"answer": "<text>"}."""

    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 3}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return value.get("answer", "") if isinstance(value, dict) else value

    def clean(self, value):
        answer = json_answer(value)
        if answer is not None:
            return answer
        value = super().clean(value)
        return {"answer": value} if value else None


class Generation(Kind):
    name = "generation"
    settings_fields = ("judge_rubric",)
    title = "Generation"
    uses_judge = True

    def answer_properties(self, project) -> dict:
        return {"answer": {"type": "string"}}

    def answer_instruction(self, project) -> str:
        return 'Answer with JSON only, in the form {"answer": "<your answer>"}.'

    def answer_problems(self, project, answer: dict, *, text: str) -> list[str]:
        return [] if isinstance(answer.get("answer"), str) else ["the answer has no 'answer' text"]

    def score(self, project, expected, answer, *, valid: bool, text: str = "") -> Score:
        return Score(None if valid else False, None if valid else 0.0)

    def answer_summary(self, answer) -> str:
        value = (answer or {}).get("answer", "") if isinstance(answer, dict) else ""
        return value[:80]

    def form_field(self, project, **kwargs) -> forms.Field:
        return TextAnswerField(**kwargs)


KIND = Generation()
