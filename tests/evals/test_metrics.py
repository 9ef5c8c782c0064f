"""Eval metrics against values worked out by hand."""

import pytest

from apps.evals import metrics


def test_label_match_is_exact():
    assert metrics.label_match({"label": "billing"}, {"label": "billing", "reasoning": "x"})
    assert not metrics.label_match({"label": "billing"}, {"label": "Billing"})
    assert not metrics.label_match({"label": "billing"}, None)


def ents(*pairs):
    return {"entities": [{"text": t, "type": k} for t, k in pairs]}


@pytest.mark.parametrize("predicted, tp, fp, fn, f1", [
    (ents(("Acme Corp", "PARTY"), ("May 1", "DATE")), 2, 0, 0, 1.0),
    (ents(("Acme", "PARTY"), ("May 1", "DATE")), 1, 1, 1, 0.5),          # overlap of the wrong extent
    (ents(("Acme Corp", "DATE"), ("May 1", "DATE")), 1, 1, 1, 0.5),      # wrong type
    (ents(("Acme Corp", "PARTY"), ("Acme Corp", "PARTY"), ("May 1", "DATE")), 2, 1, 0, 0.8),  # duplicate
    (ents(), 0, 0, 2, 0.0),
])
def test_span_scores(predicted, tp, fp, fn, f1):
    score = metrics.span_score(ents(("Acme Corp", "PARTY"), ("May 1", "DATE")), predicted)
    assert (score.true_positives, score.false_positives, score.false_negatives) == (tp, fp, fn)
    assert score.f1 == pytest.approx(f1)


def test_nothing_expected_and_nothing_found_is_perfect():
    assert metrics.span_score(ents(), ents()).f1 == 1.0


def test_micro_and_macro_f1():
    # case 1: tp 2 fp 0 fn 0 (F1 1.0); case 2: tp 0 fp 1 fn 1 (F1 0.0)
    # micro: tp 2, fp 1, fn 1 -> p 2/3, r 2/3, F1 2/3; macro: (1 + 0) / 2
    scores = [metrics.SpanScore(2, 0, 0), metrics.SpanScore(0, 1, 1)]
    micro, macro = metrics.micro_macro_f1(scores)
    assert micro == pytest.approx(2 / 3) and macro == pytest.approx(0.5)


@pytest.mark.parametrize("successes, n, low, high", [
    (8, 10, 0.4902, 0.9433),
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (45, 50, 0.7864, 0.9565),
])
def test_wilson_interval_matches_published_values(successes, n, low, high):
    got_low, got_high = metrics.wilson_interval(successes, n)
    assert got_low == pytest.approx(low, abs=1e-4) and got_high == pytest.approx(high, abs=1e-4)


def test_consistency_counts_the_modal_answer_with_ties():
    assert metrics.consistency([{"label": "a"}, {"label": "a"}, {"label": "b"}]) == pytest.approx(2 / 3)
    assert metrics.consistency([{"label": "a"}, {"label": "b"}]) == pytest.approx(0.5)  # a tie: 1 of 2
    assert metrics.consistency([{"label": "a", "reasoning": "x"}, {"label": "a", "reasoning": "y"}]) == 1.0
    assert metrics.consistency([ents(("A", "P"), ("B", "Q")), ents(("B", "Q"), ("A", "P"))]) == 1.0


def test_paraphrase_agreement_averages_groups_of_two_or_more():
    groups = {"g1": [{"label": "a"}, {"label": "a"}], "g2": [{"label": "a"}, {"label": "b"}, {"label": "b"},
                                                            {"label": "b"}], "single": [{"label": "z"}]}
    assert metrics.paraphrase_agreement(groups) == pytest.approx((1.0 + 0.75) / 2)


def test_fisher_exact_matches_the_hand_computed_value():
    # 3/3 vs 0/3: the table is the most extreme of its margins; p = 2 * (1 / C(6, 3)) = 0.1
    assert metrics.fisher_exact_p(3, 3, 0, 3) == pytest.approx(0.1)
    assert metrics.fisher_exact_p(2, 4, 2, 4) == pytest.approx(1.0)


@pytest.mark.parametrize("baseline, candidate, verdict", [
    ((2, 20), (18, 20), "improved"),
    ((18, 20), (2, 20), "regressed"),
    ((3, 3), (0, 3), "unchanged"),   # p = 0.1: too few test cases to call it
    ((10, 20), (11, 20), "unchanged"),
])
def test_change_verdicts(baseline, candidate, verdict):
    assert metrics.change_verdict(baseline, candidate) == verdict


def test_the_gate():
    ok = [{"verdict": "improved", "pass_rate": 0.95}, {"verdict": "unchanged", "pass_rate": 0.9}]
    assert metrics.gate(ok, threshold=0.9)
    assert not metrics.gate([*ok, {"verdict": "regressed", "pass_rate": 0.99}], threshold=0.9)
    assert not metrics.gate([{"verdict": "improved", "pass_rate": 0.85}], threshold=0.9)


def test_a_non_answer_agrees_with_nothing():
    from apps.projects.kinds import INVALID_KEY_PREFIX

    bad = [INVALID_KEY_PREFIX + "a", INVALID_KEY_PREFIX + "b"]
    assert metrics.consistency(bad) == 0.0  # not 1.0: nothing valid was answered
    assert metrics.consistency([None, None, None]) == 0.0
    assert metrics.consistency([{"label": "a"}, {"label": "a"}, None]) == pytest.approx(2 / 3)
