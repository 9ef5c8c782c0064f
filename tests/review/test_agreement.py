"""Reviewer agreement statistics (apps/review/agreement.py) against values worked out by hand."""

import pytest

from apps.review import agreement


def test_cohen_kappa_matches_the_hand_computed_value():
    # observed 3/4; chance (2*1 + 2*3) / 16 = 1/2; kappa = (0.75 - 0.5) / 0.5
    pairs = [("pass", "pass"), ("pass", "fail"), ("fail", "fail"), ("fail", "fail")]
    assert agreement.cohen_kappa(pairs) == pytest.approx(0.5)
    assert agreement.cohen_kappa([("a", "a"), ("b", "b")]) == pytest.approx(1.0)


def test_fleiss_kappa_matches_the_hand_computed_value():
    # P-bar = (1 + 0 + 1 + 1) / 4 = 0.75; Pe = (3/8)^2 + (5/8)^2 = 0.53125; kappa = 0.21875 / 0.46875
    items = [["pass", "pass"], ["pass", "fail"], ["fail", "fail"], ["fail", "fail"]]
    assert agreement.fleiss_kappa(items) == pytest.approx(0.21875 / 0.46875)


def test_agreement_figures_pair_reviewers_and_compare_answers():
    # Two outputs both rated by a and b: verdicts agree on one, answers on both.
    ratings = {1: {"a": ("pass", "billing"), "b": ("pass", "billing")},
               2: {"a": ("pass", "technical"), "b": ("fail", "technical")},
               3: {"a": ("fail", "x")}}  # rated once: not counted
    figures = agreement.agreement_figures(ratings, {"a": "ann", "b": "bob"})
    assert figures["outputs"] == 2 and figures["pairs"][0]["reviewers"] == ("ann", "bob")
    # verdicts: observed 1/2, chance (2*1 + 0*1) / 4 = 1/2 -> kappa 0
    assert figures["pairs"][0]["verdict_kappa"] == pytest.approx(0.0)
    assert figures["pairs"][0]["label_kappa"] == pytest.approx(1.0)
