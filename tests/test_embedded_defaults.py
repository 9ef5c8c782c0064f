"""The embedded defaults of `make run`: SQLite and a filesystem Celery broker under one var/ folder, no servers."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ENQUEUE_LARGE_IMPORT = """
from django.core.files.base import ContentFile
from apps.datasets.models import Dataset
from apps.datasets.services import dataset_import_start
dataset = Dataset.objects.get(name="Support tickets")
content = "".join('{"text": "ticket %d", "label": "billing"}\\n' % n for n in range(3000)).encode()
imp = dataset_import_start(dataset=dataset, upload=ContentFile(content, name="more.jsonl"), file_format="jsonl")
print("IMPORT", imp.id, imp.status)
"""

IMPORT_STATUS = """
from apps.datasets.models import DatasetImport, Record
imp = DatasetImport.objects.latest("id")
print("STATUS", imp.status, imp.records_imported, Record.objects.count())
"""


def manage(env, *args) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def embedded_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_MEDIA_ROOT"}}
    env.update({"TASKLLM_VAR_DIR": str(tmp_path / "var"), "TASKLLM_IMPORT_INLINE_MAX_BYTES": "1024"})
    return env


def test_sqlite_and_filesystem_broker_migrate_set_up_and_import(embedded_env, tmp_path):
    manage(embedded_env, "migrate", "--no-input")
    assert "Demo logins" in manage(embedded_env, "taskllm_setup")
    manage(embedded_env, "taskllm_setup")  # a second start changes nothing
    assert (tmp_path / "var" / "db.sqlite3").exists()
    # The latest import is the NER demo's 60 sentences; with the 300 support tickets, 360 records in all.
    assert "STATUS SUCCEEDED 60 360" in manage(embedded_env, "shell", "-c", IMPORT_STATUS)

    assert "QUEUED" in manage(embedded_env, "shell", "-c", ENQUEUE_LARGE_IMPORT)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "taskllm_site", "worker", "--pool=solo", "--loglevel=WARNING",
         "-Q", "interactive,default,train"],  # the queues of the Procfile's worker: imports are interactive
        cwd=ROOT, env=embedded_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        status = ""
        while time.monotonic() < deadline and "SUCCEEDED" not in status:
            time.sleep(1)
            status = manage(embedded_env, "shell", "-c", IMPORT_STATUS)
        assert "STATUS SUCCEEDED 3000 3360" in status
        # The broker's exchange tables live under var/ too, not in a control/ folder of the checkout.
        assert (tmp_path / "var" / "celery" / "control" / "default.exchange").exists()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
