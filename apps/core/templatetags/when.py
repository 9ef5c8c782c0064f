"""`{{ job.created_at|when }}` on every page (a builtin: no load needed); `|when:"seconds"` adds the seconds."""

from django import template
from django.utils.html import format_html

from apps.core.dates import as_datetime, when_text

register = template.Library()


@register.filter
def when(value, precision: str = ""):
    moment = as_datetime(value)
    if moment is None:
        return "–"
    return format_html('<time datetime="{}" title="UTC">{}</time>', moment.isoformat(),
                       when_text(moment, seconds=precision == "seconds"))


@register.filter
def seconds_left(value) -> str:
    """A duration in seconds, the way a person says it: "40 s", "3 min", "1 h 5 min"."""
    if value is None:
        return "–"
    seconds = round(float(value))
    if seconds < 90:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"
