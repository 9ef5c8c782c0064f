"""Imports as real Celery jobs: a worker process on the real Redis broker and the PostgreSQL test database."""

import json
import os
import signal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from apps.core.models import JobStatus
from apps.datasets.models import DatasetImport, Record
from apps.datasets.selectors import import_heartbeat
from apps.datasets.services import dataset_import_start
from tests.factories import DatasetFactory, ProjectFactory
from tests.support.worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
@pytest.fixture
def worker(workers):
    return workers.start()


def big_jsonl(lines: int, bad_line: int | None = None) -> bytes:
    rows = []
    for n in range(1, lines + 1):
        label = "nope" if n == bad_line else "billing"
        rows.append(json.dumps({"text": f"Ticket {n}: the invoice for order {n} is wrong", "label": label}))
    return ("\n".join(rows) + "\n").encode()


def start(dataset, content: bytes) -> DatasetImport:
    return dataset_import_start(dataset=dataset, upload=ContentFile(content, name="big.jsonl"), file_format="jsonl")


def finished(dataset_import: DatasetImport) -> bool:
    dataset_import.refresh_from_db()
    return dataset_import.is_finished


def test_worker_imports_a_large_file_as_a_job(worker, settings):
    settings.TASKLLM_IMPORT_INLINE_MAX_BYTES = 1024
    dataset = DatasetFactory(project=ProjectFactory())
    dataset_import = start(dataset, big_jsonl(6000))
    assert dataset_import.status == JobStatus.QUEUED
    wait_for(lambda: finished(dataset_import), timeout=60, what="the import job", log=worker.log_path)
    assert dataset_import.status == JobStatus.SUCCEEDED, (dataset_import.error, dataset_import.problems)
    assert dataset_import.records_imported == 6000
    assert Record.objects.filter(dataset=dataset).count() == 6000


def test_worker_rejects_a_large_bad_file_whole(worker, settings):
    settings.TASKLLM_IMPORT_INLINE_MAX_BYTES = 1024
    dataset = DatasetFactory(project=ProjectFactory())
    dataset_import = start(dataset, big_jsonl(6000, bad_line=5999))
    wait_for(lambda: finished(dataset_import), timeout=60, what="the import job", log=worker.log_path)
    assert dataset_import.status == JobStatus.FAILED
    assert dataset_import.problems[0]["line"] == 5999
    assert Record.objects.filter(dataset=dataset).count() == 0


def test_import_resumes_after_its_worker_process_is_killed(worker, workers, settings):
    settings.TASKLLM_IMPORT_INLINE_MAX_BYTES = 1024
    workers.start_beat()  # the import task is acked when it starts: beat's stale-job check queues it again
    dataset = DatasetFactory(project=ProjectFactory())
    dataset_import = start(dataset, big_jsonl(150_000))
    wait_for(lambda: import_heartbeat(dataset_import) is not None, timeout=60,
             what="the import to report progress", log=worker.log_path)
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    assert children, "the prefork worker has no child process"
    os.kill(int(children[0]), signal.SIGKILL)
    wait_for(lambda: finished(dataset_import), timeout=120, what="the import to resume", log=worker.log_path)
    assert dataset_import.status == JobStatus.SUCCEEDED, (dataset_import.error, dataset_import.problems)
    assert dataset_import.attempts >= 2
    assert Record.objects.filter(dataset=dataset).count() == 150_000
