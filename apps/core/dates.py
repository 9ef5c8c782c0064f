"""The one way a date and time is written on every page, export note and log line: 2026-12-05 07:44 (UTC)."""

from datetime import datetime

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.dateparse import parse_datetime

WHEN_FORMAT = "Y-m-d H:i"  # Django's date-format letters; the site's time zone is UTC (settings.TIME_ZONE)
WHEN_FORMAT_SECONDS = "Y-m-d H:i:s"  # for things seconds apart: traces, webhook attempts


def as_datetime(value) -> datetime | None:
    """A datetime, or an ISO string of one (as kept in JSON fields), in the site's time zone; None when neither."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        return None
    return timezone.localtime(value) if timezone.is_aware(value) else value


def when_text(value, *, seconds: bool = False) -> str:
    moment = as_datetime(value)
    if moment is None:
        return "–"
    return date_format(moment, WHEN_FORMAT_SECONDS if seconds else WHEN_FORMAT)
