"""Reviewer agreement as plain functions of ratings: no database, so each is checked against hand-computed values
(tests/review/test_agreement.py). `selectors.agreement(project)` reads the grades and calls these."""

from collections import Counter
from itertools import combinations


def cohen_kappa(pairs: list[tuple]) -> float | None:
    """Cohen's kappa of two raters over items rated by both: (observed - chance) / (1 - chance)."""
    if not pairs:
        return None
    n = len(pairs)
    observed = sum(1 for a, b in pairs if a == b) / n
    left, right = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    chance = sum(left[c] * right[c] for c in set(left) | set(right)) / (n * n)
    if chance == 1:
        return 1.0 if observed == 1 else 0.0
    return (observed - chance) / (1 - chance)


def fleiss_kappa(items: list[list]) -> float | None:
    """Fleiss' kappa over items each rated by the same number (at least 2) of raters."""
    items = [ratings for ratings in items if len(ratings) >= 2]
    if not items:
        return None
    raters = min(len(r) for r in items)
    items = [r[:raters] for r in items]
    n = len(items)
    categories = Counter(c for ratings in items for c in ratings)
    p_bar = sum((sum(v * v for v in Counter(r).values()) - raters) / (raters * (raters - 1)) for r in items) / n
    p_e = sum((count / (n * raters)) ** 2 for count in categories.values())
    if p_e == 1:
        return 1.0 if p_bar == 1 else 0.0
    return (p_bar - p_e) / (1 - p_e)


def agreement_figures(ratings: dict, names: dict) -> dict:
    """Kappa on verdicts and on answers, overall (Fleiss) and for each pair of raters (Cohen).

    `ratings`: {item: {rater: (verdict, answer identity)}}; `names`: {rater: name}. Only items rated by two or
    more raters count.
    """
    shared = {item: by_rater for item, by_rater in ratings.items() if len(by_rater) >= 2}
    pairs = []
    for first, second in combinations(sorted(names), 2):
        both = [(r[first], r[second]) for r in shared.values() if first in r and second in r]
        if both:
            pairs.append({
                "reviewers": (names[first], names[second]), "items": len(both),
                "verdict_kappa": cohen_kappa([(a[0], b[0]) for a, b in both]),
                "label_kappa": cohen_kappa([(a[1], b[1]) for a, b in both]),
            })
    return {
        "outputs": len(shared),
        "verdict_kappa": fleiss_kappa([[v for v, _ in r.values()] for r in shared.values()]),
        "label_kappa": fleiss_kappa([[a for _, a in r.values()] for r in shared.values()]),
        "pairs": pairs,
    }
