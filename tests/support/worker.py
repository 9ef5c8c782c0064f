"""Start and stop real `celery worker` processes against the test database and Redis."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from taskllm_site.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_SECONDS = 2
STALE_CHECK_SECONDS = 1


def wait_for(condition, *, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    pytest.fail(f"Timed out waiting for {what}.\n{tail}")


class Workers:
    """Celery workers on queues of this test's own (default, interactive, train), sharing its database, media folder
    and heartbeat; `start_beat()` adds Celery beat, checking for stale jobs every STALE_CHECK_SECONDS."""

    def __init__(self, settings, tmp_path: Path):
        db = connection.settings_dict
        if db["ENGINE"] != "django.db.backends.postgresql" or not django_settings.REDIS_URL:
            pytest.fail("The worker tests need PostgreSQL and Redis: run them with `make test`.")
        settings.TASKLLM_JOB_HEARTBEAT_SECONDS = HEARTBEAT_SECONDS
        self.queue = f"test-{uuid.uuid4().hex[:8]}"
        settings.TASKLLM_INTERACTIVE_QUEUE = f"{self.queue}-interactive"
        self.tmp_path = tmp_path
        self.processes: list[subprocess.Popen] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "REDIS_URL": django_settings.REDIS_URL,
            "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "TASKLLM_JOB_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "TASKLLM_CELERY_QUEUE": self.queue,
            "TASKLLM_CELERY_INTERACTIVE_QUEUE": f"{self.queue}-interactive",
            "TASKLLM_CELERY_TRAIN_QUEUE": f"{self.queue}-train",
            "TASKLLM_STALE_CHECK_SECONDS": str(STALE_CHECK_SECONDS),
        }
        self._old_queue = celery_app.conf.task_default_queue
        self._old_routes = celery_app.conf.task_routes
        celery_app.conf.task_default_queue = self.queue
        # Fine-tunes go to the test's own train queue, which every test worker also serves.
        self._set_routes({name: {"queue": f"{self.queue}-train"} for name in (self._old_routes or {})})

    @staticmethod
    def _set_routes(routes) -> None:
        celery_app.conf.task_routes = routes
        celery_app.amqp.flush_routes()
        celery_app.amqp.__dict__.pop("router", None)  # a cached property holding the old routes

    def start(self, *, concurrency: int = 1, env: dict | None = None) -> subprocess.Popen:
        """A worker serving the test's queues, as `make run`'s worker serves interactive, default and train."""
        process = self._spawn("worker", [
            "worker", "-Q", f"{self.queue}-interactive,{self.queue},{self.queue}-train",
            f"--concurrency={concurrency}", "--pool=prefork", "--without-gossip", "--without-mingle",
            "-n", f"{self.queue}-{len(self.processes)}@%h", "--loglevel=INFO"], env=env)
        wait_for(lambda: b"ready." in process.log_path.read_bytes(), timeout=60, what="the worker to start",
                 log=process.log_path)
        return process

    def start_beat(self) -> subprocess.Popen:
        """Celery beat with the project's schedule (the stale-job check), every STALE_CHECK_SECONDS."""
        process = self._spawn("beat", ["beat", "--loglevel=INFO", "-s", str(self.tmp_path / "beat-schedule")])
        wait_for(lambda: b"beat: Starting" in process.log_path.read_bytes(), timeout=60, what="beat to start",
                 log=process.log_path)
        return process

    def _spawn(self, name: str, arguments: list[str], env: dict | None = None) -> subprocess.Popen:
        log_path = self.tmp_path / f"{name}-{len(self.processes)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "taskllm_site", *arguments],
                cwd=ROOT, env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process.log_path = log_path
        self.processes.append(process)
        return process

    def kill_hard(self, process: subprocess.Popen) -> None:
        """kill -9 the worker and its pool processes at once, as a crash or an OOM kill would."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        celery_app.conf.task_default_queue = self._old_queue
        self._set_routes(self._old_routes)
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)

