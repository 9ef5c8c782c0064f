"""Every page in a real browser, at a desktop size and at a phone's (390×844): none is wider than the window, none
shows a Python repr (of the prompt's messages or of an answer), and each leaves a screenshot in
test-artifacts/pages/. The error pages (403, 404) are visited as a reviewer."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from apps.accounts.models import Membership, Role
from apps.accounts.services import membership_add
from apps.core.exceptions import ApplicationError
from apps.core.models import JobStatus
from apps.datasets.models import DatasetImport
from apps.deployments import alerts, schedules, webhooks
from apps.deployments import services as deployment_services
from apps.deployments.models import DeliveryAttempt, Feedback, Trace, WebhookDelivery
from apps.evals.models import EvalOutput, EvalRun
from apps.evals.results import results_compute
from apps.llm.models import Model
from apps.prompts.rendering import render_messages
from apps.prompts.services import prompt_create, prompt_version_create
from apps.review import paraphrases
from apps.review import services as review_services
from apps.review.models import Grade, ParaphraseProposal, ParaphraseRequest, TestCase, TrainingExample, TrainingPoint
from apps.review.services import text_hash
from apps.runs.models import Output, Run
from apps.tuning.models import FineTuneJob
from tests.e2e.conftest import ARTIFACTS
from tests.factories import DatasetFactory, NerProjectFactory, ProjectFactory, RecordFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
LONG = ("My card was charged twice for the same order and the support_reference_number_is_"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 please put a hold on my account until it is sorted")


@pytest.fixture
def site():
    """A project with a bit of everything: records, prompt versions, a run with grades, points, examples,
    test cases, a finished eval against a baseline, a fine-tune job; and a NER project with a run."""
    admin = UserFactory(username="ada", is_staff=True, is_superuser=True)  # a site admin: may create projects
    project = ProjectFactory(name="Ticket router", labels=["account_hold", "payment_review", "billing"],
                             glossary=[{"term": "hold", "definition": "a customer-requested pause"}])
    for user, role in ((admin, Role.ADMIN), (UserFactory(username="rita"), Role.REVIEWER)):
        Membership.objects.create(project=project, user=user, role=role)
    dataset = DatasetFactory(project=project, name="Tickets")
    records = [RecordFactory(dataset=dataset, text=f"{n}: {LONG}", label="account_hold", position=n)
               for n in range(1, 7)]
    template = prompt_create(project=project, name="Plain", system="Route the ticket. Labels: {labels}.",
                             user_template="Ticket: {text}")
    first_version = template.versions.get()
    version = prompt_version_create(template=template, system="Route the ticket carefully, " * 8 + "{labels}",
                                    user_template="Ticket: {text}")
    model = Model.objects.create(project=project, name="Remote GPT", provider="openai",
                                 base_url="http://127.0.0.1:9/v1", model_id="gpt-x", max_retries=0)
    run = Run.objects.create(project=project, prompt_version=version, model=model, dataset=dataset,
                             record_ids=[r.id for r in records], total=len(records), status=JobStatus.SUCCEEDED)
    outputs = [Output.objects.create(run=run, record=r, status="ok", answer={"label": "payment_review"},
                                     latency_ms=120 + n, messages=render_messages(project, version, r.text))
               for n, r in enumerate(records)]
    point = TrainingPoint.objects.create(project=project, name="'hold' means a customer-requested pause")
    grade = Grade.objects.create(output=outputs[0], reviewer=admin, verdict="fail",
                                 corrected_answer={"label": "account_hold"})
    grade.points.add(point)
    example = TrainingExample.objects.create(project=project, messages=outputs[0].messages, text=records[0].text,
                                             text_hash=text_hash(records[0].text), answer={"label": "account_hold"},
                                             source_grade=grade)
    example.points.add(point)
    cases = [TestCase.objects.create(project=project, text=f"Held out {n}: {LONG}", text_hash=str(n),
                                     expected={"label": "account_hold"}) for n in range(3)]
    for case in cases:
        case.points.add(point)
    _paraphrases(cases[0], model, admin, refused=records[0].text)
    baseline = _eval(project, model, first_version, cases, passed=False, repeats=1)
    _eval(project, model, version, cases, passed=True, baseline=baseline)
    job = FineTuneJob(project=project, base_model=model, backend="openai", training_file_sha256="0" * 64)
    job.training_file.save("t.jsonl", ContentFile(b"{}\n"), save=False)
    job.save()
    imp = DatasetImport.objects.create(dataset=dataset, original_name="tickets.csv", format="csv",
                                       status=JobStatus.FAILED,
                                       problems=[{"line": 3, "message": "unknown label 'refunds'"}])
    ner = NerProjectFactory(name="Contracts")
    Membership.objects.create(project=ner, user=admin, role=Role.ADMIN)
    ner_dataset = DatasetFactory(project=ner, name="Clauses")
    ner_record = RecordFactory(dataset=ner_dataset, text="Acme Corporation signed on 3 May 2024",
                               entities=[{"start": 0, "end": 16, "type": "PARTY"}])
    ner_version = prompt_create(project=ner, name="Spans").versions.get()
    ner_run = Run.objects.create(project=ner, prompt_version=ner_version, model=Model.objects.create(
        name="local", provider="local"), dataset=ner_dataset, record_ids=[ner_record.id], total=1,
        status=JobStatus.SUCCEEDED)
    Output.objects.create(run=ner_run, record=ner_record, status="ok",
                          answer={"entities": [{"text": "Acme", "type": "PARTY"}]})
    ner_case = review_services.test_case_create(project=ner, text="Globex Ltd agreed on 1 June 2024",
                                expected={"entities": [{"text": "Globex Ltd", "type": "PARTY"}]})
    done_run = Run.objects.create(project=project, prompt_version=version, model=model, dataset=dataset,
                                  record_ids=[records[0].id], total=1, status=JobStatus.SUCCEEDED)
    review_services.grade_submit(output=Output.objects.create(run=done_run, record=records[0], status="ok",
                                              answer={"label": "account_hold"}), reviewer=admin, verdict="pass")
    _, invite_path = membership_add(project=project, username="newcomer", role=Role.REVIEWER)
    return {"project": project, "dataset": dataset, "version": version, "model": model, "run": run,
            "output": outputs[1], "point": point, "example": example, "job": job, "import": imp,
            "eval": EvalRun.objects.filter(project=project).order_by("-id").first(), "ner": ner, "ner_run": ner_run,
            "membership": Membership.objects.get(project=project, user__username="rita"), "case": cases[0],
            "ner_case": ner_case, "done_run": done_run, "invite_path": invite_path,
            **_deployment(project, model, version, admin)}


def _deployment(project, model, version, admin) -> dict:
    """A live deployment with a key, traces (one with feedback), a schedule, an alert and a webhook delivery."""
    deployment = deployment_services.deployment_create(project=project, slug="ticket-router", user=admin)
    deployment_services.promotion_create(deployment=deployment, model=model, prompt_version=version, user=admin,
                                         reason="The eval passed every point", override_reason="Demo data")
    deployment_services.key_create(deployment=deployment, name="Support site", user=admin)
    traces = [Trace.objects.create(deployment=deployment, endpoint="predict", model=model, prompt_version=version,
                                   text=f"{n}: {LONG}", messages=[{"role": "user", "content": f"Ticket: {n}: {LONG}"}],
                                   answer={"label": label}, raw_text=f'{{"label": "{label}"}}', valid=True,
                                   status="ok", latency_ms=300 + 20 * n, categories=[label], created_at=timezone.now())
             for n, label in enumerate(["account_hold", "billing", "payment_review"])]
    Trace.objects.filter(id=traces[1].id).update(shadow_model=model, shadow_answer={"label": "billing"},
                                                 shadow_agrees=True, metadata={"customer": "c-42", "plan": "pro"})
    Feedback.objects.create(trace=traces[1], thumbs="down", correct_answer={"label": "payment_review"},
                            comment="It was a payment question")
    schedules.schedule_create(deployment=deployment, every="daily", user=admin)
    rule = alerts.rule_create(project=project, event="traffic.error_rate", deployment=deployment, level=0.1,
                              webhooks=False)
    alerts.alert_raise(rule=rule, key="error-rate", what="Error rate 12% over the last hour (level 10%)",
                       deployment=deployment)
    hook = webhooks.webhook_create(project=project, url="https://hooks.example.com/taskllm/alerts",
                                   events=["eval.finished"], user=admin)
    delivery = WebhookDelivery.objects.create(webhook=hook, event="eval.finished", body='{"alert": {"id": 1}}',
                                              status="failed", attempts=1)
    DeliveryAttempt.objects.create(delivery=delivery, status_code=500, duration_ms=140,
                                   response_excerpt="Internal Server Error")
    return {"deployment": deployment, "trace": traces[1]}


def _paraphrases(case, model, lead, *, refused: str) -> None:
    """Three proposals for a test case: one accepted, one refused (a training example's text), one waiting."""
    asked = ParaphraseRequest.objects.create(test_case=case, model=model, count=3, status=JobStatus.SUCCEEDED)
    accepted, refusal, _ = (ParaphraseProposal.objects.create(request=asked, test_case=case, text=text) for text in (
        f"Said again: {LONG}", refused, "Please freeze my account until the double charge is sorted out"))
    paraphrases.proposal_accept(proposal=accepted, user=lead)
    with pytest.raises(ApplicationError):
        paraphrases.proposal_accept(proposal=refusal, user=lead)


def _eval(project, model, version, cases, *, passed: bool, baseline=None, repeats=2) -> EvalRun:
    eval_run = EvalRun.objects.create(project=project, model=model, prompt_version=version, repeats=repeats,
                                      test_case_ids=[c.id for c in cases], total=len(cases) * repeats,
                                      status=JobStatus.SUCCEEDED, baseline=baseline)
    for case in cases:
        for repeat in range(repeats):
            EvalOutput.objects.create(eval_run=eval_run, test_case=case, repeat=repeat, status="ok",
                                      answer={"label": "account_hold" if passed else "billing"}, passed=passed,
                                      score=float(passed), latency_ms=200 + 40 * repeat)
    results_compute(eval_run)
    return eval_run


def page_urls(s) -> dict[str, str]:
    p, r = s["project"].id, s["run"].id
    return {
        "projects": reverse("projects:list"), "project-new": reverse("projects:create"),
        "project": reverse("projects:detail", args=[p]), "project-edit": reverse("projects:edit", args=[p]),
        "members": reverse("accounts:members", args=[p]), "token": reverse("accounts:token"),
        "dataset-new": reverse("datasets:create", args=[p]),
        "dataset": reverse("datasets:detail", args=[s["dataset"].id]),
        "dataset-import": reverse("datasets:import", args=[s["dataset"].id]),
        "import": reverse("datasets:import_detail", args=[s["import"].id]),
        "models": reverse("llm:list", args=[p]), "model-new": reverse("llm:create", args=[p]),
        "model-edit": reverse("llm:edit", args=[p, s["model"].id]),
        "prompts": reverse("prompts:list", args=[p]), "prompt-new": reverse("prompts:create", args=[p]),
        "prompt": reverse("prompts:detail", args=[s["version"].template_id]),
        "prompt-edit": reverse("prompts:edit", args=[s["version"].template_id]),
        "prompt-diff": reverse("prompts:diff", args=[s["version"].template_id]),
        "prompt-preview": reverse("prompts:preview", args=[s["version"].id]),
        "runs": reverse("runs:list", args=[p]), "run-new": reverse("runs:create", args=[p]),
        "run": reverse("runs:detail", args=[r]), "output": reverse("runs:output", args=[s["output"].id]),
        "review": reverse("review:output", args=[r, s["output"].id]),
        "review-ner": reverse("review:start", args=[s["ner_run"].id]),
        "points": reverse("review:points", args=[p]), "point": reverse("review:point", args=[s["point"].id]),
        "examples": reverse("review:examples", args=[p]),
        "example-edit": reverse("review:example_edit", args=[s["example"].id]),
        "test-cases": reverse("review:test_cases", args=[p]), "agreement": reverse("review:agreement", args=[p]),
        "fine-tunes": reverse("tuning:list", args=[p]), "fine-tune-new": reverse("tuning:launch", args=[p]),
        "fine-tune": reverse("tuning:detail", args=[s["job"].id]),
        "fine-tune-evaluate": reverse("evals:finetune", args=[s["job"].id]),
        "evals": reverse("evals:list", args=[p]), "eval-new": reverse("evals:create", args=[p]),
        "eval": reverse("evals:detail", args=[s["eval"].id]), "dashboard": reverse("evals:dashboard", args=[p]),
        "ner-project": reverse("projects:detail", args=[s["ner"].id]),
        "ner-dataset-import": reverse("datasets:import", args=[s["ner"].datasets.get().id]),
        "test-case-edit": reverse("review:test_case_edit", args=[s["case"].id]),
        "paraphrases": reverse("review:paraphrases", args=[s["case"].id]),
        "ner-test-cases": reverse("review:test_cases", args=[s["ner"].id]),
        "ner-test-case-edit": reverse("review:test_case_edit", args=[s["ner_case"].id]),
        "review-done": reverse("review:start", args=[s["done_run"].id]),
        "deployments": reverse("deployments:list", args=[p]),
        "deployment": reverse("deployments:detail", args=[s["deployment"].id]),
        "deployment-settings": reverse("deployments:settings", args=[s["deployment"].id]),
        "traces": reverse("deployments:traces", args=[s["deployment"].id]),
        "trace": reverse("deployments:trace", args=[s["deployment"].id, s["trace"].id]),
        "traffic": reverse("deployments:traffic", args=[s["deployment"].id]),
        "schedules": reverse("deployments:schedules", args=[s["deployment"].id]),
        "alerts": reverse("deployments:alerts", args=[p]), "webhooks": reverse("deployments:webhooks", args=[p]),
        "invite": s["invite_path"],
    }


REPRS = ("{'role':", "{'label':", "{'entities':")


def visit(page, url: str, name: str, folder, width: int, status: int = 200) -> tuple[int | None, list[str]]:
    """Open a page, save its screenshot; its width when wider than the window, and the reprs it shows."""
    response = page.goto(url)
    assert response.status == status, (name, response.status)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    body = page.inner_text("body")
    return (scroll_width if scroll_width > width else None), [r for r in REPRS if r in body]


def log_in(page, live_server, username):
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("secret-pass")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_fits_the_window_and_shows_no_python_repr(page, live_server, site, size):
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    folder = ARTIFACTS / "pages" / size
    folder.mkdir(parents=True, exist_ok=True)
    page.goto(live_server.url + "/accounts/login/")
    page.screenshot(path=str(folder / "login.png"), full_page=True)
    log_in(page, live_server, "ada")
    too_wide, repr_shown = {}, {}
    for name, url in page_urls(site).items():
        wide, reprs = visit(page, live_server.url + url, name, folder, width)
        if wide:
            too_wide[name] = wide
        if reprs:
            repr_shown[name] = reprs
    # The error pages, as a reviewer: a lead's page (403) and pages that do not exist (404).
    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server, "rita")
    for name, url, status in (("error-403", reverse("projects:edit", args=[site["project"].id]), 403),
                              ("error-404", "/projects/999999/", 404), ("error-404-path", "/no-such-page/", 404)):
        wide, reprs = visit(page, live_server.url + url, name, folder, width, status)
        expect(page.locator("header.topbar nav")).to_be_visible()  # branded, with the navigation
        if wide:
            too_wide[name] = wide
        if reprs:
            repr_shown[name] = reprs
    assert not repr_shown, f"pages showing a Python repr: {repr_shown}"
    assert not too_wide, f"pages wider than {width} px: {too_wide}"


