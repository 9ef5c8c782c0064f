"""Every page and API endpoint, checked the same way: the lowest allowed role succeeds, anonymous
users are sent to log in (pages) or get 401 (API), outsiders get 404, a role too low gets 403, and a
wrong HTTP method gets 405."""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Membership, Role
from apps.datasets.models import DatasetImport, ImportStatus
from tests.conftest import api_as, login

ROLE_BELOW = {Role.LEAD: Role.REVIEWER, Role.ADMIN: Role.LEAD}


def csv_upload():
    return SimpleUploadedFile("more.csv", b"text,label\nA new ticket about an invoice,billing\n", "text/csv")


@dataclass
class Endpoint:
    name: str
    method: str
    min_role: str
    kwargs: Callable = lambda ctx: {}
    data: Callable = lambda ctx: {}
    api: bool = False
    query: str = ""
    ok: set = field(default_factory=lambda: {200, 201, 204, 302})

    def __str__(self):
        return f"{self.method} {self.name}"


P = lambda ctx: {"project_id": ctx["project"].id}  # noqa: E731
D = lambda ctx: {"dataset_id": ctx["dataset"].id}  # noqa: E731
M = lambda ctx: {"project_id": ctx["project"].id, "membership_id": ctx["membership"].id}  # noqa: E731
IMP = lambda ctx: {"import_id": ctx["import"].id}  # noqa: E731

PAGES = [
    Endpoint("projects:detail", "get", Role.REVIEWER, P),
    Endpoint("projects:edit", "get", Role.LEAD, P),
    Endpoint("projects:edit", "post", Role.LEAD, P,
             lambda ctx: {"name": "Renamed", "task_kind": "classification", "labels": "billing\ntechnical"}),
    Endpoint("projects:delete", "post", Role.ADMIN, P),
    Endpoint("accounts:members", "get", Role.REVIEWER, P),
    Endpoint("accounts:member_add", "post", Role.ADMIN, P, lambda ctx: {"username": "newbie", "role": "reviewer"}),
    Endpoint("accounts:member_role", "post", Role.ADMIN, M, lambda ctx: {"role": "lead"}),
    Endpoint("accounts:member_remove", "post", Role.ADMIN, M),
    Endpoint("datasets:create", "get", Role.LEAD, P),
    Endpoint("datasets:create", "post", Role.LEAD, P, lambda ctx: {"name": "Fresh"}),
    Endpoint("datasets:detail", "get", Role.REVIEWER, D),
    Endpoint("datasets:import", "get", Role.LEAD, D),
    Endpoint("datasets:import", "post", Role.LEAD, D, lambda ctx: {"file": csv_upload(), "format": "csv"}),
    Endpoint("datasets:export", "get", Role.REVIEWER, D, query="?format=csv"),
    Endpoint("datasets:split", "post", Role.LEAD, D, lambda ctx: {"mode": "random", "test_percent": "50"}),
    Endpoint("datasets:delete", "post", Role.LEAD, D),
    Endpoint("datasets:import_detail", "get", Role.REVIEWER, IMP),
]

APIS = [
    Endpoint("api-project", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-project", "patch", Role.LEAD, P, lambda ctx: {"guidelines": "Be precise."}, api=True),
    Endpoint("api-project", "delete", Role.ADMIN, P, api=True),
    Endpoint("api-members", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-members", "post", Role.ADMIN, P, lambda ctx: {"username": "newbie", "role": "lead"}, api=True),
    Endpoint("api-member", "get", Role.REVIEWER, M, api=True),
    Endpoint("api-member", "patch", Role.ADMIN, M, lambda ctx: {"role": "lead"}, api=True),
    Endpoint("api-member", "delete", Role.ADMIN, M, api=True),
    Endpoint("api-datasets", "get", Role.REVIEWER, P, api=True),
    Endpoint("api-datasets", "post", Role.LEAD, P, lambda ctx: {"name": "Fresh"}, api=True),
    Endpoint("api-dataset", "get", Role.REVIEWER, D, api=True),
    Endpoint("api-dataset", "patch", Role.LEAD, D, lambda ctx: {"name": "Renamed"}, api=True),
    Endpoint("api-dataset", "delete", Role.LEAD, D, api=True),
    Endpoint("api-records", "get", Role.REVIEWER, D, api=True),
    Endpoint("api-imports", "get", Role.REVIEWER, D, api=True),
    Endpoint("api-imports", "post", Role.LEAD, D, lambda ctx: {"file": csv_upload()}, api=True),
    Endpoint("api-import", "get", Role.REVIEWER, IMP, api=True),
    Endpoint("api-export", "get", Role.REVIEWER, D, api=True, query="?format=jsonl"),
    Endpoint("api-split", "post", Role.LEAD, D, lambda ctx: {"test_share": 0.5}, api=True),
]
ALL = PAGES + APIS


@pytest.fixture
def ctx(project, people, dataset):
    return {
        "project": project, "dataset": dataset, "people": people,
        "membership": Membership.objects.get(project=project, user=people["reviewer"]),
        "import": DatasetImport.objects.create(dataset=dataset, original_name="x.csv", format="csv",
                                               status=ImportStatus.SUCCEEDED),
    }


def call(endpoint: Endpoint, ctx, user, method=None):
    url = reverse(endpoint.name, kwargs=endpoint.kwargs(ctx)) + endpoint.query
    method = method or endpoint.method
    if endpoint.api:
        client = api_as(user)
        fmt = "multipart" if endpoint.name == "api-imports" else "json"
        if method == "get":
            return client.get(url)
        return getattr(client, method)(url, endpoint.data(ctx), format=fmt)
    client = login(user) if user else Client()
    if method in ("get", "delete", "put"):
        return getattr(client, method)(url)
    return client.post(url, endpoint.data(ctx))


@pytest.mark.parametrize("endpoint", ALL, ids=str)
def test_lowest_allowed_role_succeeds(endpoint, ctx):
    response = call(endpoint, ctx, ctx["people"][endpoint.min_role])
    assert response.status_code in endpoint.ok, getattr(response, "content", b"")[:500]


@pytest.mark.parametrize("endpoint", ALL, ids=str)
def test_anonymous_must_log_in(endpoint, ctx):
    response = call(endpoint, ctx, None)
    if endpoint.api:
        assert response.status_code == 401
    else:
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("endpoint", ALL, ids=str)
def test_outsider_gets_404(endpoint, ctx):
    assert call(endpoint, ctx, ctx["people"]["outsider"]).status_code == 404


@pytest.mark.parametrize("endpoint", [e for e in ALL if e.min_role != Role.REVIEWER], ids=str)
def test_role_too_low_gets_403(endpoint, ctx):
    below = ROLE_BELOW[endpoint.min_role]
    assert call(endpoint, ctx, ctx["people"][below]).status_code == 403


@pytest.mark.parametrize("endpoint", ALL, ids=str)
def test_wrong_method_gets_405(endpoint, ctx):
    wrong = "put" if endpoint.api else "delete"  # no page accepts DELETE, no endpoint PUT
    assert call(endpoint, ctx, ctx["people"][Role.ADMIN], method=wrong).status_code == 405
