"""Gold data is right: a test case expects a reviewed answer (never an unreviewed model answer), a pass can be kept
as a training example, refusals of the leakage guard are impossible to miss, and the guard ignores punctuation,
case, spaces and Unicode form."""

import pytest
from django.urls import reverse

from apps.core.exceptions import ApplicationError
from apps.review import services
from apps.review.models import Grade, TestCase, TrainingExample
from tests.conftest import api_as


@pytest.fixture
def output(graded_run):
    """The model said billing; the record's expected answer is technical."""
    output = graded_run.outputs.select_related("record", "run__project").order_by("id").first()
    output.record.label = "technical"
    output.record.save(update_fields=["label"])
    return output


def test_x_on_an_ungraded_output_expects_the_records_answer_not_the_models(output, people):
    result = services.grade_submit(output=output, reviewer=people["reviewer"], make_test_case=True)
    case = TestCase.objects.get()
    assert case.expected == {"label": "technical"}
    assert result.grade.verdict == "fail" and result.grade.corrected_answer == {"label": "technical"}


def test_x_on_an_ungraded_output_without_an_expected_answer_asks_for_the_right_answer(output, people):
    output.record.label = ""
    output.record.save(update_fields=["label"])
    with pytest.raises(ApplicationError, match="Choose the right answer first"):
        services.grade_submit(output=output, reviewer=people["reviewer"], make_test_case=True)
    assert not Grade.objects.exists() and not TestCase.objects.exists()


def test_x_after_a_fail_without_correction_never_expects_the_failed_answer(output, people):
    services.grade_submit(output=output, reviewer=people["reviewer"], verdict="fail")
    services.grade_submit(output=output, reviewer=people["reviewer"], make_test_case=True)
    assert TestCase.objects.get().expected == {"label": "technical"}
    output.record.label = ""
    output.record.save(update_fields=["label"])
    result = services.grade_submit(output=output, reviewer=people["reviewer"], make_test_case=True)
    assert not TestCase.objects.exists() and "choose the right answer first" in result.refused[0]


def test_a_pass_can_be_kept_as_a_training_example(output, people):
    plain = services.grade_submit(output=output, reviewer=people["reviewer"], verdict="pass")
    assert not TrainingExample.objects.exists() and plain.notes == []
    kept = services.grade_submit(output=output, reviewer=people["reviewer"], verdict="pass", keep_as_example=True)
    example = TrainingExample.objects.get()
    assert example.answer == {"label": "billing"} and example.source_grade == kept.grade
    assert kept.notes == [f"Saved training example #{example.id}."]


@pytest.mark.parametrize("variant", ["I lost my card!", "i  LOST my card", "I lost my card.", "Ｉ lost my card"])
def test_the_leakage_guard_ignores_punctuation_case_spaces_and_unicode_form(project, variant):
    services.test_case_create(project=project, text="I lost my card", expected={"label": "billing"})
    with pytest.raises(ApplicationError, match="held out as test case"):
        services.training_example_create(project=project, messages=[], text=variant, answer={"label": "billing"})


def test_api_grade_lists_what_the_guard_refused(output, people, project):
    services.test_case_create(project=project, text=output.record.text + "!", expected={"label": "billing"})
    response = api_as(people["reviewer"]).post(reverse("api-grades", args=[output.run_id]), {
        "output": output.id, "corrected_answer": {"label": "technical"}}, format="json")
    assert response.status_code == 201 and response.json()["verdict"] == "fail"
    assert "held out as test case" in response.json()["refused"][0] and response.json()["notes"] == []


def test_api_keeps_a_pass_as_an_example_and_next_has_the_expected_answer(output, people):
    client = api_as(people["reviewer"])
    nxt = client.get(reverse("api-review-next", args=[output.run_id])).json()
    assert nxt["output"] == output.id and nxt["expected"] == {"label": "technical"}
    response = client.post(reverse("api-grades", args=[output.run_id]), {
        "output": output.id, "verdict": "pass", "keep_as_example": True}, format="json")
    assert response.status_code == 201 and response.json()["refused"] == []
    assert TrainingExample.objects.get().answer == {"label": "billing"}


