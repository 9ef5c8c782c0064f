"""The dashboard's per-label view: each label (or entity type) × the latest eval of each version, its F1 with
precision, recall and support on hover, on the page (loaded by htmx after the pass-rate matrix), in the API and
as labels.csv; checked against scikit-learn on the evals' own outputs."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from sklearn import metrics as sklearn

from apps.core.models import JobStatus
from apps.evals.label_metrics import INVALID
from apps.evals.label_results import label_results
from apps.evals.models import EvalOutput, EvalRun
from apps.evals.selectors import label_matrix, matrix_columns
from apps.llm.models import Model
from apps.projects.models import Project
from apps.prompts.services import prompt_create
from apps.review.models import TestCase
from tests.conftest import api_as, htmx_as, login
from tests.evals.conftest import run_eval, scripted
from tests.evals.test_labels import ner_eval  # noqa: F401 - a fixture
from tests.factories import MembershipFactory


@pytest.fixture
def two_versions(project, prompt_version, remote_model, cases, llm_server, django_capture_on_commit_callbacks):
    """Eval 1 answers mixed labels (one reply not a label: a non-answer); eval 2, another model, never says
    'technical' and only 'escalation' or 'billing'."""
    llm_server.answer = scripted({
        "Please hold my account": ["escalation", "billing"], "Pause my account for a month": ["billing"],
        "Put my deliveries on hold": ["escalation", "nonsense"], "Hold everything while I travel": ["technical"],
        "Where is my credit for the outage": ["technical"], "The outage credit never came": ["billing", "technical"],
    })
    first = run_eval(project, remote_model, prompt_version, django_capture_on_commit_callbacks, repeats=2,
                     repair=False)
    other = Model.objects.create(project=project, name="Other GPT", base_url=llm_server.base_url, model_id="o")
    llm_server.answer = scripted({c.text: ["escalation"] for c in cases[:3]})
    second = run_eval(project, other, prompt_version, django_capture_on_commit_callbacks, repeats=1, repair=False)
    return first, second


def truth_and_answers(eval_run):
    outputs = eval_run.outputs.select_related("test_case").order_by("id")
    return ([o.test_case.expected["label"] for o in outputs],
            [o.answer["label"] if o.status == "ok" else INVALID for o in outputs])


def test_each_cell_equals_scikit_learn_on_that_evals_answers(two_versions, project, people):
    data = api_as(people["reviewer"]).get(reverse("api-dashboard", args=[project.id])).json()
    labels = data["labels"]
    assert labels["breakdown"] == "labels"
    assert [row["label"] for row in labels["rows"]] == ["billing", "technical", "escalation"]  # the project's order
    for index, eval_run in enumerate(two_versions):
        assert data["columns"][index]["eval_run"] == eval_run.id
        y_true, y_pred = truth_and_answers(eval_run)
        seen = [row["label"] for row in labels["rows"] if row["label"] in {*y_true, *y_pred}]
        p, r, f, s = sklearn.precision_recall_fscore_support(y_true, y_pred, labels=seen, zero_division=0)
        cells = {row["label"]: row["cells"][index] for row in labels["rows"]}
        assert [cells[name][key] for name in seen for key in ("precision", "recall", "f1", "support")] == \
            pytest.approx([float(v) for row in zip(p, r, f, s, strict=True) for v in row])
        assert labels["macro_f1"][index] == pytest.approx(
            sklearn.f1_score(y_true, y_pred, labels=seen, average="macro", zero_division=0))
        assert labels["micro_f1"][index] == pytest.approx(
            sklearn.f1_score(y_true, y_pred, labels=seen, average="micro", zero_division=0))
    second_cells = {row["label"]: row["cells"][1] for row in labels["rows"]}
    assert second_cells["technical"]["f1"] == 0.0 and second_cells["technical"]["support"] == 2  # never answered


def test_the_dashboard_matches_each_evals_own_breakdown(two_versions, project):
    grid = label_matrix(project, matrix_columns(project))
    for eval_run, report in zip(two_versions, grid["reports"], strict=True):
        assert report == label_results(eval_run)[0].report  # the eval page's "All test cases" table


def label_view(user, project) -> str:
    """The dashboard's per-label section as htmx loads it, after the page."""
    return htmx_as(user, target="label-view").get(reverse("evals:dashboard", args=[project.id])).content.decode()


def test_the_page_shows_f1_with_its_measures_on_hover_and_opens_the_evals_breakdown(two_versions, project, people):
    first, second = two_versions
    page = login(people["reviewer"]).get(reverse("evals:dashboard", args=[project.id])).content.decode()
    placeholder = page.split('id="label-view"')[1].split("</section>")[0]
    assert f'hx-get="/projects/{project.id}/dashboard/"' in placeholder and 'hx-trigger="load"' in placeholder
    view = label_view(people["reviewer"], project)
    assert "<html" not in view and view.count('id="label-view"') == 1
    assert "F1 per label" in view and "Macro F1" in view
    escalation = view.split('data-label="escalation"')[1].split("</tr>")[0]
    y_true, y_pred = truth_and_answers(first)
    f1 = sklearn.f1_score(y_true, y_pred, labels=["escalation"], average=None)[0]
    assert f'>{f1:.2f}</a>' in escalation and f"hsl({round(120 * f1)}, 65%, 82%)" in escalation
    assert f'href="/evals/{first.id}/#labels"' in escalation and f'href="/evals/{second.id}/#labels"' in escalation
    assert "escalation: F1 0.40, precision 1.00, recall 0.25, support 8" in escalation
    eval_page = login(people["reviewer"]).get(reverse("evals:detail", args=[first.id])).content.decode()
    assert 'id="labels"' in eval_page  # where the cell's link lands


