"""People grade an eval's failing answers in a real browser, and the eval page shows their verdicts and the judge's
agreement with them change."""

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Membership, Role
from apps.core.models import JobStatus
from apps.evals.models import EvalOutput, EvalRun
from apps.evals.results import results_compute, verdicts_update
from apps.llm.models import Model
from apps.prompts.services import prompt_create
from apps.review.services import test_case_create as add_test_case
from tests.e2e.test_review_flow import log_in, press
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# (text, expected label, the model's answer, the judge's verdict): the judge passes both wrong answers.
ANSWERS = [("Card charged twice", "billing", "billing", True),
           ("Please hold my account", "account_hold", "billing", True),
           ("The app crashes on start", "technical", "billing", True)]


def finished_eval(project) -> EvalRun:
    """A finished eval whose answers were scored by the rule and, beside it, by a judge model."""
    version = prompt_create(project=project, name="Router").versions.get()
    model = Model.objects.create(project=project, name="Small model", provider="local")
    judge = Model.objects.create(project=project, name="Judge model", provider="local")
    cases = [add_test_case(project=project, text=text, expected={"label": label})
             for text, label, _, _ in ANSWERS]
    eval_run = EvalRun.objects.create(project=project, model=model, prompt_version=version, judge_model=judge,
                                      test_case_ids=[c.id for c in cases], repeats=1, total=len(cases),
                                      status=JobStatus.SUCCEEDED)
    for case, (_, label, answered, judge_says) in zip(cases, ANSWERS, strict=True):
        EvalOutput.objects.create(eval_run=eval_run, test_case=case, answer={"label": answered}, status="ok",
                                  passed=label == answered, auto_passed=label == answered, auto_by="rule",
                                  judge_passed=judge_says, judge_reason="looks fine")
    results_compute(eval_run)
    verdicts_update(eval_run)
    return eval_run


def test_failing_eval_answers_are_sent_to_review_graded_and_counted(page, live_server, shot):
    lead = UserFactory(username="lena")
    project = ProjectFactory(labels=["billing", "account_hold", "technical"])
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    eval_run = finished_eval(project)
    log_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/evals/{eval_run.id}/")
    counts = page.locator("#verdict-counts")
    expect(counts).to_contain_text("0 by people")
    expect(counts).to_contain_text("3 by the rule")
    expect(page.locator("#judge-agreement-empty")).to_be_visible()

    page.locator("#send-to-review select[name=which]").select_option("failing")
    page.get_by_role("button", name="Send to review").click()
    panel = page.locator("#review-panel")
    expect(page.locator("ul.messages")).to_contain_text("Sent 2 answers")
    expect(panel).to_contain_text("Please hold my account")
    expect(panel).to_contain_text("Expected")
    expect(panel.get_by_role("link", name=f"eval {eval_run.id}")).to_be_visible()
    shot("eval-answer-in-review")
    press(page, "f")  # people agree with the rule: the wrong label fails (the judge passed it)
    expect(panel).to_contain_text("The app crashes on start")
    press(page, "p")  # and here they overrule the rule: they pass it (so does the judge)
    expect(panel).to_contain_text("All done here")
    expect(panel).to_contain_text("You have graded 2 of the 2 outputs")

    page.goto(f"{live_server.url}/evals/{eval_run.id}/")
    expect(counts).to_contain_text("2 by people")
    expect(counts).to_contain_text("1 by the rule")
    overall = page.locator("#judge-agreement tbody tr").first
    expect(overall).to_contain_text("All test cases")
    cells = overall.locator("td")
    expect(cells.nth(1)).to_have_text("2")  # answers graded by both
    expect(cells.nth(2)).to_have_text("1")  # agreed
    expect(page.locator("#results tr[data-point='all'] .pass-rate")).to_contain_text("67%")  # 2 of 3 pass now
    shot("eval-people-and-judge")
    assert EvalOutput.objects.filter(eval_run=eval_run).exclude(human_passed=None).count() == 2
