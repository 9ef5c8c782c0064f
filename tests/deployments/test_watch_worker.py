"""Celery beat and a real worker: a due schedule launches an eval of the deployment, which runs and is checked."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.models import JobStatus
from apps.deployments import alerts, schedules
from apps.deployments.models import Alert, AlertEvent, ScheduledEval
from tests.deployments.watching import promoted_deployment
from tests.evals.conftest import cases, points, scripted  # noqa: F401 - fixtures
from tests.support.worker import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_beat_launches_a_due_schedule_on_a_worker_and_flags_the_regression(
        project, people, remote_model, prompt_version, cases, llm_server, workers,  # noqa: F811
        django_capture_on_commit_callbacks):
    project.pass_threshold = 0.5
    project.save()
    llm_server.answer = scripted({c.text: ["escalation"] for c in cases[:4]} |
                                 {c.text: ["technical"] for c in cases[4:]})
    deployment, baseline = promoted_deployment(project, people, remote_model, prompt_version,
                                               django_capture_on_commit_callbacks)
    alerts.rule_create(project=project, event=AlertEvent.EVAL_REGRESSED)
    schedules.schedule_create(deployment=deployment, every="daily", first_run_at=timezone.now() - timedelta(minutes=1))
    llm_server.answer = scripted({c.text: ["technical"] for c in cases})  # the hosted model changed

    workers.env["TASKLLM_WATCH_SECONDS"] = "1"
    worker = workers.start()
    workers.start_beat()
    wait_for(lambda: ScheduledEval.objects.exclude(checked_at=None).exists(), timeout=90,
             what="the scheduled eval to run and be checked", log=worker.log_path)
    scheduled = ScheduledEval.objects.select_related("eval_run").get()
    assert scheduled.eval_run.status == JobStatus.SUCCEEDED and scheduled.eval_run.baseline_id == baseline.id
    assert scheduled.regressed is True
    wait_for(lambda: Alert.objects.filter(deployment=deployment).exists(), timeout=10, what="the alert")
    assert ScheduledEval.objects.count() == 1  # daily: beat's further ticks launched nothing more
