from django import forms

from apps.core.limits import RECORD_TEXT_MAX
from apps.projects.kinds.base import JsonAnswerField

from .models import PointStatus, Verdict
from .paraphrases import PARAPHRASES_DEFAULT, PARAPHRASES_MAX
from .selectors import SHOW_CHOICES


def names_of(raw: str) -> list[str]:
    return [name.strip() for name in raw.splitlines() if name.strip()]


class ReviewFilterForm(forms.Form):
    show = forms.ChoiceField(choices=SHOW_CHOICES, required=False)
    label = forms.CharField(required=False)
    point = forms.IntegerField(required=False)
    by = forms.IntegerField(required=False)

    def filters(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        return {"show": data.get("show") or "ungraded", "label": data.get("label") or "",
                "point_id": data.get("point"), "graded_by": data.get("by")}


class GradeForm(forms.Form):
    verdict = forms.ChoiceField(choices=Verdict.choices, required=False)
    corrected_answer = JsonAnswerField(required=False)  # a JSON object, or None when left empty
    point_names = forms.CharField(required=False)
    comment = forms.CharField(required=False)
    seconds_spent = forms.FloatField(required=False)
    make_test_case = forms.BooleanField(required=False)
    keep_as_example = forms.BooleanField(required=False)

    def clean_point_names(self):
        return [name.strip() for name in self.cleaned_data["point_names"].split("\n") if name.strip()]

    def grade_arguments(self) -> dict:
        data = self.cleaned_data
        return {"verdict": data.get("verdict") or None, "corrected_answer": data.get("corrected_answer"),
                "point_names": data.get("point_names") or [], "comment": data.get("comment") or "",
                "seconds_spent": data.get("seconds_spent") or 0, "make_test_case": data.get("make_test_case"),
                "keep_as_example": data.get("keep_as_example", False)}


class PointForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="What the model gets wrong, in the organisation's words.")
    status = forms.ChoiceField(choices=PointStatus.choices, initial=PointStatus.OPEN)


class MergeForm(forms.Form):
    into = forms.IntegerField(label="Merge into")


class AnswerFormMixin:
    """Puts the task kind's own answer field (a label select, entity rows, a text area) in `answer_field`."""

    answer_field = "answer"
    answer_label = "Answer"

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields[self.answer_field] = project.kind.form_field(
            project, label=self.answer_label, required=self.fields[self.answer_field].required)


class TestCaseForm(AnswerFormMixin, forms.Form):
    answer_field, answer_label = "expected", "Expected answer"

    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    expected = forms.Field()
    paraphrase_group = forms.CharField(required=False, max_length=100,
                                       help_text="Variants with the same group must get the same answer.")
    points = forms.CharField(required=False, help_text="Training point names, one per line.",
                             widget=forms.Textarea(attrs={"rows": 2}))

    def clean_points(self):
        return names_of(self.cleaned_data["points"])


class ExampleForm(AnswerFormMixin, forms.Form):
    """A training example written by hand: the text is sent with a prompt version's messages."""

    prompt_version = forms.ModelChoiceField(queryset=None, help_text="Its messages are what the example teaches.")
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    answer = forms.Field()
    points = forms.CharField(required=False, help_text="Training point names, one per line.",
                             widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, project, **kwargs):
        from apps.prompts.selectors import versions_in_project

        super().__init__(*args, project=project, **kwargs)
        self.fields["prompt_version"].queryset = versions_in_project(project)

    def clean_points(self):
        return names_of(self.cleaned_data["points"])


class ExampleEditForm(AnswerFormMixin, forms.Form):
    answer = forms.Field()
    points = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_points(self):
        return names_of(self.cleaned_data["points"])


class AdjudicateForm(AnswerFormMixin, forms.Form):
    """A lead's decision on a disagreement: the verdict, and the right answer when it is not the model's."""

    answer_field, answer_label = "corrected_answer", "Right answer"

    verdict = forms.ChoiceField(choices=Verdict.choices)
    corrected_answer = forms.Field(required=False)


class TestCaseImportForm(forms.Form):
    file = forms.FileField(help_text='JSONL: {"text": ..., "expected": {...}, "points": [names], '
                                     '"paraphrase_group": ...} per line.')


class ParaphraseRequestForm(forms.Form):
    model = forms.ModelChoiceField(queryset=None, help_text="The model that proposes the paraphrases.")
    count = forms.IntegerField(min_value=1, max_value=PARAPHRASES_MAX, initial=PARAPHRASES_DEFAULT,
                               label="How many", help_text=f"1 to {PARAPHRASES_MAX}.")

    def __init__(self, *args, project, **kwargs):
        from apps.llm.selectors import models_for_project

        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = models_for_project(project)
        self.fields["model"].empty_label = None  # the first model chosen, so the form can be sent as it comes


class ProposalAcceptForm(forms.Form):
    text = forms.CharField(required=False, max_length=RECORD_TEXT_MAX,
                           help_text="Edit it first if you like; empty keeps the proposed text.")
