"""Runs: create, launch, execute (resumably, exactly one output per record and repeat), cancel."""

import logging

from django.db import transaction
from django.db.models import F

from apps.accounts.audit import audit_record
from apps.core.exceptions import ApplicationError
from apps.core.jobs import default_queue, job_cancel, job_claim, job_enqueue, job_finish, job_is_alive, job_requeue
from apps.core.models import JobStatus
from apps.datasets.models import Record
from apps.datasets.selectors import records_filtered
from apps.llm.models import Provider
from apps.projects.kinds import AnswerCheck
from apps.prompts.rendering import render_messages, schema_for

from .answering import answer_stream
from .models import Output, Run
from .selectors import output_counts

logger = logging.getLogger(__name__)

MAX_REPEATS = 20
MAX_CONCURRENCY = 64
RECORD_CHUNK = 500


def run_create(*, project, prompt_version, model, dataset, split: str | None = None, q: str = "", label: str = "",
               repeats: int = 1, concurrency: int = 8, reviews_per_output: int = 1, repair: bool = True, user=None,
               launch: bool = True) -> Run:
    """Fix the records a run will answer and queue it (after the transaction commits)."""
    _check_parts(project, prompt_version, model, dataset)
    if not 1 <= repeats <= MAX_REPEATS:
        raise ApplicationError(f"Repeats must be between 1 and {MAX_REPEATS}.")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ApplicationError(f"Concurrency must be between 1 and {MAX_CONCURRENCY}.")
    concurrency, notices = concurrency_honoured(model, concurrency)
    record_ids = list(records_filtered(dataset, q=q, label=label, split=split).values_list("id", flat=True))
    if not record_ids:
        raise ApplicationError("No record matches this selection: choose another dataset, split or filter.")
    run = Run.objects.create(
        project=project, prompt_version=prompt_version, model=model, dataset=dataset,
        selection={"split": split, "q": q, "label": label}, record_ids=record_ids, repeats=repeats,
        concurrency=concurrency, repair=repair, reviews_per_output=max(1, reviews_per_output),
        total=len(record_ids) * repeats,
        created_by=user, notices=notices,
    )
    if launch:
        run_enqueue(run)
    audit_record("run.launched", project=project, target=run, details={"model": model.id, "records": run.total})
    return run


def concurrency_honoured(model, asked: int) -> tuple[int, list[str]]:
    """The concurrency a job of `model` can use, and a notice for its page when that is less than was asked."""
    if model.provider == Provider.LOCAL and asked > 1:
        # The bundled model runs inside the worker and already uses every core.
        return 1, [f"Concurrency {asked} was asked; the bundled model answers one request at a time, so this "
                   "job uses 1."]
    return asked, []


def _check_parts(project, prompt_version, model, dataset) -> None:
    if prompt_version.template.project_id != project.id:
        raise ApplicationError("That prompt belongs to another project.")
    if model.project_id not in (None, project.id):
        raise ApplicationError("That model belongs to another project.")
    if dataset is None or dataset.project_id != project.id:
        raise ApplicationError("Choose a dataset of this project.")


def run_enqueue(run: Run, *, countdown: float = 0) -> None:
    from .tasks import run_execute_task

    job_enqueue(run_execute_task, run, queue=default_queue(), countdown=countdown)


def run_cancel(*, run: Run) -> bool:
    """Stop a queued or running run; the outputs it has are kept. The worker stops within about a second."""
    cancelled = job_cancel(run)
    if cancelled:
        audit_record("run.cancelled", project=run.project, target=run)
    return cancelled


def run_resume(*, run: Run) -> None:
    """Queue a failed, cancelled or stalled run again: it answers only the pairs that have no output yet."""
    job_requeue(run)


def run_is_alive(run: Run) -> bool:
    return job_is_alive(run)


# --- execution ---------------------------------------------------------------------------

def run_execute(*, run_id: int) -> Run:
    """Answer every (record, repeat) of the run that has no output yet. Safe to call again at any time."""
    if not job_claim(Run, run_id):
        return Run.objects.get(id=run_id)
    run = Run.objects.select_related("project", "prompt_version__template", "model").get(id=run_id)
    try:
        _answer_pending(run)
    except Exception as exc:  # noqa: BLE001 - the run must end visibly, its outputs kept
        logger.exception("Run %s failed", run_id)
        job_finish(run, JobStatus.FAILED, error=f"The run stopped: {exc}")
        return run
    _run_finish_after_answers(run)
    return run


