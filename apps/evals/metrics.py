"""Scoring for eval runs as plain functions of answers: no database, so each is checked against hand-computed values."""

import math
from collections import Counter
from dataclasses import dataclass


def label_match(expected: dict, answer) -> bool:
    """Classification: the exact expected label."""
    return isinstance(answer, dict) and answer.get("label") == expected.get("label")


def _entity_keys(answer) -> Counter:
    entities = answer.get("entities") if isinstance(answer, dict) else None
    keys = Counter()
    for entity in entities or []:
        if isinstance(entity, dict) and isinstance(entity.get("text"), str):
            keys[(" ".join(entity["text"].split()), entity.get("type"))] += 1
    return keys


@dataclass(frozen=True)
class SpanScore:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def span_score(expected: dict, answer) -> SpanScore:
    """NER, entity level: an entity counts when its text (spaces normalised) and type both match.

    Entities are compared as multisets, so a duplicated prediction is a false positive and
    an overlapping span of the wrong extent or type is both a false positive and a miss.
    """
    wanted, found = _entity_keys(expected), _entity_keys(answer)
    hits = sum((wanted & found).values())
    return SpanScore(hits, sum(found.values()) - hits, sum(wanted.values()) - hits)


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


def answer_identity(answer) -> str:
    """The answer as consistency compares it: reasoning left out, entities as a multiset of (text, type)."""
    if isinstance(answer, dict):
        answer = {k: v for k, v in answer.items() if k != "reasoning"}
        if isinstance(answer.get("entities"), list):
            return repr(sorted(_entity_keys(answer).items(), key=repr))
    return repr(sorted(answer.items())) if isinstance(answer, dict) else repr(answer)


def consistency(answers: list) -> float:
    """The share of repeats that give the most common answer (with a tie, that count is still the mode's)."""
    if not answers:
        return 1.0
    return Counter(answer_identity(a) for a in answers).most_common(1)[0][1] / len(answers)


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
