"""The one job lifecycle (apps/core/jobs.py), checked on the real job models against PostgreSQL."""

import threading
from datetime import timedelta

import pytest
from celery.signals import worker_ready
from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.core import jobs
from apps.core.exceptions import ApplicationError
from apps.core.models import JobStatus
from apps.datasets.models import DatasetImport
from apps.evals.services import eval_queue
from apps.llm.models import Model
from apps.runs.models import Run
from apps.runs.services import run_cancel, run_create
from apps.runs.tasks import run_execute_task
from apps.tuning.models import FineTuneJob
from taskllm_site.celery import app as celery_app
from tests.factories import DatasetFactory, RecordFactory

LONG_AGO = timedelta(hours=1)


@pytest.fixture
def tasks():
    """Every task of the project, as a worker registers them (the test process imports them lazily)."""
    celery_app.loader.import_default_modules()
    return celery_app.tasks


def a_run(project, prompt_version, model, **fields) -> Run:
    dataset = DatasetFactory(project=project)
    return Run.objects.create(project=project, prompt_version=prompt_version, model=model, dataset=dataset,
                              record_ids=[], total=0, **fields)


def a_local_finetune(project, **fields) -> FineTuneJob:
    base = Model.objects.create(name="SmolLM2", provider="local")
    return FineTuneJob.objects.create(project=project, base_model=base, backend="local", training_file_sha256="x",
                                      **fields)


@pytest.fixture
def run(project, prompt_version, remote_model):
    return a_run(project, prompt_version, remote_model)


# --- claim ---------------------------------------------------------------------------------

def test_a_queued_job_is_claimed_once(run):
    assert jobs.job_claim(Run, run.id) is True
    assert jobs.job_claim(Run, run.id) is False
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING and run.attempts == 1 and run.started_at and run.heartbeat_at


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_the_same_moment_one_wins(project, prompt_version, remote_model):
    run = a_run(project, prompt_version, remote_model)
    start = threading.Barrier(8)
    results = []

    def claim():
        start.wait()
        try:
            results.append(jobs.job_claim(Run, run.id))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert Run.objects.get(id=run.id).attempts == 1


def test_a_running_job_with_a_stale_heartbeat_is_taken_over_once(run):
    Run.objects.filter(id=run.id).update(status=JobStatus.RUNNING, attempts=1,
                                         heartbeat_at=timezone.now() - LONG_AGO)
    assert jobs.job_claim(Run, run.id) is True
    assert jobs.job_claim(Run, run.id) is False  # the new holder is alive
    assert Run.objects.get(id=run.id).attempts == 2


def test_a_job_that_keeps_killing_its_worker_fails_after_its_attempts(dataset):
    dataset_import = DatasetImport.objects.create(dataset=dataset, original_name="a.csv", format="csv",
                                                  status=JobStatus.RUNNING, attempts=3)
    assert jobs.job_claim(DatasetImport, dataset_import.id) is False
    dataset_import.refresh_from_db()
    assert dataset_import.status == JobStatus.FAILED and "stopped 3 times during this import" in dataset_import.error


# --- heartbeat, cancel, finish, requeue --------------------------------------------------------

def test_the_heartbeat_reports_progress_and_says_when_the_job_was_cancelled(run):
    jobs.job_claim(Run, run.id)
    assert jobs.job_heartbeat(run, progress=40) is True
    assert Run.objects.get(id=run.id).progress == 40
    assert jobs.job_cancel(run) is True and run.status == JobStatus.CANCELLED
    assert jobs.job_heartbeat(run) is False
    assert jobs.job_finish(run, JobStatus.SUCCEEDED) is False and run.status == JobStatus.CANCELLED


def test_finish_marks_a_completed_job_done(run):
    jobs.job_claim(Run, run.id)
    assert jobs.job_finish(run, JobStatus.COMPLETED_WITH_ERRORS, error="1 of 3 model calls failed.")
    assert run.status == JobStatus.COMPLETED_WITH_ERRORS and run.progress == 100 and run.finished_at
    assert run.is_completed and not run.is_active


