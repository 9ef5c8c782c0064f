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
