from django import forms

from apps.datasets.models import Dataset
from apps.llm.selectors import models_for_project
from apps.prompts.selectors import versions_in_project

from .models import OutputStatus


def concurrency_field() -> forms.IntegerField:
    """The calls-in-flight field of every form that starts answering (runs and evals)."""
    return forms.IntegerField(min_value=1, max_value=64, initial=8,
                              help_text="Requests in flight at once, never above the model's own "
                                        "setting (the local model always uses 1).")


def repair_field() -> forms.BooleanField:
    """The repair-turn field of every form that starts answering (runs and evals)."""
    return forms.BooleanField(required=False, initial=True, label="Repair turn",
                              help_text="An invalid answer gets one more try with its problems before it counts as "
                                        "invalid (the extra tokens and time count in the output's).")


SPLIT_CHOICES = [("", "All records"), ("train", "Train split"), ("test", "Test split"), ("none", "Unassigned")]


class RunForm(forms.Form):
    prompt_version = forms.ModelChoiceField(queryset=None, label="Prompt version")
    model = forms.ModelChoiceField(queryset=None)
    dataset = forms.ModelChoiceField(queryset=None)
    split = forms.ChoiceField(choices=SPLIT_CHOICES, required=False)
    q = forms.CharField(required=False, label="Only records containing")
    label = forms.CharField(required=False, label="Only records labelled")
    repeats = forms.IntegerField(min_value=1, max_value=20, initial=1,
                                 help_text="Ask the same question several times to measure consistency.")
    reviews_per_output = forms.IntegerField(min_value=1, max_value=5, initial=1, required=False,
                                            label="Reviews per output",
                                            help_text="2 or more: several reviewers grade each output (agreement).")
    concurrency = concurrency_field()
    repair = repair_field()

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prompt_version"].queryset = versions_in_project(project)
        self.fields["prompt_version"].label_from_instance = (
            lambda v: f"{v.template.name} v{v.number} ({v.get_style_display()})")
        self.fields["model"].queryset = models_for_project(project)
        self.fields["dataset"].queryset = Dataset.objects.filter(project=project)
        for name in ("prompt_version", "model", "dataset"):
            first = self.fields[name].queryset.first()
            if first is not None:  # a sensible default: the form can be sent as it comes
                self.fields[name].initial = first.pk

    def run_arguments(self) -> dict:
        data = dict(self.cleaned_data)
        split = data.pop("split") or None
        data["split"] = "" if split == "none" else split
        data["reviews_per_output"] = data.get("reviews_per_output") or 1
        return data


class OutputFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "All outputs"), *OutputStatus.choices], required=False)
    label = forms.CharField(required=False)
    q = forms.CharField(required=False)
