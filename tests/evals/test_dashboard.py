"""The dashboard: the pass-rate matrix across versions, its charts and CSV, reviewer activity, and the API."""

import csv
import io
import json

import pytest
from django.urls import reverse

from apps.core.models import JobStatus
from apps.llm.models import Model
from apps.review.models import Grade
from apps.runs.models import Output, Run
from tests.conftest import api_as, login
from tests.evals.conftest import run_eval, scripted


@pytest.fixture
def two_versions(project, prompt_version, remote_model, cases, llm_server, django_capture_on_commit_callbacks):
    """Eval 1: everything 'billing' (all fail). Eval 2, another model: the hold cases right."""
    llm_server.answer = scripted({})
    first = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=2)
    better = Model.objects.create(project=project, name="Better GPT", base_url=llm_server.base_url, model_id="b")
    llm_server.answer = scripted({c.text: ["escalation"] for c in cases[:4]})
    second = run_eval(project, better, prompt_version, django_capture_on_commit_callbacks, repeats=2,
                      baseline=first)
    return first, second


def test_the_matrix_shows_each_point_for_each_version(two_versions, points, project, people):
    first, second = two_versions
    page = login(people["reviewer"]).get(reverse("evals:dashboard", args=[project.id])).content.decode()
    hold_row = page.split(f'data-point="{points["hold"].id}"')[1].split("</tr>")[0]
    assert ">0%</a>" in hold_row and ">100%</a>" in hold_row and 'class="verdict improved">▲' in hold_row
    assert f"/evals/{second.id}/?point={points['hold'].id}&amp;result=fail" in hold_row
    assert "consistency 1.00" in hold_row and "Reviewer activity" not in page  # reviewers see no activity
    assert "<svg" in page and "Consistency" in page

    rows = list(csv.reader(io.StringIO(login(people["lead"]).get(
        reverse("evals:dashboard_export", args=[project.id, "pass-rates"])).content.decode())))
    assert rows[0][0] == "training point" and len(rows[0]) == 3
    assert rows[1] == ["All test cases", "0.0", str(round(8 / 12, 4))]
    assert ["hold is a pause", "0.0", "1.0"] in rows and ["credit is an SLA credit", "0.0", "0.0"] in rows

    data = api_as(people["reviewer"]).get(reverse("api-dashboard", args=[project.id])).json()
    assert [c["eval_run"] for c in data["columns"]] == [first.id, second.id]
    hold = next(r for r in data["rows"] if r["point"] == points["hold"].id)
    assert [c["pass_rate"] for c in hold["cells"]] == [0.0, 1.0] and hold["cells"][1]["verdict"] == "improved"


def test_only_the_latest_eval_of_a_version_is_a_column(two_versions, project, prompt_version, llm_server,
                                                       django_capture_on_commit_callbacks, people):
    first, second = two_versions
    llm_server.answer = scripted({})
    again = run_eval(project, first.model, prompt_version, django_capture_on_commit_callbacks, repeats=1)
    data = api_as(people["lead"]).get(reverse("api-dashboard", args=[project.id])).json()
    assert [c["eval_run"] for c in data["columns"]] == [second.id, again.id]


def test_an_empty_dashboard_says_what_to_do(project, people):
    page = login(people["lead"]).get(reverse("evals:dashboard", args=[project.id])).content.decode()
    assert "No finished evals yet" in page and "Start an eval" in page and "No grades yet" in page


def test_reviewer_activity_counts_grades_time_and_disagreement(project, dataset, prompt_version, people):
    model = Model.objects.create(project=project, name="Local", provider="local")
    run = Run.objects.create(project=project, prompt_version=prompt_version, model=model, dataset=dataset,
                             record_ids=[], status=JobStatus.SUCCEEDED)
    outputs = [Output.objects.create(run=run, record=r, status="ok", answer={"label": "billing"})
               for r in dataset.records.all()]
    # Output 0: both pass. Output 1: reviewer pass, lead fail. Output 2: reviewer alone.
    for output, verdict, seconds in ((outputs[0], "pass", 2), (outputs[1], "pass", 4), (outputs[2], "fail", 9)):
        Grade.objects.create(output=output, reviewer=people["reviewer"], verdict=verdict, seconds_spent=seconds)
    for output, verdict in ((outputs[0], "pass"), (outputs[1], "fail")):
        Grade.objects.create(output=output, reviewer=people["lead"], verdict=verdict, seconds_spent=3)
    page = login(people["lead"]).get(reverse("evals:dashboard", args=[project.id])).content.decode()
    assert "Reviewer activity" in page
    rows = {r[0]: r for r in csv.reader(io.StringIO(login(people["lead"]).get(
        reverse("evals:dashboard_export", args=[project.id, "reviewers"])).content.decode()))}
    # reviewer: 3 grades, median 4 s, 1 of 2 shared grades disagreed; today's column holds all 3
    assert rows["reviewer"][1:6] == ["3", "4.0", "2", "1", "0.5"] and rows["reviewer"][-1] == "3"
    assert rows["lead"][1:6] == ["2", "3.0", "2", "1", "0.5"]


def test_eval_csv_exports_have_every_row(two_versions, people):
    _, second = two_versions
    results = list(csv.reader(io.StringIO(login(people["reviewer"]).get(
        reverse("evals:export", args=[second.id, "results"])).content.decode())))
    assert results[0][:3] == ["training point", "test cases", "test cases passed"] and len(results) == 4
    outputs = list(csv.reader(io.StringIO(login(people["reviewer"]).get(
        reverse("evals:export", args=[second.id, "outputs"])).content.decode())))
    assert len(outputs) == 1 + 12 and json.loads(outputs[1][3]) == {"label": "escalation"}


def test_the_new_eval_form_comes_filled_in(two_versions, project, people):
    first, second = two_versions
    page = login(people["lead"]).get(reverse("evals:create", args=[project.id])).content.decode()
    model_select = page.split('name="model"')[1].split("</select>")[0]
    assert "selected" in model_select  # a model is chosen, so the form can be sent as it comes
    page = login(people["lead"]).get(reverse("evals:create", args=[project.id]) + f"?baseline={second.id}")
    baseline_select = page.content.decode().split('name="baseline"')[1].split("</select>")[0]
    assert f'value="{second.id}" selected' in baseline_select
