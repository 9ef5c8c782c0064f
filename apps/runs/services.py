"""Runs: create, launch, execute (resumably, exactly one output per record and repeat), cancel."""

import logging

from django.db import transaction
from django.db.models import F

from apps.core.exceptions import ApplicationError
from apps.datasets.models import Record
from apps.datasets.selectors import records_filtered
from apps.llm.models import Provider
from apps.projects.kinds import answer_problems
from apps.prompts.rendering import render_messages, schema_for

from .jobs import answer_stream, job_cancel, job_claim, job_finish, job_is_alive, job_requeue, jobs_resume_interrupted
from .models import Output, Run, RunStatus
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
    if model.provider == Provider.LOCAL:
        concurrency = 1  # the bundled model runs in-process and already uses every core
    record_ids = list(records_filtered(dataset, q=q, label=label, split=split).values_list("id", flat=True))
    if not record_ids:
        raise ApplicationError("No record matches this selection: choose another dataset, split or filter.")
    run = Run.objects.create(
        project=project, prompt_version=prompt_version, model=model, dataset=dataset,
        selection={"split": split, "q": q, "label": label}, record_ids=record_ids, repeats=repeats,
        concurrency=concurrency, repair=repair, reviews_per_output=max(1, reviews_per_output), total=len(record_ids) * repeats,
        created_by=user,
    )
    if launch:
        run_enqueue(run=run)
    return run


def _check_parts(project, prompt_version, model, dataset) -> None:
    if prompt_version.template.project_id != project.id:
        raise ApplicationError("That prompt belongs to another project.")
    if model.project_id not in (None, project.id):
        raise ApplicationError("That model belongs to another project.")
    if dataset is None or dataset.project_id != project.id:
        raise ApplicationError("Choose a dataset of this project.")


def run_enqueue(*, run: Run, countdown: float = 0) -> None:
    from .tasks import run_execute_task

    transaction.on_commit(lambda: run_execute_task.apply_async((run.id,), countdown=countdown))


def run_cancel(*, run: Run) -> bool:
    """Stop a queued or running run; the outputs it has are kept. The worker stops within about a second."""
    return job_cancel(run)


def run_resume(*, run: Run) -> None:
    """Queue a failed, cancelled or stalled run again: it answers only the pairs that have no output yet."""
    job_requeue(run, noun="run", enqueue=lambda job: run_enqueue(run=job))


def run_is_alive(run: Run) -> bool:
    return job_is_alive(run)


def runs_resume_interrupted() -> int:
    """Queue every run left RUNNING (its worker may have died); live ones are looked at again later."""
    return jobs_resume_interrupted(Run, enqueue=lambda job, countdown: run_enqueue(run=job, countdown=countdown))


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
        job_finish(run, RunStatus.FAILED, error=f"The run stopped: {exc}")
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
            yield (record_id, repeat, messages), messages, lambda answer, text=text: answer_problems(
                project, answer, text=text)

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
    current = Run.objects.get(id=run.id)
    if current.status != RunStatus.RUNNING:
        return  # cancelled while it ran
    counts = output_counts(run)
    done = counts["done"]
    if done and counts["error"] == done:
        first = run.outputs.exclude(error="").values_list("error", flat=True).first()
        job_finish(run, RunStatus.FAILED, error=f"All {done} model calls failed. The first error: {first}")
    else:
        job_finish(run, RunStatus.SUCCEEDED)


def output_review_count_add(*, output_id: int, delta: int) -> None:
    """Keep an output's count of grades (the review queue reads it); called by the review app."""
    Output.objects.filter(id=output_id).update(review_count=F("review_count") + delta)
