"""Imports as real Celery jobs: a worker process on the real Redis broker and the PostgreSQL test database."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.db import connection

from apps.datasets.models import DatasetImport, ImportStatus, Record
from apps.datasets.selectors import import_heartbeat
from apps.datasets.services import dataset_import_start
from taskllm_site.celery import app as celery_app
from tests.factories import DatasetFactory, ProjectFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(settings, tmp_path):
    """Start `celery worker` on a queue of its own; yield its process; stop it afterwards."""
    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql" or not django_settings.REDIS_URL:
        pytest.fail("The worker tests need PostgreSQL and Redis: run them with `make test`.")
    settings.TASKLLM_JOB_HEARTBEAT_SECONDS = 2
    queue = f"test-{uuid.uuid4().hex[:8]}"
    old_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "TASKLLM_JOB_HEARTBEAT_SECONDS": "2",
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "taskllm_site", "worker", "-Q", queue, "--concurrency=1",
             "--pool=prefork", "--without-gossip", "--without-mingle", "-n", f"{queue}@%h", "--loglevel=INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    wait_for(lambda: b"ready." in log_path.read_bytes(), timeout=60, what="the worker to start", log=log_path)
    process.log_path = log_path
    yield process
    celery_app.conf.task_default_queue = old_queue
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for(condition, *, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log else ""
    pytest.fail(f"Timed out waiting for {what}.\n{tail}")


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
    assert dataset_import.status == ImportStatus.QUEUED
    wait_for(lambda: finished(dataset_import), timeout=60, what="the import job", log=worker.log_path)
    assert dataset_import.status == ImportStatus.SUCCEEDED, (dataset_import.error, dataset_import.problems)
    assert dataset_import.records_imported == 6000
    assert Record.objects.filter(dataset=dataset).count() == 6000


def test_worker_rejects_a_large_bad_file_whole(worker, settings):
    settings.TASKLLM_IMPORT_INLINE_MAX_BYTES = 1024
    dataset = DatasetFactory(project=ProjectFactory())
    dataset_import = start(dataset, big_jsonl(6000, bad_line=5999))
    wait_for(lambda: finished(dataset_import), timeout=60, what="the import job", log=worker.log_path)
    assert dataset_import.status == ImportStatus.FAILED
    assert dataset_import.problems[0]["line"] == 5999
    assert Record.objects.filter(dataset=dataset).count() == 0


def test_import_resumes_after_its_worker_process_is_killed(worker, settings):
    settings.TASKLLM_IMPORT_INLINE_MAX_BYTES = 1024
    dataset = DatasetFactory(project=ProjectFactory())
    dataset_import = start(dataset, big_jsonl(150_000))
    wait_for(lambda: import_heartbeat(dataset_import) is not None, timeout=60,
             what="the import to report progress", log=worker.log_path)
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    assert children, "the prefork worker has no child process"
    os.kill(int(children[0]), signal.SIGKILL)
    wait_for(lambda: finished(dataset_import), timeout=120, what="the import to resume", log=worker.log_path)
    assert dataset_import.status == ImportStatus.SUCCEEDED, (dataset_import.error, dataset_import.problems)
    assert dataset_import.attempts >= 2
    assert Record.objects.filter(dataset=dataset).count() == 150_000
