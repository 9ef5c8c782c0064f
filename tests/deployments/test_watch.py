"""Scheduled evals of a deployment, the alerts they raise, and signed webhook deliveries with retries."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.deployments import alerts, schedules, webhooks
from apps.deployments.models import (
    Alert,
    AlertEvent,
    AlertStatus,
    DeliveryAttempt,
    EvalSchedule,
    ScheduledEval,
    WebhookDelivery,
)
from apps.deployments.tasks import webhook_deliver_task
from apps.deployments.watch import watch_tick
from apps.evals.services import eval_execute
from tests.conftest import login
from tests.deployments.watching import Receiver, promoted_deployment
from tests.evals.conftest import cases, points, scripted  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    receiver = Receiver(statuses=[500])
    yield receiver
    receiver.close()


@pytest.fixture
def eager_tasks():
    """Tasks queued on commit run in this process (a retry runs again at once, its countdown skipped)."""
    from taskllm_site.celery import app

    old = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = old


@pytest.fixture
def watched(project, people, remote_model, prompt_version, cases, llm_server,  # noqa: F811
            django_capture_on_commit_callbacks):
    project.pass_threshold = 0.5
    project.save()
    llm_server.answer = scripted({c.text: ["escalation"] for c in cases[:4]} |
                                 {c.text: ["technical"] for c in cases[4:]})
    return promoted_deployment(project, people, remote_model, prompt_version, django_capture_on_commit_callbacks)


def test_cron_expressions():
    start = datetime(2026, 11, 27, 23, 7, tzinfo=UTC)
    assert schedules.cron_next("0 6 * * 1", start) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    assert schedules.cron_next("*/15 * * * *", start).minute == 15
    assert schedules.cron_next("30 8-9 1,15 * *", start) == datetime(2026, 12, 1, 8, 30,
                                                                             tzinfo=UTC)
    assert schedules.cron_next("0 0 * * 7", start).isoweekday() == 7
    for wrong in ("* * * *", "61 * * * *", "a * * * *"):
        with pytest.raises(ApplicationError):
            schedules.cron_parse(wrong)


def test_a_due_schedule_launches_once_and_a_regression_alerts_a_signed_retried_webhook(
        watched, project, people, cases, llm_server, receiver, django_capture_on_commit_callbacks, eager_tasks):  # noqa: F811
    deployment, baseline = watched
    schedule = schedules.schedule_create(deployment=deployment, every="hourly",
                                         first_run_at=timezone.now() - timedelta(minutes=1))
    alerts.rule_create(project=project, event=AlertEvent.EVAL_REGRESSED, emails="oncall@example.com")
    hook = webhooks.webhook_create(project=project, url=receiver.url, events=[AlertEvent.EVAL_REGRESSED])

    with django_capture_on_commit_callbacks(execute=False):
        first = watch_tick()
        second = watch_tick()  # the same minute again: the claim was taken
    assert first["launched"] == 1 and second["launched"] == 0
    scheduled = ScheduledEval.objects.get(deployment=deployment)
    assert scheduled.eval_run.baseline == baseline and scheduled.schedule == schedule
    schedule.refresh_from_db()
    assert schedule.next_run_at > timezone.now() + timedelta(minutes=55)

    # The hosted model changed under the same name: every "hold" case now comes back wrong.
    llm_server.answer = scripted({c.text: ["technical"] for c in cases})
    eval_execute(eval_id=scheduled.eval_run_id)
    with django_capture_on_commit_callbacks(execute=True):
        result = watch_tick()
    assert result == {"launched": 0, "checked": 1, "alerts": 1}
    scheduled.refresh_from_db()
    assert scheduled.regressed is True
    assert [m["name"] for m in scheduled.moved if m["verdict"] == "regressed"] == ["hold is a pause"]
    alert = Alert.objects.get()
    assert alert.deployment == deployment and "hold is a pause" in alert.what
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["oncall@example.com"]

    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert delivery.status == "delivered" and delivery.attempts == 2
    assert list(DeliveryAttempt.objects.filter(delivery=delivery).values_list("status_code", flat=True)) == [500, 200]
    assert len(receiver.requests) == 2 and all(receiver.verified(hook.secret, r) for r in receiver.requests)
    assert receiver.events() == [AlertEvent.EVAL_REGRESSED, AlertEvent.EVAL_REGRESSED]

    lead = login(people["lead"])
    page = lead.get(reverse("deployments:detail", args=[deployment.id])).content.decode()
    assert "regressed" in page and "hold is a pause" in page
    log = lead.get(reverse("deployments:webhooks", args=[project.id])).content.decode()
    assert "500" in log and "down for a moment" in log
    dashboard = lead.get(reverse("evals:dashboard", args=[project.id])).content.decode()
    assert "ticket-router" in dashboard and "hold is a pause" in dashboard


def test_a_failed_delivery_is_retried_then_given_up_and_can_be_redelivered(project, receiver, settings):
    settings.TASKLLM_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.statuses = [500, 503]
    hook = webhooks.webhook_create(project=project, url=receiver.url)
    delivery = WebhookDelivery.objects.create(webhook=hook, event="eval.failed", body='{"event": "eval.failed"}')
    webhook_deliver_task.apply(args=[delivery.id])
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 2
    again = webhooks.delivery_redeliver(delivery=delivery)
    webhook_deliver_task.apply(args=[again.id])
    again.refresh_from_db()
    assert again.status == "delivered" and again.body == delivery.body
    assert len(receiver.requests) == 3


def test_deliveries_obey_the_outbound_host_rules(project, receiver, settings):
    settings.TASKLLM_MODEL_HOSTS_DENY = ["127.0.0.0/8"]
    hook = webhooks.webhook_create(project=project, url=receiver.url)
    delivery = WebhookDelivery.objects.create(webhook=hook, event="eval.failed", body="{}")
    webhook_deliver_task.apply(args=[delivery.id])
    delivery.refresh_from_db()
    assert delivery.status == "failed" and not receiver.requests
    assert "not allowed" in delivery.attempt_log.get().error


def test_alerts_are_raised_once_until_resolved_and_acknowledged_by_people(project, people):
    rule = alerts.rule_create(project=project, event=AlertEvent.EVAL_FAILED)
    first = alerts.alert_raise(rule=rule, key="job:1", what="Eval 1 failed")
    assert alerts.alert_raise(rule=rule, key="job:1", what="Eval 1 failed") is None
    alerts.alert_acknowledge(alert=first, user=people["lead"])
    assert alerts.alert_raise(rule=rule, key="job:1", what="Eval 1 failed") is None
    alerts.alert_resolve(alert=first, user=people["lead"])
    assert first.status == AlertStatus.RESOLVED
    assert alerts.alert_raise(rule=rule, key="job:1", what="Eval 1 failed again") is not None


def test_job_and_traffic_rules(watched, project, people, remote_model, prompt_version,
                               django_capture_on_commit_callbacks):
    deployment, baseline = watched
    from apps.deployments.models import Trace

    finished = alerts.rule_create(project=project, event=AlertEvent.EVAL_FINISHED)
    finished.checked_until = baseline.finished_at - timedelta(seconds=1)
    finished.save()
    errors = alerts.rule_create(project=project, event=AlertEvent.ERROR_RATE, level=0.2, window_minutes=30)
    now = timezone.now()
    for status in ("ok", "ok", "error"):
        Trace.objects.create(deployment=deployment, endpoint="predict", status=status, created_at=now)
    with django_capture_on_commit_callbacks(execute=False):
        raised = watch_tick()["alerts"]
        again = watch_tick()["alerts"]
    assert raised == 2 and again == 0
    assert Alert.objects.get(rule=finished).link == reverse("evals:detail", args=[baseline.id])
    assert "33%" in Alert.objects.get(rule=errors).what


def test_the_thumbs_down_alert_and_the_traffic_page_share_one_definition(deployment, project):
    from apps.deployments import analytics
    from apps.deployments.models import Feedback, Trace

    rule = alerts.rule_create(project=project, event=AlertEvent.THUMBS_DOWN, level=0.4, window_minutes=30)
    now = timezone.now()
    traces = [Trace.objects.create(deployment=deployment, endpoint="predict", status="ok", created_at=now)
              for _ in range(4)]
    Feedback.objects.create(trace=traces[0], thumbs="down")
    Feedback.objects.create(trace=traces[1], thumbs="up")  # 1 down of 2 with feedback: 50%, though 25% of calls

    raised = alerts.alerts_for_traffic(now=now)

    assert [a.rule_id for a in raised] == [rule.id]
    shown = analytics.daily(deployment)[-1].thumbs_down_share
    assert raised[0].details["share"] == shown == 0.5
    assert "50%" in raised[0].what


def test_a_schedule_without_a_live_deployment_launches_nothing(project, people):
    from apps.deployments.services import deployment_create

    deployment = deployment_create(project=project, slug="empty", user=people["lead"])
    schedules.schedule_create(deployment=deployment, every="cron", cron="* * * * *",
                              first_run_at=timezone.now() - timedelta(minutes=1))
    assert watch_tick()["launched"] == 0
    assert EvalSchedule.objects.get().last_run_at is not None


def test_a_schedule_that_cannot_launch_does_not_stop_the_tick(project, remote_model, prompt_version):
    from apps.deployments.models import Deployment

    deployment = Deployment.objects.create(project=project, slug="no-cases", model=remote_model,
                                           prompt_version=prompt_version)
    schedules.schedule_create(deployment=deployment, every="hourly", first_run_at=timezone.now() - timedelta(minutes=1))
    assert watch_tick()["launched"] == 0  # the project has no test cases: skipped and logged, not raised
    assert not ScheduledEval.objects.exists()
