from django import forms

from .models import MAX_TOKENS_RANGE, RETRIES_RANGE, TEMPERATURE_RANGE, TIMEOUT_RANGE, Provider, validate_base_url


class ModelForm(forms.Form):
    name = forms.CharField(max_length=200)
    provider = forms.ChoiceField(choices=Provider.choices, initial=Provider.OPENAI)
    base_url = forms.URLField(required=False, assume_scheme="https", label="Base URL", validators=[validate_base_url],
                              help_text="OpenAI: https://api.openai.com/v1 · vLLM: http://host:8000/v1 · "
                                        "Ollama: http://host:11434/v1 · llama.cpp: http://host:8080/v1")
    model_id = forms.CharField(required=False, max_length=200, label="Model id",
                               help_text="The server's name for the model, e.g. gpt-4o-mini or llama3.1:8b.")
    api_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), label="API key",
                              help_text="Stored and never shown again; leave empty to keep the current key.")
    temperature = forms.FloatField(initial=0.0, min_value=TEMPERATURE_RANGE[0], max_value=TEMPERATURE_RANGE[1])
    max_tokens = forms.IntegerField(initial=256, min_value=MAX_TOKENS_RANGE[0], max_value=MAX_TOKENS_RANGE[1])
    timeout_seconds = forms.FloatField(initial=30, min_value=TIMEOUT_RANGE[0], max_value=TIMEOUT_RANGE[1],
                                       label="Timeout (seconds)")
    max_retries = forms.IntegerField(initial=4, min_value=RETRIES_RANGE[0], max_value=RETRIES_RANGE[1])

    @classmethod
    def initial_for(cls, model) -> dict:
        return {name: getattr(model, name) for name in cls.base_fields if name != "api_key"}
