from django import forms

from apps.llm.models import TEMPERATURE_RANGE
from apps.llm.selectors import models_for_project
from apps.prompts.models import PromptPurpose
from apps.prompts.selectors import versions_in_project
from apps.runs.forms import concurrency_field, repair_field

from .human_review import MAX_SENT, Which
from .selectors import finished_evals

RESULT_CHOICES = [("", "All outputs"), ("fail", "Failed"), ("pass", "Passed"), ("error", "Errors"),
                  ("human", "Graded by people"), ("disagree", "Judge and people disagree")]


def _version_label(version) -> str:
    return f"{version.template.name} v{version.number} ({version.get_style_display()})"


class EvalForm(forms.Form):
    model = forms.ModelChoiceField(queryset=None)
    prompt_version = forms.ModelChoiceField(queryset=None, label="Prompt version")
    points = forms.ModelMultipleChoiceField(
        queryset=None, required=False, label="Training points",
        help_text="Evaluate the test cases of these points; choose none for every test case of the project.",
        widget=forms.CheckboxSelectMultiple)
    repeats = forms.IntegerField(min_value=1, max_value=20, initial=3,
                                 help_text="Each test case is asked this many times: consistency needs 2 or more.")
    temperature = forms.FloatField(
        required=False, min_value=TEMPERATURE_RANGE[0], max_value=TEMPERATURE_RANGE[1],
        help_text="The temperature of every repeat; empty: the model's own. At 0 (greedy) repeats agree by "
                  "construction: choose e.g. 0.7 for consistency and pass^k to show flaky answers.")
    baseline = forms.ModelChoiceField(queryset=None, required=False,
                                      help_text="A finished eval to compare with, point by point (the gate).")
    judge_model = forms.ModelChoiceField(
        queryset=None, required=False, label="Judge model",
        help_text="The model that grades each answer. Generation: its verdict is the answer's. Classification and "
                  "NER: optional, it grades beside the rule so you can see how far to trust it.")
    judge_prompt_version = forms.ModelChoiceField(
        queryset=None, required=False, label="Judge prompt",
        help_text="Empty: the project's judge prompt as it stands (made from the rubric the first time).")
    concurrency = concurrency_field()
    repair = repair_field()
    note = forms.CharField(required=False, max_length=200)

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt_version"].queryset = versions_in_project(project)
        self.fields["prompt_version"].label_from_instance = _version_label
        self.fields["model"].queryset = models_for_project(project)
        self.fields["judge_model"].queryset = models_for_project(project)
        self.fields["judge_prompt_version"].queryset = versions_in_project(project, purpose=PromptPurpose.JUDGE)
        self.fields["judge_prompt_version"].label_from_instance = _version_label
        self.fields["points"].queryset = project.training_points.exclude(status="archived")
        self.fields["baseline"].queryset = finished_evals(project)
        self.fields["baseline"].label_from_instance = lambda e: f"#{e.id} {e.version_label}"
        for name in ("prompt_version", "model"):
            first = self.fields[name].queryset.first()
            if first is not None:  # a sensible default: the form can be sent as it comes
                self.fields[name].initial = first.pk


class FineTuneEvalForm(forms.Form):
    """Evaluate a fine-tuned model against its base: the same prompt version and test cases for both."""

    prompt_version = forms.ModelChoiceField(queryset=None, label="Prompt version")
    repeats = forms.IntegerField(min_value=1, max_value=20, initial=3)

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt_version"].queryset = versions_in_project(project)
        self.fields["prompt_version"].label_from_instance = _version_label
        first = self.fields["prompt_version"].queryset.first()
        if first is not None:
            self.fields["prompt_version"].initial = first.pk


class ReviewSendForm(forms.Form):
    """Which of a finished eval's answers go to review."""

    which = forms.ChoiceField(choices=Which.CHOICES, initial=Which.FAILING, label="Send")
    sample_size = forms.IntegerField(min_value=1, max_value=MAX_SENT, initial=50, required=False,
                                     label="Sample size", help_text="For a random sample.")

    def clean_sample_size(self):
        return self.cleaned_data["sample_size"] or self.fields["sample_size"].initial


class OutputFilterForm(forms.Form):
    point = forms.IntegerField(required=False)
    result = forms.ChoiceField(choices=RESULT_CHOICES, required=False)
    expected = forms.CharField(required=False, help_text="A label the test cases expect (a confusion matrix row).")
    answered = forms.CharField(required=False, help_text="A label answered, or !invalid for non-answers (a column).")
