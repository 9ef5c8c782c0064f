from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.crypto import EncryptedTextField

# One set of bounds for the form, the API and the service (the connection test uses shorter ones).
TEMPERATURE_RANGE = (0.0, 2.0)
MAX_TOKENS_RANGE = (1, 32768)
TIMEOUT_RANGE = (1.0, 600.0)
RETRIES_RANGE = (0, 10)
CONCURRENCY_RANGE = (1, 64)
PRICE_RANGE = (0.0, 10_000.0)  # per million tokens


def _bounded(low, high) -> list:
    return [MinValueValidator(low), MaxValueValidator(high)]


def validate_base_url(value: str) -> None:
    from .outbound import validate_base_url as validate  # outbound imports the client, which imports this module

    validate(value)


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible API"
    LOCAL = "local", "Local model (the bundled SmolLM2-135M-Instruct, or one from the models folder)"


class StructuredOutput(models.TextChoices):
    """How a server is asked for an answer in the task's JSON schema (see llm/structured.py)."""

    JSON_SCHEMA = "json_schema", "response_format json_schema (OpenAI, vLLM, recent Ollama)"
    LLAMACPP_SCHEMA = "llamacpp_schema", "response_format json_object with the schema (llama.cpp)"
    GRAMMAR = "grammar", "GBNF grammar made from the schema (llama.cpp)"
    GUIDED_JSON = "guided_json", "guided_json (vLLM guided decoding)"
    OLLAMA_FORMAT = "ollama_format", "format with the schema (Ollama)"
    JSON_OBJECT = "json_object", "response_format json_object, the schema in the prompt (JSON mode)"
    PROMPT = "prompt", "The schema in the prompt, the reply parsed leniently"


class Model(models.Model):
    """A model that can answer: an OpenAI-compatible endpoint, or a local model run in-process (the bundled one,
    or one registered from the models folder, named by `local_path`).

    A model with no project is shared by every project (site admins manage it); a
    project's own models (fine-tunes among them) are managed by its leads. A fine-tuned
    model points at its base through `parent`; a local fine-tune also names its LoRA adapter.
    The API key is write-only: it is never shown back in full, logged or returned by the API.
    """

    project = models.ForeignKey("projects.Project", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="models")
    name = models.CharField(max_length=200)
    provider = models.CharField(max_length=10, choices=Provider.choices, default=Provider.OPENAI)
    base_url = models.URLField(blank=True, validators=[validate_base_url], help_text="e.g. https://api.openai.com/v1 or http://localhost:8000/v1")
    model_id = models.CharField(max_length=200, blank=True, help_text="The server's name for the model.")
    api_key = EncryptedTextField(blank=True)
    temperature = models.FloatField(default=0.0, validators=_bounded(*TEMPERATURE_RANGE))
    max_tokens = models.PositiveIntegerField(default=256, validators=_bounded(*MAX_TOKENS_RANGE))
    timeout_seconds = models.FloatField(default=30.0, validators=_bounded(*TIMEOUT_RANGE))
    max_retries = models.PositiveSmallIntegerField(default=4, validators=_bounded(*RETRIES_RANGE))
    max_concurrency = models.PositiveSmallIntegerField(
        default=8, validators=_bounded(*CONCURRENCY_RANGE),
        help_text="The most calls in flight to this model; runs never go above it.")
    structured_output = models.CharField(
        max_length=16, choices=StructuredOutput.choices, default=StructuredOutput.JSON_SCHEMA,
        help_text="How the server is asked for JSON in the task's schema; Test connection finds what works.")
    input_price_per_million = models.FloatField(
        null=True, blank=True, validators=_bounded(*PRICE_RANGE),
        help_text="What a million input (prompt) tokens cost; empty: unknown, and no cost is shown.")
    output_price_per_million = models.FloatField(
        null=True, blank=True, validators=_bounded(*PRICE_RANGE),
        help_text="What a million output (completion) tokens cost; empty: unknown.")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    adapter = models.CharField(max_length=500, blank=True, help_text="Storage name of a LoRA adapter (local models).")
    local_path = models.CharField(
        max_length=500, blank=True,
        help_text="A local model's folder or .gguf file, relative to TASKLLM_MODELS_DIR (empty: the bundled model).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def api_key_hint(self) -> str:
        """The key as people may see it: its last four characters."""
        if not self.api_key:
            return ""
        return "…" + self.api_key[-4:] if len(self.api_key) > 8 else "…"

    def call_api_key(self) -> str:
        """The key sent with this model's calls: its own, else its parent's when it calls the parent's server.

        A fine-tuned model keeps no copy of its base's key; it borrows it at call time, and only while it
        points at the same server, so changing its base URL can never send the base's key elsewhere.
        """
        model, seen = self, set()
        while model is not None and model.id not in seen:
            if model.api_key:
                return model.api_key
            seen.add(model.id)
            parent = model.parent
            if parent is None or (parent.provider, parent.base_url) != (model.provider, model.base_url):
                return ""
            model = parent
        return ""

    def __repr__(self) -> str:  # never let the key reach a log through repr()
        return f"<Model {self.id} {self.name!r} {self.provider}>"
