"""A run as a real Celery job: kill -9 the worker half-way, start another, and get exactly one output per pair."""

import json
import threading

import pytest

from apps.core.models import JobStatus
from apps.runs.models import Output, Run
from apps.runs.services import run_create
from tests.factories import DatasetFactory, RecordFactory
from tests.support.worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_run_killed_half_way_ends_with_exactly_one_output_per_pair(project, prompt_version, remote_model,
                                                                      llm_server, workers):
    dataset = DatasetFactory(project=project)
    RecordFactory.create_batch(200, dataset=dataset)
    llm_server.delay = 0.05
    seen = set()
    lock = threading.Lock()

    def answer(body):
        with lock:
            seen.add(body["messages"][-1]["content"])
        return json.dumps({"label": "billing"})

    llm_server.answer = answer
    first = workers.start()
    run = run_create(project=project, prompt_version=prompt_version, model=remote_model, dataset=dataset,
                     concurrency=4)
    outputs = Output.objects.filter(run=run)
    wait_for(lambda: outputs.count() >= 60, timeout=60, what="the first outputs", log=first.log_path)
    workers.kill_hard(first)
    done_at_kill = outputs.count()
    assert done_at_kill < 200, "the run finished before the kill; make the fake server slower"

    second = workers.start()
    wait_for(lambda: Run.objects.get(id=run.id).status == JobStatus.SUCCEEDED, timeout=120,
             what="the run to continue on the new worker", log=second.log_path)
    pairs = list(outputs.values_list("record_id", "repeat"))
    assert len(pairs) == 200 and len(set(pairs)) == 200
    assert set(r for r, _ in pairs) == set(dataset.records.values_list("id", flat=True))
    assert Run.objects.get(id=run.id).attempts == 2
    assert len(seen) == 200


def test_cancel_stops_a_running_run_and_keeps_its_outputs(project, prompt_version, remote_model, llm_server,
                                                          workers):
    dataset = DatasetFactory(project=project)
    RecordFactory.create_batch(100, dataset=dataset)
    llm_server.delay = 0.1
    worker = workers.start()
    run = run_create(project=project, prompt_version=prompt_version, model=remote_model, dataset=dataset,
                     concurrency=2)
    outputs = Output.objects.filter(run=run)
    wait_for(lambda: outputs.count() >= 5, timeout=60, what="the first outputs", log=worker.log_path)
    from apps.runs.services import run_cancel

    run_cancel(run=run)
    settled = []
    wait_for(lambda: settled.append(outputs.count()) or (len(settled) > 10 and settled[-1] == settled[-10]),
             timeout=30, what="the worker to stop", log=worker.log_path)
    assert Run.objects.get(id=run.id).status == JobStatus.CANCELLED
    assert 5 <= outputs.count() < 100
