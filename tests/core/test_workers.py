"""The job lifecycle with real Celery processes (worker and beat) on the real Redis broker."""

import json
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone
from kombu import Connection

from apps.core.jobs import job_wait_reason
from apps.core.models import JobStatus
from apps.datasets.services import dataset_import_start
from apps.llm.models import Model
from apps.runs.models import Run
from apps.runs.services import run_create
from apps.tuning.models import FineTuneJob
from tests.factories import DatasetFactory, RecordFactory
from tests.support.worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def slow_run(project, prompt_version, model, records: int) -> Run:
    dataset = DatasetFactory(project=project)
    RecordFactory.create_batch(records, dataset=dataset)
    return run_create(project=project, prompt_version=prompt_version, model=model, dataset=dataset, concurrency=1)


def status_of(run: Run) -> str:
    return Run.objects.values_list("status", flat=True).get(id=run.id)


def deliveries(log_path, task: str) -> int:
    return sum(1 for line in log_path.read_text().splitlines() if f"Task {task}[" in line and "received" in line)


def test_a_long_task_is_delivered_once_even_past_the_visibility_timeout(project, prompt_version, remote_model,
                                                                        llm_server, workers):
    """Redis hands an unacknowledged task out again once its visibility timeout has passed. A run is acked when it
    starts, so a sweep for such tasks during the run (here with a 1 s timeout) finds nothing to hand out again."""
    llm_server.delay = 0.1
    worker = workers.start(concurrency=2)  # a free process that would take a second delivery at once
    run = slow_run(project, prompt_version, remote_model, records=40)
    wait_for(lambda: status_of(run) == JobStatus.RUNNING, timeout=60, what="the run to start", log=worker.log_path)
    time.sleep(1.5)
    with Connection(settings.REDIS_URL, transport_options={"visibility_timeout": 1}) as connection:
        connection.default_channel.qos.restore_visible(num=100)
    wait_for(lambda: status_of(run) == JobStatus.SUCCEEDED, timeout=120, what="the run", log=worker.log_path)
    time.sleep(1)
    assert deliveries(worker.log_path, "apps.runs.tasks.run_execute_task") == 1
    assert Run.objects.get(id=run.id).attempts == 1


def test_short_work_goes_past_runs_waiting_in_the_default_queue(project, prompt_version, remote_model, llm_server,
                                                                workers, settings):
    settings.TASKLLM_IMPORT_INLINE_MAX_BYTES = 1024
    llm_server.delay = 0.15
    worker = workers.start(concurrency=1)
    first = slow_run(project, prompt_version, remote_model, records=30)
    wait_for(lambda: status_of(first) == JobStatus.RUNNING, timeout=60, what="the first run", log=worker.log_path)
    second = slow_run(project, prompt_version, remote_model, records=5)
    assert "behind 1 running run" in job_wait_reason(Run.objects.get(id=second.id))
    lines = "".join(json.dumps({"text": f"Ticket {n}: my invoice is wrong", "label": "billing"}) + "\n"
                    for n in range(100))
    dataset_import = dataset_import_start(dataset=DatasetFactory(project=project), file_format="jsonl",
                                          upload=ContentFile(lines.encode(), name="tickets.jsonl"))
    assert dataset_import.status == JobStatus.QUEUED
    wait_for(lambda: type(dataset_import).objects.get(id=dataset_import.id).is_finished, timeout=120,
             what="the import", log=worker.log_path)
    finished = type(dataset_import).objects.get(id=dataset_import.id)
    assert finished.status == JobStatus.SUCCEEDED
    # The import, queued after the second run, went first: the run started (if at all yet) after the import ended.
    second_started = Run.objects.values_list("started_at", flat=True).get(id=second.id)
    assert second_started is None or second_started >= finished.finished_at
    wait_for(lambda: status_of(second) == JobStatus.SUCCEEDED, timeout=120, what="the second run",
             log=worker.log_path)


def test_beat_requeues_a_dead_workers_run_and_fails_a_dead_workers_local_finetune(project, prompt_version,
                                                                                   remote_model, llm_server, workers):
    worker = workers.start()
    workers.start_beat()
    # Made after the worker started, so only beat's periodic check (not the worker's start) can see them.
    stale = timezone.now() - timedelta(hours=1)
    dataset = DatasetFactory(project=project)
    RecordFactory.create_batch(3, dataset=dataset)
    run = run_create(project=project, prompt_version=prompt_version, model=remote_model, dataset=dataset,
                     launch=False)
    Run.objects.filter(id=run.id).update(status=JobStatus.RUNNING, attempts=1, heartbeat_at=stale)
    base = Model.objects.create(name="SmolLM2", provider="local")
    finetune = FineTuneJob.objects.create(project=project, base_model=base, backend="local", status=JobStatus.RUNNING,
                                          heartbeat_at=stale, training_file_sha256="x")
    wait_for(lambda: status_of(run) == JobStatus.SUCCEEDED, timeout=60, what="the run to continue",
             log=worker.log_path)
    assert Run.objects.get(id=run.id).attempts == 2 and run.outputs.count() == 3
    finetune.refresh_from_db()
    assert finetune.status == JobStatus.FAILED and "heartbeat went stale" in finetune.error
