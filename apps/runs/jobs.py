"""The machinery every generation job shares (runs and eval runs): claim a job row with a heartbeat, answer a
stream of prompts with a model while saving in small batches, notice a cancel, and finish the row.

A job row has `status` (runs.models.RunStatus), `started_at`, `heartbeat_at`, `finished_at`, `error` and `attempts`.
"""

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.llm.client import Caller

from .models import ACTIVE_STATUSES, RunStatus

HEARTBEAT_EVERY_SECONDS = 1.0
SAVE_EVERY_SECONDS = 0.25
SAVE_BATCH = 64


def job_is_alive(job) -> bool:
    stale_after = timedelta(seconds=settings.TASKLLM_JOB_HEARTBEAT_SECONDS)
    return bool(job.heartbeat_at and job.heartbeat_at > timezone.now() - stale_after)


def job_cancel(job) -> bool:
    """Stop a queued or running job; what it made so far is kept. Its worker stops within about a second."""
    cancelled = type(job).objects.filter(id=job.id, status__in=ACTIVE_STATUSES).update(
        status=RunStatus.CANCELLED, finished_at=timezone.now())
    job.refresh_from_db()
    return bool(cancelled)


def job_requeue(job, *, noun: str, enqueue: Callable) -> None:
    """Queue a failed, cancelled or stalled job again (`enqueue(job)`); it does only what it has not done yet."""
    if job.status == RunStatus.SUCCEEDED:
        raise ApplicationError(f"This {noun} has finished; start a new one to run it again.")
    if job.status == RunStatus.RUNNING and job_is_alive(job):
        raise ApplicationError(f"This {noun} is still running.")
    type(job).objects.filter(id=job.id).update(status=RunStatus.QUEUED, error="", finished_at=None)
    job.refresh_from_db()
    enqueue(job)


def jobs_resume_interrupted(model_class, *, enqueue: Callable) -> int:
    """Queue every job left RUNNING (its worker may have died); live ones are looked at again later."""
    jobs = list(model_class.objects.filter(status=RunStatus.RUNNING))
    for job in jobs:
        enqueue(job, countdown=settings.TASKLLM_JOB_HEARTBEAT_SECONDS if job_is_alive(job) else 0)
    return len(jobs)


def job_claim(model_class, job_id: int) -> bool:
    """Take a queued job, or a running one whose worker stopped reporting; False when another worker holds it."""
    now = timezone.now()
    queued = model_class.objects.filter(id=job_id, status=RunStatus.QUEUED)
    if queued.update(status=RunStatus.RUNNING, started_at=Coalesce(F("started_at"), now), heartbeat_at=now,
                     attempts=F("attempts") + 1):
        return True
    job = model_class.objects.get(id=job_id)
    if job.status != RunStatus.RUNNING or job_is_alive(job):
        return False
    # Its worker died: take it over, unless another worker just did.
    taken = model_class.objects.filter(id=job_id, status=RunStatus.RUNNING, heartbeat_at=job.heartbeat_at)
    return taken.update(heartbeat_at=now, attempts=F("attempts") + 1) == 1


def job_heartbeat(job) -> bool:
    """Report that this worker is alive; False when the job was cancelled meanwhile."""
    return type(job).objects.filter(id=job.id, status=RunStatus.RUNNING).update(heartbeat_at=timezone.now()) == 1


def job_finish(job, status: str, *, error: str = "") -> None:
    type(job).objects.filter(id=job.id, status=RunStatus.RUNNING).update(status=status, error=error,
                                                                        finished_at=timezone.now())
    job.refresh_from_db()


def answer_stream(job, *, model, concurrency: int, prompts: Iterator[tuple], schema: dict,
                  save: Callable[[list[tuple]], None]) -> None:
    """Ask `model` every prompt ((key, messages, validate) tuples) and hand `save` lists of (key, Completion).

    Answers are saved in small batches: after a crash at most SAVE_EVERY_SECONDS of them are asked
    again, and the database is not hit once per answer. When the job is cancelled nothing new starts;
    what is in flight still gets saved.
    """
    stop = threading.Event()
    unsaved: list[tuple] = []
    last_save = last_beat = time.monotonic()
    # A run or eval row says whether an invalid answer gets a repair turn (on unless turned off).
    with Caller(model, concurrency=concurrency, repair=getattr(job, "repair", True)) as caller:
        for arrived in caller.stream(prompts, schema=schema, stop=stop, tick_seconds=SAVE_EVERY_SECONDS):
            unsaved.extend(arrived)
            now = time.monotonic()
            if len(unsaved) >= SAVE_BATCH or now - last_save >= SAVE_EVERY_SECONDS:
                if unsaved:
                    save(unsaved)
                unsaved, last_save = [], now
            if now - last_beat >= HEARTBEAT_EVERY_SECONDS:
                last_beat = now
                if not job_heartbeat(job):
                    stop.set()
    if unsaved:
        save(unsaved)
