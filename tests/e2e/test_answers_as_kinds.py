"""Answers appear as their task kind shows them, never as a Python repr, and are entered with the kind's own form
(issue 14, item 10): a label chip and a label select for classification, entity chips and entity rows for NER, on
the training examples, test cases and training point pages."""

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Membership, Role
from apps.review import services as review_services
from apps.review.models import TestCase
from tests.e2e.test_review_flow import log_in, make_run
from tests.factories import NerProjectFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REPRS = ("{'label':", "{'entities':", '{"label":', '{"entities":', "{'text':")


def gold_data(project, model_answer, correction, expected, lead):
    """A correction tagged with a point (it makes a training example) and a test case of the same point."""
    run = make_run(project, [correction[0]], [model_answer], UserFactory(username=f"r{project.id}"))
    Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    point = review_services.point_create(project=project, name="holds are not payments")
    review_services.grade_submit(output=run.outputs.get(), reviewer=lead, corrected_answer=correction[1],
                                 point_names=[point.name])
    case = review_services.test_case_create(project=project, text=expected[0], expected=expected[1], points=[point])
    assert project.training_examples.count() == 1
    return point, case


def visit_answer_pages(page, live_server, project, point):
    """The examples, test cases and point pages: none shows a repr. Returns the pages' texts by name."""
    texts = {}
    for name, url in (("examples", f"/projects/{project.id}/training-examples/"),
                      ("test-cases", f"/projects/{project.id}/test-cases/"), ("point", f"/points/{point.id}/")):
        page.goto(live_server.url + url)
        texts[name] = page.inner_text("main")
        shown = [r for r in REPRS if r in texts[name]]
        assert not shown, (name, shown)
    return texts


def test_classification_answers_are_label_chips_and_a_test_case_is_edited_with_a_label_select(
        page, live_server, shot):
    lead = UserFactory(username="lena")
    project = ProjectFactory(labels=["account_hold", "payment_review"])
    point, case = gold_data(project, {"label": "payment_review"},
                            ("Please hold my account", {"label": "account_hold"}),
                            ("Card charged twice", {"label": "payment_review"}), lead)
    log_in(page, live_server, "lena")
    visit_answer_pages(page, live_server, project, point)
    page.goto(f"{live_server.url}/projects/{project.id}/training-examples/")
    expect(page.locator("main table .chip.answer")).to_have_text(["account_hold"])
    page.goto(f"{live_server.url}/points/{point.id}/")
    expect(page.locator("main .chip.answer")).to_have_text(["account_hold", "account_hold", "payment_review"])
    page.goto(f"{live_server.url}/projects/{project.id}/test-cases/")
    expect(page.locator("main table .chip.answer")).to_have_text(["payment_review"])

    page.locator("main table tr", has_text="Card charged twice").get_by_role("link", name="Edit").click()
    field = page.get_by_label("Expected answer")
    expect(field).to_have_js_property("tagName", "SELECT")  # the label set, not a JSON text box
    expect(field).to_have_value("payment_review")
    assert "{" not in page.inner_text("main")  # no JSON hint either
    field.select_option("account_hold")
    shot("answers-classification-test-case-edit")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text(f"Saved test case #{case.id}")
    expect(page.locator("main table .chip.answer")).to_have_text(["account_hold"])
    assert TestCase.objects.get(id=case.id).expected == {"label": "account_hold"}


def test_ner_answers_are_entity_chips_and_a_test_case_is_edited_with_entity_rows(page, live_server, shot):
    lead = UserFactory(username="nina")
    project = NerProjectFactory(entity_types=["PARTY", "DATE"])
    text = "Acme Corp signed with Globex on May 1."
    point, case = gold_data(project, {"entities": [{"text": "Acme Corp", "type": "PARTY"}]},
                            (text, {"entities": [{"text": "Acme Corp", "type": "PARTY", "start": 0, "end": 9},
                                                 {"text": "Globex", "type": "PARTY", "start": 22, "end": 28}]}),
                            ("Initech agreed on June 2.", {"entities": [{"text": "Initech", "type": "PARTY"}]}),
                            lead)
    log_in(page, live_server, "nina")
    visit_answer_pages(page, live_server, project, point)
    page.goto(f"{live_server.url}/projects/{project.id}/training-examples/")
    expect(page.locator("main table .ent-chip")).to_have_text(["Acme Corp PARTY", "Globex PARTY"])
    page.goto(f"{live_server.url}/points/{point.id}/")
    expect(page.locator("main .ent-chip", has_text="Globex")).to_have_count(2)  # the failure's fix and the example
    expect(page.locator("main .ent-chip", has_text="Initech")).to_have_text(["Initech PARTY"])
    shot("answers-ner-point")
    page.goto(f"{live_server.url}/projects/{project.id}/test-cases/")
    expect(page.locator("main table .ent-chip")).to_have_text(["Initech PARTY"])

    page.goto(f"{live_server.url}/test-cases/{case.id}/edit/")
    expect(page.get_by_label("Entity 1 text")).to_have_value("Initech")
    expect(page.get_by_label("Entity 1 type")).to_have_value("PARTY")
    assert "label" not in page.inner_text("main").lower()  # no classification hint on a NER form
    page.get_by_label("Entity 2 text").fill("June 2")
    page.get_by_label("Entity 2 type").select_option("DATE")
    shot("answers-ner-test-case-edit")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text(f"Saved test case #{case.id}")
    expect(page.locator("main table .ent-chip")).to_have_text(["Initech PARTY", "June 2 DATE"])
    entities = TestCase.objects.get(id=case.id).expected["entities"]
    assert [(e["text"], e["type"]) for e in entities] == [("Initech", "PARTY"), ("June 2", "DATE")]
