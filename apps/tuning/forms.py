from django import forms

from apps.llm.selectors import models_for_project

from .models import Backend
from .services import BOUNDS


def _bounds(name: str) -> dict:
    return {"min_value": BOUNDS[name][1], "max_value": BOUNDS[name][2]}


class LaunchForm(forms.Form):
    base_model = forms.ModelChoiceField(queryset=None, label="Base model")
    backend = forms.ChoiceField(choices=Backend.choices, initial=Backend.LOCAL)
    points = forms.ModelMultipleChoiceField(queryset=None, required=False, label="Training points",
                                            help_text="Leave empty to use every training example.",
                                            widget=forms.CheckboxSelectMultiple)
    epochs = forms.IntegerField(**_bounds("epochs"), initial=3)
    learning_rate = forms.FloatField(**_bounds("learning_rate"), initial=2e-4,
                                     help_text="Local trainer (the API uses its own multiplier).")
    batch_size = forms.IntegerField(**_bounds("batch_size"), initial=4)
    lora_r = forms.IntegerField(**_bounds("lora_r"), initial=16, label="LoRA rank")
    lora_alpha = forms.IntegerField(**_bounds("lora_alpha"), initial=32, label="LoRA alpha")
    max_seq_length = forms.IntegerField(**_bounds("max_seq_length"), initial=2048, required=False,
                                        label="Max sequence length",
                                        help_text="Local trainer: longer examples lose the start of their prompt.")
    gradient_accumulation = forms.IntegerField(**_bounds("gradient_accumulation"), initial=1, required=False,
                                               help_text="Batches per optimizer step: the effective batch size is "
                                                         "batch size × this.")
    gradient_checkpointing = forms.BooleanField(required=False, help_text="Less GPU memory, about 30% slower.")
    load_in_4bit = forms.BooleanField(required=False, label="4-bit base (QLoRA)",
                                      help_text="On CUDA when bitsandbytes is installed; ignored otherwise.")
    lora_targets = forms.ChoiceField(
        choices=[(v, v) for v in BOUNDS["lora_targets"][1:]], initial="all-linear", required=False, label="LoRA on",
        help_text="Every linear layer, or the attention (and MLP) projections of a known architecture.")
    validation_percent = forms.IntegerField(min_value=0, max_value=round(BOUNDS["validation_share"][2] * 100),
                                            initial=0, label="Held out for validation (%)")

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
                "max_seq_length": data["max_seq_length"], "gradient_accumulation": data["gradient_accumulation"],
                "gradient_checkpointing": data["gradient_checkpointing"], "load_in_4bit": data["load_in_4bit"],
                "lora_targets": data["lora_targets"] or None,  # left out: the default
                "validation_share": (data["validation_percent"] or 0) / 100}
