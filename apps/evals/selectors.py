from dataclasses import dataclass

from django.db.models import Count, F, Max, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse

from apps.accounts.models import Role
from apps.accounts.selectors import check_project_role
from apps.core.charts import bar_chart, line_chart
from apps.core.models import COMPLETED_STATUSES
from apps.core.params import sort_ordering
from apps.llm.pricing import cost_per_thousand, tokens_cost

from . import label_results, metrics
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

    @property
    def evidence(self) -> dict:
        return evidence_of(self)


def result_rows(eval_run: EvalRun) -> list[ResultRow]:
    """The eval's results (overall first, then per point by name), each beside the baseline's for that point."""
    before = {}
    if eval_run.baseline_id:
        before = {r.point_id: r for r in PointResult.objects.filter(eval_run_id=eval_run.baseline_id)}
    rows = [ResultRow(r.point.name if r.point else "All test cases", r.point_id, r, before.get(r.point_id))
            for r in eval_run.results.select_related("point")]
    return sorted(rows, key=lambda row: (row.point_id is not None, row.name.lower()))


# --- evidence, the gate's reasons, cost ----------------------------------------------------

def evidence_of(row: ResultRow) -> dict:
    """What the evidence against the baseline can say, in words: the smallest rise and fall this many test cases
    could confirm, and how many would confirm the change seen (empty without a baseline)."""
    r, before = row.result, row.before
    if not r.verdict or before is None:
        return {}
    rise, fall = r.confirmable_rise, r.confirmable_fall
    confirmable = " / ".join([f"+{100 * rise:.0f}" if rise is not None else "no rise",
                              f"−{100 * fall:.0f}" if fall is not None else "no fall"])
    if r.verdict != "unchanged":
        needed = "confirmed"
    elif r.cases_to_confirm is not None:
        needed = f"{r.cases_to_confirm:,}"
    elif before.test_cases_passed * r.test_cases == r.test_cases_passed * before.test_cases:
        needed = "no change seen"
    else:
        needed = f"over {metrics.MAX_CASES_TO_CONFIRM:,}"
    return {"confirmable": f"{confirmable} pts", "needed": needed}


def gate_message(eval_run: EvalRun, rows: list[ResultRow]) -> str:
    """Why the gate failed: each point that blocks it, regressed (with its counts and p) or below the threshold."""
    gated = [row for row in rows if row.point_id is not None] or rows
    threshold = eval_run.project.pass_threshold
    blockers = metrics.gate_blockers([{"name": i, "verdict": row.result.verdict or "unchanged",
                                       "pass_rate": row.result.pass_rate} for i, row in enumerate(gated)],
                                     threshold=threshold)
    said = [_blocker_text(gated[i], reasons, threshold) for i, reasons in blockers]
    return "; ".join([*said, *([eval_run.gate_note] if eval_run.gate_note else [])])


def _blocker_text(row: ResultRow, reasons: list[str], threshold: float) -> str:
    r, said = row.result, []
    if "regressed" in reasons and row.before:
        said.append(f"regressed ({row.before.test_cases_passed}/{row.before.test_cases} → "
                    f"{r.test_cases_passed}/{r.test_cases} test cases, p = {r.p_value:.3f})")
    if "below threshold" in reasons:
        said.append(f"is below the threshold ({100 * r.pass_rate:.0f}% < {100 * threshold:.0f}%)")
    return f"{row.name} {' and '.join(said)}"


@dataclass
class Cost:
    """What an eval's answers cost at its model's prices (None: a price is unknown); the judge's calls excluded."""

    input_tokens: int
    output_tokens: int
    total: float | None
    per_thousand: float | None


def cost_of(result: PointResult, model) -> Cost:
    input_tokens = round(result.mean_input_tokens * result.outputs)
    output_tokens = round(result.mean_output_tokens * result.outputs)
    return Cost(input_tokens, output_tokens, tokens_cost(model, input_tokens, output_tokens),
                cost_per_thousand(model, result.mean_input_tokens, result.mean_output_tokens))


