import difflib
import re

from django.db.models import Count, Max, Q, QuerySet
from django.shortcuts import get_object_or_404

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role
from apps.datasets.models import Record

from .models import PromptPurpose, PromptTemplate, PromptVersion


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


def versions_in_project(project, *, purpose: str = PromptPurpose.TASK) -> QuerySet[PromptVersion]:
    """The project's prompt versions for the task (or, with `purpose` judge, for judging answers)."""
    return PromptVersion.objects.filter(template__project=project, template__purpose=purpose).select_related(
        "template").order_by("template__name", "-number")


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


def version_word_diff(old: PromptVersion, new: PromptVersion) -> list[list[tuple[str, str]]]:
    """The lines around each change of two versions, as (mark, text) parts: mark is 'del' for words only in `old`,
    'ins' for words only in `new`, '' for both, 'hunk' for the line numbers that start a group of changes.

    A changed line is compared word by word with the line that replaced it, so a one-word edit in a long
    paragraph shows that one word, not two whole paragraphs."""
    a, b = _as_text(old).splitlines(), _as_text(new).splitlines()
    lines = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(3):
        lines.append([("hunk", f"lines {group[0][3] + 1}–{group[-1][4]} of v{new.number}")])
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines += [[("", line)] for line in a[i1:i2]]
                continue
            olds, news = a[i1:i2], b[j1:j2]
            paired = min(len(olds), len(news))
            lines += [_word_diff(o, n) for o, n in zip(olds[:paired], news[:paired], strict=True)]
            lines += [[("del", line)] for line in olds[paired:]] + [[("ins", line)] for line in news[paired:]]
    return lines


# Words, runs of spaces and runs of punctuation: "ticket." and "ticket carefully." differ by " carefully" only.
WORDS = re.compile(r"\w+|\s+|[^\w\s]+")


def _word_diff(old_line: str, new_line: str) -> list[tuple[str, str]]:
    old_words, new_words = WORDS.findall(old_line), WORDS.findall(new_line)
    parts = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old_words, new_words, autojunk=False).get_opcodes():
        if tag == "equal":
            parts.append(("", "".join(old_words[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("del", "".join(old_words[i1:i2])))
        if j2 > j1:
            parts.append(("ins", "".join(new_words[j1:j2])))
    return parts


def _as_text(version: PromptVersion) -> str:
    examples = "\n".join(f"  {e['text']} -> {e['answer']}" for e in version.examples)
    return (f"style: {version.get_style_display()}\n[system]\n{version.system}\n[user]\n{version.user_template}\n"
            f"[examples]\n{examples}")


RECORD_MATCHES_SHOWN = 20


def record_matches(project, q: str) -> list[Record]:
    """The first records of the project whose text contains `q`, or whose number is `q`, for the preview's picker."""
    if not q:
        return []
    match = Q(text__icontains=q)
    if q.lstrip("#").isdigit():
        match |= Q(position=int(q.lstrip("#")))
    records = Record.objects.filter(dataset__project=project).filter(match).select_related("dataset")
    return list(records.order_by("dataset_id", "position")[:RECORD_MATCHES_SHOWN])


def preview_record(project, record_id=None):
    """The record a preview shows: the one asked for (404 when not in the project), else the project's first."""
    records = Record.objects.filter(dataset__project=project).select_related("dataset")
    records = records.order_by("dataset_id", "position")
    if record_id:
        return get_object_or_404(records, id=record_id)
    return records.first()
