"""Length limits on free text: one home, used by the models (so forms and serializers enforce them) and by the
services that create rows without a form (importers, grade submission, feedback)."""

from .exceptions import ApplicationError

RECORD_TEXT_MAX = 100_000  # a record's, test case's or training example's input text
LONG_TEXT_MAX = 20_000  # guidelines, rubric, glossary definitions, prompt texts, descriptions
COMMENT_MAX = 5_000  # grade and adjudication comments, promotion reasons, feedback comments


def length_problem(value, limit: int, *, what: str = "the text") -> str:
    """The reason `value` is too long, or "" when it fits."""
    if isinstance(value, str) and len(value) > limit:
        return f"{what} is {len(value):,} characters long; the limit is {limit:,}"
    return ""


def check_length(value, limit: int, *, what: str = "The text") -> None:
    """Raise an ApplicationError when `value` is longer than `limit` characters."""
    problem = length_problem(value, limit, what=what)
    if problem:
        raise ApplicationError(problem + ".")
