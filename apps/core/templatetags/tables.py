"""A sortable column header: a link that keeps the page's other query parameters and shows ▲/▼."""

from django import template
from django.utils.html import format_html

from apps.core.params import query_without

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_header(context, column: str, label: str):
    """A link sorting by `column`; the current column shows its direction and a click reverses it.

    The view puts the current `sort` value in the context (see apps.core.params.sort_param)."""
    current = context.get("sort", "")
    ascending = current == column
    descending = current == f"-{column}"
    target = f"-{column}" if ascending else column
    others = query_without(context["request"].GET, "sort", "page")
    href = f"?{others}&sort={target}" if others else f"?sort={target}"
    arrow = " ▲" if ascending else " ▼" if descending else ""
    state = "ascending" if ascending else "descending" if descending else "none"
    return format_html('<a class="sort" href="{}" data-sort="{}">{}{}</a>', href, state, label, arrow)
