"""The review screen in a real browser: x makes a test case of the right answer, e keeps a pass as a training
example, and a refusal of the leakage guard is shown where it cannot be missed."""

import pytest
from playwright.sync_api import expect

from apps.review import services as review_services
from apps.review.models import Grade, TestCase, TrainingExample
from tests.e2e.test_review_flow import log_in, make_run, press
from tests.factories import ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_x_e_and_a_refusal_on_the_review_screen(page, live_server, shot):
    reviewer = UserFactory(username="rita")
    project = ProjectFactory(labels=["payment_review", "account_hold"])
    texts = ["Please hold my account", "Hold my parcels", "Card charged twice", "Refund me"]
    run = make_run(project, texts, [{"label": "account_hold"}] * 4, reviewer)  # records expect payment_review
    review_services.test_case_create(project=project, text="refund  me!", expected={"label": "payment_review"})
    log_in(page, live_server, "rita")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    panel = page.locator("#review-panel")

    press(page, "x")  # ungraded: the test case expects the record's answer, not the model's
    expect(panel).to_contain_text("Made test case")
    case = TestCase.objects.get(text="Please hold my account")
    assert case.expected == {"label": "payment_review"}
    assert Grade.objects.get(output__record__text="Please hold my account").verdict == "fail"

    press(page, "e")  # a pass kept as a training example
    expect(panel).to_contain_text("Saved training example")
    assert TrainingExample.objects.get().answer == {"label": "account_hold"}

    press(page, "p")
    expect(panel).to_contain_text("Refund me")
    press(page, "1")  # a correction of a text held out (it differs only in case, spaces and a "!")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Not saved")
    expect(alert).to_contain_text("held out as test case")
    shot("review-refused")
    assert TrainingExample.objects.count() == 1
