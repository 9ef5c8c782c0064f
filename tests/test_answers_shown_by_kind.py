"""Answers are shown as their task kind shows them (a label chip, entity chips), never as a Python dict, and are
entered with the kind's own form field (a label select, entity rows)."""

import pytest
from django.urls import reverse

from apps.review import services
from apps.review.models import TestCase, TrainingExample
from tests.conftest import login
from tests.factories import MembershipFactory, NerProjectFactory, UserFactory
from tests.test_permissions import PAGES, ctx  # noqa: F401 - ctx is the fixture of every page's objects

REPRS = ("{'label':", "{'role':", "{'entities':", "{&#x27;label&#x27;:", "{&#x27;role&#x27;:",
         "{&#x27;entities&#x27;:")
# Every page a browser shows (downloads are files, not pages).
HTML_PAGES = [e for e in PAGES if e.method == "get" and "export" not in e.name and "training_file" not in e.name]


@pytest.fixture
def tagged(ctx):  # noqa: F811
    """A correction tagged with the point, and the example and test case of the context tagged with it too."""
    point, output = ctx["point"], ctx["output"]
    services.grade_submit(output=output, reviewer=ctx["people"]["reviewer"], corrected_answer={"label": "technical"},
                          point_names=[point.name])
    ctx["example"].points.add(point)
    ctx["test_case"].points.add(point)
    ctx["example"].messages = [{"role": "system", "content": "Route."}, {"role": "user", "content": "Ticket"}]
    ctx["example"].save()
    return ctx


@pytest.mark.parametrize("endpoint", HTML_PAGES, ids=str)
def test_no_page_shows_an_answer_or_a_message_as_a_python_dict(endpoint, tagged):
    client = login(tagged["people"][endpoint.min_role if endpoint.min_role != "reviewer" else "admin"])
    response = client.get(reverse(endpoint.name, kwargs=endpoint.kwargs(tagged)) + endpoint.query)
    assert response.status_code == 200
    page = response.content.decode()
    assert not [r for r in REPRS if r in page]


def test_examples_test_cases_and_points_show_label_chips(tagged):
    client = login(tagged["people"]["lead"])
    project, point = tagged["project"], tagged["point"]
    for url in (reverse("review:examples", args=[project.id]), reverse("review:test_cases", args=[project.id]),
                reverse("review:point", args=[point.id])):
        assert '<span class="chip answer">billing</span>' in client.get(url).content.decode()
    assert '<span class="chip answer">technical</span>' in client.get(reverse("review:point", args=[point.id])
                                                                       ).content.decode()


def test_classification_forms_take_a_label_from_a_select(tagged):
    client = login(tagged["people"]["lead"])
    project, example = tagged["project"], tagged["example"]
    page = client.get(reverse("review:test_cases", args=[project.id])).content.decode()
    assert '<select name="expected"' in page and '<option value="escalation">escalation</option>' in page
    client.post(reverse("review:test_cases", args=[project.id]), {"text": "Escalate this", "expected": "escalation"})
    assert TestCase.objects.get(text="Escalate this").expected == {"label": "escalation"}
    edit = client.get(reverse("review:example_edit", args=[example.id])).content.decode()
    assert '<option value="billing" selected>billing</option>' in edit
    client.post(reverse("review:example_edit", args=[example.id]), {"answer": "technical", "points": ""})
    example.refresh_from_db()
    assert example.answer == {"label": "technical"}


@pytest.fixture
def ner_lead(db):
    project = NerProjectFactory(name="Contracts", entity_types=["PARTY", "DATE"])
    lead = MembershipFactory(project=project, user=UserFactory(username="ner-lead"), role="lead").user
    return project, login(lead)


def test_ner_answers_are_entity_chips_and_entered_as_rows(ner_lead):
    project, client = ner_lead
    from apps.prompts.services import prompt_create

    version = prompt_create(project=project, name="Find").versions.get()
    page = client.get(reverse("review:examples", args=[project.id])).content.decode()
    assert 'name="answer_text"' in page and 'name="answer_type"' in page
    client.post(reverse("review:examples", args=[project.id]), {
        "prompt_version": version.id, "text": "Acme signed on May 1", "points": "",
        "answer_text": ["Acme", "May 1", ""], "answer_type": ["PARTY", "DATE", ""]})
    example = TrainingExample.objects.get(project=project)
    assert example.answer == {"entities": [{"text": "Acme", "type": "PARTY"}, {"text": "May 1", "type": "DATE"}]}
    client.post(reverse("review:test_cases", args=[project.id]), {
        "text": "Globex signed", "expected_text": ["Globex"], "expected_type": ["PARTY"]})
    assert TestCase.objects.get(project=project).expected == {"entities": [{"text": "Globex", "type": "PARTY"}]}
    page = client.get(reverse("review:examples", args=[project.id])).content.decode()
    assert 'Acme <small>PARTY</small></span>' in page and not [r for r in REPRS if r in page]
    cases = client.get(reverse("review:test_cases", args=[project.id])).content.decode()
    assert 'Globex <small>PARTY</small></span>' in cases and "e.g. {" not in cases