def _pending_pairs(run: Run) -> list[tuple[int, int]]:
    done = set(run.outputs.values_list("record_id", "repeat"))
    return [(record_id, repeat) for record_id in run.record_ids for repeat in range(run.repeats)
            if (record_id, repeat) not in done]


def _texts(record_ids: list[int]) -> dict[int, str]:
    texts: dict[int, str] = {}
    for start in range(0, len(record_ids), RECORD_CHUNK):
        chunk = record_ids[start : start + RECORD_CHUNK]
        texts.update(Record.objects.filter(id__in=chunk).values_list("id", "text"))
    return texts


def _answer_pending(run: Run) -> None:
    pending = _pending_pairs(run)
    texts = _texts(sorted({record_id for record_id, _ in pending}))
    project, version = run.project, run.prompt_version

    def prompts():
        for record_id, repeat in pending:
            text = texts.get(record_id)
            if text is None:
                continue  # the record was deleted since the run was launched
            messages = render_messages(project, version, text)
            yield (record_id, repeat, messages), messages, AnswerCheck(project, text=text)

    answer_stream(run, model=run.model, concurrency=run.concurrency, prompts=prompts(),
                  schema=schema_for(project, version), save=lambda arrived: _save_outputs(run, arrived))


def _save_outputs(run: Run, arrived: list[tuple]) -> None:
    outputs = [
        Output(run=run, record_id=record_id, repeat=repeat, messages=messages, raw_text=c.text, answer=c.answer,
               status=c.status, problems=c.problems, error=c.error, latency_ms=c.latency_ms,
               input_tokens=c.input_tokens, output_tokens=c.output_tokens)
        for (record_id, repeat, messages), c in arrived
    ]
    # The unique (run, record, repeat) constraint makes a resumed run's writes exactly-once.
    Output.objects.bulk_create(outputs, ignore_conflicts=True)


def _run_finish_after_answers(run: Run) -> None:
    counts = output_counts(run)
    first_error = run.outputs.exclude(error="").values_list("error", flat=True).first
    status, error = finish_status(done=counts["done"], errors=counts["error"], first_error=first_error)
    job_finish(run, status, error=error)  # does nothing when the run was cancelled while it ran


def finish_status(*, done: int, errors: int, first_error) -> tuple[str, str]:
    """How a generation job ends: FAILED when every model call failed, COMPLETED_WITH_ERRORS when some did.

    `first_error()` gives the first failed call's error, asked only when there is one.
    """
    if not errors:
        return JobStatus.SUCCEEDED, ""
    if errors == done:
        return JobStatus.FAILED, f"All {done} model calls failed. The first error: {first_error()}"
    return JobStatus.COMPLETED_WITH_ERRORS, f"{errors} of {done} model calls failed. The first error: {first_error()}"


def output_review_count_add(*, output_id: int, delta: int) -> None:
    """Keep an output's count of grades (the review queue reads it); called by the review app."""
    Output.objects.filter(id=output_id).update(review_count=F("review_count") + delta)


TRAFFIC = "traffic"
EVAL_ANSWERS = "eval answers"


def run_for_traffic(*, project, dataset, prompt_version, model, user=None, source: str = TRAFFIC) -> Run:
    """The run that collects answers given elsewhere (a deployment's sampled calls, an eval's answers: `source`)
    so review grades them like any output. It never executes: it is created finished and grows by
    `output_append`/`outputs_append`."""
    run = Run.objects.filter(project=project, dataset=dataset, prompt_version=prompt_version, model=model,
                             selection__source=source).first()
    if run is None:
        run = Run.objects.create(project=project, dataset=dataset, prompt_version=prompt_version, model=model,
                                 selection={"source": source}, record_ids=[], total=0, concurrency=1,
                                 status=JobStatus.SUCCEEDED, created_by=user)
    return run


def output_append(*, run: Run, record: Record, **answer) -> Output:
    """Add an answer given outside the run (see `run_for_traffic`) as its output for `record`: `answer` holds
    messages, raw_text, answer, status, problems and optionally error, latency_ms, input_tokens, output_tokens."""
    return outputs_append(run=run, items=[{"record": record, **answer}])[0]


@transaction.atomic
def outputs_append(*, run: Run, items: list[dict]) -> list[Output]:
    """Add answers given outside the run, each {"record", and `output_append`'s fields}, in one write."""
    locked = Run.objects.select_for_update().get(id=run.id)
    locked.record_ids = [*locked.record_ids, *(item["record"].id for item in items)]
    locked.total += len(items)
    locked.save(update_fields=["record_ids", "total"])
    return Output.objects.bulk_create([Output(run=run, **item) for item in items])
