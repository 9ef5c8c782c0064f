from django import forms

from .models import (
    CONCURRENCY_RANGE,
    MAX_TOKENS_RANGE,
    PRICE_RANGE,
    RETRIES_RANGE,
    TEMPERATURE_RANGE,
    TIMEOUT_RANGE,
    Provider,
    StructuredOutput,
    validate_base_url,
)


class ModelForm(forms.Form):
    name = forms.CharField(max_length=200)
    provider = forms.ChoiceField(choices=Provider.choices, initial=Provider.OPENAI)
    base_url = forms.URLField(required=False, assume_scheme="https", label="Base URL", validators=[validate_base_url],
                              help_text="OpenAI: https://api.openai.com/v1 · vLLM: http://host:8000/v1 · "
                                        "Ollama: http://host:11434/v1 · llama.cpp: http://host:8080/v1 · "
                                        "transformers serve: http://host:8000/v1")
    model_id = forms.CharField(required=False, max_length=200, label="Model id",
                               widget=forms.TextInput(attrs={"list": "server-model-ids"}),
                               help_text="The server's name for the model, e.g. gpt-4o-mini or llama3.1:8b.")
    api_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False), label="API key",
                              help_text="Stored and never shown again; leave empty to keep the current key.")
    structured_output = forms.ChoiceField(
        choices=StructuredOutput.choices, initial=StructuredOutput.JSON_SCHEMA, required=False,
        label="Structured output", help_text="How the server is asked for JSON answers. Test connection tries each "
                                             "way and offers the one that works.")
    temperature = forms.FloatField(initial=0.0, min_value=TEMPERATURE_RANGE[0], max_value=TEMPERATURE_RANGE[1])
    max_tokens = forms.IntegerField(initial=256, min_value=MAX_TOKENS_RANGE[0], max_value=MAX_TOKENS_RANGE[1])
    max_concurrency = forms.IntegerField(required=False, min_value=CONCURRENCY_RANGE[0],
                                         max_value=CONCURRENCY_RANGE[1], label="Concurrency",
                                         help_text="The most calls in flight; runs never go above it. Empty: 2 "
                                                   "for a self-hosted server, 8 for a hosted API.")
    timeout_seconds = forms.FloatField(required=False, min_value=TIMEOUT_RANGE[0], max_value=TIMEOUT_RANGE[1],
                                       label="Timeout (seconds)",
                                       help_text="Empty: 120 s for a self-hosted server, 30 s for a hosted API.")
    max_retries = forms.IntegerField(required=False, min_value=RETRIES_RANGE[0], max_value=RETRIES_RANGE[1],
                                     help_text="Empty: 2 for a self-hosted server, 4 for a hosted API.")
    input_price_per_million = forms.FloatField(
        required=False, min_value=PRICE_RANGE[0], max_value=PRICE_RANGE[1], label="Input price per million tokens",
        help_text="Optional: runs, evals and fine-tunes then show their cost. Empty: unknown.")
    output_price_per_million = forms.FloatField(
        required=False, min_value=PRICE_RANGE[0], max_value=PRICE_RANGE[1], label="Output price per million tokens")

    @classmethod
    def initial_for(cls, model) -> dict:
        return {name: getattr(model, name) for name in cls.base_fields if name != "api_key"}