def test_top_bar_stays_on_one_line_on_a_phone(page, live_server, site):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, "ada")
    page.goto(live_server.url + reverse("projects:detail", args=[site["project"].id]))
    bar = page.locator("header.topbar").bounding_box()
    logout = page.get_by_role("button", name="Log out").bounding_box()
    assert bar["height"] <= 64, bar
    assert logout["x"] >= 0 and logout["x"] + logout["width"] <= 390, logout
    nav = page.locator("header.topbar nav")
    assert nav.evaluate("el => el.scrollWidth <= el.clientWidth"), "a top-bar link is cut off"


def test_dashboard_charts_have_axes_legends_and_values_on_hover(page, live_server, site, shot):
    log_in(page, live_server, "ada")
    page.goto(live_server.url + reverse("evals:dashboard", args=[site["project"].id]))
    consistency = page.locator("svg[aria-label='Consistency per version']")
    expect(consistency.locator("text", has_text="0.50")).to_have_count(1)  # a y axis with ticks
    expect(consistency.locator("g.bar text")).to_have_text(["—", "1.00"])  # one repeat: no consistency
    expect(consistency.locator("text", has_text="Plain v1")).to_have_count(1)  # the version's name as a label
    latency = page.locator("svg[aria-label='Latency per version, ms']")
    expect(latency.locator("text", has_text="ms")).to_have_count(1)
    titles = latency.locator("circle title").all_text_contents()
    assert any("Remote GPT" in t and "Plain v2" in t and "p95" in t and t.endswith(" ms") for t in titles), titles
    expect(page.locator(".legend-item")).to_have_text(["p50", "p95"])
    trend = page.locator("td.trend svg").last
    assert "pass rate: 100%" in " ".join(trend.locator("circle title").all_text_contents())
    shot("dashboard-charts")


def test_a_reviewer_is_offered_only_links_they_may_follow(page, live_server, site):
    """Every link on every page a reviewer can open leads somewhere they may go (no 403)."""
    log_in(page, live_server, "rita")
    start = [url for name, url in page_urls(site).items()
             if page.request.get(live_server.url + url).status == 200]
    forbidden, checked = {}, set()
    for url in start:
        page.goto(live_server.url + url)
        hrefs = page.eval_on_selector_all("main a[href], header a[href]", "els => els.map(a => a.getAttribute('href'))")
        for href in hrefs:
            if not href.startswith("/") or href in checked or href.startswith(("/api/", "/admin/")):
                continue
            checked.add(href)
            status = page.request.get(live_server.url + href, max_redirects=0).status
            if status == 403:
                forbidden.setdefault(href, url)
    assert len(start) > 20 and len(checked) > 30
    assert not forbidden, f"links a reviewer is offered but may not follow (link: page): {forbidden}"
