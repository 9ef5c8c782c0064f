"""Shared fixtures: one project with an admin, a lead, a reviewer, and an outsider who belongs elsewhere."""

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.core.models import JobStatus
from tests.factories import DatasetFactory, MembershipFactory, ProjectFactory, RecordFactory, UserFactory


@pytest.fixture(autouse=True)
def _isolated_media_and_cache(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def project(db):
    return ProjectFactory(name="Ticket router")


@pytest.fixture
def people(project):
    """Users by role name; 'outsider' is a member of another project only."""
    users = {}
    for role in (Role.ADMIN, Role.LEAD, Role.REVIEWER):
        users[role.value] = MembershipFactory(project=project, user=UserFactory(username=role.value), role=role).user
    users["outsider"] = MembershipFactory(user=UserFactory(username="outsider"), role=Role.ADMIN).user
    return users


@pytest.fixture
def dataset(project):
    dataset = DatasetFactory(project=project, name="Tickets")
    RecordFactory.create_batch(3, dataset=dataset)
    return dataset


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_as(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def htmx_as(user, target: str | None = None) -> Client:
    """A logged-in client whose requests look like htmx's (HX-Request, and HX-Target when given)."""
    headers = {"HX-Request": "true", **({"HX-Target": target} if target else {})}
    client = Client(headers=headers)
    client.force_login(user)
    return client


@pytest.fixture
def llm_server():
    """A real OpenAI-compatible server on loopback with scripted answers (tests/support/fake_llm.py)."""
    from tests.support.fake_llm import FakeLLMServer

    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def remote_model(project, llm_server):
    from apps.llm.models import Model

    return Model.objects.create(project=project, name="Fake GPT", provider="openai", base_url=llm_server.base_url,
                                model_id="fake-1", api_key="sk-test-secret-1234", timeout_seconds=2, max_retries=3)


@pytest.fixture
def prompt_version(project):
    from apps.prompts.services import prompt_create

    template = prompt_create(project=project, name="Router", system="Route the ticket. Labels: {labels}.",
                             user_template="Ticket: {text}")
    return template.versions.get()


@pytest.fixture
def workers(settings, tmp_path):
    """Real Celery worker processes on a queue of the test's own (tests/support/worker.py)."""
    from tests.support.worker import Workers

    pool = Workers(settings, tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture
def graded_run(project, dataset, prompt_version):
    """A finished run of the fixture dataset: every output answered 'billing'."""
    from apps.llm.models import Model
    from apps.runs.models import Output, Run

    model = Model.objects.create(project=project, name="Fake", provider="local")
    records = list(dataset.records.order_by("position"))
    run = Run.objects.create(project=project, prompt_version=prompt_version, model=model, dataset=dataset,
                             record_ids=[r.id for r in records], total=len(records), status=JobStatus.SUCCEEDED)
    for record in records:
        Output.objects.create(run=run, record=record, status="ok", answer={"label": "billing"},
                              messages=[{"role": "system", "content": "Route."},
                                        {"role": "user", "content": record.text}])
    return run
