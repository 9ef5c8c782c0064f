"""The whole loop in a real browser, three people, pages only: a reviewer grades, corrects, tags and makes test
cases by keyboard; the lead launches a (tiny) local fine-tune and watches it, evaluates it against its base, and
reads the change per training point on the dashboard. Real Celery worker, real bundled model."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from apps.accounts.models import Membership, Role
from apps.core.models import JobStatus
from apps.datasets.models import Record
from apps.llm.models import Model
from apps.prompts.rendering import render_messages
from apps.prompts.services import prompt_create
from apps.review.models import TestCase, TrainingExample
from apps.runs.models import Output, Run
from tests.factories import DatasetFactory, ProjectFactory

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.local_model, pytest.mark.django_db(transaction=True)]

POINT = "hold means a pause"
# The model answered payment_review every time; the first three are account holds (examples), the next two
# are held-out test cases of the same point.
TICKETS = [
    "Please hold my account while I travel in June.",
    "Put my deliveries on hold for two weeks please.",
    "Can you hold my subscription until I am back?",
    "I would like a hold on my account for a month.",
    "Hold my parcels while I am away on holiday.",
]


@pytest.fixture
def loop_project():
    User = get_user_model()
    project = ProjectFactory(name="Router", labels=["account_hold", "payment_review", "billing"],
                             glossary=[{"term": "hold", "definition": "a customer-requested pause"}],
                             pass_threshold=0.5)
    for name, role in (("rita", Role.REVIEWER), ("lena", Role.LEAD), ("ada", Role.ADMIN)):
        Membership.objects.create(project=project, user=User.objects.create_user(name, password="secret-pass"),
                                  role=role)
    version = prompt_create(project=project, name="Plain", system="Route the ticket. Labels: {labels}.",
                            user_template="Ticket: {text}").versions.get()
    model = Model.objects.create(name="SmolLM2-135M-Instruct (bundled)", provider="local", max_tokens=16)
    dataset = DatasetFactory(project=project)
    records = [Record.objects.create(dataset=dataset, position=n, text=t, label="account_hold")
               for n, t in enumerate(TICKETS)]
    run = Run.objects.create(project=project, prompt_version=version, model=model, dataset=dataset,
                             record_ids=[r.id for r in records], total=len(records), status=JobStatus.SUCCEEDED)
    for record in records:
        Output.objects.create(run=run, record=record, status="ok", answer={"label": "payment_review"},
                              messages=render_messages(project, version, record.text))
    return project, run


def log_in(page, live_server, username):
    page.context.clear_cookies()
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("secret-pass")
    page.get_by_role("button", name="Log in").click()


def press(page, key):
    page.wait_for_selector("#review-panel[data-ready='1']")
    page.keyboard.press(key)


def tag(page):
    press(page, "t")
    page.keyboard.type(POINT)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")


def test_the_whole_loop_through_the_pages(page, live_server, shot, loop_project, workers):
    project, run = loop_project
    workers.start()
    page.set_default_timeout(20_000)

    # The reviewer: correct three outputs to account_hold, tagging the first with a new training point,
    # then make the last two held-out test cases of that point.
    log_in(page, live_server, "rita")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    panel = page.locator("#review-panel")
    for text in TICKETS[:3]:
        expect(panel).to_contain_text(text)
        tag(page)
        press(page, "1")  # account_hold: a correction, so a fail and a training example
        expect(panel).to_contain_text("Saved training example")
    expect(panel).to_contain_text(TICKETS[3])
    press(page, "1")  # choose the right label first...
    expect(panel).to_contain_text(TICKETS[4])
    press(page, "k")  # ... go back, tag it, and keep it as a held-out test case instead
    expect(panel).to_contain_text(TICKETS[3])
    tag(page)
    press(page, "x")
    expect(panel).to_contain_text("Made test case")
    expect(panel).to_contain_text(TICKETS[4])
    press(page, "1")
    expect(panel).to_contain_text("All done here")
    last = run.outputs.get(record__text=TICKETS[4])
    page.goto(f"{live_server.url}/runs/{run.id}/review/{last.id}/")
    tag(page)
    press(page, "x")
    expect(panel).to_contain_text("Made test case")
    shot("loop-1-review")
    assert TrainingExample.objects.filter(project=project, points__name=POINT).count() == 3
    assert TestCase.objects.filter(project=project, points__name=POINT).count() == 2

    # The lead: launch a tiny local fine-tune and watch it finish.
    log_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/projects/{project.id}/fine-tunes/new/")
    page.get_by_label("Epochs").fill("2")
    page.get_by_label("Learning rate").fill("0.003")
    page.get_by_role("button", name="Check and launch").click()
    expect(page.locator("#job-status")).to_contain_text("Succeeded", timeout=240_000)
    shot("loop-2-fine-tune")

    # ... evaluate it against its base, on the point's held-out test cases.
    page.get_by_role("link", name="Evaluate against its base").click()
    page.get_by_label("Repeats").fill("2")
    page.get_by_role("button", name="Start both evals").click()
    # One worker: the base model's eval runs first, then the fine-tuned one, compared with it when it finishes.
    expect(page.locator("#eval-status")).to_contain_text("Succeeded", timeout=240_000)
    page.reload()
    results = page.locator("#results")
    expect(results.locator("tr[data-point]", has_text=POINT)).to_be_visible()
    expect(results.locator("tr[data-point]", has_text=POINT).locator(".verdict")).to_have_count(1)
    shot("loop-3-eval")

    # ... and read the change per point on the dashboard: base and fine-tuned side by side.
    page.goto(f"{live_server.url}/projects/{project.id}/dashboard/")
    matrix = page.locator("#matrix")
    expect(matrix.locator("th.col")).to_have_count(2)
    row = matrix.locator("tr[data-point]", has_text=POINT)
    expect(row.locator("td.cell a")).to_have_count(2)
    expect(page.locator("#activity")).to_contain_text("rita")
    shot("loop-4-dashboard")