def test_a_lead_edits_and_deletes_test_cases_and_examples_with_the_guard_checked_again(people, project):
    from tests.conftest import login

    case = services.test_case_create(project=project, text="Card stolen", expected={"label": "billing"})
    example = services.training_example_create(project=project, messages=[], text="Refund me",
                                               answer={"label": "billing"})
    client = login(people["lead"])
    clash = client.post(reverse("review:test_case_edit", args=[case.id]), {
        "text": "Refund me!", "expected": '{"label": "technical"}'})
    assert "is training example" in clash.content.decode()
    saved = client.post(reverse("review:test_case_edit", args=[case.id]), {
        "text": "My card was stolen", "expected": '{"label": "technical"}', "points": "theft"})
    case.refresh_from_db()
    assert saved.status_code == 302 and case.text == "My card was stolen" and case.expected == {"label": "technical"}
    assert [p.name for p in case.points.all()] == ["theft"]
    api = api_as(people["lead"])
    refused = api.patch(reverse("api-test-case", args=[case.id]), {"text": "refund  ME"}, format="json")
    assert refused.status_code == 400 and "is training example" in refused.json()["detail"]
    changed = api.patch(reverse("api-example", args=[example.id]), {"answer": {"label": "technical"}}, format="json")
    assert changed.status_code == 200 and changed.json()["answer"] == {"label": "technical"}
    assert api.delete(reverse("api-test-case", args=[case.id])).status_code == 204
    assert client.post(reverse("review:example_delete", args=[example.id])).status_code == 302
    assert not TestCase.objects.exists() and not TrainingExample.objects.exists()


def test_api_imports_test_cases_and_previews_a_prompt(people, project, dataset, prompt_version):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = api_as(people["lead"])
    upload = SimpleUploadedFile("cases.jsonl", b'{"text": "Card stolen", "expected": {"label": "billing"}}\n')
    response = client.post(reverse("api-test-case-import", args=[project.id]), {"file": upload}, format="multipart")
    assert response.status_code == 201 and response.json() == {"imported": 1}
    bad = SimpleUploadedFile("cases.jsonl", b'{"text": "x", "expected": {"label": "nope"}}\n')
    refused = client.post(reverse("api-test-case-import", args=[project.id]), {"file": bad}, format="multipart")
    assert refused.status_code == 400 and refused.json()["problems"][0]["line"] == 1
    record = dataset.records.first()
    preview = api_as(people["reviewer"]).get(reverse("api-prompt-preview", args=[prompt_version.id]),
                                             {"record": record.id}).json()
    assert preview["record"] == record.id and preview["messages"][-1] == {"role": "user",
                                                                           "content": f"Ticket: {record.text}"}
    assert preview["schema"]["properties"]["label"]["enum"] == project.labels


def test_api_evaluates_a_fine_tune_against_its_base(people, project, prompt_version,
                                                    django_capture_on_commit_callbacks):
    from django.core.files.base import ContentFile

    from apps.evals.models import EvalRun
    from apps.llm.models import Model
    from apps.tuning.models import FineTuneJob

    services.test_case_create(project=project, text="Card stolen", expected={"label": "billing"})
    base = Model.objects.create(project=project, name="Base", provider="local")
    job = FineTuneJob(project=project, base_model=base, backend="local", training_file_sha256="0" * 64,
                      result_model=Model.objects.create(project=project, name="Tuned", provider="local", parent=base))
    job.training_file.save("t.jsonl", ContentFile(b"{}\n"), save=False)
    job.save()
    url = reverse("api-finetune-evaluate", args=[job.id])
    assert api_as(people["reviewer"]).post(url, {"prompt_version": prompt_version.id}, format="json").status_code == 403
    with django_capture_on_commit_callbacks(execute=False):
        response = api_as(people["lead"]).post(url, {"prompt_version": prompt_version.id, "repeats": 1}, format="json")
    assert response.status_code == 201
    tuned = EvalRun.objects.get(id=response.json()["fine_tuned"]["id"])
    assert tuned.model.name == "Tuned" and tuned.baseline_id == response.json()["base"]["id"]
