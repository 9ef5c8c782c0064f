from django import forms

from apps.llm.selectors import models_for_project

from .models import Backend


class LaunchForm(forms.Form):
    base_model = forms.ModelChoiceField(queryset=None, label="Base model")
    backend = forms.ChoiceField(choices=Backend.choices, initial=Backend.LOCAL)
    points = forms.ModelMultipleChoiceField(queryset=None, required=False, label="Training points",
                                            help_text="Leave empty to use every training example.",
                                            widget=forms.CheckboxSelectMultiple)
    epochs = forms.IntegerField(min_value=1, max_value=50, initial=3)
    learning_rate = forms.FloatField(min_value=1e-6, max_value=1e-2, initial=2e-4,
                                     help_text="Local trainer (the API uses its own multiplier).")
    batch_size = forms.IntegerField(min_value=1, max_value=64, initial=4)
    lora_r = forms.IntegerField(min_value=1, max_value=256, initial=16, label="LoRA rank")
    lora_alpha = forms.IntegerField(min_value=1, max_value=512, initial=32, label="LoRA alpha")
    validation_percent = forms.IntegerField(min_value=0, max_value=50, initial=0, label="Held out for validation (%)")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_model"].queryset = models_for_project(project).filter(parent__isnull=True)
        self.fields["points"].queryset = project.training_points.exclude(status="archived")
        first = self.fields["base_model"].queryset.order_by("-provider").first()  # the bundled model first
        if first is not None:
            self.fields["base_model"].initial = first.pk

    def hyperparameters(self) -> dict:
        data = self.cleaned_data
        return {"epochs": data["epochs"], "learning_rate": data["learning_rate"], "batch_size": data["batch_size"],
                "lora_r": data["lora_r"], "lora_alpha": data["lora_alpha"],
                "validation_share": (data["validation_percent"] or 0) / 100}
