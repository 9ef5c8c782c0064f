import difflib

from django.db.models import Count, Max, QuerySet
from django.shortcuts import get_object_or_404

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role
from apps.datasets.models import Record

from .models import PromptTemplate, PromptVersion


def prompts_of(project) -> QuerySet[PromptTemplate]:
    return project.prompt_templates.annotate(version_count=Count("versions"), latest=Max("versions__number"))


def prompt_for_user(user, template_id, *, role: str = Role.REVIEWER) -> PromptTemplate:
    template = get_object_or_404(PromptTemplate.objects.select_related("project"), id=template_id)
    check_project_role(user, template.project, role=role)
    return template


def version_for_user(user, version_id, *, role: str = Role.REVIEWER) -> PromptVersion:
    version = get_object_or_404(PromptVersion.objects.select_related("template__project"), id=version_id)
    check_project_role(user, version.template.project, role=role)
    return version


def versions_in_project(project) -> QuerySet[PromptVersion]:
    return PromptVersion.objects.filter(template__project=project).select_related("template").order_by(
        "template__name", "-number")


def latest_version(template: PromptTemplate) -> PromptVersion | None:
    return template.versions.order_by("-number").first()


def version_diff(old: PromptVersion, new: PromptVersion) -> list[tuple[str, str]]:
    """(kind, line) pairs of a unified diff of two versions: kind is 'add', 'del', 'hunk' or 'same'."""
    lines = []
    for line in difflib.unified_diff(_as_text(old).splitlines(), _as_text(new).splitlines(),
                                     f"v{old.number}", f"v{new.number}", lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        lines.append((kind, line))
    return lines


def _as_text(version: PromptVersion) -> str:
    examples = "\n".join(f"  {e['text']} -> {e['answer']}" for e in version.examples)
    return (f"style: {version.get_style_display()}\n[system]\n{version.system}\n[user]\n{version.user_template}\n"
            f"[examples]\n{examples}")


def preview_record(project, record_id=None):
    """The record a preview shows: the one asked for (404 when not in the project), else the project's first."""
    records = Record.objects.filter(dataset__project=project).order_by("dataset_id", "position")
    if record_id:
        return get_object_or_404(records, id=record_id)
    return records.first()
