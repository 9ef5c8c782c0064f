"""A fourth task kind added by the test suite alone (tests/kinds/yes_no.py and its partials): a run, a review and
an eval work on it with no change to runs, review or evals."""

import json
from pathlib import Path

import pytest
from django.urls import reverse

from apps.core.models import JobStatus
from apps.projects import kinds
from apps.review.models import Grade, TestCase, TrainingExample
from apps.runs.services import run_create, run_execute
from tests.conftest import htmx_as, login
from tests.evals.conftest import run_eval
from tests.factories import DatasetFactory, MembershipFactory, ProjectFactory, RecordFactory, UserFactory
from tests.kinds import yes_no

PARTIALS = Path(__file__).parent / "templates"


@pytest.fixture
def toy_kind(settings):
    """Register the kind and its partials for one test, and take them away after it."""
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], PARTIALS]}]
    kinds.register(yes_no.KIND)
    yield yes_no.KIND
    kinds.unregister(yes_no.KIND.name)


@pytest.fixture
def toy_project(toy_kind, db):
    project = ProjectFactory(name="Is it urgent?", task_kind="yes_no", labels=[])
    for role in ("lead", "reviewer"):
        MembershipFactory(project=project, user=UserFactory(username=f"toy-{role}"), role=role)
    return project


@pytest.fixture
def toy_people(toy_project):
    return {m.role: m.user for m in toy_project.memberships.select_related("user")}


@pytest.fixture
def toy_parts(toy_project, llm_server):
    from apps.llm.models import Model
    from apps.prompts.services import prompt_create

    model = Model.objects.create(project=toy_project, name="Fake", provider="openai", base_url=llm_server.base_url,
                                 model_id="fake-1", timeout_seconds=2, max_retries=0)
    version = prompt_create(project=toy_project, name="Urgent", system="Say whether the ticket is urgent.",
                            user_template="Ticket: {text}").versions.get()
    return model, version


def urgent_if_now(body):
    text = body["messages"][-1]["content"]
    return json.dumps({"answer": "yes" if "now" in text else "no"})


def test_the_kind_is_one_module_behind_the_protocol(toy_project):
    assert toy_project.kind is yes_no.KIND
    assert kinds.answer_schema(toy_project)["properties"] == {"answer": {"type": "string", "enum": ["yes", "no"]}}
    assert kinds.answer_problems(toy_project, {"answer": "maybe"}, text="x") == ["the answer is neither yes nor no"]
    assert kinds.same_answer(toy_project, {"answer": "yes", "reasoning": "a"}, {"answer": "yes"})
    assert yes_no.KIND.parse(toy_project, " Yes. ") == {"answer": "yes"}


def test_a_run_a_review_and_an_eval_work_on_a_new_kind(toy_project, toy_people, toy_parts, llm_server,
                                                       django_capture_on_commit_callbacks):
    model, version = toy_parts
    llm_server.answer = urgent_if_now
    dataset = DatasetFactory(project=toy_project)
    for text in ("Fix it now", "Whenever you can", "Call me now please"):
        RecordFactory(dataset=dataset, text=text, label="")

    # A run: every answer valid, shown by the kind's partial, filterable by the predicted answer.
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(project=toy_project, prompt_version=version, model=model, dataset=dataset)
    run = run_execute(run_id=run.id)
    assert run.status == JobStatus.SUCCEEDED and run.outputs.filter(status="ok").count() == 3
    lead = login(toy_people["lead"])
    page = lead.get(reverse("runs:detail", args=[run.id])).content.decode()
    assert page.count('class="chip yes-no yes"') == 2 and 'class="chip yes-no no"' in page
    only_no = lead.get(reverse("runs:detail", args=[run.id]), {"label": "no"}).content.decode()
    assert "Whenever you can" in only_no and "Fix it now" not in only_no

    # A review: the number keys pick the kind's answers; a different one is a fail and a training example.
    reviewer = htmx_as(toy_people["reviewer"])
    first = run.outputs.get(record__text="Fix it now")
    screen = login(toy_people["reviewer"]).get(reverse("review:output", args=[run.id, first.id])).content.decode()
    assert "<kbd>1</kbd> yes" in screen and "<kbd>2</kbd> no" in screen and 'class="chip yes-no yes"' in screen
    response = reviewer.post(reverse("review:grade", args=[run.id, first.id]),
                             {"corrected_answer": json.dumps({"answer": "no"})})
    assert response.status_code == 200 and "Saved training example" in response.content.decode()
    assert Grade.objects.get(output=first).verdict == "fail"
    assert TrainingExample.objects.get().answer == {"answer": "no"}
    second = run.outputs.get(record__text="Whenever you can")
    reviewer.post(reverse("review:grade", args=[run.id, second.id]), {"corrected_answer": '{"answer": "no"}'})
    assert Grade.objects.get(output=second).verdict == "pass"  # the model's own answer: a pass

    # Test cases entered with the kind's own form field, then an eval scored by the kind.
    for text, expected in (("Do it now", "yes"), ("No rush", "no"), ("Later is fine, or now", "no")):
        lead.post(reverse("review:test_cases", args=[toy_project.id]), {"text": text, "expected": expected})
    assert sorted(TestCase.objects.values_list("expected__answer", flat=True)) == ["no", "no", "yes"]
    eval_run = run_eval(toy_project, model, version, django_capture_on_commit_callbacks, repeats=2)
    overall = eval_run.results.get(point=None)
    # "Later is fine, or now" is answered yes but expected no: 4 of 6 answers pass; every case is consistent.
    assert (overall.passed, overall.outputs, overall.consistency) == (4, 6, 1.0)
    page = lead.get(reverse("evals:detail", args=[eval_run.id])).content.decode()
    assert 'class="chip yes-no no"' in page and "{&#x27;answer" not in page
