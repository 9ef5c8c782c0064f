"""pass^k, the gate's reasons and how much a number of test cases can confirm: pure functions, hand-computed."""

import math

import pytest

from apps.evals import metrics


def exact_fisher(a_pass, a_n, b_pass, b_n):
    """The textbook two-sided Fisher test with exact integers: the reference the log-space one is checked against."""
    total_pass, total = a_pass + b_pass, a_n + b_n
    weights = {k: math.comb(a_n, k) * math.comb(b_n, total_pass - k)
               for k in range(max(0, total_pass - b_n), min(a_n, total_pass) + 1)}
    return sum(w for w in weights.values() if w <= weights[a_pass]) / math.comb(total, total_pass)


def test_pass_all_repeats_counts_cases_whose_every_repeat_passed():
    # 3/3 passes, 2/3 does not, 0/3 does not, a case with no answers is left out
    assert metrics.pass_all_repeats([(3, 3), (3, 2), (3, 0), (0, 0)]) == pytest.approx(1 / 3)
    assert metrics.pass_all_repeats([(1, 1), (1, 0)]) == 0.5  # one repeat: the cases' pass rate
    assert metrics.pass_all_repeats([]) == 0.0


def test_the_issue_example_is_unchanged_at_p_0_14():
    # 1/10 -> 5/10: 6 passes of 20; C(10,k)C(10,6-k) = 210, 2520, 9450, 14400, 9450, 2520, 210 of C(20,6) = 38760;
    # as or less likely than k=1 (2520): 210 + 2520 + 2520 + 210 = 5460 -> p = 0.1409
    assert metrics.fisher_exact_p(1, 10, 5, 10) == pytest.approx(5460 / 38760)
    assert metrics.change_verdict((1, 10), (5, 10)) == "unchanged"
    assert metrics.fisher_exact_p(12, 40, 20, 40) == pytest.approx(exact_fisher(12, 40, 20, 40))
    assert metrics.fisher_exact_p(12, 40, 20, 40) == pytest.approx(0.11, abs=0.005)


@pytest.mark.parametrize("table", [(0, 500, 20, 500), (130, 400, 170, 400), (7, 9, 1, 12), (3, 3, 0, 3)])
def test_the_log_space_fisher_agrees_with_exact_integers(table):
    assert metrics.fisher_exact_p(*table) == pytest.approx(exact_fisher(*table), rel=1e-9)


def test_the_smallest_change_ten_cases_can_confirm():
    # Against 1/10: 6/10 is p = (120 + 2100 + 2100 + 120) / C(20,7) = 4440 / 77520 = 0.057 (not enough);
    # 7/10 is (45 + 1200 + 1200 + 45) / C(20,8) = 2490 / 125970 = 0.0198: a rise of 0.6 is the smallest.
    # A fall to 0/10 is p = 1: from 1/10 no fall can be confirmed.
    assert exact_fisher(1, 10, 6, 10) == pytest.approx(4440 / 77520)
    assert exact_fisher(1, 10, 7, 10) == pytest.approx(2490 / 125970)
    rise, fall = metrics.confirmable_changes(1, 10, 10)
    assert rise == pytest.approx(0.6) and fall is None
    rise, fall = metrics.confirmable_changes(9, 10, 10)  # the mirror image
    assert rise is None and fall == pytest.approx(0.6)
    # 0/4 -> 4/4 is 2 / C(8,4) = 0.029, 3/4 is 8/56 = 0.14: four cases confirm only a rise to 100%
    assert metrics.confirmable_changes(0, 4, 4) == (pytest.approx(1.0), None)
    assert metrics.confirmable_changes(0, 0, 4) == (None, None)


def test_cases_needed_to_confirm_the_change_seen():
    # 0/4 -> 2/4 held at 0% vs 50%: 9 cases each (0/9 vs 4/9) is 252/3060 = 0.082; 10 (0/10 vs 5/10) is
    # 2 * C(10,5) / C(20,5) = 504/15504 = 0.0325
    assert exact_fisher(0, 9, 4, 9) == pytest.approx(252 / 3060)
    assert exact_fisher(0, 10, 5, 10) == pytest.approx(504 / 15504)
    assert metrics.cases_to_confirm((0, 4), (2, 4)) == 10
    # the issue's 1/10 -> 5/10 (p = 0.14): at n cases each, 10% rounded up and 50% down; 17 cases (2/17 vs 8/17)
    # are p = 0.057, 18 (2/18 vs 9/18) are p = 0.027
    assert exact_fisher(2, 17, 8, 17) == pytest.approx(0.057, abs=5e-4)
    assert exact_fisher(2, 18, 9, 18) == pytest.approx(0.0275, abs=5e-4)
    assert metrics.cases_to_confirm((1, 10), (5, 10)) == 18
    assert metrics.cases_to_confirm((5, 10), (1, 10)) == 18  # a fall the same size needs as many
    # rounding never exaggerates: 1/14 vs 7/14 would be p = 0.033, but 10% of 14 is counted as 2, not 1
    # the issue's overall 12/40 -> 20/40 (p = 0.11): 59 each (18/59 vs 29/59) are p = 0.060, 60 (18/60 vs 30/60) 0.040
    assert exact_fisher(18, 59, 29, 59) == pytest.approx(0.0595, abs=5e-4)
    assert exact_fisher(18, 60, 30, 60) == pytest.approx(0.0399, abs=5e-4)
    assert metrics.cases_to_confirm((12, 40), (20, 40)) == 60
    assert metrics.cases_to_confirm((3, 10), (3, 10)) is None  # nothing changed: nothing to confirm
    assert metrics.cases_to_confirm((500, 1000), (501, 1000)) is None  # over MAX_CASES_TO_CONFIRM


def test_the_gate_names_what_blocks_it():
    points = [{"name": "hold", "verdict": "regressed", "pass_rate": 0.95},
              {"name": "credit", "verdict": "unchanged", "pass_rate": 0.5},
              {"name": "refund", "verdict": "regressed", "pass_rate": 0.2},
              {"name": "ok", "verdict": "improved", "pass_rate": 0.99}]
    assert metrics.gate_blockers(points, threshold=0.9) == [
        ("hold", ["regressed"]), ("credit", ["below threshold"]), ("refund", ["regressed", "below threshold"])]
    assert not metrics.gate(points, threshold=0.9) and metrics.gate(points[3:], threshold=0.9)