def test_the_labels_csv_has_a_column_per_version(two_versions, project, people):
    first, second = two_versions
    response = login(people["reviewer"]).get(reverse("evals:dashboard_export", args=[project.id, "labels"]))
    assert response["Content-Disposition"] == f'attachment; filename="project-{project.id}-labels.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][0] == "label" and rows[0][1].startswith(f"#{first.id} ") and rows[0][2].startswith(f"#{second.id} ")
    assert [row[0] for row in rows[1:]] == ["(macro F1)", "billing", "technical", "escalation"]
    assert ["escalation", "0.4", str(round(6 / 7, 4))] in rows  # eval 2: 3 of the 4 right, none wrongly said
    technical = next(row for row in rows if row[0] == "technical")
    assert technical[2] == "0.0"


def test_a_label_one_version_never_saw_is_a_dash(project, two_versions, people):
    first, _ = two_versions
    EvalOutput.objects.filter(eval_run=first, status="ok", answer__label="billing").update(answer={"label": "refund"})
    refund = label_view(people["reviewer"], project).split('data-label="refund"')[1].split("</tr>")[0]
    assert "refund neither expected nor answered" in refund and refund.count("0.00</a>") == 1
    rows = api_as(people["reviewer"]).get(reverse("api-dashboard", args=[project.id])).json()["labels"]["rows"]
    assert rows[-1]["label"] == "refund" and rows[-1]["cells"][1] is None  # a label outside the project comes last


def test_a_project_without_evals_or_a_breakdown_shows_no_label_view(project, people):
    client = login(people["lead"])
    assert 'id="label-view"' not in client.get(reverse("evals:dashboard", args=[project.id])).content.decode()
    data = api_as(people["lead"]).get(reverse("api-dashboard", args=[project.id])).json()["labels"]
    assert data == {"breakdown": "labels", "rows": [], "macro_f1": [], "micro_f1": []}

    replies = Project.objects.create(name="Replies", task_kind="generation")
    MembershipFactory(project=replies, user=people["reviewer"], role="reviewer")
    model = Model.objects.create(project=replies, name="Writer", provider="local")
    version = prompt_create(project=replies, name="Reply", user_template="{text}").versions.get()
    EvalRun.objects.create(project=replies, model=model, prompt_version=version, test_case_ids=[],
                           status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    page = login(people["reviewer"]).get(reverse("evals:dashboard", args=[replies.id])).content.decode()
    assert 'id="matrix"' in page and 'id="label-view"' not in page
    assert label_view(people["reviewer"], replies).strip() == ""
    data = api_as(people["reviewer"]).get(reverse("api-dashboard", args=[replies.id])).json()["labels"]
    assert data == {"breakdown": "", "rows": [], "macro_f1": [None], "micro_f1": [None]}
    rows = list(csv.reader(io.StringIO(login(people["reviewer"]).get(
        reverse("evals:dashboard_export", args=[replies.id, "labels"])).content.decode())))
    assert len(rows) == 1 and rows[0][0] == "label"


def test_a_version_whose_answers_have_no_expected_label_says_so(project, prompt_version, people):
    model = Model.objects.create(project=project, name="Local", provider="local")
    EvalRun.objects.create(project=project, model=model, prompt_version=prompt_version, test_case_ids=[],
                           status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    assert "No answer of these versions has an expected label to measure." in label_view(people["reviewer"], project)
    assert api_as(people["reviewer"]).get(reverse("api-dashboard", args=[project.id])).json()["labels"]["macro_f1"] \
        == [None]


def test_ner_projects_show_f1_per_entity_type(ner_eval, people):  # noqa: F811 - the imported fixture
    project = ner_eval.project
    view = label_view(people["reviewer"], project)
    assert "F1 per entity type" in view and 'data-label="ORG"' in view
    data = api_as(people["reviewer"]).get(reverse("api-dashboard", args=[project.id])).json()["labels"]
    overall = label_results(ner_eval)[0].report
    assert data["breakdown"] == "entity types"
    assert [(row["label"], row["cells"][0]["f1"], row["cells"][0]["support"]) for row in data["rows"]] == [
        (r.label, pytest.approx(r.f1), r.support) for r in overall.rows]
    assert data["micro_f1"] == [pytest.approx(overall.micro.f1)]


def test_the_view_takes_one_query_whatever_the_number_of_versions(project, prompt_version, cases,
                                                                    django_assert_max_num_queries):
    """20 versions of 300 answers each (6,000 outputs): one grouped query for every column's labels."""
    versions = [prompt_create(project=project, name=f"Router {n}", user_template="{text}").versions.get()
                for n in range(20)]
    model = Model.objects.create(project=project, name="Local", provider="local")
    labels = ["billing", "technical", "escalation"]
    for n, version in enumerate(versions):
        eval_run = EvalRun.objects.create(project=project, model=model, prompt_version=version,
                                          test_case_ids=[c.id for c in cases], status=JobStatus.SUCCEEDED,
                                          finished_at=timezone.now())
        EvalOutput.objects.bulk_create(
            EvalOutput(eval_run=eval_run, test_case=case, repeat=repeat, status="ok",
                       answer={"label": labels[(repeat + n) % 3]}) for case in cases for repeat in range(50))
    columns = matrix_columns(project)
    assert len(columns) == 20 and TestCase.objects.count() == 6
    with django_assert_max_num_queries(1):
        grid = label_matrix(project, columns)
    assert len(grid["rows"]) == 3 and all(report.micro.support == 300 for report in grid["reports"])
