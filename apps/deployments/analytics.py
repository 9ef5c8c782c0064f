"""Traffic analytics of a deployment: per day calls, valid share, error rate, latency, tokens and feedback; the
answers' label (or entity type) distribution beside the test set's with a drift figure; shadow agreement; the
pass rate of reviewed traces per training point."""

import math
from collections import Counter
from dataclasses import dataclass, fields
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.charts import bar_chart, line_chart
from apps.core.db import Percentile, has_percentile, percentile_of_sorted
from apps.llm.models import Model
from apps.llm.pricing import tokens_cost
from apps.projects.kinds import kind_for
from apps.review.models import Grade, Verdict

from .models import Deployment, Feedback, Thumbs, Trace

EPSILON = 1e-4  # PSI needs every share above zero


@dataclass
class Day:
    day: object
    calls: int
    valid: int
    invalid: int
    errors: int
    latency_p50_ms: float
    latency_p95_ms: float
    input_tokens: int
    output_tokens: int
    with_feedback: int
    thumbs_down: int
    cost: float | None = None  # the day's tokens at the prices of the models that answered; None: a price unknown

    @property
    def valid_share(self) -> float:
        return self.valid / self.calls if self.calls else 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def feedback_rate(self) -> float:
        return self.with_feedback / self.calls if self.calls else 0.0

    @property
    def thumbs_down_share(self) -> float:
        return thumbs_down_share(self.thumbs_down, self.with_feedback)


def thumbs_down_share(thumbs_down: int, with_feedback: int) -> float:
    """The thumbs-down share, wherever it is shown or alerted on: calls with a thumbs down among the calls with
    any feedback (not among all calls: most calls get none)."""
    return thumbs_down / with_feedback if with_feedback else 0.0


def with_feedback(traces):
    """The traces with any feedback (thumbs, a correction or a comment)."""
    return traces.filter(Exists(Feedback.objects.filter(trace=OuterRef("pk"))))


def with_thumbs_down(traces):
    return traces.filter(Exists(Feedback.objects.filter(trace=OuterRef("pk"), thumbs=Thumbs.DOWN)))


DAY_FIELDS = [f.name for f in fields(Day)] + ["valid_share", "error_rate", "feedback_rate", "thumbs_down_share"]


def daily(deployment: Deployment, *, days: int = 30) -> list[Day]:
    since = timezone.now() - timedelta(days=days)
    traces = Trace.objects.filter(deployment=deployment, created_at__gte=since)
    aggregates = {
        "calls": Count("id"), "valid": Count("id", filter=Q(status="ok")),
        "invalid": Count("id", filter=Q(status="invalid")), "errors": Count("id", filter=Q(status="error")),
        "input_tokens": Sum("input_tokens"), "output_tokens": Sum("output_tokens"),
    }
    if has_percentile():
        aggregates.update(p50=Percentile("latency_ms", 0.5), p95=Percentile("latency_ms", 0.95))
    rows = (traces.annotate(day=TruncDate("created_at")).values("day").annotate(**aggregates).order_by("day"))
    answered = _per_day(with_feedback(traces))
    down = _per_day(with_thumbs_down(traces))
    costs = _cost_per_day(traces)
    result = []
    for row in rows:
        if not has_percentile():
            latencies = sorted(traces.filter(created_at__date=row["day"]).values_list("latency_ms", flat=True))
            row["p50"], row["p95"] = percentile_of_sorted(latencies, 0.5), percentile_of_sorted(latencies, 0.95)
        result.append(Day(day=row["day"], calls=row["calls"], valid=row["valid"], invalid=row["invalid"],
                          errors=row["errors"], latency_p50_ms=round(row["p50"] or 0, 1),
                          latency_p95_ms=round(row["p95"] or 0, 1), input_tokens=row["input_tokens"] or 0,
                          output_tokens=row["output_tokens"] or 0, with_feedback=answered.get(row["day"], 0),
                          thumbs_down=down.get(row["day"], 0), cost=costs.get(row["day"])))
    return result


