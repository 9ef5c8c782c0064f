import copy
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db.models import ProtectedError, RestrictedError

from apps.accounts.audit import audit_record
from apps.core.exceptions import ApplicationError

from .client import Completion, ModelCallError, complete
from .models import Model, Provider, StructuredOutput
from .outbound import TEST_MAX_RETRIES, TEST_TIMEOUT_SECONDS
from .probe import ProbeReport, probe

EDITABLE_FIELDS = ("name", "provider", "base_url", "model_id", "temperature", "max_tokens", "timeout_seconds",
                   "max_retries", "max_concurrency", "structured_output", "input_price_per_million",
                   "output_price_per_million")
CLEARABLE_FIELDS = ("input_price_per_million", "output_price_per_million")  # None given: unknown again
# Hosted APIs take many calls at once and answer fast; a self-hosted server (vLLM, Ollama, llama.cpp,
# transformers serve on someone's machine) often answers one or two at a time, slowly.
HOSTED_API_HOSTS = ("api.openai.com", "openai.azure.com", "api.together.xyz", "api.groq.com", "api.mistral.ai",
                    "api.fireworks.ai", "openrouter.ai", "api.deepseek.com", "generativelanguage.googleapis.com",
                    "api.anthropic.com", "api.perplexity.ai", "api.deepinfra.com")
HOSTED_DEFAULTS = {"max_concurrency": 8, "timeout_seconds": 30.0, "max_retries": 4}
SELF_HOSTED_DEFAULTS = {"max_concurrency": 2, "timeout_seconds": 120.0, "max_retries": 2}


def is_hosted(base_url: str) -> bool:
    host = (urlsplit(base_url or "").hostname or "").lower()
    return any(host == known or host.endswith("." + known) for known in HOSTED_API_HOSTS)


def model_defaults(*, provider: str, base_url: str) -> dict:
    """Concurrency, timeout and retries that suit the server: a hosted API or a self-hosted one."""
    if provider == Provider.LOCAL:
        return {**SELF_HOSTED_DEFAULTS, "max_concurrency": 1}
    return dict(HOSTED_DEFAULTS if is_hosted(base_url) else SELF_HOSTED_DEFAULTS)
PING_SCHEMA = {"type": "object", "properties": {"reply": {"type": "string"}}, "required": ["reply"],
               "additionalProperties": False}


def model_create(*, project=None, user=None, api_key: str = "", **fields) -> Model:
    """Add a model; concurrency, timeout and retries left out (or None) get the defaults for its kind of server."""
    model = Model(project=project, created_by=user, api_key=api_key.strip())
    defaults = model_defaults(provider=fields.get("provider", Provider.OPENAI), base_url=fields.get("base_url", ""))
    fields = {**fields, **{name: value for name, value in defaults.items() if fields.get(name) is None}}
    return _save(model, fields)


def model_update(*, model: Model, api_key: str | None = None, **fields) -> Model:
    """Update a model; an empty or missing `api_key` keeps the stored key (it is never shown to be edited).
    Concurrency, timeout or retries given as None keep their values; a price given as None becomes unknown.

    Changing the base URL or the provider drops the stored key unless this same update sets one: a key
    someone else entered must never travel to a server they did not choose.
    """
    fields = {name: value for name, value in fields.items() if value is not None or name in CLEARABLE_FIELDS}
    moved = any(name in fields and fields[name] != getattr(model, name) for name in ("base_url", "provider"))
    old = {"base_url": model.base_url, "provider": model.provider}
    if api_key:
        model.api_key = api_key.strip()
    elif moved:
        model.api_key = ""
    model = _save(model, fields)
    if moved or api_key:
        audit_record("model.connection_changed", project=model.project, target=model,
                     details={"from": old, "to": {"base_url": model.base_url, "provider": model.provider},
                              "key": "set" if api_key else ("dropped" if moved else "kept")})
    return model


def _save(model: Model, fields: dict) -> Model:
    for name in EDITABLE_FIELDS:
        if name in fields:
            setattr(model, name, fields[name])
    if not model.name.strip():
        raise ApplicationError("Give the model a name.")
    if model.provider == Provider.OPENAI and (not model.base_url or not model.model_id):
        raise ApplicationError("An OpenAI-compatible model needs a base URL and a model id.")
    model.structured_output = model.structured_output or StructuredOutput.JSON_SCHEMA
    if model.structured_output not in StructuredOutput.values:
        raise ApplicationError(f"Unknown structured-output method '{model.structured_output}'.")
    try:
        model.clean_fields(exclude=["project", "parent", "created_by", "adapter", "api_key"])
    except ValidationError as exc:
        raise ApplicationError(" ".join(f"{name}: {' '.join(errors)}"
                                        for name, errors in exc.message_dict.items())) from None
    model.save()
    return model


