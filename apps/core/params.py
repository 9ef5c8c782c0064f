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
