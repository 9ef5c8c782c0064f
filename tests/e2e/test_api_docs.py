"""/api/docs/ renders its operations in a real browser with no network beyond TaskLLM itself (Swagger UI is served
from static files by drf-spectacular-sidecar, not from a CDN)."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_api_docs_render_operations_offline(page, live_server, shot):
    UserFactory(username="dora")
    ours = urlsplit(live_server.url).netloc
    elsewhere = []

    def offline(route):
        # Anything not served by TaskLLM fails, as it would on a machine with no internet.
        if urlsplit(route.request.url).netloc == ours:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password").fill("secret-pass")
    page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + "/api/docs/")

    # The schema is built on request: seconds on a busy machine.
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("TaskLLM API", timeout=60_000)
    projects = page.locator(".opblock-summary-path", has_text="/api/projects/").first
    expect(projects).to_be_visible()
    assert page.locator(".opblock").count() > 20
    shot("api-docs")
    assert elsewhere == []
