"""Error pages are the site's own, with its navigation, and *Test connection* on a shared model answers a lead with
a result, not a 403 inside the models table (issue 14, item 6)."""

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Membership, Role
from apps.llm.models import Model
from tests.e2e.test_review_flow import log_in
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def assert_branded(page, heading):
    expect(page.locator("h1")).to_have_text(heading)
    expect(page.locator("header.topbar")).to_be_visible()
    expect(page.locator("header.topbar").get_by_role("link", name="Projects")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator("main").get_by_role("link", name="Back to your projects")).to_be_visible()
    body = page.inner_text("body")
    assert "Forbidden" not in body and "Page not found" not in body and "Traceback" not in body, body


def test_403_and_404_are_branded_with_the_navigation(page, live_server, shot):
    project = ProjectFactory(name="Ticket router")
    Membership.objects.create(project=project, user=UserFactory(username="rita"), role=Role.REVIEWER)
    log_in(page, live_server, "rita")

    response = page.goto(f"{live_server.url}/projects/{project.id}/edit/")  # a lead's page
    assert response.status == 403
    assert_branded(page, "Not allowed")
    expect(page.locator("main")).to_contain_text("Your role in this project does not allow this")
    shot("error-403")

    for missing in ("/projects/999999/", "/no-such-page/"):
        response = page.goto(live_server.url + missing)
        assert response.status == 404, missing
        assert_branded(page, "Not found")
    shot("error-404")
    page.locator("main").get_by_role("link", name="Back to your projects").click()
    expect(page.locator("main")).to_contain_text("Ticket router")


def test_a_lead_tests_a_shared_model_and_sees_a_result_in_the_table(page, live_server, llm_server, shot):
    project = ProjectFactory(name="Ticket router", labels=["billing", "technical"])
    Membership.objects.create(project=project, user=UserFactory(username="lena"), role=Role.LEAD)
    shared = Model.objects.create(project=None, name="Shared GPT", provider="openai", base_url=llm_server.base_url,
                                  model_id="shared-1", timeout_seconds=5, max_retries=0)
    log_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/projects/{project.id}/models/")
    row = page.locator("tr", has_text="Shared GPT")
    expect(row).to_contain_text("shared")
    expect(row.get_by_role("link", name="Edit")).to_have_count(0)  # only site admins change shared models
    row.get_by_role("button", name="Test connection").click()
    result = page.locator(f"#test-{shared.id}")
    expect(result.locator(".msg")).to_be_visible(timeout=15000)
    expect(result).not_to_contain_text("Not allowed")
    expect(result.locator("h1")).to_have_count(0)  # no error page inside the table
    shot("shared-model-test-connection")
