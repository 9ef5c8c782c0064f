from django.db import transaction

from apps.accounts.audit import audit_record
from apps.accounts.models import Membership, Role
from apps.core.exceptions import ApplicationError

from .kinds import KINDS
from .models import MAX_TERM_LENGTH, MAX_TERMS, Project


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
    for name, terms in (("labels", labels), ("entity types", entity_types)):
        if len(terms) > MAX_TERMS:
            raise ApplicationError(f"A project has at most {MAX_TERMS} {name}.")
        if any(len(term) > MAX_TERM_LENGTH for term in terms):
            raise ApplicationError(f"Each of the {name} is at most {MAX_TERM_LENGTH} characters long.")
    kind = KINDS.get(task_kind)
    if kind is None:
        raise ApplicationError(f"Unknown task kind '{task_kind}'.")
    problem = kind.settings_problem(labels=labels, entity_types=entity_types)
    if problem:
        raise ApplicationError(problem)


@transaction.atomic
def project_create(*, user, name: str, task_kind: str, labels=(), entity_types=(), guidelines="", glossary=(),
                   **options):
    """Create a project; its creator becomes its admin."""
    _check_answer_space(task_kind=task_kind, labels=list(labels), entity_types=list(entity_types))
    _check_thresholds(**options)
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


def _check_thresholds(**fields) -> None:
    for name in ("pass_threshold", "f1_threshold"):
        value = fields.get(name)
        if value is not None and not 0 <= value <= 1:
            raise ApplicationError(f"{name.replace('_', ' ').capitalize()} is between 0 and 1.")


def project_update(*, project: Project, **fields) -> Project:
    merged = {f: fields.get(f, getattr(project, f)) for f in ("task_kind", "labels", "entity_types")}
    _check_answer_space(**merged)
    _check_thresholds(**fields)
    if merged["task_kind"] != project.task_kind and _kind_in_use(project):
        raise ApplicationError("The task kind cannot change once the project has datasets.")
    changed = {field: value for field, value in fields.items() if getattr(project, field) != value}
    for field, value in fields.items():
        setattr(project, field, value)
    project.save()
    if changed:
        audit_record("project.settings_changed", project=project, target=project, details={"fields": sorted(changed)})
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
    # Runs, evals, fine-tunes and deployments RESTRICT the prompt versions, models and evals they used: deleting
    # those alone fails, but they go with the project, as the rows that restrict them go too.
    audit_record("project.deleted", target=project)
    project.delete()
