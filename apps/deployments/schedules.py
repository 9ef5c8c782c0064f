"""Scheduled evals of what a deployment serves, driven by one beat task a minute (`watch_tick` in tasks.py).

A schedule's `next_run_at` is claimed with a conditional UPDATE (only the process whose UPDATE still sees the old
value launches), so two beats, or a beat and a manual tick, never launch the same run twice. The eval runs on the
evals machinery, with the last promotion's eval as its baseline; when it finishes, `scheduled_evals_check` records
which points moved and raises the alerts of the project's rules.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.models import COMPLETED_STATUSES, JobStatus
from apps.evals.services import eval_create

from .models import Deployment, EvalSchedule, Every, ScheduledEval

FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))  # minute hour day month weekday (0 and 7: Sunday)
STEPS = {Every.HOURLY: timedelta(hours=1), Every.DAILY: timedelta(days=1), Every.WEEKLY: timedelta(weeks=1)}
SEARCH_MINUTES = 366 * 24 * 60

logger = logging.getLogger(__name__)


# --- cron ----------------------------------------------------------------------------------

def cron_parse(expression: str) -> list[set[int]]:
    """Five fields of `*`, numbers, ranges `a-b`, steps `*/n` or `a-b/n`, and lists `a,b`; weekday 7 is Sunday."""
    fields = expression.split()
    if len(fields) != 5:
        raise ApplicationError("A cron expression has five fields: minute hour day month weekday (e.g. 0 6 * * 1).")
    return [_cron_field(text, low, high) for text, (low, high) in zip(fields, FIELDS, strict=True)]


def _cron_field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        try:
            start, end = (low, high) if span == "*" else (
                (int(span.split("-")[0]), int(span.split("-")[1])) if "-" in span else (int(span), int(span)))
            every = int(step) if step else 1
        except ValueError:
            raise ApplicationError(f"'{part}' is not a cron field.") from None
        if step and "-" not in span and span != "*":
            end = high
        if not (low <= start <= end <= high) or every < 1:
            raise ApplicationError(f"'{part}' is out of range ({low}-{high}).")
        values.update(range(start, end + 1, every))
    if high == 7 and 7 in values:  # the weekday field: 7 is Sunday, as 0 is
        values = (values - {7}) | {0}
    return values


def cron_next(expression: str, after: datetime) -> datetime:
    minutes, hours, days, months, weekdays = cron_parse(expression)
    moment = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(SEARCH_MINUTES):
        if (moment.minute in minutes and moment.hour in hours and moment.day in days and moment.month in months
                and (moment.isoweekday() % 7) in weekdays):
            return moment
        moment += timedelta(minutes=1)
    raise ApplicationError("That cron expression never fires within a year.")


def next_run(schedule: EvalSchedule, after: datetime) -> datetime:
    if schedule.every == Every.CRON:
        return cron_next(schedule.cron, after)
    return after + STEPS[schedule.every]


# --- schedules -----------------------------------------------------------------------------

def schedule_create(*, deployment: Deployment, every: str, cron: str = "", points=(), repeats: int = 1,
                    user=None, first_run_at: datetime | None = None) -> EvalSchedule:
    if every not in Every.values:
        raise ApplicationError("Choose hourly, daily, weekly or a cron expression.")
    if every == Every.CRON:
        cron_parse(cron)
    schedule = EvalSchedule(deployment=deployment, every=every, cron=cron.strip(), repeats=repeats, created_by=user)
    schedule.next_run_at = first_run_at or next_run(schedule, timezone.now())
    schedule.save()
    schedule.points.set(points)
    return schedule


def schedule_delete(*, schedule: EvalSchedule) -> None:
    schedule.delete()


def schedules_launch_due(*, now: datetime | None = None) -> list[ScheduledEval]:
    """Launch every enabled schedule whose time has come, each at most once however many beats run."""
    now = now or timezone.now()
    launched = []
    for schedule in EvalSchedule.objects.filter(enabled=True, next_run_at__lte=now).select_related("deployment"):
        claimed = EvalSchedule.objects.filter(id=schedule.id, next_run_at=schedule.next_run_at).update(
            next_run_at=next_run(schedule, now), last_run_at=now)
        if not claimed:
            continue
        try:
            scheduled = scheduled_eval_launch(deployment=schedule.deployment, schedule=schedule)
        except ApplicationError as exc:  # e.g. no test cases yet: skip this run, keep the other schedules going
            logger.warning("Scheduled eval of %s not launched: %s", schedule.deployment.slug, exc.message)
            continue
        if scheduled is not None:
            launched.append(scheduled)
    return launched


def scheduled_eval_launch(*, deployment: Deployment, schedule: EvalSchedule | None = None) -> ScheduledEval | None:
    """Evaluate what the deployment serves now against its last promotion's eval; None when it serves nothing."""
    if not deployment.is_live:
        return None
    promotion = deployment.current_promotion
    baseline = promotion.eval_run if promotion is not None else None
    points = list(schedule.points.all()) if schedule else []
    with transaction.atomic():
        eval_run = eval_create(project=deployment.project, model=deployment.model,
                               prompt_version=deployment.prompt_version, points=points,
                               repeats=schedule.repeats if schedule else 1, baseline=baseline,
                               judge_model=baseline.judge_model if baseline else None,
                               note=f"Scheduled eval of {deployment.slug}")
        return ScheduledEval.objects.create(schedule=schedule, deployment=deployment, eval_run=eval_run)


