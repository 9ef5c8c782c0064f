"""A reviewer grades by keyboard in a real browser: pass, fail, fix a label, tag a new point, test case, undo, spans."""

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Membership, Role
from apps.core.models import JobStatus
from apps.llm.models import Model
from apps.prompts.services import prompt_create
from apps.review.models import Grade, TestCase, TrainingExample, TrainingPoint
from apps.runs.models import Output, Run
from tests.factories import DatasetFactory, NerProjectFactory, ProjectFactory, RecordFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def make_run(project, texts, answers, user):
    dataset = DatasetFactory(project=project)
    version = prompt_create(project=project, name=f"P{project.id}").versions.get()
    model = Model.objects.create(name="fake", provider="local")
    records = [RecordFactory(dataset=dataset, text=t, label=(project.labels[0] if project.labels else ""))
               for t in texts]
    run = Run.objects.create(project=project, prompt_version=version, model=model, dataset=dataset,
                             record_ids=[r.id for r in records], total=len(records), status=JobStatus.SUCCEEDED)
    for record, answer in zip(records, answers, strict=True):
        Output.objects.create(run=run, record=record, status="ok", answer=answer,
                              messages=[{"role": "user", "content": record.text}])
    Membership.objects.create(project=project, user=user, role=Role.REVIEWER)
    return run


def press(page, key):
    """Press a key once the review panel is set up (after each grade htmx swaps in a new one)."""
    page.wait_for_selector("#review-panel[data-ready='1']")
    page.keyboard.press(key)


def log_in(page, live_server, username):
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("secret-pass")
    page.get_by_role("button", name="Log in").click()


def test_reviewer_grades_ten_outputs_by_keyboard(page, live_server, shot):
    reviewer = UserFactory(username="rita")
    project = ProjectFactory(labels=["billing", "account_hold", "technical"],
                             glossary=[{"term": "hold", "definition": "a customer-requested pause"}])
    texts = [f"Ticket {n}: please put a hold on my account" for n in range(12)]
    run = make_run(project, texts, [{"label": "billing"}] * 12, reviewer)
    log_in(page, live_server, "rita")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    panel = page.locator("#review-panel")
    expect(panel).to_contain_text("Ticket 0")
    expect(page.locator("dfn[title='a customer-requested pause']")).to_be_visible()
    shot("review-screen")

    for n in range(1, 9):  # eight passes, each one brings the next output without a page load
        press(page, "p")
        expect(panel).to_contain_text(f"Ticket {n}:")
    press(page, "2")  # the right label is account_hold: a correction, so a fail
    expect(panel).to_contain_text("Ticket 9:")
    expect(panel).to_contain_text("Saved training example")

    press(page, "t")  # tag a training point that does not exist yet
    page.keyboard.type("hold means pause")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    press(page, "2")
    expect(panel).to_contain_text("Ticket 10:")

    press(page, "k")  # back to ticket 9, and make it a held-out test case instead
    expect(panel).to_contain_text("Ticket 9:")
    press(page, "x")
    expect(panel).to_contain_text("Ticket 10:")
    expect(panel).to_contain_text("Made test case")

    press(page, "f")
    expect(panel).to_contain_text("Ticket 11:")
    press(page, "u")  # take the fail back
    expect(panel).to_contain_text("Ticket 10:")
    expect(panel).to_contain_text("Undone")
    shot("review-after-undo")

    grades = Grade.objects.filter(reviewer=reviewer)
    assert grades.count() == 10
    assert grades.filter(verdict="pass").count() == 8
    assert grades.filter(verdict="fail", corrected_answer={"label": "account_hold"}).count() == 2
    point = TrainingPoint.objects.get(project=project, name="hold means pause")
    assert point.grades.count() == 1
    assert TrainingExample.objects.filter(project=project).count() == 1
    case = TestCase.objects.get(project=project)
    assert case.expected == {"label": "account_hold"} and list(case.points.all()) == [point]
    assert sum(g.seconds_spent for g in grades) > 0


def test_reviewer_adds_and_removes_entity_spans(page, live_server, shot):
    reviewer = UserFactory(username="nora")
    project = NerProjectFactory(entity_types=["PARTY", "DATE"])
    run = make_run(project, ["Acme Corp signed with Globex on May 1."],
                   [{"entities": [{"text": "Acme Corp", "type": "PARTY"}]}], reviewer)
    log_in(page, live_server, "nora")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    expect(page.locator("#record-text mark")).to_have_count(1)
    # Select "Globex" and press 1 (PARTY); select "May 1" and press 2 (DATE).
    for word, key in (("Globex", "1"), ("May 1", "2")):
        page.evaluate("""(word) => {
            const box = document.getElementById('record-text');
            const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
            let node; while ((node = walker.nextNode())) {
                const at = node.textContent.indexOf(word);
                if (at >= 0) { const r = document.createRange(); r.setStart(node, at); r.setEnd(node, at + word.length);
                    const s = window.getSelection(); s.removeAllRanges(); s.addRange(r); return; } } }""", word)
        press(page, key)
    expect(page.locator("#record-text mark")).to_have_count(3)
    page.locator("#record-text mark", has_text="Acme Corp").click()
    page.keyboard.press("Delete")
    expect(page.locator("#record-text mark")).to_have_count(2)
    shot("review-ner-spans")
    press(page, "p")
    expect(page.locator("#review-panel")).to_contain_text("All done here")
    grade = Grade.objects.get(reviewer=reviewer)
    assert grade.verdict == "fail"
    assert grade.corrected_answer == {"entities": [
        {"text": "Globex", "type": "PARTY", "start": 22, "end": 28},
        {"text": "May 1", "type": "DATE", "start": 32, "end": 37}]}


def test_a_5000_word_record_with_200_spans_renders_and_takes_a_new_span(page, live_server):
    reviewer = UserFactory(username="lena")
    project = NerProjectFactory(entity_types=["PARTY", "DATE"])
    words = [f"word{n}" for n in range(5000)]
    text = " ".join(words)
    entities = [{"text": words[n], "type": "PARTY"} for n in range(0, 5000, 25)]
    run = make_run(project, [text], [{"entities": entities}], reviewer)
    log_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/runs/{run.id}/review/")
    page.wait_for_selector("#review-panel[data-ready='1']")
    expect(page.locator("#record-text mark")).to_have_count(200)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.evaluate("""() => {
        const box = document.getElementById('record-text');
        const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
        let node; while ((node = walker.nextNode())) {
            const at = node.textContent.indexOf('word4999');
            if (at >= 0) { const r = document.createRange(); r.setStart(node, at); r.setEnd(node, at + 8);
                const s = window.getSelection(); s.removeAllRanges(); s.addRange(r); return; } } }""")
    page.keyboard.press("2")
    expect(page.locator("#record-text mark")).to_have_count(201)
    assert requests == []  # spans are edited in the page: no request per span
