"""Classification: the answer is one label from the project's label set, {"label": "<label>"}."""

from django import forms

from .base import Kind, Score, json_answer


def label_match(expected: dict, answer) -> bool:
    """The exact expected label (reasoning and other keys are not looked at)."""
    return isinstance(answer, dict) and answer.get("label") == (expected or {}).get("label")


class LabelField(forms.ChoiceField):
    """A label select whose value is an answer: {"label": "<label>"}."""

    def __init__(self, *, labels, **kwargs):
        kwargs.pop("max_length", None)
        super().__init__(choices=[("", "—"), *((label, label) for label in labels)], **kwargs)

    def prepare_value(self, value):
        return value.get("label", "") if isinstance(value, dict) else value

    def clean(self, value):
        answer = json_answer(value)
        if answer is not None:
            return answer
        value = super().clean(value)
        return {"label": value} if value else None


class Classification(Kind):
    name = "classification"
    settings_fields = ("labels",)
    title = "Classification"
    record_field = "label"
    answer_noun = "Label"
    breakdown = "labels"

    def answer_properties(self, project) -> dict:
        return {"label": {"type": "string", "enum": list(project.labels)}}

    def answer_instruction(self, project) -> str:
        return ('Answer with JSON only, in the form {"label": "<label>"}, where <label> is one of: '
                + ", ".join(project.labels) + ".")

    def parse(self, project, text: str) -> dict | None:
        """A bare label, exactly one of the project's (quotes, spaces and a final full stop aside)."""
        candidate = text.strip().strip("\"'`").strip().removesuffix(".").strip()
        return {"label": candidate} if candidate in project.labels else None

    def answer_problems(self, project, answer: dict, *, text: str) -> list[str]:
        label = answer.get("label")
        if not isinstance(label, str):
            return ["the answer has no label"]
        if label not in project.labels:
            return [f"'{label}' is not one of the project's labels"]
        return []

    def identity(self, answer) -> str:
        return str(answer.get("label", "")) if isinstance(answer, dict) else ""

    def score(self, project, expected, answer, *, valid: bool, text: str = "") -> Score:
        hit = valid and label_match(expected, answer)
        return Score(hit, 1.0 if hit else 0.0)

    def answer_summary(self, answer) -> str:
        return (answer or {}).get("label", "") if isinstance(answer, dict) else ""

    def categories(self, answer) -> list[str]:
        label = self.answer_summary(answer)
        return [label] if isinstance(label, str) and label else []

    def record_problems(self, project, *, text: str, label: str, entities) -> list[str]:
        problems = []
        if entities:
            problems.append("entities are only for NER projects; this is a classification project")
        if label and label not in project.labels:
            if project.labels:
                known = ", ".join(project.labels[:20])
                problems.append(f"unknown label '{label}' (the project's labels are: {known})")
            else:
                problems.append(f"unknown label '{label}': the project has no labels yet; add them in its settings")
        return problems

    def expected_answer(self, record) -> dict | None:
        return {"label": record.label} if record.label else None

    def settings_problem(self, *, labels: list, entity_types: list) -> str:
        return "" if len(labels) >= 2 else "A classification project needs at least two labels."

    def choices(self, project) -> list[tuple[str, dict]]:
        return [(label, {"label": label}) for label in project.labels]

    def filter_choices(self, project) -> list[str]:
        return list(project.labels)

    def filter_lookup(self, value: str) -> dict:
        return {"answer__label": value}

    def form_field(self, project, **kwargs) -> forms.Field:
        return LabelField(labels=project.labels, **kwargs)


KIND = Classification()
