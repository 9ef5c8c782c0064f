"""Reads for scheduled evals, alerts and webhooks."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from .models import Alert, AlertRule, AlertStatus, EvalSchedule, ScheduledEval, Webhook, WebhookDelivery


def schedules_of(deployment) -> QuerySet[EvalSchedule]:
    return deployment.schedules.prefetch_related("points")


def scheduled_evals_of(deployment, *, limit: int = 10) -> list[ScheduledEval]:
    return list(deployment.scheduled_evals.select_related("eval_run")[:limit])


def regressions_of(project) -> list[ScheduledEval]:
    """Each deployment's latest checked scheduled eval, where it regressed (the dashboard's flags)."""
    latest = {}
    for scheduled in ScheduledEval.objects.filter(deployment__project=project).exclude(checked_at=None) \
            .select_related("deployment", "eval_run").order_by("-checked_at")[:200]:
        latest.setdefault(scheduled.deployment_id, scheduled)
    return [s for s in latest.values() if s.regressed]


def alerts_of(project, *, status: str = "") -> QuerySet[Alert]:
    alerts = project.alerts.select_related("rule", "deployment", "handled_by")
    return alerts.filter(status=status) if status else alerts


def open_alert_count(project) -> int:
    return project.alerts.filter(status=AlertStatus.OPEN).count()


def rules_of(project) -> QuerySet[AlertRule]:
    return project.alert_rules.select_related("deployment")


def webhooks_of(project) -> QuerySet[Webhook]:
    return project.webhooks.all()


def deliveries_of(project, *, limit: int = 50) -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.filter(webhook__project=project).select_related("webhook")
                .prefetch_related("attempt_log")[:limit])


def schedule_of(deployment, schedule_id) -> EvalSchedule:
    return get_object_or_404(EvalSchedule, id=schedule_id, deployment=deployment)


def alert_of(project, alert_id) -> Alert:
    return get_object_or_404(Alert, id=alert_id, project=project)


def rule_of(project, rule_id) -> AlertRule:
    return get_object_or_404(AlertRule, id=rule_id, project=project)


def webhook_of(project, webhook_id) -> Webhook:
    return get_object_or_404(Webhook, id=webhook_id, project=project)


def delivery_of(project, delivery_id) -> WebhookDelivery:
    return get_object_or_404(WebhookDelivery, id=delivery_id, webhook__project=project)
