"""Production defaults: DEBUG off, no known secret key, check --deploy clean, throttled logins, error pages,
the API schema behind login, and project creation reserved to site admins."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.test import Client
from django.urls import reverse

from tests.conftest import api_as, login
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3Y-" + "q8Zr5vLx2Pn7Tw4Hs9Jd6Fb1Mc0Ga3Ek" * 2


def manage(*args, env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TASKLLM_"))}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**base, "DJANGO_SETTINGS_MODULE": "taskllm_site.settings", **env}, timeout=120)


def compose_environment() -> dict:
    """docker-compose's environment for the app, with its ${VAR:-default}s resolved and a real secret key."""
    app = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-app"]["environment"]
    resolved = {}
    for name, value in app.items():
        value = str(value)
        if value.startswith("${"):
            inner = value[2:-1]
            value = inner.split(":-", 1)[1] if ":-" in inner else STRONG_KEY
        resolved[name] = value
    return resolved


def test_debug_is_off_unless_asked_for():
    result = manage("shell", "-c", "from django.conf import settings; print(settings.DEBUG)",
                    env={"DJANGO_SECRET_KEY": STRONG_KEY})
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


@pytest.mark.parametrize("key", [None, "change-me-in-production", "dev-only-insecure-key-change-me"])
def test_production_mode_refuses_a_missing_or_known_secret_key(key):
    result = manage("check", env={"DJANGO_DEBUG": "false", **({"DJANGO_SECRET_KEY": key} if key else {})})
    assert result.returncode != 0 and "DJANGO_SECRET_KEY" in result.stderr


def test_check_deploy_is_clean_under_docker_composes_environment():
    env = compose_environment()
    assert env["DJANGO_DEBUG"] == "false"
    env["DATABASE_URL"] = os.environ.get("DATABASE_URL", "")  # the compose one names a host that is not here
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_logins_are_throttled_by_account(db, settings):
    UserFactory(username="victim", password="right-password")
    client = Client()
    for _ in range(settings.TASKLLM_LOGIN_MAX_FAILURES):
        client.post(reverse("login"), {"username": "victim", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "victim", "password": "right-password"})
    assert response.status_code == 200 and "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_logins_are_throttled_by_address_across_accounts(db, settings):
    UserFactory(username="someone", password="right-password")
    client = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(settings.TASKLLM_LOGIN_MAX_FAILURES):
        client.post(reverse("login"), {"username": f"guess{n}", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "someone", "password": "right-password"})
    assert "Too many failed logins" in response.content.decode()
    elsewhere = Client(REMOTE_ADDR="198.51.100.7")
    assert elsewhere.post(reverse("login"), {"username": "someone", "password": "right-password"}).status_code == 302


def test_a_few_mistakes_then_the_right_password_logs_in(db):
    UserFactory(username="typo", password="right-password")
    client = Client()
    client.post(reverse("login"), {"username": "typo", "password": "wrong"})
    assert client.post(reverse("login"), {"username": "typo", "password": "right-password"}).status_code == 302


def test_the_404_page_is_branded_and_lists_no_urls(people):
    response = login(people["lead"]).get("/no/such/page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Not found" in page and 'href="/projects/"' in page and "URLconf" not in page


def test_the_api_schema_and_docs_need_a_login(people):
    assert Client().get(reverse("api-schema")).status_code in (401, 403)
    assert Client().get(reverse("api-docs")).status_code in (401, 403)
    assert api_as(people["reviewer"]).get(reverse("api-schema")).status_code == 200


def test_creating_projects_is_a_site_admin_right_unless_leads_are_allowed(people, settings):
    body = {"name": "New", "task_kind": "classification", "labels": ["a", "b"]}
    assert api_as(people["lead"]).post(reverse("api-projects"), body, format="json").status_code == 403
    settings.TASKLLM_LEADS_CREATE_PROJECTS = True
    assert api_as(people["lead"]).post(reverse("api-projects"), body, format="json").status_code == 201


def server_error_page(user) -> tuple[int, str]:
    """What the site's 500 handler (the one Django calls when a view raises) answers a request of `user`."""
    from django.test import RequestFactory
    from django.urls import get_resolver

    request = RequestFactory().get("/projects/")
    request.user = user
    response = get_resolver().resolve_error_handler(500)(request)
    return response.status_code, response.content.decode()


def test_the_500_page_is_branded_with_the_navigation(people):
    status, page = server_error_page(people["lead"])
    assert status == 500 and "Something went wrong" in page and 'href="/projects/"' in page
    assert "Log out" in page and people["lead"].username in page  # the navigation of a signed-in person
    assert "Traceback" not in page


def test_the_500_page_still_answers_when_the_user_cannot_be_loaded(db):
    from django.db import OperationalError
    from django.utils.functional import SimpleLazyObject

    def database_down():
        raise OperationalError("the database is unreachable")

    status, page = server_error_page(SimpleLazyObject(database_down))
    assert status == 500 and "Something went wrong" in page and 'href="/"' in page  # a link home, no navigation
    assert "Log out" not in page
