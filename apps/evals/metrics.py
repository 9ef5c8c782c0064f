"""Eval measures as plain functions: no database, so each is checked against hand-computed values.

How one answer is scored is the task kind's (apps/projects/kinds); `label_match`, `SpanScore` and `span_score`
live with their kinds and are named here so that every eval measure can be found in one module.
"""

import math
from collections import Counter

from apps.projects.kinds import canonical, is_invalid_key, strip_reasoning
from apps.projects.kinds.classification import label_match
from apps.projects.kinds.ner import SpanScore, span_score

__all__ = ["SpanScore", "cases_to_confirm", "change_verdict", "confirmable_changes", "consistency",
           "fisher_exact_p", "gate", "gate_blockers", "label_match", "micro_macro_f1", "pass_all_repeats",
           "paraphrase_agreement", "span_score", "wilson_interval"]

ALPHA = 0.05  # the gate's level: a change counts when Fisher's exact test gives p < ALPHA
MAX_CASES_TO_CONFIRM = 10_000


def micro_macro_f1(scores: list[SpanScore]) -> tuple[float, float]:
    """Micro F1 pools the counts of all test cases; macro F1 averages their F1s."""
    if not scores:
        return 0.0, 0.0
    pooled = SpanScore(sum(s.true_positives for s in scores), sum(s.false_positives for s in scores),
                       sum(s.false_negatives for s in scores))
    return pooled.f1, sum(s.f1 for s in scores) / len(scores)


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval of a pass rate (sound at small n and at 0% or 100%)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def consistency(answers: list) -> float:
    """The share of answers that give the most common valid answer (with a tie, that count is still the mode's).

    Each item is an answer key (`kinds.answer_key`) or an answer; an invalid key or None is a non-answer, which
    agrees with nothing, so answers that are all invalid have consistency 0, not 1.
    """
    if not answers:
        return 1.0
    identities = Counter(_identity(a) for a in answers if not _is_non_answer(a))
    return (identities.most_common(1)[0][1] if identities else 0) / len(answers)


def _identity(answer) -> str:
    return answer if isinstance(answer, str) else canonical(strip_reasoning(answer))


def _is_non_answer(answer) -> bool:
    return answer is None or (isinstance(answer, str) and is_invalid_key(answer))


def pass_all_repeats(cases: list[tuple[int, int]]) -> float:
    """pass^k: the share of test cases all of whose repeats passed. Each item: (repeats answered, repeats passed).

    Beside the pass rate (pass@1 averaged over repeats) it says how often a case can be relied on every time.
    """
    answered = [(n, passed) for n, passed in cases if n]
    return sum(1 for n, passed in answered if passed == n) / len(answered) if answered else 0.0


def paraphrase_agreement(groups: dict[str, list]) -> float:
    """The mean, over paraphrase groups of two or more, of the share of variants giving the group's modal answer."""
    shares = [consistency(answers) for answers in groups.values() if len(answers) >= 2]
    return sum(shares) / len(shares) if shares else 1.0


def fisher_exact_p(a_pass: int, a_n: int, b_pass: int, b_n: int) -> float:
    """Two-sided Fisher exact test of two pass rates (exact at the small counts a training point has).

    The hypergeometric probabilities are worked out in log space, so thousands of test cases (the searches of
    `confirmable_changes` and `cases_to_confirm`) cost milliseconds, not the big-integer binomials' seconds.
    """
    total_pass = a_pass + b_pass
    low, high = max(0, total_pass - b_n), min(a_n, total_pass)
    logs = _log_probabilities(a_n, b_n, total_pass, low, high)
    observed = logs[a_pass - low]
    return min(1.0, sum(math.exp(x) for x in logs if x <= observed + 1e-7))


