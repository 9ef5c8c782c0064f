import pytest
from django.urls import reverse

from apps.accounts.models import Membership, Role
from apps.projects.models import Project
from tests.conftest import api_as, login
from tests.factories import DatasetFactory, UserFactory


def test_project_list_shows_only_my_projects(people, project):
    page = login(people["reviewer"]).get(reverse("projects:list")).content.decode()
    assert project.name in page
    other = login(people["outsider"]).get(reverse("projects:list")).content.decode()
    assert project.name not in other


def test_lead_creates_a_project_and_becomes_its_admin(people, settings):
    settings.TASKLLM_LEADS_CREATE_PROJECTS = True  # issue 12: a site-admin right unless the site lets leads
    response = login(people["lead"]).post(reverse("projects:create"), {
        "name": "Contracts", "task_kind": "ner", "entity_types": "PARTY, DATE\nPARTY",
        "glossary": "consideration: something of value exchanged, in the contract-law sense",
    })
    project = Project.objects.get(name="Contracts")
    assert response.url == reverse("projects:detail", args=[project.id])
    assert project.entity_types == ["PARTY", "DATE"]
    assert project.glossary == [{"term": "consideration",
                                 "definition": "something of value exchanged, in the contract-law sense"}]
    assert Membership.objects.get(project=project, user=people["lead"]).role == Role.ADMIN


def test_reviewer_only_cannot_create_projects(db):
    reviewer_only = UserFactory(username="plain")
    assert login(reviewer_only).get(reverse("projects:create")).status_code == 403
    response = api_as(reviewer_only).post(reverse("api-projects"), {"name": "x", "task_kind": "generation"},
                                          format="json")
    assert response.status_code == 403


@pytest.mark.parametrize("data, error", [
    ({"task_kind": "classification", "labels": "only-one"}, "at least two labels"),
    ({"task_kind": "ner", "entity_types": ""}, "at least one entity type"),
    ({"task_kind": "generation", "glossary": "no colon here"}, "term: definition"),
])
def test_project_form_explains_what_is_wrong(people, data, error, settings):
    settings.TASKLLM_LEADS_CREATE_PROJECTS = True
    response = login(people["admin"]).post(reverse("projects:create"), {"name": "P", **data})
    assert response.status_code == 200 and error in response.content.decode()


def test_task_kind_cannot_change_once_there_are_datasets(people, project):
    DatasetFactory(project=project)
    response = api_as(people["lead"]).patch(reverse("api-project", args=[project.id]),
                                            {"task_kind": "generation"}, format="json")
    assert response.status_code == 400 and "cannot change" in response.json()["detail"]


def test_project_home_shows_datasets_with_counts(people, dataset):
    page = login(people["reviewer"]).get(reverse("projects:detail", args=[dataset.project_id])).content.decode()
    assert "Tickets" in page and '<td class="num">3</td>' in page and "hold" in page


def test_project_home_without_datasets_says_what_to_do(people, project):
    page = login(people["lead"]).get(reverse("projects:detail", args=[project.id])).content.decode()
    assert "No datasets yet" in page and "Add a dataset" in page


def test_api_creates_and_lists_projects(people, settings):
    settings.TASKLLM_LEADS_CREATE_PROJECTS = True
    client = api_as(people["lead"])
    response = client.post(reverse("api-projects"), {
        "name": "Router", "task_kind": "classification", "labels": ["a", "b"],
        "glossary": [{"term": "hold", "definition": "customer pause"}]}, format="json")
    assert response.status_code == 201 and response.json()["labels"] == ["a", "b"]
    assert "Router" in [p["name"] for p in client.get(reverse("api-projects")).json()["results"]]


def test_superuser_sees_every_project(project, db):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert login(admin).get(reverse("projects:detail", args=[project.id])).status_code == 200


def test_task_kind_changes_while_no_dataset_fixes_it(people, project, prompt_version):
    response = api_as(people["lead"]).patch(reverse("api-project", args=[project.id]),
                                            {"task_kind": "generation"}, format="json")
    assert response.status_code == 200 and response.json()["task_kind"] == "generation"


def test_deleting_a_project_takes_its_runs_evals_and_fine_tunes_with_it(people, project, graded_run):
    from apps.evals.models import EvalRun
    from apps.llm.models import Model
    from apps.prompts.models import PromptVersion
    from apps.runs.models import Run
    from apps.tuning.models import FineTuneJob

    model, version = graded_run.model, graded_run.prompt_version
    EvalRun.objects.create(project=project, model=model, prompt_version=version, judge_model=model)
    FineTuneJob.objects.create(project=project, base_model=model, backend="openai", training_file_sha256="0" * 64)
    response = login(people["admin"]).post(reverse("projects:delete", args=[project.id]))
    assert response.status_code == 302 and not Project.objects.filter(id=project.id).exists()
    assert not Run.objects.exists() and not EvalRun.objects.exists() and not FineTuneJob.objects.exists()
    assert not Model.objects.filter(id=model.id).exists() and not PromptVersion.objects.filter(id=version.id).exists()


def test_deleting_a_project_takes_its_deployments_and_their_promotions_with_it(people, project, graded_run):
    from apps.deployments.models import Deployment, Promotion
    from apps.evals.models import EvalRun

    model, version = graded_run.model, graded_run.prompt_version
    eval_run = EvalRun.objects.create(project=project, model=model, prompt_version=version)
    deployment = Deployment.objects.create(project=project, slug="router", model=model, prompt_version=version,
                                           shadow_model=model, shadow_prompt_version=version)
    Promotion.objects.create(deployment=deployment, model=model, prompt_version=version, eval_run=eval_run,
                             reason="first")
    response = login(people["admin"]).post(reverse("projects:delete", args=[project.id]))
    assert response.status_code == 302 and not Project.objects.filter(id=project.id).exists()
    assert not Deployment.objects.exists() and not Promotion.objects.exists()


def test_task_kind_is_free_again_when_the_last_dataset_goes(people, project):
    from apps.datasets.services import dataset_delete

    dataset_delete(dataset=DatasetFactory(project=project))
    response = api_as(people["lead"]).patch(reverse("api-project", args=[project.id]),
                                            {"task_kind": "generation"}, format="json")
    assert response.status_code == 200 and response.json()["task_kind"] == "generation"
