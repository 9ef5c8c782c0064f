from dataclasses import dataclass

from django.db.models import Count, Max, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role
from apps.core.charts import bar_chart, line_chart
from apps.core.models import COMPLETED_STATUSES
from apps.core.params import sort_ordering

from .label_metrics import INVALID
from .models import EvalOutput, EvalRun, PointResult

MATRIX_COLUMNS = 20


def eval_for_user(user, eval_id, *, role: str = Role.REVIEWER) -> EvalRun:
    eval_run = get_object_or_404(
        EvalRun.objects.select_related("project", "model", "prompt_version__template", "judge_model", "baseline"),
        id=eval_id)
    check_project_role(user, eval_run.project, role=role)
    return eval_run


# The columns an eval list sorts by, and the fields each one orders.
EVAL_SORTS = {"id": ["id"], "model": ["model__name"], "prompt": ["prompt_version__template__name",
              "prompt_version__number"], "answers": ["total"], "baseline": ["baseline_id"],
              "gate": ["gate_passed"], "status": ["status"], "started": ["created_at"]}


def evals_of(project, *, sort: str = "-started", q: str = "") -> QuerySet[EvalRun]:
    """The project's evals in `sort` order (see EVAL_SORTS); `q` matches the model, prompt, note or the id."""
    evals = project.eval_runs.select_related("model", "prompt_version__template", "baseline")
    if q:
        match = Q(model__name__icontains=q) | Q(prompt_version__template__name__icontains=q) | Q(note__icontains=q)
        if q.lstrip("#").isdigit():
            match |= Q(id=int(q.lstrip("#")))
        evals = evals.filter(match)
    return evals.order_by(*sort_ordering(sort, EVAL_SORTS))


def finished_evals(project) -> QuerySet[EvalRun]:
    return evals_of(project).filter(status__in=COMPLETED_STATUSES)


def progress(eval_run: EvalRun) -> dict:
    counts = eval_run.outputs.aggregate(done=Count("id"), passes=Count("id", filter=Q(passed=True)),
                                        errors=Count("id", filter=Q(status="error")),
                                        unscored=Count("id", filter=Q(passed=None)))
    counts["percent"] = int(100 * counts["done"] / eval_run.total) if eval_run.total else 0
    return counts


@dataclass
class ResultRow:
    name: str
    point_id: int | None
    result: PointResult
    before: PointResult | None


def result_rows(eval_run: EvalRun) -> list[ResultRow]:
    """The eval's results (overall first, then per point by name), each beside the baseline's for that point."""
    before = {}
    if eval_run.baseline_id:
        before = {r.point_id: r for r in PointResult.objects.filter(eval_run_id=eval_run.baseline_id)}
    rows = [ResultRow(r.point.name if r.point else "All test cases", r.point_id, r, before.get(r.point_id))
            for r in eval_run.results.select_related("point")]
    return sorted(rows, key=lambda row: (row.point_id is not None, row.name.lower()))


def eval_outputs(eval_run: EvalRun, *, point_id=None, result: str = "", expected: str = "",
                 answered: str = "") -> QuerySet[EvalOutput]:
    outputs = eval_run.outputs.select_related("test_case__source_grade__output").order_by("test_case_id", "repeat")
    outputs = _confusion_cell(eval_run, outputs, expected=expected, answered=answered)
    if point_id:
        outputs = outputs.filter(test_case__points=point_id)
    if result == "fail":
        outputs = outputs.filter(passed=False)
    elif result == "pass":
        outputs = outputs.filter(passed=True)
    elif result == "error":
        outputs = outputs.filter(status="error")
    return outputs


# --- dashboard ---------------------------------------------------------------------------

def matrix_columns(project, *, limit: int = MATRIX_COLUMNS) -> list[EvalRun]:
    """The latest finished eval of each (model, prompt version), oldest first: the versions a lead compares."""
    latest = (EvalRun.objects.filter(project=project, status__in=COMPLETED_STATUSES)
              .values("model_id", "prompt_version_id").annotate(last=Max("id")).values("last"))
    newest = EvalRun.objects.filter(id__in=latest).select_related("model", "prompt_version__template").defer(
        "test_case_ids").order_by("-finished_at", "-id")[:limit]
    return list(reversed(newest))


