"""An eval run's results per training point and overall, computed in the database when it finishes and stored
(so a dashboard reads a few rows per eval, never its outputs); and the verdicts against a baseline."""

from collections import defaultdict
from dataclasses import dataclass
from itertools import groupby

from django.db.models import Avg, Count, Q, Sum

from apps.core.db import Percentile, has_percentile, percentile_of_sorted
from apps.projects.kinds import is_invalid_key
from apps.review.models import TestCase

from . import metrics
from .calibration import judge_gate_note
from .models import EvalOutput, EvalRun, PointResult

OVERALL = None  # the point of the row for all test cases


@dataclass(slots=True)
class CaseTally:
    outputs: int = 0
    passed: int = 0
    modal: int = 0
    modal_key: str = ""


def results_compute(eval_run: EvalRun) -> list[PointResult]:
    outputs = EvalOutput.objects.filter(eval_run=eval_run)
    chosen = set(eval_run.points.values_list("id", flat=True))
    links = _case_points(outputs, chosen)
    sums = {OVERALL: outputs.aggregate(**_aggregates())}
    by_point = outputs.filter(test_case__points__in=list(links.points)).values("test_case__points")
    for row in by_point.annotate(**_aggregates()):
        sums[row["test_case__points"]] = row
    if not has_percentile():
        _add_percentiles_in_python(outputs, sums)
    cases = _case_tallies(outputs)
    groups = dict(TestCase.objects.filter(id__in=outputs.values("test_case_id")).exclude(paraphrase_group="")
                  .values_list("id", "paraphrase_group"))
    results = [_result(eval_run, point, sums[point], _cases_of(point, cases, links), groups)
               for point in [OVERALL, *sorted(links.points)] if point in sums]
    PointResult.objects.filter(eval_run=eval_run).delete()
    return PointResult.objects.bulk_create(results)


def _aggregates() -> dict:
    aggregates = {
        "outputs": Count("id"), "passes": Count("id", filter=Q(passed=True)),
        "errors": Count("id", filter=Q(status="error")), "mean_input_tokens": Avg("input_tokens"),
        "mean_output_tokens": Avg("output_tokens"), "tp": Sum("true_positives"), "fp": Sum("false_positives"),
        "fn": Sum("false_negatives"), "mean_score": Avg("score"),
    }
    if has_percentile():
        aggregates.update(p50=Percentile("latency_ms", 0.5), p95=Percentile("latency_ms", 0.95))
    return aggregates


def _add_percentiles_in_python(outputs, sums: dict) -> None:
    latencies = sorted(outputs.values_list("latency_ms", flat=True))
    sums[OVERALL].update(p50=percentile_of_sorted(latencies, 0.5), p95=percentile_of_sorted(latencies, 0.95))
    rows = outputs.filter(test_case__points__in=[p for p in sums if p is not OVERALL]).values_list(
        "test_case__points", "latency_ms").order_by("test_case__points", "latency_ms")
    for point, group in groupby(rows.iterator(), key=lambda row: row[0]):
        values = [latency for _, latency in group]
        sums[point].update(p50=percentile_of_sorted(values, 0.5), p95=percentile_of_sorted(values, 0.95))


@dataclass
class Links:
    points: set
    cases_of_point: dict


def _case_points(outputs, chosen: set) -> Links:
    through = TestCase.points.through.objects.filter(testcase_id__in=outputs.values("test_case_id"))
    if chosen:
        through = through.filter(trainingpoint_id__in=chosen)
    cases_of_point = defaultdict(set)
    for case_id, point_id in through.values_list("testcase_id", "trainingpoint_id").iterator():
        cases_of_point[point_id].add(case_id)
    return Links(set(cases_of_point), cases_of_point)


def _case_tallies(outputs) -> dict[int, CaseTally]:
    """Per test case: outputs, passes, and how many repeats gave its most common answer."""
    tallies: dict[int, CaseTally] = defaultdict(CaseTally)
    rows = outputs.values_list("test_case_id", "answer_key").annotate(
        n=Count("id"), passes=Count("id", filter=Q(passed=True))).order_by("test_case_id", "answer_key")
    for case_id, key, n, passes in rows.iterator():
        tally = tallies[case_id]
        tally.outputs += n
        tally.passed += passes
        if is_invalid_key(key):  # a non-answer agrees with nothing: it is never the modal answer
            tally.modal_key = tally.modal_key or key
        elif n > tally.modal:
            # ties keep the first key in order, so the modal answer is deterministic
            tally.modal, tally.modal_key = n, key
    return tallies