def _cost_per_day(traces) -> dict:
    """Each day's tokens priced by the model of each trace (a deployment may be promoted mid-day); a day with
    tokens of a model without prices has no cost (None), never a partial one."""
    rows = list(traces.annotate(day=TruncDate("created_at")).values("day", "model_id").annotate(
        input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens")).order_by("day"))
    models = Model.objects.in_bulk({row["model_id"] for row in rows if row["model_id"]})
    costs: dict = {}
    for row in rows:
        if not (row["input_tokens"] or row["output_tokens"]):
            continue
        model = models.get(row["model_id"])
        cost = tokens_cost(model, row["input_tokens"] or 0, row["output_tokens"] or 0) if model else None
        known = costs.get(row["day"], 0.0)
        costs[row["day"]] = None if cost is None or known is None else known + cost
    return costs


def _per_day(traces) -> dict:
    return dict(traces.annotate(day=TruncDate("created_at")).values("day").annotate(n=Count("id"))
                .values_list("day", "n"))


def charts(days: list[Day]) -> dict:
    labels = [d.day.strftime("%m-%d") for d in days]
    return {
        "calls": bar_chart(labels, [d.calls for d in days]),
        "quality": line_chart(labels, {"valid share": [d.valid_share for d in days],
                                       "error rate": [d.error_rate for d in days],
                                       "thumbs-down share": [d.thumbs_down_share for d in days]}, top=1.0),
        "latency": line_chart(labels, {"p50": [d.latency_p50_ms for d in days],
                                       "p95": [d.latency_p95_ms for d in days]}, unit="ms"),
    }


def psi(expected: dict[str, float], actual: dict[str, float]) -> float:
    """Population stability index of `actual` shares against `expected` shares (both over the same categories)."""
    total = 0.0
    for category in set(expected) | set(actual):
        e, a = max(expected.get(category, 0.0), EPSILON), max(actual.get(category, 0.0), EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def shares(counts: Counter) -> dict[str, float]:
    n = sum(counts.values())
    return {k: v / n for k, v in counts.items()} if n else {}


@dataclass
class Drift:
    rows: list[dict]
    psi: float | None
    threshold: float
    traffic_calls: int
    test_cases: int

    @property
    def drifted(self) -> bool:
        return self.psi is not None and self.psi > self.threshold


def drift(deployment: Deployment, *, days: int = 7) -> Drift:
    """The answers' categories over the last `days` beside the expected answers of the project's test cases."""
    kind = kind_for(deployment.project)
    since = timezone.now() - timedelta(days=days)
    traffic = Counter()
    calls = 0
    for categories in Trace.objects.filter(deployment=deployment, created_at__gte=since, status="ok") \
            .values_list("categories", flat=True).iterator(chunk_size=2000):
        calls += 1
        traffic.update(categories)
    test = Counter()
    expected = list(deployment.project.test_cases.values_list("expected", flat=True))
    for answer in expected:
        test.update(kind.categories(answer))
    traffic_shares, test_shares = shares(traffic), shares(test)
    rows = [{"category": c, "traffic": traffic_shares.get(c, 0.0), "test": test_shares.get(c, 0.0)}
            for c in sorted(set(traffic) | set(test))]
    value = psi(test_shares, traffic_shares) if traffic and test else None
    return Drift(rows, value, settings.TASKLLM_DRIFT_PSI_THRESHOLD, calls, len(expected))


def shadow_agreement(deployment: Deployment) -> list[dict]:
    """Per label of the current answer: how often the shadow gave the same answer."""
    tallies: dict[str, list[int]] = {}
    rows = Trace.objects.filter(deployment=deployment, shadow_agrees__isnull=False) \
        .values_list("categories", "shadow_agrees").order_by("-created_at")[:20000]
    for categories, agrees in rows:
        for category in categories or ["(none)"]:
            tally = tallies.setdefault(category, [0, 0])
            tally[0] += 1
            tally[1] += int(agrees)
    return [{"category": c, "calls": n, "agreement": agreed / n} for c, (n, agreed) in sorted(tallies.items())]


def reviewed_pass_rates(deployment: Deployment) -> list[dict]:
    """Reviewers' verdicts on sampled traces, overall and per training point they tagged."""
    if deployment.traffic_dataset_id is None:
        return []
    grades = Grade.objects.filter(output__run__dataset_id=deployment.traffic_dataset_id)
    overall = grades.aggregate(n=Count("id"), passes=Count("id", filter=Q(verdict=Verdict.PASS)))
    if not overall["n"]:
        return []
    rows = [{"name": "All reviewed traces", **overall}]
    for row in grades.exclude(points=None).values("points__name").annotate(
            n=Count("id"), passes=Count("id", filter=Q(verdict=Verdict.PASS))).order_by("points__name"):
        rows.append({"name": row["points__name"], "n": row["n"], "passes": row["passes"]})
    for row in rows:
        row["pass_rate"] = row["passes"] / row["n"]
    return rows
