"""The lifecycle every long job shares: dataset imports, runs, eval runs, fine-tunes, and whatever job comes next.

How a job type uses it (the contract):

1. Its model subclasses `apps.core.models.Job` (status, attempts, progress, error, created/started/finished and
   heartbeat times) and adds its own fields.
2. Its app registers the model once, in `AppConfig.ready()`:

       jobs.register(Run, noun="run", enqueue=run_enqueue)

   `enqueue(job, countdown=0)` sends the job's task after the transaction commits (`job_enqueue` does that);
   `queue_of(job)` names the queue it goes to (for the "why is it waiting" line); `on_worker_lost(job)` says what
   becomes of it when its worker dies: RESUME (queue it again; the job does only what it has not done, so
   repeating it is safe) or FAIL (end it FAILED, visibly, for work that must not silently start over).
   `max_attempts` bounds how often a job is taken over after its worker died (0: no bound).
3. Its task claims the row with `job_claim` and does nothing unless that returns True; while it works it calls
   `job_heartbeat` more often than every TASKLLM_JOB_HEARTBEAT_SECONDS and stops when that returns False (the job
   was cancelled); it ends with `job_finish`. `job_task_status` tells the task shell whether to look again later.
4. People act through `job_cancel` and `job_requeue`. `jobs_recover` deals with jobs whose worker died: every
   worker runs it when it starts, and Celery beat runs it periodically (`apps.core.tasks`).

Status moves (apps.core.models.JobStatus), each one conditional UPDATE, so two workers (or a worker and a person)
never both win:

    QUEUED ──claim──► RUNNING ──finish──► SUCCEEDED | COMPLETED_WITH_ERRORS | FAILED
    QUEUED | RUNNING ──cancel──► CANCELLED
    FAILED | CANCELLED | QUEUED | RUNNING whose worker died ──requeue──► QUEUED
    RUNNING whose heartbeat went stale ──claim──► RUNNING (taken over: attempts + 1), or FAILED past max_attempts
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from .exceptions import ApplicationError
from .models import ACTIVE_STATUSES, Job, JobStatus

RESUME = "resume"
FAIL = "fail"


@dataclass(frozen=True)
class JobType:
    model: type[Job]
    noun: str
    enqueue: Callable[..., None]
    queue_of: Callable[[Job], str]
    on_worker_lost: Callable[[Job], str]
    max_attempts: int = 0
    stale_after_seconds: int = 0  # at least this long without a heartbeat before the job counts as dead


_types: dict[type, JobType] = {}
# What an unregistered job model gets (a test's, say): the plain heartbeat rules, no bound on attempts.
_NO_TYPE = JobType(model=Job, noun="job", enqueue=lambda *a, **k: None, queue_of=lambda _job: "",
                   on_worker_lost=lambda _job: RESUME)


def register(model: type[Job], *, noun: str, enqueue: Callable[..., None], queue_of: Callable[[Job], str] | None = None,
             on_worker_lost: Callable[[Job], str] | str = RESUME, max_attempts: int = 0,
             stale_after_seconds: int = 0) -> None:
    """Make `model` a job type that workers recover and pages explain (see the module docstring)."""
    policy = on_worker_lost if callable(on_worker_lost) else (lambda _job, value=on_worker_lost: value)
    _types[model] = JobType(model=model, noun=noun, enqueue=enqueue,
                            queue_of=queue_of or (lambda _job: default_queue()), on_worker_lost=policy,
                            max_attempts=max_attempts, stale_after_seconds=stale_after_seconds)


def job_types() -> list[JobType]:
    return list(_types.values())


def _type_of(job_or_model) -> JobType:
    model = job_or_model if isinstance(job_or_model, type) else type(job_or_model)
    return _types[model]


# --- queues ------------------------------------------------------------------------------------

def default_queue() -> str:
    """Long work (runs, large evals) waits here."""
    from celery import current_app

    return current_app.conf.task_default_queue


def interactive_queue() -> str:
    """Short work (imports, small evals, polls) goes here, so it does not wait behind long runs."""
    return settings.TASKLLM_INTERACTIVE_QUEUE


def job_enqueue(task, job: Job, *, queue: str | None = None, countdown: float = 0) -> None:
    """Send `task(job.id)` once the current transaction commits (at once outside a transaction)."""
    options = {"countdown": countdown, **({"queue": queue} if queue else {})}
    transaction.on_commit(lambda: task.apply_async((job.id,), **options))


# --- what workers do ---------------------------------------------------------------------------

def job_is_alive(job: Job) -> bool:
    """Has the worker holding the job said it is alive lately?"""
    stale_after = timedelta(seconds=max(settings.TASKLLM_JOB_HEARTBEAT_SECONDS,
                                        _types.get(type(job), _NO_TYPE).stale_after_seconds))
    return bool(job.heartbeat_at and job.heartbeat_at > timezone.now() - stale_after)


def job_claim(model: type[Job], job_id: int) -> bool:
    """Take a queued job, or a running one whose worker stopped reporting; False when it is not this caller's.

    Exactly one of several concurrent callers gets True. A job taken over more than its type's `max_attempts`
    times ends FAILED instead (its work keeps killing the worker).
    """
    now = timezone.now()
    queued = model.objects.filter(id=job_id, status=JobStatus.QUEUED)
    if queued.update(status=JobStatus.RUNNING, started_at=Coalesce(F("started_at"), now), heartbeat_at=now,
                     attempts=F("attempts") + 1):
        return True
    job = model.objects.get(id=job_id)
    if job.status != JobStatus.RUNNING or job_is_alive(job):
        return False
    if _gave_up(job):
        return False
    # Its worker died: take it over, unless another worker just did.
    taken = model.objects.filter(id=job_id, status=JobStatus.RUNNING, heartbeat_at=job.heartbeat_at,
                                 attempts=job.attempts)
    return taken.update(heartbeat_at=now, attempts=F("attempts") + 1) == 1


def _gave_up(job: Job) -> bool:
    limit = _types.get(type(job), _NO_TYPE).max_attempts
    if not limit or job.attempts < limit:
        return False
    noun = _types[type(job)].noun
    job_finish(job, JobStatus.FAILED, error=f"The worker stopped {job.attempts} times during this {noun}; "
               "nothing of it was kept. Try a smaller one or check the worker's memory.")
    return True


def job_heartbeat(job: Job, *, progress: int | None = None, own_connection: bool = False) -> bool:
    """Say that this worker is alive (and how far it got, 0–100); False when the job was cancelled meanwhile.

    A job that works inside one long transaction (an all-or-nothing import) passes `own_connection=True`: the
    heartbeat is then written on a connection of its own, so other processes see it before the work commits.
    """
    values = {"heartbeat_at": timezone.now(), **({"progress": max(0, min(100, progress))} if progress is not None
                                                 else {})}
    rows = type(job).objects.filter(id=job.id, status=JobStatus.RUNNING)
    if own_connection and connection.in_atomic_block and connection.vendor == "postgresql":
        return _update_on_own_connection(rows, values) == 1
    return rows.update(**values) == 1


def _update_on_own_connection(rows, values: dict) -> int:
    """`rows.update(**values)` on a fresh connection (in autocommit), outside the caller's transaction."""
    from django.db.models.sql import UpdateQuery
    from django.db.models.sql.constants import ROW_COUNT

    shared = connections[rows.db]
    side = type(shared)(shared.settings_dict, rows.db)
    try:
        query = rows.query.chain(UpdateQuery)
        query.add_update_values(values)
        return query.get_compiler(connection=side).execute_sql(ROW_COUNT)
    finally:
        side.close()


