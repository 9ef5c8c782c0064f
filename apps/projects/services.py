from django.db import transaction

from apps.accounts.models import Membership, Role
from apps.core.exceptions import ApplicationError

from .models import Project, TaskKind


def parse_terms(text: str) -> list[str]:
    """Labels or entity types typed one per line or separated by commas, without duplicates."""
    seen = []
    for part in text.replace(",", "\n").splitlines():
        term = part.strip()
        if term and term not in seen:
            seen.append(term)
    return seen


def parse_glossary(text: str) -> list[dict]:
    """Glossary lines in the form `term: definition`."""
    glossary = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        term, sep, definition = line.partition(":")
        if not sep or not term.strip() or not definition.strip():
            raise ApplicationError(f"Glossary line {number}: write it as 'term: definition'.")
        glossary.append({"term": term.strip(), "definition": definition.strip()})
    return glossary


def _check_answer_space(*, task_kind: str, labels: list, entity_types: list) -> None:
    if task_kind == TaskKind.CLASSIFICATION and len(labels) < 2:
        raise ApplicationError("A classification project needs at least two labels.")
    if task_kind == TaskKind.NER and not entity_types:
        raise ApplicationError("An NER project needs at least one entity type.")


@transaction.atomic
def project_create(*, user, name: str, task_kind: str, labels=(), entity_types=(), guidelines="", glossary=(),
                   **options):
    """Create a project; its creator becomes its admin."""
    _check_answer_space(task_kind=task_kind, labels=list(labels), entity_types=list(entity_types))
    project = Project.objects.create(
        name=name,
        task_kind=task_kind,
        labels=list(labels),
        entity_types=list(entity_types),
        guidelines=guidelines,
        glossary=list(glossary),
        created_by=user,
        **options,
    )
    Membership.objects.create(project=project, user=user, role=Role.ADMIN)
    return project


def project_update(*, project: Project, **fields) -> Project:
    merged = {f: fields.get(f, getattr(project, f)) for f in ("task_kind", "labels", "entity_types")}
    _check_answer_space(**merged)
    if merged["task_kind"] != project.task_kind and _kind_in_use(project):
        raise ApplicationError("The task kind cannot change once the project has datasets.")
    for field, value in fields.items():
        setattr(project, field, value)
    project.save()
    return project


def _kind_in_use(project: Project) -> bool:
    """Whether rows above this app hold answers in the project's task kind.

    A model of an upper app says so with `fixes_project_kind = True` (a dataset: its records' expected answers),
    so this app asks without knowing who uses it.
    """
    return any(
        relation.related_model._default_manager.filter(**{relation.field.name: project}).exists()
        for relation in Project._meta.related_objects
        if getattr(relation.related_model, "fixes_project_kind", False)
    )


@transaction.atomic
def project_delete(*, project: Project) -> None:
    # Runs, evals and fine-tunes RESTRICT the prompt versions and models they used: deleting those alone fails,
    # but they go with the project, as the rows that restrict them go too.
    project.delete()
