"""simtest.judging.stats against hand-computed values, scipy, and the reference notes
(../shared/reference/statistics.md): McNemar, Tango, Connor, floors, Holm/BH, bootstrap,
sign-flip permutation, and the anytime-valid bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as sps

from simtest.judging import stats


# The reference implementation from statistics.md section 1.4, verbatim in substance.
def _ref_tango_stat(b, c, n, d0):
    A = 2 * n; B = -b - c + (2 * n - b + c) * d0; C = -c * d0 * (1 - d0)
    q21 = (np.sqrt(max(B * B - 4 * A * C, 0.0)) - B) / (2 * A)
    num = b - c - n * d0
    if abs(num) < 1e-12:
        return 0.0
    var = n * (2 * q21 + d0 * (1 - d0))
    return num / np.sqrt(var) if var > 0 else np.sign(num) * np.inf


def _ref_tango_ci(b, c, n, conf=0.90):
    z = sps.norm.ppf(1 - (1 - conf) / 2); est = (b - c) / n; e = 1e-9
    f = lambda d0, t: _ref_tango_stat(b, c, n, d0) - t
    lo = -1 + e if f(-1 + e, z) <= 0 else optimize.brentq(f, -1 + e, est, args=(z,))
    hi = 1 - e if f(1 - e, -z) >= 0 else optimize.brentq(f, est, 1 - e, args=(-z,))
    return lo, hi


TANGO_CASES = [(0, 0, 10), (5, 0, 10), (0, 5, 10), (10, 0, 10), (3, 1, 50), (20, 5, 100), (7, 7, 94),
               (13, 0, 21), (0, 0, 200), (40, 35, 1000), (2, 9, 30)]


@pytest.mark.parametrize("b,c,n", TANGO_CASES)
def test_tango_bounds_match_the_reference_implementation(b, c, n):
    lo, hi = stats.tango_bounds(b, c, n, alpha=0.05)
    ref_lo, ref_hi = _ref_tango_ci(b, c, n, conf=0.90)
    assert lo == pytest.approx(ref_lo, abs=1e-9)
    assert hi == pytest.approx(ref_hi, abs=1e-9)


def test_tango_bounds_pinned_values():
    # 20 regressions, 5 fixes in 100 pairs: 95 % one-sided bounds on the drop
    lo, hi = stats.tango_bounds(20, 5, 100, 0.05)
    assert (round(lo, 6), round(hi, 6)) == (0.071856, 0.232141)


def test_tango_bounds_vectorise_like_scalars():
    b, c, n = (np.array(x) for x in zip(*TANGO_CASES))
    lo, hi = stats.tango_bounds(b, c, n, 0.05)
    for i, case in enumerate(TANGO_CASES):
        assert (lo[i], hi[i]) == pytest.approx(stats.tango_bounds(*case, 0.05), abs=1e-12)


@pytest.mark.parametrize("b,c", [(0, 0), (1, 0), (5, 0), (5, 5), (12, 3), (3, 12), (40, 25)])
def test_mcnemar_p_equals_scipy_binomtest(b, c):
    expected = sps.binomtest(b, b + c, 0.5, alternative="greater").pvalue if b + c else 1.0
    assert stats.mcnemar_p(b, c) == pytest.approx(expected, rel=1e-12)


def test_tango_p_crosses_alpha_exactly_at_the_lower_bound():
    lo, _ = stats.tango_bounds(20, 5, 100, 0.05)
    assert stats.tango_p(20, 5, 100, lo - 1e-6) < 0.05 < stats.tango_p(20, 5, 100, lo + 1e-6)


@pytest.mark.parametrize("alpha,k", [(0.05, 5), (0.01, 7), (0.0025, 9), (0.0005, 11)])
def test_min_discordant_matches_the_significance_floor_table(alpha, k):
    assert stats.min_discordant(alpha) == k
    assert 0.5**k <= alpha < 0.5 ** (k - 1)


def _psi(p1, p2, rho):
    p11 = p1 * p2 + rho * math.sqrt(p1 * (1 - p1) * p2 * (1 - p2))
    return (p1 - p11) + (p2 - p11)


@pytest.mark.parametrize("p1,p2,rho,n", [
    (0.9, 0.85, 0.5, 278), (0.9, 0.85, 0.3, 384), (0.9, 0.8, 0.5, 85), (0.9, 0.8, 0.0, 159),
    (0.7, 0.65, 0.5, 546), (0.7, 0.6, 0.5, 144),
])
def test_connor_n_reproduces_the_one_sided_sample_size_table(p1, p2, rho, n):
    assert stats.connor_n(_psi(p1, p2, rho), p1 - p2, alpha=0.05, power=0.8) == n


def test_connor_n_one_directional_change():
    assert stats.connor_n(0.05, 0.05) == 122
    assert stats.connor_n(0.10, 0.10) == 60


def test_holm_adjusts_like_the_hand_computation():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06, 0.04)=0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]).size == 0


def test_holm_works_row_by_row():
    p = np.array([[0.01, 0.04, 0.03, 0.005], [0.5, 0.01, 0.2, 0.3]])
    adj = stats.holm(p)
    assert adj[0] == pytest.approx(stats.holm(p[0]))
    assert adj[1] == pytest.approx(stats.holm(p[1]))


def test_bh_matches_the_reference_example():
    assert stats.bh([0.001, 0.01, 0.03, 0.2]) == pytest.approx([0.004, 0.02, 0.04, 0.2])


def test_mean_p_sign_flip_is_exact_for_small_samples():
    # five positive differences: only the identity of 2^5 sign patterns is as extreme
    assert stats.mean_p([0.3, 0.1, 0.2, 0.5, 0.4], 0.0, "greater", seed=1) == pytest.approx(1 / 32)
    assert stats.mean_p([0.3, 0.1, 0.2, 0.5, 0.4], 0.0, "less", seed=1) == pytest.approx(1.0)


def test_mean_p_tests_against_the_margin():
    d = np.full(12, 0.1) + np.linspace(-0.01, 0.01, 12)
    assert stats.mean_p(d, 0.05, "greater", seed=0) < 0.01  # clearly above 0.05
    assert stats.mean_p(d, 0.2, "greater", seed=0) > 0.5  # clearly below 0.2


def test_mean_bounds_are_seeded_and_bracket_the_mean():
    d = np.random.default_rng(3).normal(0.2, 1.0, 300)
    a = stats.mean_bounds(d, 0.05, seed=7)
    assert a == stats.mean_bounds(d, 0.05, seed=7)
    assert a[0] < d.mean() < a[1]
    se = d.std(ddof=1) / math.sqrt(d.size)
    assert a[1] - a[0] == pytest.approx(2 * 1.645 * se, rel=0.15)


def test_mean_bounds_use_the_t_interval_for_large_samples():
    d = np.random.default_rng(4).normal(0.0, 2.0, stats.BOOT_MAX_N + 1)
    lo, hi = stats.mean_bounds(d, 0.05)
    t = sps.t.ppf(0.95, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    assert (lo, hi) == pytest.approx((d.mean() - t, d.mean() + t))


def test_mean_bounds_refuse_to_claim_precision_from_a_few_identical_differences():
    assert stats.mean_bounds(np.zeros(5)) == (-math.inf, math.inf)
    assert stats.mean_bounds(np.zeros(50)) == (0.0, 0.0)


def test_betting_wealth_grows_only_against_a_false_null():
    # 30 regressions, 0 fixes, 70 ties: strong evidence that the mean exceeds 0 ...
    assert stats.betting_p(30, 70, 0, 0.0, "greater") < 1e-4
    # ... but none that it is below 0
    assert stats.betting_p(30, 70, 0, 0.0, "less") == 1.0
    # with no discordant pair, wealth against 'mean <= 0' never moves
    assert stats.betting_log_wealth(0, 500, 0, 0.0, "greater") == pytest.approx(0.0)


def test_betting_bounds_bracket_the_estimate_and_shrink_with_n():
    lo1, hi1 = stats.betting_bounds(10, 80, 10, 0.05)
    lo2, hi2 = stats.betting_bounds(100, 800, 100, 0.05)
    assert lo1 < 0 < hi1 and lo2 < 0 < hi2
    assert hi2 - lo2 < hi1 - lo1


def test_betting_bounds_agree_with_the_p_values():
    grid = stats.bet_grid(0.1)
    lo, hi = stats.betting_bounds(25, 60, 5, 0.05, 0.2, grid)
    assert stats.betting_p(25, 60, 5, lo - 1e-6, "greater", grid) <= 0.05
    assert stats.betting_p(25, 60, 5, lo + 1e-6, "greater", grid) > 0.05
    assert stats.betting_p(25, 60, 5, hi + 1e-6, "less", grid) <= 0.2
    assert stats.betting_p(25, 60, 5, hi - 1e-6, "less", grid) > 0.2


def test_anytime_bounds_are_wider_than_fixed_n_bounds():
    lo_f, hi_f = stats.tango_bounds(20, 5, 100, 0.05)
    lo_s, hi_s = stats.betting_bounds(20, 75, 5, 0.05)
    assert lo_s < lo_f and hi_s > hi_f


def test_bet_grid_runs_from_large_bets_down_to_the_margin():
    g = stats.bet_grid(0.1)
    assert g[0] == pytest.approx(0.9) and g[-1] >= 0.1 * 0.6 and len(g) >= 3
    assert len(stats.bet_grid(0.02)) > len(stats.bet_grid(0.1))


def test_normal_mixture_radius_shrinks_with_n_but_stays_above_the_fixed_z_radius():
    r = stats.normal_mixture_radius(np.array([10, 100, 1000, 10000]), 1.0, 0.05)
    assert np.all(np.diff(r) < 0)
    assert np.all(r > 1.645 / np.sqrt([10, 100, 1000, 10000]))


def test_normal_mixture_p_is_consistent_with_its_bounds():
    d = np.random.default_rng(5).normal(0.3, 1.0, 400)
    p = stats.normal_mixture_p(d, 0.0, "greater")
    lo, _ = stats.normal_mixture_bounds(d, p * 1.01)
    lo2, _ = stats.normal_mixture_bounds(d, p * 0.99)
    assert lo > 0 > lo2 or (lo > 0 and lo2 == pytest.approx(0, abs=1e-3))


def test_check_seed_is_stable_and_distinct_per_check():
    a = stats.check_seed(0, "baseline", "time_to_goal", "overall").generate_state(2)
    b = stats.check_seed(0, "baseline", "time_to_goal", "overall").generate_state(2)
    c = stats.check_seed(0, "reference", "time_to_goal", "overall").generate_state(2)
    assert list(a) == list(b) and list(a) != list(c)


def test_decision_rules_say_fail_pass_undecided():
    # fixed-n: a clear 25-point drop fails; no discordance in 500 pairs passes a 5-point margin
    assert stats.fixed_binary_decision(25, 0, 100, 0.05) == stats.FAIL
    assert stats.fixed_binary_decision(0, 0, 500, 0.05) == stats.PASS
    assert stats.fixed_binary_decision(2, 1, 20, 0.05) == stats.UNDECIDED
    assert stats.sequential_binary_decision(25, 75, 0, 0.05) == stats.FAIL
    assert stats.sequential_binary_decision(0, 500, 0, 0.05) == stats.PASS
    assert stats.sequential_binary_decision(2, 17, 1, 0.05) == stats.UNDECIDED
