"""Every input bounded and checked once for form and API alike; malformed query parameters are 400s, never 500s."""

import io

import pytest
from django.urls import reverse

from apps.llm.models import Model
from apps.review.models import TrainingPoint
from apps.tuning.models import FineTuneJob
from tests.conftest import api_as, htmx_as, login


@pytest.fixture
def client_lead(people):
    return api_as(people["lead"])


@pytest.mark.parametrize("hyperparameters, problem", [
    ({"epochs": 100000}, "epochs must be between"),
    ({"validation_share": "x"}, "validation_share must be a number"),
    ({"lora_r": 1.5}, "lora_r must be a whole number"),
    ({"surprise": 1}, "Unknown hyperparameter"),
])
def test_finetune_hyperparameters_are_bounded_in_the_api(project, client_lead, hyperparameters, problem):
    base = Model.objects.create(project=project, name="Bundled", provider="local")
    response = client_lead.post(reverse("api-finetunes", args=[project.id]),
                                {"base_model": base.id, "backend": "local", "hyperparameters": hyperparameters},
                                format="json")
    assert response.status_code == 400 and problem in str(response.json())
    assert not FineTuneJob.objects.exists()


def test_finetune_points_of_another_project_or_missing_are_refused(project, client_lead, people):
    from tests.factories import ProjectFactory

    base = Model.objects.create(project=project, name="Bundled", provider="local")
    elsewhere = TrainingPoint.objects.create(project=ProjectFactory(), name="theirs")
    response = client_lead.post(reverse("api-finetunes", args=[project.id]),
                                {"base_model": base.id, "backend": "local", "points": [elsewhere.id, 999999]},
                                format="json")
    assert response.status_code == 400 and "points" in response.json()


@pytest.mark.parametrize("field, value", [("pass_threshold", -5), ("f1_threshold", 7),
                                          ("labels", [f"l{n}" for n in range(20000)]), ("labels", ["x" * 100000, "y"])])
def test_project_settings_are_bounded_in_the_api(project, people, field, value):
    response = api_as(people["admin"]).patch(reverse("api-project", args=[project.id]), {field: value}, format="json")
    assert response.status_code == 400 and field in response.json()


def test_project_service_refuses_out_of_range_thresholds(project):
    from apps.core.exceptions import ApplicationError
    from apps.projects.services import project_update

    with pytest.raises(ApplicationError):
        project_update(project=project, pass_threshold=-5)


@pytest.mark.parametrize("examples", ["abc", [{}], [{"text": "t", "answer": {"label": "nope"}}], [1]])
def test_prompt_examples_must_be_text_and_a_valid_answer(project, people, prompt_version, examples):
    template = prompt_version.template
    response = api_as(people["lead"]).post(reverse("api-prompt-versions", args=[template.id]),
                                           {"style": "few_shot", "user_template": "{text}", "examples": examples},
                                           format="json")
    assert response.status_code == 400
    assert template.versions.count() == 1


@pytest.mark.parametrize("after", ["abc", "false", "-1", "99999999999999999999999"])
def test_review_next_with_a_malformed_after_is_a_400(people, graded_run, after):
    response = api_as(people["reviewer"]).get(reverse("api-review-next", args=[graded_run.id]), {"after": after})
    assert response.status_code == 400 and "after" in response.json()["detail"]


def test_point_query_parameters_are_checked_on_pages_api_and_export(people, project):
    lead = login(people["lead"])
    for url in (reverse("review:examples", args=[project.id]), reverse("review:test_cases", args=[project.id]),
                reverse("review:examples_export", args=[project.id])):
        assert lead.get(url, {"point": "abc"}).status_code == 400
    response = api_as(people["lead"]).get(reverse("api-examples", args=[project.id]), {"point": "abc"})
    assert response.status_code == 400


def test_prompt_preview_and_diff_with_malformed_numbers_are_400s(people, prompt_version):
    lead = login(people["lead"])
    assert lead.get(reverse("prompts:preview", args=[prompt_version.id]), {"record": "abc"}).status_code == 400
    assert lead.get(reverse("prompts:diff", args=[prompt_version.template_id]), {"new": "abc"}).status_code == 400


@pytest.mark.parametrize("into", ["abc", [1], None])
def test_merging_into_a_malformed_point_is_a_400(project, people, into):
    point = TrainingPoint.objects.create(project=project, name="a")
    response = api_as(people["lead"]).post(reverse("api-point-merge", args=[point.id]), {"into": into},
                                           format="json")
    assert response.status_code == 400


def test_test_case_import_with_point_ids_names_the_line(project, people):
    data = b'{"text": "my invoice", "expected": {"label": "billing"}, "points": [1]}\n'
    response = login(people["lead"]).post(reverse("review:test_case_import", args=[project.id]),
                                          {"file": io.BytesIO(data)}, follow=True)
    assert response.status_code == 200
    assert "Line 1: &quot;points&quot; is a list of training point names" in response.content.decode()
    assert not project.test_cases.exists()


def test_a_newline_in_the_review_filter_is_kept_out_of_headers(people, graded_run):
    output = graded_run.outputs.order_by("id").first()
    response = htmx_as(people["reviewer"]).get(reverse("review:output", args=[graded_run.id, output.id]),
                                               {"label": "\n", "show": "all"})
    assert response.status_code == 200
    assert "\n" not in response["HX-Push-Url"] and "label=%0A" in response["HX-Push-Url"]


@pytest.mark.parametrize("export_format", ["\n", "xml"])
def test_unknown_export_formats_are_400s_without_a_content_disposition(people, dataset, project, export_format):
    page = login(people["lead"]).get(reverse("datasets:export", args=[dataset.id]), {"format": export_format})
    api = api_as(people["lead"]).get(reverse("api-export", args=[dataset.id]), {"format": export_format})
    examples = login(people["lead"]).get(reverse("review:examples_export", args=[project.id]),
                                         {"format": export_format})
    for response in (page, api, examples):
        assert response.status_code == 400 and not response.has_header("Content-Disposition")


def test_an_unknown_split_filter_is_refused(people, dataset):
    response = api_as(people["lead"]).get(reverse("api-records", args=[dataset.id]), {"split": "sideways"})
    assert response.status_code == 400
