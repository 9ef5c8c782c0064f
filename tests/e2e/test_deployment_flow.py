"""The production end of the loop in a real browser: a lead promotes a fine-tuned model after its eval passed (and
is refused when it failed), an application calls the gateway with the `openai` SDK, its end user's feedback
arrives, the sampled trace appears in review, a reviewer corrects it into a training example, and the traffic page
shows the day's figures."""

import json
import time

import httpx2
import openai
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.accounts.models import Membership, Role
from apps.core.models import JobStatus
from apps.deployments.models import Trace
from apps.evals.models import EvalRun
from apps.llm.models import Model
from apps.prompts.services import prompt_create
from apps.review.models import TrainingExample
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, username):
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("secret-pass")
    page.get_by_role("button", name="Log in").click()


def test_promote_call_feedback_review_traffic(page, live_server, shot, llm_server, settings):
    settings.TASKLLM_TRACE_FLUSH_SECONDS = 0.05
    lead, reviewer = UserFactory(username="lena"), UserFactory(username="rita")
    project = ProjectFactory(name="Router", labels=["billing", "technical"])
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    Membership.objects.create(project=project, user=reviewer, role=Role.REVIEWER)
    version = prompt_create(project=project, name="Router", system="Route the ticket.",
                            user_template="Ticket: {text}").versions.get()
    base = Model.objects.create(project=project, name="Base", provider="openai", base_url=llm_server.base_url,
                                model_id="base-1", timeout_seconds=5)
    tuned = Model.objects.create(project=project, name="Tuned", provider="openai", base_url=llm_server.base_url,
                                 model_id="tuned-1", timeout_seconds=5, parent=base)
    for model, passed in ((base, False), (tuned, True)):
        EvalRun.objects.create(project=project, model=model, prompt_version=version, test_case_ids=[],
                               status=JobStatus.SUCCEEDED, gate_passed=passed, finished_at=timezone.now())

    log_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/projects/{project.id}/deployments/")
    page.get_by_label("Slug").fill("ticket-router")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("h1")).to_contain_text("Deployment ticket-router")
    # The base model's eval failed its gate: the lead is refused.
    page.locator("summary", has_text="Promote any model").click()
    form = page.locator("#promote-form")
    form.get_by_label("Model").select_option(label="Base")
    form.get_by_label("Prompt version").select_option(value=str(version.id))
    form.get_by_label("Reason", exact=True).fill("cheaper")
    form.get_by_role("button", name="Promote").click()
    expect(page.locator(".messages")).to_contain_text("passed its gate")
    # The fine-tuned model's eval passed: promoted from its candidate row.
    row = page.locator("#candidates tr", has_text="Tuned")
    row.get_by_placeholder("Why").fill("Fine-tune passed every point")
    row.get_by_role("button", name="Promote").click()
    expect(page.locator("#current")).to_contain_text("Tuned")
    page.get_by_role("button", name="New key").click()
    secret = page.locator("#new-key").inner_text()
    shot("deployment-key")

    llm_server.answer = lambda body: '{"label": "billing"}'
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=secret, max_retries=0)
    reply = client.chat.completions.create(model="ticket-router", messages=[
        {"role": "system", "content": "Route the ticket."}, {"role": "user", "content": "The app crashes on login"}])
    assert reply.choices[0].message.content == '{"label": "billing"}'
    raw = client.chat.completions.with_raw_response.create(model="ticket-router", messages=[
        {"role": "user", "content": "Checkout crashes"}])
    trace_id = raw.headers["x-taskllm-trace-id"]
    deadline = time.monotonic() + 10
    while not Trace.objects.filter(id=trace_id).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    feedback = httpx2.post(f"{live_server.url}/api/traces/{trace_id}/feedback",
                           headers={"Authorization": f"Bearer {secret}"},
                           content=json.dumps({"thumbs": "down", "correct_answer": {"label": "technical"}}))
    assert feedback.status_code == 201, feedback.text
    output_id = Trace.objects.get(id=trace_id).review_output_id
    assert output_id is not None

    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server, "rita")
    from apps.runs.models import Output

    run_id = Output.objects.get(id=output_id).run_id
    page.goto(f"{live_server.url}/runs/{run_id}/review/")
    panel = page.locator("#review-panel")
    expect(panel).to_contain_text("Checkout crashes")
    expect(page.locator("#suggested-answer")).to_contain_text("technical")
    shot("deployment-sampled-trace-in-review")
    page.wait_for_selector("#review-panel[data-ready='1']")
    page.keyboard.press("2")  # the right label is technical
    expect(page.locator("body")).to_contain_text("Saved training example")
    example = TrainingExample.objects.get(project=project)
    assert example.answer == {"label": "technical"} and example.text == "Checkout crashes"

    deployment_id = Trace.objects.get(id=trace_id).deployment_id
    page.goto(f"{live_server.url}/deployments/{deployment_id}/traffic/")
    expect(page.locator("#days")).to_contain_text("2")
    expect(page.locator("#reviewed")).to_contain_text("All reviewed traces")
    shot("deployment-traffic")
