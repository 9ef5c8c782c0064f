"""Database helpers that differ by vendor."""

from django.db import connection
from django.db.models import Aggregate, FloatField


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont (a continuous percentile, interpolated like numpy's default)."""

    function = "PERCENTILE_CONT"
    name = "percentile"
    output_field = FloatField()
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def has_percentile() -> bool:
    return connection.vendor == "postgresql"


def percentile_of_sorted(values: list, fraction: float) -> float:
    """The same interpolated percentile as percentile_cont, for databases without it."""
    if not values:
        return 0.0
    position = (len(values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return float(values[low] + (values[high] - values[low]) * (position - low))
