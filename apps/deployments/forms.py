from django import forms

from apps.llm.selectors import models_for_project
from apps.prompts.selectors import versions_in_project

from .models import Deployment
from .selectors import FEEDBACK_CHOICES, STATUS_CHOICES


class DeploymentForm(forms.Form):
    slug = forms.SlugField(max_length=80, help_text="The name applications call, e.g. ticket-router.")
    description = forms.CharField(max_length=300, required=False)


class PromoteForm(forms.Form):
    model = forms.ModelChoiceField(queryset=None)
    prompt_version = forms.ModelChoiceField(queryset=None, label="Prompt version")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why this version is promoted.")
    override_reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Admin override reason",
        help_text="Admins only, when no finished eval of this model and prompt version passed its gate.")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = models_for_project(project)
        self.fields["prompt_version"].queryset = versions_in_project(project)


class SettingsForm(forms.ModelForm):
    class Meta:
        model = Deployment
        fields = ["description", "shadow_model", "shadow_prompt_version", "shadow_share", "sample_share",
                  "sample_negative_feedback", "sample_invalid", "sample_shadow_disagreement",
                  "sample_low_confidence"]

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["shadow_model"].queryset = models_for_project(project)
        self.fields["shadow_prompt_version"].queryset = versions_in_project(project)


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100, initial="Application")
    rate_limit_per_minute = forms.IntegerField(min_value=1, required=False,
                                               help_text="Calls a minute; empty for the site's default.")


class TraceFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    feedback = forms.ChoiceField(choices=FEEDBACK_CHOICES, required=False)
    label = forms.CharField(required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    sampled = forms.BooleanField(required=False, label="Sampled into review")
