"""A toy fourth task kind, yes/no, written the way a new kind is written: one module (and its partials in
tests/kinds/templates/kinds/yes_no/). It exists only in the test suite, to show that runs, review and evals need
no change for a new kind."""

from django import forms

from apps.projects.kinds import Kind, json_answer

ANSWERS = ("yes", "no")


class YesNoField(forms.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.pop("max_length", None)
        super().__init__(choices=[("", "—"), *((a, a) for a in ANSWERS)], **kwargs)

    def prepare_value(self, value):
        return value.get("answer", "") if isinstance(value, dict) else value

    def clean(self, value):
        answer = json_answer(value)
        if answer is not None:
            return answer
        value = super().clean(value)
        return {"answer": value} if value else None


class YesNo(Kind):
    name = "yes_no"
    title = "Yes/no"

    def answer_properties(self, project) -> dict:
        return {"answer": {"type": "string", "enum": list(ANSWERS)}}

    def answer_instruction(self, project) -> str:
        return 'Answer with JSON only: {"answer": "yes"} or {"answer": "no"}.'

    def parse(self, project, text: str) -> dict | None:
        word = text.strip().strip(".!").lower()
        return {"answer": word} if word in ANSWERS else None

    def answer_problems(self, project, answer: dict, *, text: str) -> list[str]:
        return [] if answer.get("answer") in ANSWERS else ["the answer is neither yes nor no"]

    def identity(self, answer) -> str:
        return str(answer.get("answer", "")) if isinstance(answer, dict) else ""

    def answer_summary(self, answer) -> str:
        return self.identity(answer)

    def choices(self, project) -> list[tuple[str, dict]]:
        return [(a, {"answer": a}) for a in ANSWERS]

    def filter_choices(self, project) -> list[str]:
        return list(ANSWERS)

    def filter_lookup(self, value: str) -> dict:
        return {"answer__answer": value}

    def form_field(self, project, **kwargs) -> forms.Field:
        return YesNoField(**kwargs)


KIND = YesNo()
