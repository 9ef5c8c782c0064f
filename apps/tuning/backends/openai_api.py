"""An OpenAI-compatible fine-tuning API: upload the file, create the job, poll it and its events, cancel it."""

import openai

from apps.llm import outbound
from apps.llm.client import ModelCallError

# The API's job states and ours (apps.core.models.JobStatus): checking the files is part of running.
STATUS = {"validating_files": "RUNNING", "queued": "QUEUED", "running": "RUNNING", "succeeded": "SUCCEEDED",
          "failed": "FAILED", "cancelled": "CANCELLED"}


def client_for(model) -> openai.OpenAI:
    outbound.check_base_url(model.base_url)
    return openai.OpenAI(base_url=model.base_url or None, api_key=model.call_api_key() or "not-needed",
                         timeout=model.timeout_seconds, max_retries=3,
                         http_client=openai.DefaultHttpxClient(follow_redirects=False))


def start(*, model, training: bytes, validation: bytes, hyperparameters: dict, suffix: str) -> tuple[str, str]:
    """Upload the frozen file(s) and create the job; returns (file id, job id)."""
    client = client_for(model)
    try:
        training_file = client.files.create(file=("train.jsonl", training, "application/jsonl"), purpose="fine-tune")
        arguments = {"model": model.model_id, "training_file": training_file.id, "suffix": suffix[:18],
                     "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}}}
        if validation:
            validation_file = client.files.create(file=("validation.jsonl", validation, "application/jsonl"),
                                                  purpose="fine-tune")
            arguments["validation_file"] = validation_file.id
        job = client.fine_tuning.jobs.create(**arguments)
    except openai.APIError as exc:
        raise ModelCallError(f"The fine-tuning API refused the job: {exc}") from None
    return training_file.id, job.id


def poll(*, model, job_id: str, after_event: str | None) -> dict:
    """The job's state, its new events (oldest first) and, when done, the fine-tuned model's id or the error."""
    client = client_for(model)
    try:
        job = client.fine_tuning.jobs.retrieve(job_id)
        page = client.fine_tuning.jobs.list_events(job_id, limit=50)
    except openai.APIError as exc:
        raise ModelCallError(f"Could not read the fine-tuning job: {exc}") from None
    events = []
    for event in page.data:
        if event.id == after_event:
            break
        events.append({"id": event.id, "message": event.message})
    error = ""
    if job.error and getattr(job.error, "message", None):
        error = job.error.message
    return {"status": STATUS.get(job.status, "RUNNING"), "events": list(reversed(events)),
            "fine_tuned_model": job.fine_tuned_model or "", "error": error,
            "trained_tokens": job.trained_tokens or 0}


def cancel(*, model, job_id: str) -> None:
    try:
        client_for(model).fine_tuning.jobs.cancel(job_id)
    except openai.APIError as exc:
        raise ModelCallError(f"Could not cancel the fine-tuning job: {exc}") from None
