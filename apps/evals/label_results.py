"""Selectors: an eval's measures per label (classification) or per entity type (NER), overall and per training
point, computed from its outputs when asked (a few grouped queries; the measures are `label_metrics`'s).

Every output counts, each repeat of a test case as one answer, as the pass rate counts them.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Case, Count, TextField, Value, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.urls import reverse

from apps.projects.kinds.ner import span_match
from apps.review.models import TestCase

from .label_metrics import INVALID, Report, SpanTally, confusion_labels, confusion_matrix, label_report
from .models import EvalOutput, EvalRun

OVERALL_NAME = "All test cases"
TEXT = TextField()


@dataclass
class LabelResult:
    """One table of the breakdown: all test cases (`point_id` None) or one training point's."""

    name: str
    point_id: int | None
    report: Report
    labels: list[str] = field(default_factory=list)  # the confusion's rows (classification only)
    matrix: list[dict] = field(default_factory=list)  # {"expected", "cells": [{"count", "url"}]}, last: non-answers


def label_results(eval_run: EvalRun) -> list[LabelResult]:
    """The breakdown the eval's task kind has (`Kind.breakdown`), overall first then per point by name; empty
    for a kind without one."""
    breakdown = eval_run.project.kind.breakdown
    if breakdown == "labels":
        return _by_label(eval_run)
    if breakdown == "entity types":
        return _by_entity_type(eval_run)
    return []


def _point_names(eval_run: EvalRun) -> dict:
    """The training points the eval reports on (those of its stored results), by id."""
    return {r.point_id: r.point.name for r in eval_run.results.select_related("point") if r.point_id}


def _ordered(results: list[LabelResult]) -> list[LabelResult]:
    return sorted(results, key=lambda r: (r.point_id is not None, r.name.lower()))


# --- classification ------------------------------------------------------------------------

def _label_pair() -> dict:
    """The (expected, answered) labels of an output, as query expressions; a non-answer is answered INVALID."""
    return {"expected": KeyTextTransform("label", "test_case__expected"),
            "answered": Case(When(status="ok", then=Coalesce(KeyTextTransform("label", "answer"), Value(INVALID),
                                                            output_field=TEXT)),
                             default=Value(INVALID), output_field=TEXT)}


def _by_label(eval_run: EvalRun) -> list[LabelResult]:
    outputs = EvalOutput.objects.filter(eval_run=eval_run).order_by()
    pair = _label_pair()
    confusions = defaultdict(dict)
    for row in outputs.values(**pair).annotate(n=Count("id")):
        if row["expected"] is not None:
            confusions[None][(row["expected"], row["answered"])] = row["n"]
    names = _point_names(eval_run)
    per_point = outputs.filter(test_case__points__in=list(names)).values("test_case__points", **pair)
    for row in per_point.annotate(n=Count("id")):
        if row["expected"] is not None:
            confusions[row["test_case__points"]][(row["expected"], row["answered"])] = row["n"]
    known = eval_run.project.labels
    link = reverse("evals:detail", args=[eval_run.id])
    results = []
    for point_id, confusion in confusions.items():
        labels = confusion_labels(confusion, known)
        counts = confusion_matrix(confusion, labels)
        cells = [{"expected": expected,
                  "cells": [{"count": n, "url": _cell_url(link, point_id, expected, answered)}
                            for answered, n in zip([*labels, INVALID], row, strict=True)]}
                 for expected, row in zip(labels, counts, strict=True)]
        results.append(LabelResult(names.get(point_id, OVERALL_NAME), point_id, label_report(confusion, labels),
                                   labels, cells))
    return _ordered(results)


def _cell_url(link: str, point_id, expected: str, answered: str) -> str:
    query = {"point": point_id} if point_id else {}
    return f"{link}?{urlencode({**query, 'expected': expected, 'answered': answered})}#outputs"


# --- NER -----------------------------------------------------------------------------------

def _case_texts(outputs) -> dict:
    """The text and expected answer of each test case the outputs answer, by id."""
    return {case_id: (text, expected) for case_id, text, expected in TestCase.objects.filter(
        id__in=outputs.values("test_case_id")).values_list("id", "text", "expected").iterator()}


def _by_entity_type(eval_run: EvalRun) -> list[LabelResult]:
    outputs = EvalOutput.objects.filter(eval_run=eval_run).order_by()
    cases = _case_texts(outputs)
    per_case = defaultdict(SpanTally)
    for case_id, answer in outputs.values_list("test_case_id", "answer").iterator():
        text, expected = cases[case_id]
        per_case[case_id].add(span_match(expected, answer, text))
    names = _point_names(eval_run)
    tallies = defaultdict(SpanTally)
    links = TestCase.points.through.objects.filter(testcase_id__in=list(per_case), trainingpoint_id__in=list(names))
    for case_id, point_id in links.values_list("testcase_id", "trainingpoint_id").iterator():
        tallies[point_id].merge(per_case[case_id])
    for tally in per_case.values():
        tallies[None].merge(tally)
    known = eval_run.project.entity_types
    return _ordered([LabelResult(names.get(point_id, OVERALL_NAME), point_id, tally.report(known))
                     for point_id, tally in tallies.items()])


# --- several evals at once (the dashboard's columns) ------------------------------------------

def overall_reports(project, eval_runs: list[EvalRun]) -> dict[int, Report]:
    """The measures of each of the project's `eval_runs` over all its test cases, by eval id: per label (one
    grouped query for all the evals) or per entity type (their outputs read once); empty for a kind without a
    breakdown."""
    if not eval_runs:
        return {}
    ids = [eval_run.id for eval_run in eval_runs]
    if project.kind.breakdown == "labels":
        return _label_reports(ids, project.labels)
    if project.kind.breakdown == "entity types":
        return _entity_type_reports(ids, project.entity_types)
    return {}


def _label_reports(eval_ids: list[int], known: list[str]) -> dict[int, Report]:
    confusions = defaultdict(dict)
    grouped = EvalOutput.objects.filter(eval_run__in=eval_ids).order_by().values("eval_run_id", **_label_pair())
    for row in grouped.annotate(n=Count("id")):
        if row["expected"] is not None:
            confusions[row["eval_run_id"]][(row["expected"], row["answered"])] = row["n"]
    return {eval_id: label_report(confusion, confusion_labels(confusion, known))
            for eval_id, confusion in confusions.items()}


def _entity_type_reports(eval_ids: list[int], known: list[str]) -> dict[int, Report]:
    outputs = EvalOutput.objects.filter(eval_run__in=eval_ids).order_by()
    cases = _case_texts(outputs)
    tallies = defaultdict(SpanTally)
    for eval_id, case_id, answer in outputs.values_list("eval_run_id", "test_case_id", "answer").iterator():
        text, expected = cases[case_id]
        tallies[eval_id].add(span_match(expected, answer, text))
    return {eval_id: tally.report(known) for eval_id, tally in tallies.items()}


# --- the API's and the CSV's shapes ----------------------------------------------------------

def report_data(result: LabelResult) -> dict:
    report = result.report
    data = {"point": result.point_id, "point_name": result.name,
            "rows": [{"label": r.label, "precision": r.precision, "recall": r.recall, "f1": r.f1,
                      "support": r.support} for r in report.rows],
            "micro_f1": report.micro.f1, "macro_f1": report.macro_f1}
    if report.errors:
        data["errors"] = report.errors
    return data


def confusion_data(result: LabelResult) -> dict:
    return {"point": result.point_id, "point_name": result.name, "expected": result.labels,
            "answered": [*result.labels, "invalid"],
            "matrix": [[cell["count"] for cell in row["cells"]] for row in result.matrix]}
