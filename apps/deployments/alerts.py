"""Alerts: a project's rules are checked by the beat task each minute (tasks.watch_tick); an alert is one row,
raised at most once while unresolved (per rule and key), and sent to the rule's channels: the project's webhooks
subscribed to the event, and the rule's email addresses."""

from datetime import timedelta

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.models import COMPLETED_STATUSES, JobStatus
from apps.evals.models import EvalRun
from apps.tuning.models import FineTuneJob

from . import analytics
from .models import Alert, AlertEvent, AlertRule, AlertStatus, Deployment, ScheduledEval, Trace
from .webhooks import webhooks_send

JOB_EVENTS = {
    AlertEvent.EVAL_FINISHED: (EvalRun, COMPLETED_STATUSES, "evals:detail"),
    AlertEvent.EVAL_FAILED: (EvalRun, (JobStatus.FAILED,), "evals:detail"),
    AlertEvent.FINETUNE_FINISHED: (FineTuneJob, COMPLETED_STATUSES, "tuning:detail"),
    AlertEvent.FINETUNE_FAILED: (FineTuneJob, (JobStatus.FAILED,), "tuning:detail"),
}
LEVEL_EVENTS = (AlertEvent.ERROR_RATE, AlertEvent.THUMBS_DOWN)


def rule_create(*, project, event: str, deployment: Deployment | None = None, level: float | None = None,
                window_minutes: int = 60, emails: str = "", webhooks: bool = True) -> AlertRule:
    if event not in AlertEvent.values:
        raise ApplicationError("Choose what the rule watches.")
    if event in LEVEL_EVENTS and (level is None or not 0 <= level <= 1):
        raise ApplicationError("An error-rate or thumbs-down rule needs a level between 0 and 1.")
    if deployment is not None and deployment.project_id != project.id:
        raise ApplicationError("That deployment belongs to another project.")
    return AlertRule.objects.create(project=project, event=event, deployment=deployment, level=level,
                                    window_minutes=window_minutes, emails=emails.strip(), webhooks=webhooks,
                                    checked_until=timezone.now())


def alert_raise(*, rule: AlertRule, key: str, what: str, link: str = "", deployment=None,
                details: dict | None = None) -> Alert | None:
    """Add the alert and send it, unless one for this rule and key is still unresolved."""
    if Alert.objects.filter(rule=rule, key=key).exclude(status=AlertStatus.RESOLVED).exists():
        return None
    try:
        with transaction.atomic():
            alert = Alert.objects.create(project=rule.project, rule=rule, event=rule.event, deployment=deployment,
                                         what=what[:300], link=link, details=details or {}, key=key)
    except IntegrityError:  # another tick raised it a moment ago
        return None
    _send(alert, rule)
    return alert


def _send(alert: Alert, rule: AlertRule) -> None:
    payload = {"alert": {"id": alert.id, "project": alert.project_id, "rule": rule.id, "what": alert.what,
                         "link": alert.link, "deployment": alert.deployment_id, "details": alert.details,
                         "created_at": alert.created_at.isoformat()}}
    if rule.webhooks:
        webhooks_send(project=alert.project, event=alert.event, payload=payload)
    emails = [e.strip() for e in rule.emails.split(",") if e.strip()]
    if emails:
        transaction.on_commit(lambda: send_mail(f"[TaskLLM] {alert.what}", f"{alert.what}\n\n{alert.link}",
                                                None, emails, fail_silently=True))


def alert_acknowledge(*, alert: Alert, user) -> Alert:
    return _handle(alert, AlertStatus.ACKNOWLEDGED, user)


def alert_resolve(*, alert: Alert, user) -> Alert:
    return _handle(alert, AlertStatus.RESOLVED, user)


def _handle(alert: Alert, status: str, user) -> Alert:
    if alert.status == AlertStatus.RESOLVED:
        raise ApplicationError("This alert is resolved already.")
    alert.status, alert.handled_by, alert.handled_at = status, user, timezone.now()
    alert.save(update_fields=["status", "handled_by", "handled_at"])
    return alert


# --- checks (called by the beat task) --------------------------------------------------------

def _rules(event: str, project_id=None):
    rules = AlertRule.objects.filter(enabled=True, event=event).select_related("project", "deployment")
    return rules.filter(project_id=project_id) if project_id else rules