def eval_cost(eval_run: EvalRun) -> Cost | None:
    overall = eval_run.results.filter(point=None).first()
    return cost_of(overall, eval_run.model) if overall else None


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
    elif result == "human":
        outputs = outputs.exclude(human_passed=None)
    elif result == "disagree":
        outputs = outputs.exclude(human_passed=None).exclude(judge_passed=None).exclude(
            judge_passed=F("human_passed"))
    return outputs


def verdict_counts(eval_run: EvalRun) -> dict:
    """Whose verdict the eval's answers carry (people's, the judge's, the rule's), and how many are in review."""
    return eval_run.outputs.aggregate(
        human=Count("id", filter=~Q(human_passed=None)),
        judge=Count("id", filter=Q(human_passed=None, auto_by="judge")),
        rule=Count("id", filter=Q(human_passed=None, auto_by="rule")),
        unscored=Count("id", filter=Q(human_passed=None, auto_passed=None)),
        in_review=Count("id", filter=~Q(review_output=None)))


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


@dataclass
class LabelCell:
    """One cell of the per-label view: an F1 (None: nothing to measure in this version), its colour and hover text
    worked out here, as a pass-rate cell's are."""

    f1: float | None
    title: str
    url: str = ""

    def __post_init__(self):
        if self.f1 is not None:
            self.text = f"{self.f1:.2f}"
            self.hue = round(120 * self.f1)  # 0 (red) at an F1 of 0 to 120 (green) at 1


def label_matrix(project, columns: list[EvalRun]) -> dict:
    """Labels (classification) or entity types (NER) × the dashboard's columns, each cell the label's F1 over all
    the eval's test cases (`label_results.overall_reports`); no rows for a kind without a breakdown."""
    breakdown = project.kind.breakdown
    reports = label_results.overall_reports(project, columns)
    by_label = {eval_id: {r.label: r for r in report.rows} for eval_id, report in reports.items()}
    known = project.labels if breakdown == "labels" else project.entity_types
    names = _in_project_order({label for rows in by_label.values() for label in rows}, known)
    links = {c.id: reverse("evals:detail", args=[c.id]) + "#labels" for c in columns}
    rows = [{"label": name, "cells": [_label_cell(c, name, by_label.get(c.id, {}).get(name), links[c.id])
                                      for c in columns]} for name in names]
    macro = [_macro_cell(c, reports.get(c.id), links[c.id]) for c in columns]
    return {"breakdown": breakdown, "noun": "entity type" if breakdown == "entity types" else "label",
            "columns": columns, "reports": [reports.get(c.id) for c in columns], "labels": names, "rows": rows,
            "macro": macro, "table": [{"label": None, "cells": macro}, *rows] if rows else []}  # macro F1 first


def _in_project_order(seen: set[str], known) -> list[str]:
    """The labels seen, in the project's order first, then any other alphabetically (as the eval page lists them)."""
    ordered = [label for label in known if label in seen]
    return ordered + sorted(seen - set(ordered))


def _label_cell(column: EvalRun, name: str, row, url: str) -> LabelCell:
    if row is None:
        return LabelCell(None, f"{column_label(column)}: {name} neither expected nor answered")
    return LabelCell(row.f1, f"{column_label(column)} · {name}: F1 {row.f1:.2f}, precision {row.precision:.2f}, "
                             f"recall {row.recall:.2f}, support {row.support}", url)


def _macro_cell(column: EvalRun, report, url: str) -> LabelCell:
    if report is None:
        return LabelCell(None, f"{column_label(column)}: no answers to measure")
    return LabelCell(report.macro_f1, f"{column_label(column)}: macro F1 {report.macro_f1:.2f}, micro F1 "
                                      f"{report.micro.f1:.2f}, support {report.micro.support}", url)


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


def version_summaries(grid: dict) -> list[dict]:
    """Each evaluated version (all its test cases): pass rate, latency and cost per 1,000 answers side by side,
    so "as accurate at a tenth of the cost" can be read off. Cost is None where the model has no prices."""
    return [{"column": c, "result": cell.result, "cost_per_thousand": cost_of(cell.result, c.model).per_thousand}
            for c, cell in zip(grid["columns"], grid["overall"], strict=True) if cell.result]


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
