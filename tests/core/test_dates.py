"""One date format on every page: `|when` writes <time datetime="ISO">2026-12-05 07:44</time>."""

import re
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.urls import reverse

from apps.core.dates import when_text
from apps.core.templatetags.when import seconds_left, when
from tests.conftest import login

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def test_no_template_writes_a_time_of_its_own_format():
    own_formats = []
    for path in TEMPLATES.rglob("*.html"):
        for found in re.findall(r"\|(?:date|time):[\"'][^\"']*[HisGgAaPf][^\"']*[\"']", path.read_text()):
            own_formats.append(f"{path.relative_to(TEMPLATES)}: {found}")
    assert own_formats == []


def test_when_writes_one_format_from_datetimes_and_iso_strings():
    moment = datetime(2026, 12, 5, 7, 44, 9, tzinfo=UTC)
    assert when(moment) == '<time datetime="2026-12-05T07:44:09+00:00" title="UTC">2026-12-05 07:44</time>'
    assert when("2026-12-05T07:44:09+00:00", "seconds").endswith(">2026-12-05 07:44:09</time>")
    assert when(None) == "–" and when_text("") == "–"
    assert [seconds_left(s) for s in (40, 180, 3900)] == ["40 s", "3 min", "1 h 5 min"]


def test_the_runs_page_shows_times_in_a_time_element(people, graded_run):
    page = login(people["reviewer"]).get(reverse("runs:list", args=[graded_run.project_id])).content.decode()
    shown = when_text(graded_run.created_at)
    assert f'<time datetime="{graded_run.created_at.isoformat()}" title="UTC">{shown}</time>' in page
