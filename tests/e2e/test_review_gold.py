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


def test_ner_spans_by_keyboard_and_an_undone_edit_makes_no_example(page, live_server, shot):
    from tests.factories import NerProjectFactory

    reviewer = UserFactory(username="nora")
    project = NerProjectFactory(entity_types=["PARTY", "DATE"])
    run = make_run(project, ["Acme Corp signed with Globex on May 1.", "Initech agreed."],
                   [{"entities": [{"text": "Acme Corp", "type": "PARTY"}]},
                    {"entities": [{"text": "Initech", "type": "PARTY"}]}], reviewer)
    log_in(page, live_server, "nora")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    spans = page.locator("#span-list .chip")
    expect(spans).to_have_count(1)
    press(page, "ArrowRight")  # cursor on "Acme"
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # "Corp", "signed", "with"
    page.keyboard.press("ArrowRight")  # "Globex"
    expect(page.locator(".tok-cursor")).to_have_text("Globex")
    page.keyboard.press("1")  # PARTY
    expect(spans).to_have_count(2)
    for _ in range(2):
        page.keyboard.press("ArrowRight")  # "on", "May"
    page.keyboard.press("Shift+ArrowRight")  # extend to "May 1"
    assert "".join(page.locator(".tok-cursor").all_text_contents()) == "May 1"
    page.keyboard.press("2")  # DATE
    expect(spans).to_have_count(3)
    expect(spans.filter(has_text="May 1 · DATE")).to_have_count(1)
    shot("ner-keyboard-spans")
    press(page, "f")
    expect(page.locator("#review-panel")).to_contain_text("Initech agreed")
    example = TrainingExample.objects.get()
    assert [(e["text"], e["type"]) for e in example.answer["entities"]] == [
        ("Acme Corp", "PARTY"), ("Globex", "PARTY"), ("May 1", "DATE")]

    press(page, "ArrowRight")  # on the second output: add a span, take it back, then fail
    page.keyboard.press("ArrowRight")
    page.keyboard.press("2")
    expect(spans).to_have_count(2)
    spans.filter(has_text="DATE").get_by_role("button").click()
    expect(spans).to_have_count(1)
    press(page, "f")
    expect(page.locator("#review-panel")).to_contain_text("All done")
    assert TrainingExample.objects.count() == 1  # the undone edit made no (empty) example
    assert Grade.objects.filter(output__record__text="Initech agreed.", corrected_answer__isnull=True).exists()


def test_point_type_ahead_matches_by_words_and_creating_is_explicit(page, live_server, shot):
    from apps.review.models import TrainingPoint

    reviewer = UserFactory(username="tara")
    project = ProjectFactory(labels=["payment_review", "account_hold"])
    run = make_run(project, ["Please hold my account", "Hold my parcels"], [{"label": "account_hold"}] * 2, reviewer)
    long_name = "'hold' means a customer-requested pause"
    TrainingPoint.objects.create(project=project, name=long_name)
    TrainingPoint.objects.create(project=project, name="credit means an SLA credit")
    log_in(page, live_server, "tara")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    press(page, "t")
    page.keyboard.type("hold")
    options = page.locator("#point-options li")
    expect(options.first).to_have_text(long_name)
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(options.last).to_contain_text("Create a new point “hold”")
    shot("point-type-ahead")
    page.keyboard.press("Enter")  # picks the highlighted match, not a new "hold"
    expect(page.locator("#point-chips .chip")).to_have_count(1)
    expect(page.locator("#point-chips .chip")).to_contain_text(long_name)

    page.keyboard.type("pause customer")  # words in any order, not only a prefix of the name
    expect(options.first).to_have_text(long_name)
    page.keyboard.press("Control+a")
    page.keyboard.type("refund")
    page.keyboard.press("ArrowDown")  # wraps to the only option: creating is chosen on purpose
    expect(options).to_have_count(1)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    press(page, "2")
    expect(page.locator("#review-panel")).to_contain_text("Hold my parcels")
    names = sorted(TrainingPoint.objects.filter(project=project).values_list("name", flat=True))
    assert names == [long_name, "credit means an SLA credit", "refund"]


def test_a_refusal_mid_queue_is_shown_above_the_next_output(page, live_server):
    project = ProjectFactory(labels=["payment_review", "account_hold"])
    run = make_run(project, ["Refund me", "Card charged twice"], [{"label": "account_hold"}] * 2,
                   UserFactory(username="remy"))
    review_services.test_case_create(project=project, text="REFUND me.", expected={"label": "payment_review"})
    log_in(page, live_server, "remy")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    press(page, "1")  # a correction of a held-out text: the grade is saved, the training example refused
    panel = page.locator("#review-panel")
    expect(panel).to_contain_text("Card charged twice")
    alert = panel.get_by_role("alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Not saved")
    expect(alert).to_contain_text("held out as test case")
    assert TrainingExample.objects.count() == 0
    assert Grade.objects.get(output__record__text="Refund me").corrected_answer == {"label": "payment_review"}


def test_ner_gold_spans_are_highlighted_beside_the_models(page, live_server, shot):
    from apps.datasets.models import Record
    from tests.factories import NerProjectFactory

    reviewer = UserFactory(username="gina")
    project = NerProjectFactory(entity_types=["PARTY", "DATE"])
    text = "Acme Corp signed with Globex on May 1."
    run = make_run(project, [text, "Initech agreed."], [{"entities": [{"text": "Acme Corp", "type": "PARTY"}]},
                                                        {"entities": []}], reviewer)
    Record.objects.filter(text=text).update(entities=[{"start": 0, "end": 9, "type": "PARTY"},
                                                      {"start": 32, "end": 37, "type": "DATE"}])
    log_in(page, live_server, "gina")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    page.wait_for_selector("#review-panel[data-ready='1']")
    expect(page.locator("#record-text mark")).to_have_count(1)  # the model's one span, to edit
    gold = page.locator("#gold-spans")
    expect(gold.locator("summary")).to_contain_text("Gold spans from the dataset (2)")
    expect(gold.locator("mark.ent")).to_have_text(["Acme Corp PARTY", "May 1 DATE"])
    expect(gold.locator("mark.ent.t1")).to_have_text("May 1 DATE")  # coloured by type, like the model's spans
    shot("review-ner-gold-spans")
    gold.locator("summary").click()  # a toggle: folded away, and back
    expect(gold.locator("mark.ent").first).to_be_hidden()
    gold.locator("summary").click()
    expect(gold.locator("mark.ent").first).to_be_visible()
    press(page, "p")
    expect(page.locator("#review-panel")).to_contain_text("Initech agreed")
    expect(page.locator("#gold-spans")).to_have_count(0)  # a record without gold spans shows none