def test_requeue_refuses_a_finished_or_live_job_and_queues_a_stalled_one(run, django_capture_on_commit_callbacks):
    jobs.job_claim(Run, run.id)
    run.refresh_from_db()
    with pytest.raises(ApplicationError, match="still running"):
        jobs.job_requeue(run)
    Run.objects.filter(id=run.id).update(heartbeat_at=timezone.now() - LONG_AGO)
    run.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        jobs.job_requeue(run)
    assert run.status == JobStatus.QUEUED and len(queued) == 1
    Run.objects.filter(id=run.id).update(status=JobStatus.SUCCEEDED)
    run.refresh_from_db()
    with pytest.raises(ApplicationError, match="has finished"):
        jobs.job_requeue(run)


# --- jobs whose worker died --------------------------------------------------------------------

def test_recover_requeues_a_stale_run_and_fails_a_stale_local_finetune(project, prompt_version, remote_model,
                                                                        django_capture_on_commit_callbacks):
    stale = timezone.now() - LONG_AGO
    run = a_run(project, prompt_version, remote_model, status=JobStatus.RUNNING, attempts=1, heartbeat_at=stale)
    live_run = a_run(project, prompt_version, remote_model, status=JobStatus.RUNNING, attempts=1,
                     heartbeat_at=timezone.now())
    finetune = a_local_finetune(project, status=JobStatus.RUNNING, heartbeat_at=stale)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        counts = jobs.jobs_recover()
    assert counts == {"requeued": 1, "failed": 1} and len(queued) == 1
    run.refresh_from_db(), live_run.refresh_from_db(), finetune.refresh_from_db()
    assert run.status == JobStatus.QUEUED and run.attempts == 1  # the claim counts the next attempt
    assert live_run.status == JobStatus.RUNNING
    assert finetune.status == JobStatus.FAILED and "heartbeat went stale" in finetune.error
    assert jobs.jobs_recover() == {"requeued": 0, "failed": 0}  # a second check does nothing more


def test_a_local_finetune_gets_two_minutes_before_it_counts_as_dead(project, settings):
    settings.TASKLLM_JOB_HEARTBEAT_SECONDS = 2
    finetune = a_local_finetune(project, status=JobStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(seconds=60))
    assert jobs.job_is_alive(finetune)
    assert jobs.jobs_recover() == {"requeued": 0, "failed": 0}


def test_worker_ready_queues_every_running_run_again(project, prompt_version, remote_model,
                                                     django_capture_on_commit_callbacks):
    """A starting worker looks at stale jobs at once and at live-looking ones (maybe its own, before a restart)
    once their heartbeat could have gone stale."""
    stale = a_run(project, prompt_version, remote_model, status=JobStatus.RUNNING, attempts=1,
                  heartbeat_at=timezone.now() - LONG_AGO)
    live = a_run(project, prompt_version, remote_model, status=JobStatus.RUNNING, attempts=1,
                 heartbeat_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=False) as queued:
        worker_ready.send(sender=None)
    assert len(queued) == 2
    assert Run.objects.get(id=stale.id).status == JobStatus.QUEUED
    assert Run.objects.get(id=live.id).status == JobStatus.RUNNING


def test_beat_runs_the_stale_job_check_periodically(tasks):
    entry = settings.CELERY_BEAT_SCHEDULE["jobs-recover"]
    assert entry["task"] == "apps.core.tasks.jobs_recover_task" and entry["task"] in tasks
    assert entry["schedule"] <= settings.TASKLLM_JOB_HEARTBEAT_SECONDS
    assert entry["options"]["queue"] == settings.TASKLLM_INTERACTIVE_QUEUE


def test_the_stale_job_check_task_fails_a_dead_local_finetune(project, tasks):
    finetune = a_local_finetune(project, status=JobStatus.RUNNING, heartbeat_at=timezone.now() - LONG_AGO)
    assert tasks["apps.core.tasks.jobs_recover_task"]() == {"requeued": 0, "failed": 1}
    finetune.refresh_from_db()
    assert finetune.status == JobStatus.FAILED


