"""Free text has one length limit per kind (apps/core/limits.py), the same in forms, the API and the services:
a too-long value is a 400, a form error or an import problem, never a 500 and never stored."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.core.limits import COMMENT_MAX, LONG_TEXT_MAX, RECORD_TEXT_MAX
from apps.datasets.models import Dataset
from apps.deployments import services as deployment_services
from apps.prompts.forms import PromptCreateForm
from apps.prompts.models import PromptTemplate
from apps.review import services as review_services
from apps.review.models import Grade, TestCase, TrainingPoint
from tests.conftest import api_as

LONG = "x" * (LONG_TEXT_MAX + 1)


@pytest.fixture
def lead_api(people):
    return api_as(people["lead"])


def test_a_too_long_guideline_or_glossary_definition_is_a_400(project, lead_api):
    url = reverse("api-project", args=[project.id])
    before = (project.guidelines, project.glossary)
    assert lead_api.patch(url, {"guidelines": LONG}, format="json").status_code == 400
    response = lead_api.patch(url, {"glossary": [{"term": "hold", "definition": LONG}]}, format="json")
    assert response.status_code == 400
    project.refresh_from_db()
    assert (project.guidelines, project.glossary) == before


def test_a_too_long_prompt_text_is_a_400_and_a_form_error(project, lead_api):
    response = lead_api.post(reverse("api-prompts", args=[project.id]), {"name": "P", "system": LONG}, format="json")
    assert response.status_code == 400 and "system" in response.json()
    assert not PromptTemplate.objects.exists()
    form = PromptCreateForm(project=project, data={"name": "P", "style": "plain", "user_template": "{text}" + LONG})
    assert not form.is_valid() and "user_template" in form.errors


def test_too_long_descriptions_are_400s(project, lead_api):
    response = lead_api.post(reverse("api-datasets", args=[project.id]), {"name": "D", "description": LONG},
                             format="json")
    assert response.status_code == 400
    response = lead_api.post(reverse("api-points", args=[project.id]), {"name": "P", "description": LONG},
                             format="json")
    assert response.status_code == 400
    assert not Dataset.objects.filter(name="D").exists() and not TrainingPoint.objects.filter(name="P").exists()


def test_a_too_long_test_case_text_is_a_400(project, lead_api):
    response = lead_api.post(reverse("api-test-cases", args=[project.id]),
                             {"text": "x" * (RECORD_TEXT_MAX + 1), "expected": {"label": "billing"}}, format="json")
    assert response.status_code == 400
    with pytest.raises(ApplicationError, match="limit is 100,000"):
        review_services.test_case_create(project=project, text="x" * (RECORD_TEXT_MAX + 1),
                                         expected={"label": "billing"})
    assert not TestCase.objects.exists()


def test_a_too_long_record_in_an_import_is_a_problem_with_its_line(dataset, people):
    lines = [{"text": "fine", "label": "billing"}, {"text": "y" * (RECORD_TEXT_MAX + 1), "label": "billing"}]
    upload = SimpleUploadedFile("t.jsonl", "\n".join(json.dumps(line) for line in lines).encode())
    before = dataset.records.count()
    response = api_as(people["lead"]).post(reverse("api-imports", args=[dataset.id]), {"file": upload},
                                           format="multipart")
    assert response.status_code == 400
    assert response.json()["problems"][0]["line"] == 2 and "limit is 100,000" in response.json()["problems"][0][
        "message"]
    assert dataset.records.count() == before


def test_a_too_long_test_case_in_an_import_is_a_problem_with_its_line(project):
    good = json.dumps({"text": "fine", "expected": {"label": "billing"}})
    bad = json.dumps({"text": "y" * (RECORD_TEXT_MAX + 1), "expected": {"label": "billing"}})
    with pytest.raises(ApplicationError) as caught:
        review_services.test_cases_import(project=project, stream=io.BytesIO(f"{good}\n{bad}\n".encode()))
    assert [p["line"] for p in caught.value.problems] == [2]
    assert not TestCase.objects.exists()


def test_a_too_long_grade_comment_is_refused_by_the_api_and_the_service(graded_run, people):
    output = graded_run.outputs.first()
    response = api_as(people["reviewer"]).post(reverse("api-grades", args=[graded_run.id]),
                                               {"output": output.id, "verdict": "pass",
                                                "comment": "c" * (COMMENT_MAX + 1)}, format="json")
    assert response.status_code == 400
    with pytest.raises(ApplicationError, match="comment"):
        review_services.grade_submit(output=output, reviewer=people["reviewer"], verdict="pass",
                                     comment="c" * (COMMENT_MAX + 1))
    assert not Grade.objects.exists()


def test_too_long_promotion_reasons_and_feedback_comments_are_refused_by_the_services(db):
    with pytest.raises(ApplicationError, match="reason"):
        deployment_services.promotion_create(deployment=None, model=None, prompt_version=None,
                                             reason="r" * (COMMENT_MAX + 1), user=None)
    with pytest.raises(ApplicationError, match="comment"):
        deployment_services.feedback_submit(trace=None, thumbs="up", comment="c" * (COMMENT_MAX + 1))
