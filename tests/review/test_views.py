from django.urls import reverse

from apps.review.models import Grade
from tests.conftest import api_as, htmx_as, login


def test_review_starts_at_the_first_output_waiting_for_me(people, graded_run):
    response = login(people["reviewer"]).get(reverse("review:start", args=[graded_run.id]))
    first = graded_run.outputs.order_by("id").first()
    assert response.url == reverse("review:output", args=[graded_run.id, first.id])


def test_the_screen_shows_text_answer_keys_and_glossary(people, graded_run, project):
    project.glossary = [{"term": "invoice", "definition": "a bill we send"}]
    project.save()
    output = graded_run.outputs.order_by("id").first()
    page = login(people["reviewer"]).get(reverse("review:output", args=[graded_run.id, output.id])).content.decode()
    assert '<dfn title="a bill we send" tabindex="0">invoice</dfn>' in page
    assert "<kbd>p</kbd> Pass" in page and "<kbd>1</kbd> billing" in page and "<kbd>u</kbd> Undo" in page


def test_grading_by_htmx_returns_the_next_output_and_its_url(people, graded_run):
    first, second = graded_run.outputs.order_by("id")[:2]
    response = htmx_as(people["reviewer"]).post(reverse("review:grade", args=[graded_run.id, first.id]),
                                                {"verdict": "pass", "show": "ungraded", "seconds_spent": "2.5"})
    assert response.status_code == 200
    assert response["HX-Push-Url"] == reverse("review:output", args=[graded_run.id, second.id]) + "?show=ungraded"
    assert "Saved: pass." in response.content.decode() and "<html" not in response.content.decode()
    assert Grade.objects.get(output=first).seconds_spent == 2.5


def test_the_last_grade_shows_the_done_panel(people, graded_run):
    client = htmx_as(people["reviewer"])
    for output in graded_run.outputs.order_by("id"):
        response = client.post(reverse("review:grade", args=[graded_run.id, output.id]), {"verdict": "pass"})
    assert "All done here" in response.content.decode()


def test_an_invalid_correction_is_shown_not_saved(people, graded_run):
    output = graded_run.outputs.first()
    response = htmx_as(people["reviewer"]).post(reverse("review:grade", args=[graded_run.id, output.id]),
                                                {"corrected_answer": '{"label": "nope"}'})
    assert response.status_code == 400 and "not one of the project" in response.content.decode()
    assert not Grade.objects.exists()


def test_api_grades_and_next(people, graded_run):
    client = api_as(people["reviewer"])
    next_item = client.get(reverse("api-review-next", args=[graded_run.id])).json()
    response = client.post(reverse("api-grades", args=[graded_run.id]), {
        "output": next_item["output"], "corrected_answer": {"label": "technical"}, "points": ["hold"]},
        format="json")
    assert response.status_code == 201 and response.json()["verdict"] == "fail"
    assert response.json()["notes"][0].startswith("Saved training example")
    after = client.get(reverse("api-review-next", args=[graded_run.id])).json()
    assert after["output"] != next_item["output"]


def test_points_page_lists_counts_and_creates(people, project):
    client = login(people["reviewer"])
    response = client.post(reverse("review:points", args=[project.id]), {"name": "credit", "status": "open"})
    assert response.status_code == 302
    assert "credit" in client.get(reverse("review:points", args=[project.id])).content.decode()


def test_empty_pages_say_what_to_do(people, project):
    client = login(people["lead"])
    assert "No training points yet" in client.get(reverse("review:points", args=[project.id])).content.decode()
    assert "No training examples yet" in client.get(reverse("review:examples", args=[project.id])).content.decode()
    assert "No test cases yet" in client.get(reverse("review:test_cases", args=[project.id])).content.decode()


def test_a_lead_writes_and_edits_a_training_example_by_hand(people, project, prompt_version):
    from apps.review.models import TrainingExample

    client = login(people["lead"])
    client.post(reverse("review:examples", args=[project.id]), {
        "prompt_version": prompt_version.id, "text": "Freeze my plan", "answer": '{"label": "billing"}',
        "points": "hold means pause"})
    example = TrainingExample.objects.get()
    assert example.messages[-1] == {"role": "user", "content": "Ticket: Freeze my plan"}
    client.post(reverse("review:example_edit", args=[example.id]), {"answer": '{"label": "technical"}',
                                                                   "points": ""})
    example.refresh_from_db()
    assert example.answer == {"label": "technical"} and not example.points.exists()


def test_the_key_overlay_lists_the_keys_the_buttons_are_drawn_from(people, graded_run, project):
    import re

    output = graded_run.outputs.order_by("id").first()
    page = login(people["reviewer"]).get(reverse("review:output", args=[graded_run.id, output.id])).content.decode()
    panel, overlay = page.split('id="key-help"')
    on_buttons = set(re.findall(r'class="key[^"]*"[^>]*><kbd>([^<]+)</kbd>', panel))
    listed = set(re.findall(r"<dt><kbd>([^<]+)</kbd></dt>", overlay))
    assert {"p", "e", "f", "x", "1"} <= on_buttons <= listed and {"j", "k", "u", "?", "Esc"} <= listed
    assert "<dd>billing</dd>" in overlay and "Entity type" not in overlay


def test_ner_type_chips_are_buttons_listed_in_the_overlay(people):
    from apps.llm.models import Model
    from apps.prompts.services import prompt_create
    from apps.runs.models import Output, Run
    from tests.factories import DatasetFactory, MembershipFactory, NerProjectFactory, RecordFactory

    project = NerProjectFactory(entity_types=["PARTY", "DATE"])
    MembershipFactory(project=project, user=people["reviewer"], role="reviewer")
    record = RecordFactory(dataset=DatasetFactory(project=project), text="Acme signed on May 1.")
    run = Run.objects.create(project=project, prompt_version=prompt_create(project=project, name="P").versions.get(),
                             model=Model.objects.create(name="m", provider="local"), dataset=record.dataset,
                             record_ids=[record.id], total=1, status="succeeded")
    output = Output.objects.create(run=run, record=record, status="ok", answer={"entities": []})
    page = login(people["reviewer"]).get(reverse("review:output", args=[run.id, output.id])).content.decode()
    assert '<button type="button" class="key type t1" data-span-type="1"><kbd>2</kbd> DATE</button>' in page
    overlay = page.split('id="key-help"')[1]
    assert "<dd>DATE</dd>" in overlay and "Move the token cursor" in overlay
