"""Every CSV export goes through core/csv_export.py: cells a spreadsheet would run as formulas are neutralised."""

import csv
import io

import pytest
from django.urls import reverse

from apps.core.csv_export import neutralise
from apps.review.models import TrainingPoint
from tests.conftest import login
from tests.factories import RecordFactory

PAYLOADS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_formula_cells_get_a_leading_apostrophe(payload):
    assert neutralise(payload) == "'" + payload
    assert neutralise("plain") == "plain" and neutralise(-1.5) == -1.5


def streamed_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(body.decode())))


def test_the_dataset_csv_neutralises_text_labels_and_metadata(people, project):
    from tests.factories import DatasetFactory

    dataset = DatasetFactory(project=project)
    RecordFactory(dataset=dataset, text="=cmd|' /C calc'!A0", label="billing", metadata={"note": "@SUM(1)"})
    rows = streamed_csv(login(people["lead"]).get(reverse("datasets:export", args=[dataset.id]), {"format": "csv"}))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells and "'@SUM(1)" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


def test_the_pass_rate_csv_neutralises_point_names(people, project):
    TrainingPoint.objects.create(project=project, name="=1+1")
    response = login(people["lead"]).get(reverse("evals:dashboard_export", args=[project.id, "pass-rates"]))
    cells = [cell for row in streamed_csv(response) for cell in row]
    assert "'=1+1" in cells and "=1+1" not in cells


def no_formula_cells(cells) -> bool:
    return not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


def test_the_run_outputs_csv_neutralises_text_and_raw_replies(people, graded_run):
    output = graded_run.outputs.order_by("record__position").first()
    output.raw_text, output.status = "=HYPERLINK(\"http://x\")", "invalid"
    output.save()
    output.record.text = "@SUM(A1)"
    output.record.save()
    rows = streamed_csv(login(people["reviewer"]).get(reverse("runs:export", args=[graded_run.id])))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'=HYPERLINK(\"http://x\")" in cells and "'@SUM(A1)" in cells and no_formula_cells(cells)


@pytest.fixture
def eval_with_a_formula(project, prompt_version):
    from apps.core.models import JobStatus
    from apps.evals.models import EvalOutput, EvalRun, PointResult
    from apps.llm.models import Model
    from apps.review.models import TestCase

    model = Model.objects.create(project=project, name="Local", provider="local")
    case = TestCase.objects.create(project=project, text="=1+1", text_hash="h", expected={"label": "billing"})
    eval_run = EvalRun.objects.create(project=project, model=model, prompt_version=prompt_version,
                                      test_case_ids=[case.id], status=JobStatus.SUCCEEDED)
    EvalOutput.objects.create(eval_run=eval_run, test_case=case, raw_text="-2+3", status="invalid",
                              error="+cmd", judge_reason="@SUM(1)")
    PointResult.objects.create(eval_run=eval_run, point=TrainingPoint.objects.create(project=project, name="=p"))
    return eval_run


def test_the_eval_outputs_csv_neutralises_case_text_and_replies(people, eval_with_a_formula):
    response = login(people["reviewer"]).get(reverse("evals:export", args=[eval_with_a_formula.id, "outputs"]))
    cells = [cell for row in streamed_csv(response)[1:] for cell in row]
    assert {"'=1+1", "'-2+3", "'+cmd", "'@SUM(1)"} <= set(cells) and no_formula_cells(cells)


def test_the_eval_results_csv_neutralises_point_names(people, eval_with_a_formula):
    response = login(people["reviewer"]).get(reverse("evals:export", args=[eval_with_a_formula.id, "results"]))
    cells = [cell for row in streamed_csv(response)[1:] for cell in row]
    assert "'=p" in cells and no_formula_cells(cells)


def test_the_reviewer_activity_csv_neutralises_user_names(people, project, graded_run):
    from apps.review.models import Grade

    people["reviewer"].username = "@reviewer"
    people["reviewer"].save()
    Grade.objects.create(output=graded_run.outputs.first(), reviewer=people["reviewer"], verdict="pass",
                         seconds_spent=2)
    response = login(people["lead"]).get(reverse("evals:dashboard_export", args=[project.id, "reviewers"]))
    cells = [cell for row in streamed_csv(response) for cell in row]
    assert "'@reviewer" in cells and no_formula_cells(cells)