# --- celery settings per task --------------------------------------------------------------------

def test_no_task_outlives_the_visibility_timeout_unacknowledged(tasks):
    """Redis delivers an unacknowledged task again after the visibility timeout, even while it runs: only short
    tasks may be acks_late, and the long ones (the local fine-tune above all) are acked when they start."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    ours = {name: task for name, task in tasks.items() if name.startswith("apps.")}
    assert len(ours) >= 6
    for name, task in ours.items():
        assert task.time_limit, f"{name} has no hard time limit"
        if task.acks_late:
            assert task.time_limit < visibility, name
    assert not ours["apps.tuning.tasks.finetune_train_local_task"].acks_late
    assert not getattr(settings, "CELERY_TASK_ACKS_LATE", False)


# --- queues, and why a job waits ---------------------------------------------------------------

def test_small_evals_imports_and_polls_go_to_the_interactive_queue(project, prompt_version, remote_model, settings):
    from apps.evals.models import EvalRun

    small = EvalRun(project=project, model=remote_model, prompt_version=prompt_version, total=200)
    large = EvalRun(project=project, model=remote_model, prompt_version=prompt_version, total=201)
    assert eval_queue(small) == settings.TASKLLM_INTERACTIVE_QUEUE
    assert eval_queue(large) == settings.CELERY_TASK_DEFAULT_QUEUE
    types = {job_type.model.__name__: job_type for job_type in jobs.job_types()}
    assert set(types) >= {"DatasetImport", "Run", "EvalRun", "FineTuneJob"}
    assert types["DatasetImport"].queue_of(DatasetImport()) == settings.TASKLLM_INTERACTIVE_QUEUE


def test_a_queued_job_says_what_it_waits_behind(project, prompt_version, remote_model):
    first = a_run(project, prompt_version, remote_model, status=JobStatus.RUNNING, heartbeat_at=timezone.now())
    a_run(project, prompt_version, remote_model)
    waiting = a_run(project, prompt_version, remote_model)
    reason = jobs.job_wait_reason(waiting)
    assert reason == f"Waiting on the “{settings.CELERY_TASK_DEFAULT_QUEUE}” queue behind 1 queued run, 1 running run."
    assert jobs.job_wait_reason(first) == ""


def test_the_run_page_shows_why_it_waits_and_the_concurrency_it_could_not_honour(project, prompt_version, people,
                                                                                  django_capture_on_commit_callbacks):
    from tests.conftest import login

    local = Model.objects.create(name="SmolLM2", provider="local")
    dataset = DatasetFactory(project=project)
    RecordFactory.create_batch(2, dataset=dataset)
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(project=project, prompt_version=prompt_version, model=local, dataset=dataset,
                         concurrency=8)
    assert run.concurrency == 1
    page = login(people["lead"]).get(f"/runs/{run.id}/").content.decode()
    assert "Concurrency 8 was asked; the bundled model answers one request at a time" in page
    assert "Waiting for a free worker on the" in page


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_runs_task_ends_quietly(project, prompt_version, remote_model, llm_server):
    """Cancelled while it runs, the task returns CANCELLED instead of asking Celery to retry it later."""
    dataset = DatasetFactory(project=project)
    RecordFactory.create_batch(200, dataset=dataset)  # enough that the cancel is seen before the last answer
    run = run_create(project=project, prompt_version=prompt_version, model=remote_model, dataset=dataset,
                     concurrency=1, launch=False)

    def answer(_body):
        try:
            run_cancel(run=Run.objects.get(id=run.id))
        finally:
            connection.close()
        return '{"label": "billing"}'

    llm_server.answer = answer
    assert run_execute_task(run.id) == JobStatus.CANCELLED
    assert 1 <= Run.objects.get(id=run.id).outputs.count() < 200
