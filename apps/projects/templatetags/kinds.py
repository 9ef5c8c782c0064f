"""Template tags that show answers as their task kind shows them, so no template compares `task_kind`.

    {% load kinds %}
    {% answer project output.answer %}        the kind's "answer" partial (a label chip, entity chips, text)
    {% expected project case.expected %}      the kind's "expected" partial
    {% record_answer project record %}        a record's expected answer, through the "expected" partial
    {% kind_part project "import_help" %}     any other partial of the kind, with `project` and `kind`
"""

from django import template
from django.template.loader import select_template

register = template.Library()


def _render(project, part: str, **context) -> str:
    kind = project.kind
    chosen = select_template([kind.template(part), f"kinds/_{part}.html"])
    return chosen.render({"project": project, "kind": kind, **context})


@register.simple_tag
def answer(project, value):
    return _render(project, "answer", answer=value)


@register.simple_tag
def expected(project, value):
    return _render(project, "expected", answer=value)


@register.simple_tag
def record_answer(project, record):
    return _render(project, "expected", answer=project.kind.expected_answer(record), record=record)


@register.simple_tag
def kind_part(project, part: str):
    return _render(project, part)


