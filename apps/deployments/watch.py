"""The minute's watch: what the beat task does (launch due schedules, check finished scheduled evals, alerts)."""

import logging

from django.utils import timezone

from . import alerts, schedules

logger = logging.getLogger(__name__)


def watch_tick(*, now=None) -> dict:
    now = now or timezone.now()
    launched = schedules.schedules_launch_due(now=now)
    checked = schedules.scheduled_evals_check()
    raised = alerts.alerts_for_scheduled(checked) + alerts.alerts_for_traffic(now=now) + alerts.alerts_for_jobs(now=now)
    return {"launched": len(launched), "checked": len(checked), "alerts": len(raised)}
