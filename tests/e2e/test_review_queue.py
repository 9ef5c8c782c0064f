"""Reviewers find their work, and looking does not steal it (issue 14, item 3), in a real browser: the project page
says what waits for me with a *Start reviewing* button; a lead who opens the review screen holds nothing; a
reviewer's screen holds its output only while it is open (a short lease it renews); "All done" only when nothing is
left, otherwise the screen says what is held by whom."""

import time

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from apps.accounts.models import Membership, Role
from apps.review.selectors import lease_key
from tests.e2e.test_review_flow import log_in, make_run, press
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LEASE = 3  # seconds; the open screen renews it every second


def holder(output) -> str | None:
    held = cache.get(lease_key(output.id))
    return held["name"] if held else None


def wait_for_no_holder(output, seconds: float) -> float:
    """How long it took the lease on `output` to lapse (fails after `seconds`)."""
    started = time.monotonic()
    while holder(output) is not None:
        assert time.monotonic() - started < seconds, f"output {output.id} still held by {holder(output)}"
        time.sleep(0.2)
    return time.monotonic() - started


def test_waiting_for_you_start_reviewing_and_leases_only_while_a_reviewer_looks(page, browser, live_server,
                                                                                 settings, shot):
    settings.TASKLLM_REVIEW_LEASE_SECONDS = LEASE
    rita, tom, lena = UserFactory(username="rita"), UserFactory(username="tom"), UserFactory(username="lena")
    project = ProjectFactory(name="Ticket router", labels=["billing", "account_hold"])
    run = make_run(project, ["First ticket: card charged twice", "Second ticket: hold my account"],
                   [{"label": "billing"}] * 2, rita)
    Membership.objects.create(project=project, user=tom, role=Role.REVIEWER)
    Membership.objects.create(project=project, user=lena, role=Role.LEAD)
    first, second = run.outputs.order_by("id")

    # A lead opens the review screen from the project page: they see the first output and hold nothing.
    log_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/projects/{project.id}/")
    page.locator("#waiting-for-me").get_by_role("link", name="Start reviewing").click()
    expect(page.locator("#review-panel")).to_contain_text("First ticket")
    page.wait_for_selector("#review-panel[data-ready='1']")
    assert holder(first) is None and holder(second) is None

    # A reviewer finds the run waiting for them, with its count, and is taken to that same first output.
    rita_page = browser.new_context().new_page()
    log_in(rita_page, live_server, "rita")
    rita_page.goto(f"{live_server.url}/projects/{project.id}/")
    waiting = rita_page.locator("#waiting-for-me")
    expect(waiting).to_contain_text("Waiting for you")
    expect(waiting.locator("tbody tr")).to_have_count(1)
    expect(waiting.locator("tbody tr td.num")).to_have_text("2")
    shot_page(rita_page, "review-queue-waiting-for-you")
    waiting.get_by_role("link", name="Start reviewing").click()
    expect(rita_page).to_have_url(f"{live_server.url}/runs/{run.id}/review/{first.id}/")
    expect(rita_page.locator("#review-panel")).to_contain_text("First ticket")
    assert holder(first) == "rita"

    # While rita's screen is open her lease is renewed: past the lease's length another reviewer gets the other one.
    time.sleep(LEASE + 2)
    assert holder(first) == "rita"
    tom_page = browser.new_context().new_page()
    log_in(tom_page, live_server, "tom")
    tom_page.goto(f"{live_server.url}/runs/{run.id}/review/")
    tom_panel = tom_page.locator("#review-panel")
    expect(tom_panel).to_contain_text("Second ticket")
    press(tom_page, "p")
    # Nothing free for tom, but something is left: not "All done", and it says who holds what.
    expect(tom_panel).to_contain_text("Nothing free for you right now")
    expect(tom_panel).to_contain_text("held by rita until")
    expect(tom_panel).not_to_contain_text("All done")
    shot_page(tom_page, "review-queue-held-by-another")

    # rita closes her screen: no more renewals, and the lease lapses within its length.
    rita_page.context.close()
    assert wait_for_no_holder(first, LEASE + 2) <= LEASE + 1
    tom_page.get_by_role("link", name="Try again").click()
    expect(tom_panel).to_contain_text("First ticket")
    press(tom_page, "p")
    expect(tom_panel).to_contain_text("All done here")
    tom_page.context.close()

    # Nothing is left for anyone now: the lead's project page says so, and so does the review screen.
    page.goto(f"{live_server.url}/projects/{project.id}/")
    expect(page.locator("#waiting-for-me")).to_contain_text("Nothing is waiting for your grade")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    expect(page.locator("#review-panel")).to_contain_text("All done here")
    shot("review-queue-all-done")


def shot_page(page, name):
    from tests.e2e.conftest import ARTIFACTS

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
