"""In a real browser: a run's and an eval's page show their final tables when the job ends, without a reload;
a CSV without the label column is refused with the file's columns to choose from."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from apps.accounts.models import Membership, Role
from apps.core.models import JobStatus
from apps.evals.models import EvalOutput, EvalRun
from apps.evals.results import results_compute
from apps.llm.models import Model
from apps.prompts.services import prompt_create
from apps.review.models import TestCase
from apps.runs.models import Output, Run
from tests.e2e.test_every_page import log_in
from tests.factories import DatasetFactory, ProjectFactory, RecordFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lead_project():
    project = ProjectFactory(name="Ticket router", labels=["account_hold", "billing"])
    Membership.objects.create(project=project, user=UserFactory(username="lena"), role=Role.LEAD)
    return project


def test_run_page_shows_its_outputs_when_the_run_ends(page, live_server, lead_project, shot):
    dataset = DatasetFactory(project=lead_project)
    records = [RecordFactory(dataset=dataset, text=f"Ticket {n}: hold my account") for n in range(3)]
    version = prompt_create(project=lead_project, name="Plain").versions.get()
    run = Run.objects.create(project=lead_project, prompt_version=version, dataset=dataset,
                             model=Model.objects.create(name="m", provider="local"), record_ids=[r.id for r in records],
                             total=3, status=JobStatus.RUNNING)
    log_in(page, live_server, "lena")
    page.goto(live_server.url + reverse("runs:detail", args=[run.id]))
    expect(page.get_by_text("Outputs appear here as they arrive.")).to_be_visible()
    for record in records:
        Output.objects.create(run=run, record=record, status="ok", answer={"label": "account_hold"})
    Run.objects.filter(id=run.id).update(status=JobStatus.SUCCEEDED)
    expect(page.locator("table.outputs tbody tr")).to_have_count(3, timeout=5000)
    expect(page.get_by_role("link", name="Review outputs")).to_be_visible()
    expect(page.get_by_text("Outputs appear here as they arrive.")).to_have_count(0)
    shot("live-run-finished")


def test_eval_page_shows_its_results_when_the_eval_ends(page, live_server, lead_project, shot):
    version = prompt_create(project=lead_project, name="Plain").versions.get()
    case = TestCase.objects.create(project=lead_project, text="Hold it", text_hash="h", expected={"label": "billing"})
    eval_run = EvalRun.objects.create(project=lead_project, model=Model.objects.create(name="m", provider="local"),
                                      prompt_version=version, test_case_ids=[case.id], repeats=2, total=2,
                                      status=JobStatus.RUNNING)
    log_in(page, live_server, "lena")
    page.goto(live_server.url + reverse("evals:detail", args=[eval_run.id]))
    expect(page.locator("#eval-status")).to_contain_text("0 of 2 answers")
    for repeat in range(2):
        EvalOutput.objects.create(eval_run=eval_run, test_case=case, repeat=repeat, status="ok",
                                  answer={"label": "billing"}, passed=True, score=1.0)
    results_compute(eval_run)
    EvalRun.objects.filter(id=eval_run.id).update(status=JobStatus.SUCCEEDED)
    expect(page.locator("#results")).to_contain_text("100%", timeout=5000)
    expect(page.locator("#eval-status")).to_contain_text("2 of 2 answers")
    expect(page.get_by_text("2 answers", exact=False).first).to_be_visible()
    shot("live-eval-finished")


def test_csv_without_label_column_offers_the_files_columns(page, live_server, lead_project, tmp_path, shot):
    dataset = DatasetFactory(project=lead_project, name="Intents")
    upload = tmp_path / "intents.csv"
    upload.write_text("text,category\nI lost my card,account_hold\nDouble charge,billing\n")
    log_in(page, live_server, "lena")
    page.goto(live_server.url + reverse("datasets:import", args=[dataset.id]))
    page.get_by_label("File").set_input_files(str(upload))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".error-box")).to_contain_text("the file's columns are: text, category")
    shot("import-label-column-missing")
    expect(page.get_by_label("Label column")).to_have_value("category")
    page.get_by_label("File").set_input_files(str(upload))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_text("Imported 2 records.")).to_be_visible()
    assert sorted(dataset.records.values_list("label", flat=True)) == ["account_hold", "billing"]
