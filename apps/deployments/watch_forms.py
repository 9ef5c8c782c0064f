from django import forms

from .models import AlertEvent, Every


class ScheduleForm(forms.Form):
    every = forms.ChoiceField(choices=Every.choices)
    cron = forms.CharField(max_length=100, required=False, help_text="With 'Cron expression', five fields in UTC, "
                           "e.g. 0 6 * * 1 (Mondays 06:00).")
    points = forms.ModelMultipleChoiceField(queryset=None, required=False,
                                            help_text="Empty: all the project's test cases.")
    repeats = forms.IntegerField(min_value=1, max_value=20, initial=1)

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["points"].queryset = project.training_points.all()


class RuleForm(forms.Form):
    event = forms.ChoiceField(choices=AlertEvent.choices, label="Watch")
    deployment = forms.ModelChoiceField(queryset=None, required=False, help_text="Empty: every deployment.")
    level = forms.FloatField(min_value=0, max_value=1, required=False,
                             help_text="For error rate (of all calls) and thumbs-down share (of the calls with "
                                       "feedback, as on the traffic page): the share (0–1) that alerts.")
    window_minutes = forms.IntegerField(min_value=1, max_value=7 * 24 * 60, initial=60)
    emails = forms.CharField(max_length=500, required=False, help_text="Addresses, comma-separated.")
    webhooks = forms.BooleanField(required=False, initial=True, help_text="Send to the project's webhooks.")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["deployment"].queryset = project.deployments.all()


class WebhookForm(forms.Form):
    url = forms.URLField(max_length=500, label="URL", assume_scheme="https")
    events = forms.MultipleChoiceField(choices=AlertEvent.choices, required=False,
                                       widget=forms.CheckboxSelectMultiple, help_text="None ticked: all events.")
