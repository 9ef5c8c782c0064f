"""The project settings page shows the settings of the project's kind only; creating a project still works."""

import re

from django.urls import reverse

from apps.projects.kinds import KINDS
from apps.projects.models import Project
from tests.conftest import login
from tests.factories import MembershipFactory, NerProjectFactory


def shown_fields(page: str) -> set[str]:
    """The names of the form's fields whose wrapper is not hidden."""
    shown = set()
    for wrapper, name in re.findall(r'(<div class="field[^>]*>)\s*<label for="id_(\w+)"', page):
        if " hidden" not in wrapper:
            shown.add(name)
    return shown


def test_classification_settings_show_labels_only(people, project):
    page = login(people["lead"]).get(reverse("projects:edit", args=[project.id])).content.decode()
    fields = shown_fields(page)
    assert "labels" in fields and "pass_threshold" in fields and "guidelines" in fields
    assert not fields & {"entity_types", "f1_threshold", "judge_rubric"}


def test_ner_settings_show_entity_types_and_f1_threshold(people):
    ner = NerProjectFactory()
    MembershipFactory(project=ner, user=people["lead"], role="lead")
    fields = shown_fields(login(people["lead"]).get(reverse("projects:edit", args=[ner.id])).content.decode())
    assert {"entity_types", "f1_threshold"} <= fields and not fields & {"labels", "judge_rubric"}


def test_each_kind_names_settings_the_form_has():
    from apps.projects.forms import ProjectForm

    for kind in KINDS.values():
        assert set(kind.settings_fields) <= set(ProjectForm.base_fields), kind.name


def test_create_page_switches_fields_by_kind_and_still_creates(people):
    people["admin"].is_superuser = True
    people["admin"].save()
    client = login(people["admin"])
    page = client.get(reverse("projects:create")).content.decode()
    assert 'data-kinds="ner" hidden' in page and 'data-kinds="classification">' in page
    assert 'document.getElementById("id_task_kind").addEventListener("change"' in page
    response = client.post(reverse("projects:create"), {"name": "Contracts", "task_kind": "ner",
                                                        "entity_types": "PARTY\nDATE", "pass_threshold": "0.9",
                                                        "f1_threshold": "0.8"})
    assert response.status_code == 302
    assert Project.objects.get(name="Contracts").entity_types == ["PARTY", "DATE"]
    refused = client.post(reverse("projects:create"), {"name": "Bad", "task_kind": "ner"}).content.decode()
    # Sent back with NER's fields shown, so the missing entity types can be typed in.
    assert "entity_types" in shown_fields(refused) and "labels" not in shown_fields(refused)