def _log_probabilities(a_n: int, b_n: int, total_pass: int, low: int, high: int) -> list[float]:
    """log P(k) of the hypergeometric distribution for k = low..high: the first from log-gamma, each next one by
    the ratio P(k+1)/P(k), one logarithm per k."""
    logs = [_log_comb(a_n, low) + _log_comb(b_n, total_pass - low) - _log_comb(a_n + b_n, total_pass)]
    for k in range(low, high):
        logs.append(logs[-1] + math.log((a_n - k) * (total_pass - k) / ((k + 1) * (b_n - total_pass + k + 1))))
    return logs


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def change_verdict(baseline: tuple[int, int], candidate: tuple[int, int], *, alpha: float = ALPHA) -> str:
    """'improved', 'regressed' or 'unchanged': a change counts only when Fisher's exact test says p < alpha."""
    (b_pass, b_n), (c_pass, c_n) = baseline, candidate
    if b_n == 0 or c_n == 0 or fisher_exact_p(b_pass, b_n, c_pass, c_n) >= alpha:
        return "unchanged"
    return "improved" if c_pass / c_n > b_pass / b_n else "regressed"


def gate(points: list[dict], *, threshold: float) -> bool:
    """The eval passes when no point regressed and every point's pass rate meets the threshold.

    Each point: {"verdict": "improved" | "unchanged" | "regressed", "pass_rate": float}.
    """
    return not gate_blockers(points, threshold=threshold)


def gate_blockers(points: list[dict], *, threshold: float) -> list[tuple[str, list[str]]]:
    """The points that fail the gate, each with why: "regressed", "below threshold" or both, in the given order.

    Each point: {"name": str (optional), "verdict": ..., "pass_rate": float}.
    """
    blockers = []
    for point in points:
        reasons = (["regressed"] if point["verdict"] == "regressed" else []) + \
            (["below threshold"] if point["pass_rate"] < threshold else [])
        if reasons:
            blockers.append((point.get("name", ""), reasons))
    return blockers


def confirmable_changes(base_pass: int, base_n: int, n: int, *, alpha: float = ALPHA
                        ) -> tuple[float | None, float | None]:
    """The smallest rise and the smallest fall of the pass rate, from the baseline's base_pass/base_n, that `n`
    test cases could confirm (Fisher's exact test p < alpha), as fractions; None where no result of n cases
    could (a baseline at 0% cannot be confirmed to fall).

    Each direction is searched outwards from the baseline's rate, halving the interval (p falls as the count
    moves away from the baseline's rate).
    """
    if base_n == 0 or n == 0:
        return None, None
    rate = base_pass / base_n

    def confirmed(k: int) -> bool:
        return fisher_exact_p(base_pass, base_n, k, n) < alpha

    above = base_pass * n // base_n + 1  # the first count above the baseline's rate
    below = -(-base_pass * n // base_n) - 1  # the first count below it
    rise = _first(confirmed, above, n)
    steps_down = _first(lambda step: confirmed(below - step), 0, below)
    return (None if rise is None else rise / n - rate,
            None if steps_down is None else rate - (below - steps_down) / n)


def cases_to_confirm(baseline: tuple[int, int], candidate: tuple[int, int], *, alpha: float = ALPHA,
                     most: int = MAX_CASES_TO_CONFIRM) -> int | None:
    """How many test cases (on each side) Fisher's exact test would need to confirm the change seen, were both
    pass rates to stay as they are; None when nothing changed, or when not even `most` cases would do.

    At n cases the lower rate's count is rounded up and the higher's down, so rounding never makes the change
    look larger than it is. Found by doubling, then halving the interval; Fisher's test is discrete, so the
    answer is approximate: now and then a count a little above it falls just short.
    """
    (b_pass, b_n), (c_pass, c_n) = baseline, candidate
    if b_n == 0 or c_n == 0 or b_pass * c_n == c_pass * b_n:
        return None
    (low_pass, low_n), (high_pass, high_n) = sorted([baseline, candidate], key=lambda pair: pair[0] / pair[1])

    def confirmed(n: int) -> bool:
        return fisher_exact_p(-(-n * low_pass // low_n), n, n * high_pass // high_n, n) < alpha

    high = max(b_n, c_n)
    while not confirmed(high):
        if high >= most:
            return None
        high = min(2 * high, most)
    return _first(confirmed, 1, high)


def _first(holds, low: int, high: int) -> int | None:
    """The smallest x in low..high for which `holds(x)`, for a test that, once it holds, holds for every larger x;
    None when it does not hold even at `high`."""
    if low > high or not holds(high):
        return None
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if holds(middle) else (middle + 1, high)
    return low