@dataclass
class Cell:
    """One matrix cell, its text worked out here: a thousand cells rendered by template filters take too long."""

    result: PointResult | None
    column: EvalRun
    url: str = ""

    def __post_init__(self):
        r = self.result
        if r is None:
            return
        self.percent = round(100 * r.pass_rate)
        self.hue = round(120 * r.pass_rate)  # 0 (red) at a 0% pass rate to 120 (green) at 100%
        verdict = f" · {r.verdict}" if r.verdict else ""
        consistency = f"{r.consistency:.2f}" if self.column.repeats > 1 else "— (one repeat)"
        self.title = (f"{column_label(self.column)}: {r.passed}/{r.outputs} passed "
                      f"(95%: {100 * r.ci_low:.0f}–{100 * r.ci_high:.0f}%) · "
                      f"consistency {consistency} · latency p50 {r.latency_p50_ms:.0f} ms, "
                      f"p95 {r.latency_p95_ms:.0f} ms{verdict}")


def matrix(project, *, limit: int = MATRIX_COLUMNS) -> dict:
    """Training points × evaluated versions, each cell a stored PointResult: a few rows per column, no outputs."""
    columns = matrix_columns(project, limit=limit)
    results = {(r.eval_run_id, r.point_id): r
               for r in PointResult.objects.filter(eval_run__in=[c.id for c in columns])}
    point_ids = {point_id for _, point_id in results if point_id is not None}
    points = list(project.training_points.filter(Q(id__in=point_ids) | ~Q(status="archived")).order_by("name"))
    by_id = {point.id: point for point in points}
    for result in results.values():  # a cell that names its point (the API) makes no query of its own
        if result.point_id in by_id:
            result.point = by_id[result.point_id]
    links = {c.id: reverse("evals:detail", args=[c.id]) for c in columns}

    def cell(column, point_id) -> Cell:
        query = f"?point={point_id}&result=fail#outputs" if point_id else "?result=fail#outputs"
        return Cell(results.get((column.id, point_id)), column, links[column.id] + query)

    rows = [{"point": point, "cells": [cell(c, point.id) for c in columns]} for point in points]
    overall = [cell(c, None) for c in columns]
    return {"columns": columns, "rows": rows, "overall": overall,
            "table": [{"point": None, "cells": overall}, *rows]}  # the page's rows: all test cases first


def column_label(eval_run: EvalRun) -> str:
    return f"#{eval_run.id} {eval_run.model.name[:18]} · {eval_run.prompt_version.template.name[:18]} " \
           f"v{eval_run.prompt_version.number}"


def version_label(eval_run: EvalRun) -> str:
    """A version's short name on a chart's axis: its prompt and version number, and the eval's number."""
    return f"{eval_run.prompt_version.template.name[:10]} v{eval_run.prompt_version.number} #{eval_run.id}"


def trend_chart(row: dict, columns: list[EvalRun]) -> dict:
    """A point's pass rate over the evaluated versions (oldest first); each version's name and value on hover."""
    values = [cell.result.pass_rate if cell.result else None for cell in row["cells"]]
    return line_chart([version_label(c) for c in columns], {"pass rate": values}, unit="%", top=1.0,
                      titles=[column_label(c) for c in columns], width=200, height=44, compact=True)


def project_charts(grid: dict) -> dict:
    """Consistency and latency of each evaluated version (all its test cases).

    Consistency needs repeats: a version evaluated with one repeat has none ("—"), not a perfect 1.00.
    """
    kept = [(c, cell.result) for c, cell in zip(grid["columns"], grid["overall"], strict=True) if cell.result]
    labels = [version_label(c) for c, _ in kept]
    titles = [column_label(c) for c, _ in kept]
    return {
        "consistency": bar_chart(labels, [consistency_of(c, r) for c, r in kept], titles=titles, top=1.0),
        "latency": line_chart(labels, {"p50": [r.latency_p50_ms for _, r in kept],
                                       "p95": [r.latency_p95_ms for _, r in kept]}, titles=titles, unit="ms"),
    }


def consistency_of(eval_run: EvalRun, result) -> float | None:
    """A result's consistency, or None when its eval had one repeat (nothing to be consistent with)."""
    return result.consistency if eval_run.repeats > 1 else None


def _confusion_cell(eval_run: EvalRun, outputs: QuerySet, *, expected: str, answered: str) -> QuerySet:
    """The outputs of one confusion matrix cell: the test case expects `expected`, the answer is `answered`
    (`label_metrics.INVALID`: a non-answer). The kind's lookup on the answer names the field to compare."""
    kind = eval_run.project.kind
    if expected:
        lookup = kind.filter_lookup(expected)
        outputs = outputs.filter(**{f"test_case__expected__{key.removeprefix('answer__')}": value
                                    for key, value in lookup.items()}) if lookup else outputs
    if answered == INVALID:
        outputs = outputs.exclude(status="ok")
    elif answered:
        outputs = outputs.filter(status="ok", **kind.filter_lookup(answered))
    return outputs