def _cases_of(point, cases: dict, links: Links) -> list[tuple[int, CaseTally]]:
    if point is OVERALL:
        return list(cases.items())
    return [(case_id, cases[case_id]) for case_id in links.cases_of_point[point] if case_id in cases]


def _result(eval_run: EvalRun, point, sums: dict, cases: list, groups: dict) -> PointResult:
    n, passed = sums["outputs"], sums["passes"]
    low, high = metrics.wilson_interval(passed, n)
    grouped = defaultdict(list)
    for case_id, tally in cases:
        if case_id in groups:
            grouped[groups[case_id]].append(tally.modal_key)
    has_f1 = eval_run.project.kind.has_f1
    return PointResult(
        eval_run=eval_run, point_id=point, test_cases=len(cases),
        test_cases_passed=sum(1 for _, t in cases if 2 * t.passed > t.outputs),
        outputs=n, passed=passed, errors=sums["errors"], pass_rate=passed / n if n else 0.0, ci_low=low, ci_high=high,
        consistency=sum(t.modal / t.outputs for _, t in cases) / len(cases) if cases else 1.0,
        pass_all=metrics.pass_all_repeats([(t.outputs, t.passed) for _, t in cases]),
        paraphrase_agreement=metrics.paraphrase_agreement(grouped) if any(len(g) > 1 for g in grouped.values())
        else None,
        latency_p50_ms=sums.get("p50") or 0.0, latency_p95_ms=sums.get("p95") or 0.0,
        mean_input_tokens=sums["mean_input_tokens"] or 0.0, mean_output_tokens=sums["mean_output_tokens"] or 0.0,
        f1_micro=metrics.SpanScore(sums["tp"] or 0, sums["fp"] or 0, sums["fn"] or 0).f1 if has_f1 else None,
        f1_macro=sums["mean_score"] if has_f1 else None,
    )


def verdicts_update(eval_run: EvalRun) -> None:
    """Compare each point with the baseline (Fisher's exact test on test cases passed) and set the gate.

    Test cases, not outputs, are the unit of the test: the repeats of one case are not independent
    draws, and counting them would make small changes look significant.
    """
    results = list(eval_run.results.all())
    baseline = eval_run.baseline
    before = {}
    if baseline is not None and baseline.is_completed:
        before = {r.point_id: r for r in baseline.results.all()}
    for result in results:
        base = before.get(result.point_id)
        if base is None:
            result.verdict, result.p_value = "", None
            _evidence_set(result, None)
            continue
        pair = (base.test_cases_passed, base.test_cases), (result.test_cases_passed, result.test_cases)
        result.verdict = metrics.change_verdict(*pair)
        result.p_value = metrics.fisher_exact_p(pair[0][0], pair[0][1], pair[1][0], pair[1][1]) \
            if base.test_cases and result.test_cases else None
        _evidence_set(result, base)
    PointResult.objects.bulk_update(results, ["verdict", "p_value", *EVIDENCE_FIELDS])
    gated = [r for r in results if r.point_id is not None] or results
    passed = metrics.gate([{"verdict": r.verdict or "unchanged", "pass_rate": r.pass_rate} for r in gated],
                          threshold=eval_run.project.pass_threshold)
    note = judge_gate_note(eval_run)  # an untrusted judge: its verdicts alone cannot pass the gate
    passed = passed and not note
    EvalRun.objects.filter(id=eval_run.id).update(gate_passed=passed, gate_note=note)
    eval_run.gate_passed, eval_run.gate_note = passed, note


EVIDENCE_FIELDS = ["confirmable_rise", "confirmable_fall", "cases_to_confirm"]


def _evidence_set(result: PointResult, base: PointResult | None) -> None:
    """How strong the evidence against the baseline can be: the smallest change this many test cases could
    confirm, and how many would confirm the change seen (on test cases passed, as the verdict)."""
    if base is None:
        result.confirmable_rise = result.confirmable_fall = result.cases_to_confirm = None
        return
    result.confirmable_rise, result.confirmable_fall = metrics.confirmable_changes(
        base.test_cases_passed, base.test_cases, result.test_cases)
    result.cases_to_confirm = metrics.cases_to_confirm((base.test_cases_passed, base.test_cases),
                                                       (result.test_cases_passed, result.test_cases))