def job_finish(job: Job, status: str, *, error: str = "", **fields) -> bool:
    """End a RUNNING job with `status` (and more of its own `fields`); False when it was cancelled meanwhile."""
    done = {"progress": 100} if status in (JobStatus.SUCCEEDED, JobStatus.COMPLETED_WITH_ERRORS) else {}
    ended = type(job).objects.filter(id=job.id, status=JobStatus.RUNNING).update(
        status=status, error=error, finished_at=timezone.now(), **done, **fields)
    job.refresh_from_db()
    return bool(ended)


def job_task_status(model: type[Job], job_id: int) -> str:
    """The job's status, read afresh, for the task that just worked on it.

    RUNNING here means another worker holds the job and is alive: the task should look again once that
    worker's heartbeat could have gone stale. Any other status ends the task quietly (a cancelled job too).
    """
    return model.objects.values_list("status", flat=True).get(id=job_id)


def job_progress(job: Job) -> dict:
    """Percent done and whether a worker is reporting, for a job's progress bar (imports, for instance)."""
    if job.is_finished:
        return {"percent": 100, "alive": True}
    if job.status == JobStatus.QUEUED:
        return {"percent": 0, "alive": True}
    return {"percent": job.progress, "alive": job_is_alive(job)}


# --- what people do ----------------------------------------------------------------------------