def scheduled_evals_check() -> list[ScheduledEval]:
    """Record what each newly finished scheduled eval showed; returns those checked now (alerts.py raises)."""
    finished = ScheduledEval.objects.filter(checked_at=None, eval_run__status__in=[
        *COMPLETED_STATUSES, JobStatus.FAILED, JobStatus.CANCELLED]).select_related("eval_run__project", "deployment")
    checked = []
    for scheduled in finished:
        run = scheduled.eval_run
        results = list(run.results.select_related("point")) if run.is_completed else []
        scheduled.moved = [{"point": r.point_id, "name": r.point.name if r.point_id else "All test cases",
                            "pass_rate": r.pass_rate, "verdict": r.verdict, "p_value": r.p_value}
                           for r in results if r.verdict in ("regressed", "improved")]
        scheduled.regressed = any(r.verdict == "regressed" for r in results) if results else None
        threshold = run.project.pass_threshold
        scheduled.below_threshold = any(r.pass_rate < threshold for r in results if r.point_id) or (
            bool(results) and all(r.point_id is None for r in results) and results[0].pass_rate < threshold)
        scheduled.checked_at = timezone.now()
        if ScheduledEval.objects.filter(id=scheduled.id, checked_at=None).update(
                checked_at=scheduled.checked_at, moved=scheduled.moved, regressed=scheduled.regressed,
                below_threshold=scheduled.below_threshold):
            checked.append(scheduled)
    return checked


def candidate_eval_launch(*, deployment: Deployment, model=None, prompt_version=None, repeats: int = 3, user=None):
    """An eval of a candidate (the given model and prompt version, else the deployment's shadow) with what the
    deployment serves (its current promotion's eval) as the baseline: what a CI gate runs before promoting."""
    model = model or deployment.shadow_model or deployment.model
    prompt_version = prompt_version or deployment.shadow_prompt_version or deployment.prompt_version
    if model is None or prompt_version is None:
        raise ApplicationError("Name a model and prompt version: this deployment has no shadow candidate.")
    promotion = deployment.current_promotion
    baseline = promotion.eval_run if promotion is not None else None
    return eval_create(project=deployment.project, model=model, prompt_version=prompt_version, repeats=repeats,
                       baseline=baseline, judge_model=baseline.judge_model if baseline else None, user=user,
                       note=f"Candidate for {deployment.slug}")