def _deployments(rule: AlertRule):
    return [rule.deployment] if rule.deployment_id else list(rule.project.deployments.all())


def alerts_for_scheduled(checked: list[ScheduledEval]) -> list[Alert]:
    raised = []
    for scheduled in checked:
        run, deployment = scheduled.eval_run, scheduled.deployment
        link = reverse("evals:detail", args=[run.id])
        for event, flagged, word in ((AlertEvent.EVAL_REGRESSED, scheduled.regressed, "regressed"),
                                     (AlertEvent.EVAL_BELOW_THRESHOLD, scheduled.below_threshold,
                                      "fell below the threshold")):
            if not flagged:
                continue
            for rule in _rules(event, deployment.project_id):
                if rule.deployment_id in (None, deployment.id):
                    moved = ", ".join(m["name"] for m in scheduled.moved if m["verdict"] == "regressed")
                    raised.append(alert_raise(
                        rule=rule, key=f"eval:{run.id}", deployment=deployment, link=link,
                        what=f"Scheduled eval of {deployment.slug} {word}" + (f": {moved}" if moved else ""),
                        details={"eval_run": run.id, "baseline": run.baseline_id, "moved": scheduled.moved}))
    return [a for a in raised if a]


def alerts_for_traffic(*, now=None) -> list[Alert]:
    now = now or timezone.now()
    raised = []
    for rule in _rules(AlertEvent.DRIFT):
        for deployment in _deployments(rule):
            drift = analytics.drift(deployment)
            if drift.drifted:
                raised.append(alert_raise(
                    rule=rule, key=f"drift:{deployment.id}", deployment=deployment,
                    link=reverse("deployments:traffic", args=[deployment.id]),
                    what=f"Drift of {deployment.slug}: PSI {drift.psi:.3f} over {drift.threshold}",
                    details={"psi": drift.psi, "threshold": drift.threshold}))
    for event in LEVEL_EVENTS:
        for rule in _rules(event):
            for deployment in _deployments(rule):
                raised.append(_level_alert(rule, deployment, now))
    return [a for a in raised if a]


def _level_alert(rule: AlertRule, deployment: Deployment, now) -> Alert | None:
    traces = Trace.objects.filter(deployment=deployment, created_at__gte=now - timedelta(minutes=rule.window_minutes))
    calls = traces.count()
    if not calls:
        return None
    details = {"calls": calls, "level": rule.level}
    if rule.event == AlertEvent.ERROR_RATE:
        share, name = traces.filter(status="error").count() / calls, "Error rate"
    else:
        details["with_feedback"] = analytics.with_feedback(traces).count()
        share = analytics.thumbs_down_share(analytics.with_thumbs_down(traces).count(), details["with_feedback"])
        name = "Thumbs-down share (of calls with feedback)"
    if share <= rule.level:
        return None
    return alert_raise(rule=rule, key=f"level:{deployment.id}", deployment=deployment,
                       link=reverse("deployments:traces", args=[deployment.id]),
                       what=f"{name} of {deployment.slug} is {share:.0%} over {rule.window_minutes} min "
                            f"(level {rule.level:.0%})",
                       details={"share": share, **details})


def alerts_for_jobs(*, now=None) -> list[Alert]:
    """Evals and fine-tunes that finished (or failed) since each rule last looked."""
    now = now or timezone.now()
    raised = []
    for event, (model, statuses, url) in JOB_EVENTS.items():
        for rule in _rules(event):
            since = rule.checked_until or rule.created_at
            if not AlertRule.objects.filter(id=rule.id, checked_until=rule.checked_until).update(checked_until=now):
                continue  # another tick took this window
            for job in model.objects.filter(project=rule.project, status__in=statuses, finished_at__gt=since,
                                            finished_at__lte=now):
                noun = "Eval" if model is EvalRun else "Fine-tune"
                raised.append(alert_raise(rule=rule, key=f"job:{job.id}", link=reverse(url, args=[job.id]),
                                          what=f"{noun} {job.id} {job.get_status_display().lower()}",
                                          details={"id": job.id, "status": job.status, "error": job.error}))
    return [a for a in raised if a]
