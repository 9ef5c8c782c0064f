"""Eval measures as plain functions: no database, so each is checked against hand-computed values.

How one answer is scored is the task kind's (apps/projects/kinds); `label_match`, `SpanScore` and `span_score`
live with their kinds and are named here so that every eval measure can be found in one module.
"""

import math
from collections import Counter

from apps.projects.kinds import canonical, is_invalid_key, strip_reasoning
from apps.projects.kinds.classification import label_match
from apps.projects.kinds.ner import SpanScore, span_score

__all__ = ["SpanScore", "change_verdict", "consistency", "fisher_exact_p", "gate", "label_match",
           "micro_macro_f1", "paraphrase_agreement", "span_score", "wilson_interval"]


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


def paraphrase_agreement(groups: dict[str, list]) -> float:
    """The mean, over paraphrase groups of two or more, of the share of variants giving the group's modal answer."""
    shares = [consistency(answers) for answers in groups.values() if len(answers) >= 2]
    return sum(shares) / len(shares) if shares else 1.0


def fisher_exact_p(a_pass: int, a_n: int, b_pass: int, b_n: int) -> float:
    """Two-sided Fisher exact test of two pass rates (exact at the small counts a training point has)."""
    total_pass, total = a_pass + b_pass, a_n + b_n

    def probability(k: int) -> float:
        return math.comb(a_n, k) * math.comb(b_n, total_pass - k) / math.comb(total, total_pass)

    observed = probability(a_pass)
    low, high = max(0, total_pass - b_n), min(a_n, total_pass)
    return min(1.0, sum(p for k in range(low, high + 1) if (p := probability(k)) <= observed * (1 + 1e-9)))


def change_verdict(baseline: tuple[int, int], candidate: tuple[int, int], *, alpha: float = 0.05) -> str:
    """'improved', 'regressed' or 'unchanged': a change counts only when Fisher's exact test says p < alpha."""
    (b_pass, b_n), (c_pass, c_n) = baseline, candidate
    if b_n == 0 or c_n == 0 or fisher_exact_p(b_pass, b_n, c_pass, c_n) >= alpha:
        return "unchanged"
    return "improved" if c_pass / c_n > b_pass / b_n else "regressed"


def gate(points: list[dict], *, threshold: float) -> bool:
    """The eval passes when no point regressed and every point's pass rate meets the threshold.

    Each point: {"verdict": "improved" | "unchanged" | "regressed", "pass_rate": float}.
    """
    return all(p["verdict"] != "regressed" and p["pass_rate"] >= threshold for p in points)