def job_cancel(job: Job, **fields) -> bool:
    """Stop a queued or running job; what it made so far is kept. Its worker stops at its next heartbeat."""
    cancelled = type(job).objects.filter(id=job.id, status__in=ACTIVE_STATUSES).update(
        status=JobStatus.CANCELLED, finished_at=timezone.now(), **fields)
    job.refresh_from_db()
    return bool(cancelled)


def job_requeue(job: Job, *, countdown: float = 0) -> None:
    """Queue a failed, cancelled or stalled job again; it does only what it has not done yet."""
    job_type = _type_of(job)
    if job.is_completed:
        raise ApplicationError(f"This {job_type.noun} has finished; start a new one to run it again.")
    if job.status == JobStatus.RUNNING and job_is_alive(job):
        raise ApplicationError(f"This {job_type.noun} is still running.")
    type(job).objects.filter(id=job.id).update(status=JobStatus.QUEUED, error="", finished_at=None)
    job.refresh_from_db()
    job_type.enqueue(job, countdown=countdown)


# --- jobs whose worker died --------------------------------------------------------------------

def jobs_recover(*, worker_starting: bool = False) -> dict[str, int]:
    """Deal with every RUNNING job whose worker died, by its type's `on_worker_lost`: queue it again or fail it.

    Celery beat calls this periodically. A starting worker also calls it with `worker_starting=True`: then the
    jobs that still look alive (perhaps this machine's worker, just restarted) are looked at again once their
    heartbeat could have gone stale. Returns how many jobs were queued again and how many failed.
    """
    counts = {"requeued": 0, "failed": 0}
    for job_type in job_types():
        for job in job_type.model.objects.filter(status=JobStatus.RUNNING):
            action = _recover(job_type, job, worker_starting=worker_starting)
            if action:
                counts[action] += 1
    return counts


def _recover(job_type: JobType, job: Job, *, worker_starting: bool) -> str:
    policy = job_type.on_worker_lost(job)
    if job_is_alive(job):
        if worker_starting and policy == RESUME:
            job_type.enqueue(job, countdown=settings.TASKLLM_JOB_HEARTBEAT_SECONDS)
            return "requeued"
        return ""
    # Only the caller that sees the same stale heartbeat acts, so two checks at once do one thing.
    stale = type(job).objects.filter(id=job.id, status=JobStatus.RUNNING, heartbeat_at=job.heartbeat_at)
    if policy == FAIL or (job_type.max_attempts and job.attempts >= job_type.max_attempts):
        error = (f"The worker running this {job_type.noun} stopped (its heartbeat went stale). "
                 "Start it again; what it was given is unchanged.")
        return "failed" if stale.update(status=JobStatus.FAILED, error=error, finished_at=timezone.now()) else ""
    if not stale.update(status=JobStatus.QUEUED):
        return ""
    job_type.enqueue(job)
    return "requeued"


# --- why a job waits ---------------------------------------------------------------------------

def job_wait_reason(job: Job) -> str:
    """One line for a queued job's page: which queue it waits in and what is ahead of it there."""
    if job.status != JobStatus.QUEUED:
        return ""
    queue = _type_of(job).queue_of(job)
    ahead: dict[tuple[str, str], int] = {}
    for job_type in job_types():
        earlier = job_type.model.objects.filter(status__in=ACTIVE_STATUSES, created_at__lt=job.created_at)
        for other in earlier.order_by("created_at")[:200]:
            if job_type.queue_of(other) == queue:
                key = (job_type.noun, other.get_status_display().lower())
                ahead[key] = ahead.get(key, 0) + 1
    if not ahead:
        return f"Waiting for a free worker on the “{queue}” queue."
    parts = [f"{count} {state} {noun}{'' if count == 1 else 's'}" for (noun, state), count in sorted(ahead.items())]
    return f"Waiting on the “{queue}” queue behind {', '.join(parts)}."
