"""The rows of every dashboard and eval table as CSV rows (a header first)."""

import json
from collections.abc import Iterator

from . import selectors

RESULT_HEADER = ["training point", "test cases", "test cases passed", "outputs", "passed", "errors", "pass rate",
                 "ci low", "ci high", "consistency", "paraphrase agreement", "latency p50 ms", "latency p95 ms",
                 "mean input tokens", "mean output tokens", "f1 micro", "f1 mean per test case", "baseline pass rate",
                 "verdict", "p value", "pass all repeats", "confirmable rise", "confirmable fall",
                 "test cases to confirm", "cost per 1000 answers"]


def _round(value):
    return round(value, 4) if isinstance(value, float) else value


def results_rows(eval_run) -> Iterator[list]:
    """One row per point; consistency is empty with one repeat (nothing to be consistent with)."""
    yield RESULT_HEADER
    for row in selectors.result_rows(eval_run):
        r = row.result
        yield [_round(v) for v in (
            row.name, r.test_cases, r.test_cases_passed, r.outputs, r.passed, r.errors, r.pass_rate, r.ci_low,
            r.ci_high, selectors.consistency_of(eval_run, r), r.paraphrase_agreement, r.latency_p50_ms,
            r.latency_p95_ms, r.mean_input_tokens, r.mean_output_tokens, r.f1_micro, r.f1_macro,
            row.before.pass_rate if row.before else None, r.verdict, r.p_value, r.pass_all, r.confirmable_rise,
            r.confirmable_fall, r.cases_to_confirm, selectors.cost_of(r, eval_run.model).per_thousand)]


def outputs_rows(eval_run) -> Iterator[list]:
    yield ["test case", "repeat", "text", "expected", "answer", "status", "passed", "score", "judge reason",
           "latency ms", "input tokens", "output tokens", "error", "reason", "raw reply", "verdict by",
           "automatic verdict", "judge verdict", "people's verdict"]
    for o in selectors.eval_outputs(eval_run).iterator(chunk_size=1000):
        yield [o.test_case_id, o.repeat, o.test_case.text, json.dumps(o.test_case.expected, ensure_ascii=False),
               json.dumps(o.answer, ensure_ascii=False), o.status, o.passed, o.score, o.judge_reason,
               o.latency_ms, o.input_tokens, o.output_tokens, o.error, o.reason, o.raw_text, o.verdict_source,
               o.auto_passed, o.judge_passed, o.human_passed]


def matrix_rows(grid: dict) -> Iterator[list]:
    columns = grid["columns"]
    yield ["training point", *[selectors.column_label(c) for c in columns]]
    yield ["All test cases", *[_round(cell.result.pass_rate) if cell.result else None for cell in grid["overall"]]]
    for row in grid["rows"]:
        yield [row["point"].name, *[_round(cell.result.pass_rate) if cell.result else None for cell in row["cells"]]]


def label_matrix_rows(labels: dict) -> Iterator[list]:
    """The per-label view as on the dashboard: each label's (or entity type's) F1 per version, macro F1 first; a
    kind without a breakdown has the header only."""
    yield [labels["noun"], *[selectors.column_label(c) for c in labels["columns"]]]
    if not labels["breakdown"]:
        return
    yield ["(macro F1)", *[_round(cell.f1) for cell in labels["macro"]]]
    for row in labels["rows"]:
        yield [row["label"], *[_round(cell.f1) for cell in row["cells"]]]


def reviewer_rows(activity: dict) -> Iterator[list]:
    yield ["reviewer", "grades", "median seconds per grade", "graded with others", "disagreed", "disagreement rate",
           *[day.isoformat() for day in activity["days"]]]
    for r in activity["reviewers"]:
        yield [r["reviewer__username"], r["grades"], _round(r["median_seconds"]), r["shared"], r["disagreed"],
               _round(r["disagreement_rate"]), *r["per_day"]]


def label_rows(breakdown: list) -> Iterator[list]:
    """Per label (or entity type) and training point: P/R/F1/support, then micro and macro; for
    classification, then the confusion matrices; for NER, the span error kinds after each point's rows."""
    yield ["training point", "label", "precision", "recall", "f1", "support"]
    for b in breakdown:
        report = b.report
        for r in report.rows:
            yield [b.name, r.label, *(_round(v) for v in (r.precision, r.recall, r.f1)), r.support]
        yield [b.name, "(micro)", *(_round(v) for v in (report.micro.precision, report.micro.recall,
                                                         report.micro.f1)), report.micro.support]
        yield [b.name, "(macro)", *(_round(v) for v in (report.macro_precision, report.macro_recall,
                                                         report.macro_f1)), report.micro.support]
        for kind, n in report.errors.items():
            yield [b.name, f"({kind})", None, None, None, n]
    for b in breakdown:  # the confusion matrices after the table: a header row, then a row per expected label
        if b.matrix:
            yield [b.name, "expected \\ answered", *b.labels, "invalid"]
        for row in b.matrix:
            yield [b.name, row["expected"], *(cell["count"] for cell in row["cells"])]
