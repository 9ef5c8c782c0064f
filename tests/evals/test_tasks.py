"""An eval as a real Celery job, launched through the API, read back as a CI pipeline would."""

import pytest
from django.urls import reverse

from tests.conftest import api_as
from tests.evals.conftest import scripted
from tests.support.worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_an_eval_launched_by_api_runs_on_a_worker_and_reports_its_gate(project, prompt_version, remote_model,
                                                                       cases, points, llm_server, workers, people):
    project.pass_threshold = 0.5
    project.save()
    llm_server.answer = scripted({c.text: ["escalation"] for c in cases[:4]} | {c.text: ["technical"]
                                                                                for c in cases[4:]})
    worker = workers.start()
    api = api_as(people["lead"])
    created = api.post(reverse("api-evals", args=[project.id]), {
        "model": remote_model.id, "prompt_version": prompt_version.id, "repeats": 3, "concurrency": 4}, format="json")
    assert created.status_code == 201, created.content
    url = reverse("api-eval", args=[created.json()["id"]])
    wait_for(lambda: api.get(url).json()["status"] == "SUCCEEDED", timeout=60, what="the eval",
             log=worker.log_path)
    body = api.get(url).json()
    assert body["progress"]["done"] == 18 and body["gate"]["passed"] is True
    by_point = {r["point_name"]: r for r in body["results"]}
    assert by_point["hold is a pause"]["pass_rate"] == 1.0 and by_point["All test cases"]["outputs"] == 18
