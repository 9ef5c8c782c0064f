"""The review screen's `?` list of keys and its tappable entity-type chips, in a real browser."""

import pytest
from playwright.sync_api import expect

from apps.review.models import TrainingExample
from tests.e2e.test_every_page import log_in
from tests.e2e.test_review_flow import make_run, press
from tests.factories import NerProjectFactory, ProjectFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SELECT_WORD = """word => {
  const box = document.getElementById("record-text");
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const at = node.textContent.indexOf(word);
    if (at < 0) continue;
    const range = document.createRange();
    range.setStart(node, at); range.setEnd(node, at + word.length);
    getSelection().removeAllRanges(); getSelection().addRange(range);
    return true;
  }
  return false;
}"""


def test_question_mark_lists_every_key_and_escape_closes_it(page, live_server, shot):
    reviewer = UserFactory(username="rita")
    project = ProjectFactory(labels=["billing", "account_hold"])
    run = make_run(project, ["Card charged twice", "Refund me"], [{"label": "billing"}] * 2, reviewer)
    log_in(page, live_server, "rita")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    help_box = page.locator("#key-help")
    expect(help_box).to_be_hidden()
    press(page, "?")
    expect(help_box).to_be_visible()
    listed = help_box.locator("dt kbd").all_text_contents()
    on_buttons = page.locator("#review-panel .key kbd, #review-panel .nav-keys kbd").all_text_contents()
    assert set(on_buttons) - {"?"} <= set(listed) and {"p", "e", "f", "x", "1", "2", "t", "c", "u", "?"} <= set(listed)
    expect(help_box).to_contain_text("account_hold")
    shot("review-key-help")
    page.keyboard.press("Escape")
    expect(help_box).to_be_hidden()
    page.get_by_role("button", name="? Keys").click()  # tappable on a phone too
    expect(help_box).to_be_visible()
    help_box.get_by_role("button", name="Close the list of keys").click()
    expect(help_box).to_be_hidden()


def test_entity_type_chips_mark_the_selection_when_tapped(page, live_server, shot):
    reviewer = UserFactory(username="nora")
    project = NerProjectFactory(entity_types=["PARTY", "DATE"])
    run = make_run(project, ["Acme Corp signed with Globex on May 1."],
                   [{"entities": [{"text": "Acme Corp", "type": "PARTY"}]}], reviewer)
    log_in(page, live_server, "nora")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    page.wait_for_selector("#review-panel[data-ready='1']")
    spans = page.locator("#span-list .chip")
    expect(spans).to_have_count(1)
    assert page.evaluate(SELECT_WORD, "Globex")
    page.locator("#grade-form button[data-span-type='0']").click()  # PARTY
    expect(spans.filter(has_text="Globex · PARTY")).to_have_count(1)
    press(page, "ArrowRight")  # the token cursor works with a tap too: "Acme", then on to "May"
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    expect(page.locator(".tok-cursor")).to_have_text("May")
    page.get_by_role("button", name="2 DATE").click()
    expect(spans.filter(has_text="May · DATE")).to_have_count(1)
    shot("ner-type-chips")
    press(page, "f")
    expect(page.locator("#review-panel")).to_contain_text("All done")
    assert [(e["text"], e["type"]) for e in TrainingExample.objects.get().answer["entities"]] == [
        ("Acme Corp", "PARTY"), ("Globex", "PARTY"), ("May", "DATE")]
