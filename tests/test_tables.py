"""Every list table sorts by its column headers (a `sort` parameter, validated) and the main lists search (`q`)."""

import re

import pytest
from django.urls import reverse

from apps.deployments.services import deployment_create
from apps.evals.models import EvalRun
from apps.llm.models import Model
from apps.review.models import TrainingExample
from apps.review.services import point_create
from apps.review.services import test_case_create as add_test_case
from apps.runs.models import Run
from tests.conftest import htmx_as, login
from tests.factories import DatasetFactory, RecordFactory


def ids_in(page: str, url_name: str) -> list[int]:
    """The ids of the rows linked to `url_name`'s pages, in the order the page shows them."""
    example = reverse(url_name, args=[999999])
    prefix = example[:example.index("999999")]
    return [int(found) for found in re.findall(re.escape(prefix) + r"(\d+)/\"", page)]


@pytest.fixture
def two_runs(project, dataset, prompt_version):
    alpha = Model.objects.create(project=project, name="Alpha", provider="local")
    zulu = Model.objects.create(project=project, name="Zulu", provider="local")
    first = Run.objects.create(project=project, prompt_version=prompt_version, model=zulu, dataset=dataset, total=1)
    second = Run.objects.create(project=project, prompt_version=prompt_version, model=alpha, dataset=dataset, total=9)
    return first, second


def test_runs_sort_by_a_column_both_ways(people, project, two_runs):
    first, second = two_runs
    url = reverse("runs:list", args=[project.id])
    client = login(people["reviewer"])
    assert ids_in(client.get(url).content.decode(), "runs:detail") == [second.id, first.id]  # newest first
    assert ids_in(client.get(url, {"sort": "model"}).content.decode(), "runs:detail") == [second.id, first.id]
    assert ids_in(client.get(url, {"sort": "-model"}).content.decode(), "runs:detail") == [first.id, second.id]
    assert ids_in(client.get(url, {"sort": "outputs"}).content.decode(), "runs:detail") == [first.id, second.id]


def test_sort_header_shows_the_direction_and_keeps_other_parameters(people, project, two_runs):
    page = login(people["reviewer"]).get(reverse("runs:list", args=[project.id]),
                                         {"sort": "model", "q": "Router"}).content.decode()
    assert 'href="?q=Router&amp;sort=-model" data-sort="ascending">Model ▲</a>' in page
    assert 'href="?q=Router&amp;sort=status" data-sort="none">Status</a>' in page


@pytest.mark.parametrize("url_name", ["runs:list", "evals:list", "tuning:list", "review:examples",
                                      "review:test_cases", "review:points", "deployments:list",
                                      "accounts:members", "llm:list"])
def test_an_unknown_sort_is_refused_with_400(people, project, url_name):
    response = login(people["reviewer"]).get(reverse(url_name, args=[project.id]), {"sort": "password"})
    assert response.status_code == 400


def test_unknown_sort_on_records_and_traces_is_refused(people, project, dataset):
    deployment = deployment_create(project=project, slug="router", user=people["lead"])
    client = login(people["reviewer"])
    assert client.get(reverse("datasets:detail", args=[dataset.id]), {"sort": "nope"}).status_code == 400
    assert client.get(reverse("deployments:traces", args=[deployment.id]), {"sort": "nope"}).status_code == 400
    assert client.get(reverse("deployments:traces", args=[deployment.id]), {"sort": "-latency"}).status_code == 200


def test_records_sort_by_text(people, project):
    dataset = DatasetFactory(project=project, name="Words")
    zebra = RecordFactory(dataset=dataset, text="zebra crossing broken")
    apple = RecordFactory(dataset=dataset, text="apple pay fails")
    client = login(people["reviewer"])
    page = client.get(reverse("datasets:detail", args=[dataset.id]), {"sort": "text"}).content.decode()
    assert page.index(apple.text) < page.index(zebra.text)
    page = client.get(reverse("datasets:detail", args=[dataset.id]), {"sort": "-text"}).content.decode()
    assert page.index(zebra.text) < page.index(apple.text)


def test_members_sort_by_role(people, project):
    client = login(people["admin"])
    page = client.get(reverse("accounts:members", args=[project.id]), {"sort": "-role"}).content.decode()
    assert page.index("Role of reviewer") < page.index("Role of lead") < page.index("Role of admin")


def test_points_sort_by_name(people, project):
    point_create(project=project, name="zz last")
    point_create(project=project, name="aa first")
    page = login(people["reviewer"]).get(reverse("review:points", args=[project.id]),
                                         {"sort": "-name"}).content.decode()
    assert page.index("zz last") < page.index("aa first")


def test_run_search_finds_by_model_name_and_refreshes_the_list(people, project, two_runs):
    first, second = two_runs
    url = reverse("runs:list", args=[project.id])
    page = login(people["reviewer"]).get(url, {"q": "zul"}).content.decode()
    assert ids_in(page, "runs:detail") == [first.id]
    assert 'name="q" value="zul"' in page and 'hx-select="#list"' in page
    assert ids_in(htmx_as(people["reviewer"]).get(url, {"q": f"#{second.id}"}).content.decode(),
                  "runs:detail") == [second.id]
    assert "No run matches" in login(people["reviewer"]).get(url, {"q": "nothing like it"}).content.decode()


def test_eval_search_finds_by_note(people, project, prompt_version):
    model = Model.objects.create(project=project, name="Local", provider="local")
    kept = EvalRun.objects.create(project=project, model=model, prompt_version=prompt_version, note="before launch")
    EvalRun.objects.create(project=project, model=model, prompt_version=prompt_version, note="nightly")
    page = login(people["reviewer"]).get(reverse("evals:list", args=[project.id]), {"q": "launch"}).content.decode()
    assert ids_in(page, "evals:detail") == [kept.id]


def test_example_search_matches_text_and_point_names(people, project):
    point = point_create(project=project, name="hold is a pause")
    tagged = TrainingExample.objects.create(project=project, messages=[], answer={"label": "billing"},
                                            text="Stop my plan", text_hash="a")
    tagged.points.add(point)
    TrainingExample.objects.create(project=project, messages=[], answer={"label": "billing"}, text="Refund me",
                                   text_hash="b")
    client = login(people["lead"])
    url = reverse("review:examples", args=[project.id])
    by_point = client.get(url, {"q": "pause"}).content.decode()
    assert "Stop my plan" in by_point and "Refund me" not in by_point
    by_text = client.get(url, {"q": "refund", "sort": "-text"}).content.decode()
    assert "Refund me" in by_text and "Stop my plan" not in by_text


def test_test_case_search_and_sort(people, project):
    add_test_case(project=project, text="Card stolen yesterday", expected={"label": "billing"})
    add_test_case(project=project, text="App crashes on start", expected={"label": "technical"})
    add_test_case(project=project, text="Another stolen card", expected={"label": "billing"})
    client = login(people["lead"])
    url = reverse("review:test_cases", args=[project.id])
    page = client.get(url, {"q": "stolen", "sort": "text"}).content.decode()
    assert "App crashes" not in page
    assert page.index("Another stolen card") < page.index("Card stolen yesterday")
    page = client.get(url, {"q": "stolen", "sort": "-text"}).content.decode()
    assert page.index("Card stolen yesterday") < page.index("Another stolen card")
