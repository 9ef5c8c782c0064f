"""Query parameters read safely: a bad value is the client's mistake (400), never a server error (500)."""

from django.core.exceptions import BadRequest

MAX_ID = 2**63 - 1  # PostgreSQL's bigint: a larger number would fail in the database


def int_param(params, name: str, default: int | None = None) -> int | None:
    """The whole number `name` of a QueryDict (GET or POST), `default` when absent or empty."""
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise BadRequest(f"`{name}` must be a whole number.") from None
    if not 0 <= value <= MAX_ID:
        raise BadRequest(f"`{name}` is out of range.")
    return value


def choice_param(params, name: str, choices, default: str) -> str:
    """One of `choices`; an unknown value is refused, never silently replaced by the default."""
    value = params.get(name) or default
    if value not in choices:
        raise BadRequest(f"`{name}` must be one of: {', '.join(choices)}.")
    return value


def sort_param(params, columns, default: str) -> str:
    """The `sort` parameter: a column of `columns`, `-` in front for descending; an unknown column is refused."""
    value = (params.get("sort") or default).strip()
    if value.lstrip("-") not in columns:
        raise BadRequest(f"`sort` must be one of: {', '.join(columns)} (with - in front for descending).")
    return value


def sort_ordering(sort: str, columns) -> list[str]:
    """`order_by` arguments for a `sort` value: the column's fields, then the id so that ties keep one order."""
    descending = sort.startswith("-")
    fields = [*columns[sort.lstrip("-")], "id"]
    return [f"-{field}" if descending else field for field in fields]


def search_param(params, name: str = "q") -> str:
    """A search box's words, trimmed (and cut at 200 characters); empty when there is nothing to search for."""
    return (params.get(name) or "").strip()[:200]


def query_without(params, *names: str) -> str:
    """The query string of `params` without `names` (the page, the sort), for links that set those again."""
    query = params.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()
