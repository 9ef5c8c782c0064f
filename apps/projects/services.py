from django.db import transaction

from apps.accounts.audit import audit_record
from apps.accounts.models import Membership, Role
from apps.core.exceptions import ApplicationError
from apps.core.limits import LONG_TEXT_MAX

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
        if len(definition.strip()) > LONG_TEXT_MAX:
            raise ApplicationError(f"Glossary line {number}: the definition is longer than "
                                   f"{LONG_TEXT_MAX:,} characters.")
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
    for name in ("pass_threshold", "f1_threshold", "judge_min_kappa"):
        value = fields.get(name)
        if value is not None and not 0 <= value <= 1:
            raise ApplicationError(f"{name.replace('_', ' ').capitalize()} is between 0 and 1.")
    answers = fields.get("judge_min_answers")
    if answers is not None and not 1 <= answers <= 100000:
        raise ApplicationError("Judge min answers is between 1 and 100,000.")


def project_update(*, project: Project, **fields) -> Project:
    merged = {f: fields.get(f, getattr(project, f)) for f in ("task_kind", "labels", "entity_types")}
    _check_answer_space(**merged)
    _check_thresholds(**fields)
    if merged["task_kind"] != project.task_kind and Project.objects.filter(pk=project.pk, kind_locked=True).exists():
        raise ApplicationError("The task kind cannot change once the project has datasets.")
    changed = {field: value for field, value in fields.items() if getattr(project, field) != value}
    for field, value in fields.items():
        setattr(project, field, value)
    project.save()
    if changed:
        audit_record("project.settings_changed", project=project, target=project, details={"fields": sorted(changed)})
    return project


def project_kind_lock(*, project: Project, locked: bool) -> None:
    """Lock (or free) the project's task kind: an upper app calls this while it holds answers in that kind."""
    Project.objects.filter(pk=project.pk).update(kind_locked=locked)
    project.kind_locked = locked


@transaction.atomic
def project_delete(*, project: Project) -> None:
    # Runs, evals, fine-tunes and deployments RESTRICT the prompt versions, models and evals they used: deleting
    # those alone fails, but they go with the project, as the rows that restrict them go too.
    audit_record("project.deleted", target=project)
    project.delete()