def local_model_register(*, path: str, user=None, name: str = "") -> Model:
    """Register the model at `path` in the models folder as a shared local model every project can use.

    Refused with the reasons when transformers could not load it or it has no chat template (see
    llm.local_models.describe), or when it is already registered.
    """
    from .local_models import describe

    try:
        info = describe(path.strip().strip("/"))
    except ModelCallError as exc:
        raise ApplicationError(str(exc)) from None
    if not info.usable:
        raise ApplicationError(f"{info.path} cannot be used as a local model.", problems=info.problems)
    existing = Model.objects.filter(provider=Provider.LOCAL, local_path=info.path, parent=None).first()
    if existing is not None:
        raise ApplicationError(f"{info.path} is already registered, as {existing.name}.")
    model = Model(project=None, created_by=user, local_path=info.path)
    fields = {**model_defaults(provider=Provider.LOCAL, base_url=""), "provider": Provider.LOCAL,
              "name": name.strip() or info.path.removesuffix(".gguf")}
    model = _save(model, fields)
    audit_record("model.local_registered", target=model, actor=user,
                 details={"path": info.path, "architecture": info.architecture, "parameters": info.parameters})
    return model


def model_delete(*, model: Model) -> None:
    # Runs, evals, fine-tunes and deployments keep the model they used (RESTRICT): this app need not know them.
    try:
        model.delete()
        audit_record("model.deleted", project=model.project, target=f"Model {model.name}")
    except (ProtectedError, RestrictedError) as exc:
        raise ApplicationError(
            "Runs, evals, fine-tunes or deployments used this model, so it stays for their record.") from exc


def model_probe(*, model: Model, messages: list[dict], schema: dict) -> ProbeReport:
    """Find out what the model's server does with each way of asking for structured output (llm/probe.py).

    It runs in a web worker: each call gets at most three times the connection test's timeout."""
    trial = copy.copy(model)
    trial.timeout_seconds = min(model.timeout_seconds, 3 * TEST_TIMEOUT_SECONDS)
    return probe(trial, messages=messages, schema=schema)


def model_structured_output_set(*, model: Model, method: str) -> Model:
    """Save the structured-output method (the one the probe found to work)."""
    if method not in StructuredOutput.values:
        raise ApplicationError(f"Unknown structured-output method '{method}'.")
    model.structured_output = method
    model.save(update_fields=["structured_output"])
    return model


def model_server_ids(*, model: Model) -> list[str]:
    """The model ids the model's server lists at /models (for a pick list); raises ApplicationError."""
    from .providers import openai_compat

    if model.provider != Provider.OPENAI or not model.base_url:
        return []
    try:
        return openai_compat.server_model_ids(model)
    except ModelCallError as exc:
        raise ApplicationError(f"Could not list the server's models: {exc}") from None


def server_ids_at(*, base_url: str, api_key: str = "") -> list[str]:
    """The model ids the server at `base_url` lists, before any model is saved (the Add-model form's pick list);
    raises ApplicationError."""
    if not base_url:
        raise ApplicationError("Type the server's base URL first.")
    return model_server_ids(model=Model(provider=Provider.OPENAI, base_url=base_url, api_key=api_key))


def model_test_connection(*, model: Model) -> Completion:
    """Send one tiny request and return what came back (or the error).

    The bundled model is only checked for its weights here: it loads in the worker (about
    15 s and 1.2 GB), which the web process should not pay for a test.
    """
    if model.provider == Provider.LOCAL:
        return _check_local_weights(model)
    messages = [{"role": "system", "content": 'Reply with JSON: {"reply": "pong"}.'},
                {"role": "user", "content": "ping"}]
    ping = copy.copy(model)
    ping.max_tokens = min(model.max_tokens, 32)
    # The test runs in a web worker: a short timeout and one retry, whatever the model's own settings.
    ping.timeout_seconds = min(model.timeout_seconds, TEST_TIMEOUT_SECONDS)
    ping.max_retries = min(model.max_retries, TEST_MAX_RETRIES)
    return complete(ping, messages, schema=PING_SCHEMA)


def _check_local_weights(model: Model) -> Completion:
    from .bundled import weights_location
    from .local_models import describe

    if model.local_path:
        try:
            info = describe(model.local_path)
        except ModelCallError as exc:
            return Completion(error=str(exc))
        if not info.usable:
            return Completion(error=" ".join(info.problems))
        return Completion(text=f"{info.path} is in the models folder ({info.architecture}, "
                               f"{info.parameters / 1e6:.0f}M parameters); the worker loads it.")
    try:
        folder, name = weights_location()
    except ModelCallError as exc:
        return Completion(error=str(exc))
    size_mb = (Path(folder) / name).stat().st_size / 1e6
    return Completion(text=f"The bundled weights are installed ({name}, {size_mb:.0f} MB); the worker loads them.")
