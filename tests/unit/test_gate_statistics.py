"""Acceptance: the gate's statistical behaviour measured, not assumed, on a synthetic paired
environment with known success probabilities per slice (seeded, vectorised numpy). Measured:
the A/A false-alarm rate, the power to find a planted 10-point drop at the sample size the
reference tables give, interval coverage, and the episodes adaptive seeding saves at equal
error rates. A consistency test pins that compare() makes exactly the decisions simulated here,
so the rates measured are the gate's. Larger versions are marked slow."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from simtest.judging import stats
from simtest.judging.compare import compare
from simtest.contract.policy import policy_from_dict

ALPHA = 0.05
# The synthetic environment: known baseline success probability per slice.
SLICES = {"day": 0.92, "dusk": 0.88, "night": 0.80}


def _mc_tol(p: float, n: int) -> float:
    """Three Monte-Carlo standard errors of a rate p estimated from n simulated gates."""
    return 3 * math.sqrt(p * (1 - p) / n)


def paired(rng: np.random.Generator, gates: int, n: int, p_base: float, p_cand: float, rho: float):
    """Paired outcomes (gates x n) with the given success probabilities and phi correlation rho
    (common random numbers). Returns d in {-1, 0, +1}: +1 = baseline succeeded, candidate failed."""
    p11 = p_base * p_cand + rho * math.sqrt(p_base * (1 - p_base) * p_cand * (1 - p_cand))
    p10, p01 = p_base - p11, p_cand - p11
    u = rng.random((gates, n))
    return np.where(u < p10, 1, np.where(u < p10 + p01, -1, 0)).astype(np.int8), p10 - p01


def counts(d: np.ndarray):
    pos = (d == 1).sum(-1)
    neg = (d == -1).sum(-1)
    return pos, d.shape[-1] - pos - neg, neg


def fixed_gate_fails(ds: dict[str, np.ndarray], blocking: list[str], margins: dict[str, float], safety: bool):
    """The fixed-n gate over a blocking family (Holm), as compare() decides it: per gate, does any
    blocking check fail? `ds`: slice -> d (gates x n_slice); 'overall' is all slices together."""
    ps, clears = [], []
    for name in blocking:
        d = np.concatenate(list(ds.values()), axis=1) if name == "overall" else ds[name]
        b, _, c = counts(d)
        n = d.shape[1]
        margin = margins[name]
        lower, _ = stats.tango_bounds(b, c, n, ALPHA)
        m_fail = 0.0 if safety else margin
        ps.append(stats.mcnemar_p(b, c) if m_fail == 0 else stats.tango_p(b, c, n, m_fail))
        clears.append(lower > 0 if safety else lower >= margin)
    adj = stats.holm(np.stack(ps, axis=-1))
    return np.any((adj <= ALPHA) & np.stack(clears, axis=-1), axis=-1)


# --------------------------------------------------------------------------- A/A false alarms


@pytest.mark.parametrize("p,rho,n", [(0.9, 0.5, 94), (0.7, 0.3, 200), (0.95, 0.5, 60)])
def test_aa_false_alarm_rate_of_one_check_is_at_most_alpha(p, rho, n):
    rng = np.random.default_rng(1)
    gates = 20_000
    d, _ = paired(rng, gates, n, p, p, rho)
    b, _, c = counts(d)
    rate = np.mean(stats.fixed_binary_decision(b, c, n, 0.0, alpha=ALPHA, safety=True) == stats.FAIL)
    assert rate <= ALPHA + _mc_tol(ALPHA, gates)


def test_aa_false_alarm_rate_of_the_whole_gate_is_at_most_alpha():
    # overall + night + dusk in the blocking family, the strictest reading (any confident drop)
    rng = np.random.default_rng(2)
    gates, n_slice = 10_000, 120
    ds = {s: paired(rng, gates, n_slice, p, p, 0.5)[0] for s, p in SLICES.items()}
    family = ["overall", "night", "dusk"]
    fails = fixed_gate_fails(ds, family, {s: 0.0 for s in family}, safety=True)
    assert fails.mean() <= ALPHA + _mc_tol(ALPHA, gates)
    # with the shipped non-inferiority margins (5 points overall, 10 in slices) an equal candidate
    # essentially never fails
    ni = fixed_gate_fails(ds, family, {"overall": 0.05, "night": 0.10, "dusk": 0.10}, safety=False)
    assert ni.mean() <= 0.005


def test_aa_against_an_identical_copy_never_fails():
    rng = np.random.default_rng(3)
    d, _ = paired(rng, 2000, 100, 0.9, 0.9, 1.0)  # rho = 1 with equal rates: no discordant pair
    assert not np.any(d)
    b, _, c = counts(d)
    assert not np.any(stats.fixed_binary_decision(b, c, 100, 0.0, safety=True) == stats.FAIL)


# --------------------------------------------------------------------------- power


@pytest.mark.parametrize("p,rho,n_table", [(0.9, 0.5, 94), (0.7, 0.5, 156), (0.9, 0.3, 126)])
def test_planted_10_point_drop_in_one_slice_is_detected_with_80_percent_power(p, rho, n_table):
    """n_table: the exact one-sided paired n for a 10-point drop from statistics.md section 3.2."""
    rng = np.random.default_rng(4)
    gates = 10_000
    d, _ = paired(rng, gates, n_table, p, p - 0.10, rho)
    b, _, c = counts(d)
    power = np.mean(stats.fixed_binary_decision(b, c, n_table, 0.0, alpha=ALPHA, safety=True) == stats.FAIL)
    assert power >= 0.80 - _mc_tol(0.8, gates)


def test_planted_drop_is_found_in_its_slice_and_not_in_the_others():
    rng = np.random.default_rng(5)
    gates, n = 4000, 94
    drop = {"day": 0.0, "dusk": 0.0, "night": 0.10}
    ds = {s: paired(rng, gates, n, 0.9, 0.9 - drop[s], 0.5)[0] for s in SLICES}
    found = {s: np.mean(stats.fixed_binary_decision(*_bcn(ds[s]), 0.0, safety=True) == stats.FAIL) for s in SLICES}
    assert found["night"] >= 0.80 - _mc_tol(0.8, gates)
    assert found["day"] <= ALPHA + _mc_tol(ALPHA, gates) and found["dusk"] <= ALPHA + _mc_tol(ALPHA, gates)


def _bcn(d):
    b, _, c = counts(d)
    return b, c, d.shape[-1]


# --------------------------------------------------------------------------- coverage


@pytest.mark.parametrize("p_base,p_cand,rho,n", [(0.9, 0.8, 0.5, 94), (0.9, 0.9, 0.5, 94), (0.7, 0.6, 0.5, 156),
                                                  (0.8, 0.8, 0.5, 40)])
def test_tango_interval_coverage_is_within_2_points_of_nominal(p_base, p_cand, rho, n):
    rng = np.random.default_rng(6)
    gates = 20_000
    d, delta = paired(rng, gates, n, p_base, p_cand, rho)
    b, _, c = counts(d)
    lower, upper = stats.tango_bounds(b, c, n, ALPHA)
    assert abs(np.mean((lower <= delta) & (delta <= upper)) - (1 - 2 * ALPHA)) <= 0.02
    assert abs(np.mean(lower <= delta) - (1 - ALPHA)) <= 0.02  # each one-sided bound too


def test_anytime_valid_bounds_cover_at_every_look_at_once():
    rng = np.random.default_rng(7)
    gates, n_max = 1000, 282
    d, delta = paired(rng, gates, n_max, 0.9, 0.85, 0.5)
    looks = np.arange(10, n_max + 1, 10)
    pos = np.cumsum(d == 1, axis=1)[:, looks - 1]
    neg = np.cumsum(d == -1, axis=1)[:, looks - 1]
    lower, upper = stats.betting_bounds(pos, looks - pos - neg, neg, ALPHA, ALPHA, stats.bet_grid(0.1))
    time_uniform = np.mean(np.all((lower <= delta) & (delta <= upper), axis=1))
    assert time_uniform >= 1 - 2 * ALPHA - _mc_tol(0.9, gates)


def test_bootstrap_interval_coverage_is_within_2_points_of_nominal():
    rng = np.random.default_rng(8)
    sims, n, mu = 400, 100, 0.1
    hits = 0
    for i in range(sims):
        d = rng.normal(mu, 1.0, n)
        lo, hi = stats.mean_bounds(d, ALPHA, seed=i, n_resamples=500)
        hits += lo <= mu <= hi
    assert abs(hits / sims - (1 - 2 * ALPHA)) <= 0.02 + _mc_tol(0.9, sims)


# --------------------------------------------------------------------------- adaptive seeding


def adaptive_run(d: np.ndarray, margin: float, batch: int, cap: int, alpha_pass: float = 0.2):
    """The sequential procedure: look after every `batch` pairs, stop at the first FAIL or PASS
    (stats.sequential_binary_decision, the rule compare() applies in sequential mode), and fail
    what is still undecided at the cap. Returns (failed, pairs used) per simulated gate."""
    looks = np.arange(batch, cap + 1, batch)
    pos = np.cumsum(d == 1, axis=1)[:, looks - 1]
    neg = np.cumsum(d == -1, axis=1)[:, looks - 1]
    dec = stats.sequential_binary_decision(pos, looks - pos - neg, neg, margin, alpha=ALPHA,
                                           alpha_pass=alpha_pass, safety=True)
    first = np.argmax(dec != stats.UNDECIDED, axis=1)
    rows = np.arange(d.shape[0])
    decided = dec[rows, first] != stats.UNDECIDED
    used = np.where(decided, looks[first], looks[-1])
    failed = np.where(decided, dec[rows, first] == stats.FAIL, True)
    return failed, used


@pytest.mark.parametrize("p,rho,n_fixed", [(0.9, 0.5, 94), (0.7, 0.5, 156)])
def test_adaptive_seeding_uses_30_percent_fewer_episodes_on_aa_at_equal_error_rates(p, rho, n_fixed):
    """Fixed design: n_fixed pairs (the table's size for a 10-point drop), fail on an exact
    McNemar p <= alpha. Adaptive: batches of 10 pairs, anytime-valid, capped at 3 x n_fixed."""
    rng = np.random.default_rng(9)
    gates, cap, drop = 3000, 3 * n_fixed, 0.10
    d_aa, _ = paired(rng, gates, cap, p, p, rho)
    d_drop, _ = paired(rng, gates, cap, p, p - drop, rho)
    fixed_aa = np.mean(stats.fixed_binary_decision(*_bcn(d_aa[:, :n_fixed]), drop, safety=True) == stats.FAIL)
    fixed_power = np.mean(stats.fixed_binary_decision(*_bcn(d_drop[:, :n_fixed]), drop, safety=True) == stats.FAIL)
    fail_aa, used_aa = adaptive_run(d_aa, drop, 10, cap)
    fail_drop, _ = adaptive_run(d_drop, drop, 10, cap)
    # equal (or better) error rates ...
    assert fail_aa.mean() <= max(fixed_aa, ALPHA) + _mc_tol(ALPHA, gates)
    assert fail_drop.mean() >= min(fixed_power, 0.80) - _mc_tol(0.8, gates)
    # ... with at least 30 % fewer episodes when nothing changed
    assert used_aa.mean() <= 0.70 * n_fixed


def test_peeking_at_fixed_n_intervals_would_inflate_false_alarms_but_the_sequence_does_not():
    rng = np.random.default_rng(10)
    gates, cap = 3000, 300
    d, _ = paired(rng, gates, cap, 0.8, 0.8, 0.3)
    looks = np.arange(10, cap + 1, 10)
    pos = np.cumsum(d == 1, axis=1)[:, looks - 1]
    neg = np.cumsum(d == -1, axis=1)[:, looks - 1]
    naive = np.any(stats.mcnemar_p(pos, neg) <= ALPHA, axis=1).mean()
    anytime = np.any(stats.betting_p(pos, looks - pos - neg, neg, 0.0, "greater", stats.bet_grid(0.1)) <= ALPHA,
                     axis=1).mean()
    assert naive > 2 * ALPHA  # the peeking problem, measured
    assert anytime <= ALPHA + _mc_tol(ALPHA, gates)


# --------------------------------------------------------------------------- compare() makes these decisions


DECL = {"success": {"kind": "binary", "better": "higher", "time_like": False}}


def _frames(ds: dict[str, np.ndarray], g: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Result frames of simulated gate g: one case per pair, lighting = slice."""
    rows_b, rows_c = [], []
    i = 0
    for lighting, d in ds.items():
        for k, v in enumerate(d[g]):
            base_ok, cand_ok = (True, False) if v == 1 else (False, True) if v == -1 else (True, True)
            if v == 0 and (k % 7 == 0):
                base_ok = cand_ok = False  # some concordant failures too
            common = {"case_id": f"{i:06d}", "scenario": "synthetic/s-v1", "scenario_hash": "h", "seed": i,
                      "sample": i, "params": json.dumps({"lighting": lighting}), "tags": [lighting],
                      "outcome": "completed"}
            rows_b.append({**common, "passed": base_ok, "metric_success": float(base_ok)})
            rows_c.append({**common, "passed": cand_ok, "metric_success": float(cand_ok)})
            i += 1
    return pd.DataFrame(rows_c), pd.DataFrame(rows_b)


@pytest.mark.parametrize("sequential", [False, True, "group_sequential"])
def test_compare_makes_the_simulated_decisions(sequential):
    """compare() against the statistics computed here by hand: fixed (exact McNemar + Tango),
    anytime (betting), and group-sequential at its single, final look, which must equal the fixed
    design (O'Brien-Fleming spending at t = 1 is the fixed z)."""
    rng = np.random.default_rng(11)
    gates, n = 12, 60
    ds = {"day": paired(rng, gates, n, 0.9, 0.9, 0.5)[0], "night": paired(rng, gates, n, 0.85, 0.65, 0.5)[0]}
    policy = policy_from_dict({
        "metrics": {"passed": {"safety": True, "blocking": True, "margin_baseline": 0.1},
                    "errors": {"blocking": False}},
        "slices": {"tags": False, "params": {"lighting": {}}}, "blocking_slices": ["lighting=night"],
        "adaptive": {"enabled": bool(sequential), "design": "group_sequential" if sequential == "group_sequential" else "anytime"},
    }, DECL)
    for g in range(gates):
        cand, base = _frames(ds, g)
        verdict = compare(cand, base, None, policy, DECL)
        got = {c.slice: c for c in verdict.checks if c.metric == "passed"}
        ps, lowers = [], []
        for name in ("overall", "night"):
            d = np.concatenate([ds["day"][g], ds["night"][g]]) if name == "overall" else ds["night"][g]
            pos, zero, neg = counts(d)
            if sequential is True:
                grid = stats.bet_grid(0.1)
                ps.append(stats.betting_p(pos, zero, neg, 0.0, "greater", grid))
                lowers.append(stats.betting_bounds(pos, zero, neg, ALPHA, 0.2, grid)[0])
            else:
                ps.append(stats.mcnemar_p(pos, neg))
                lowers.append(stats.tango_bounds(pos, neg, d.size, ALPHA)[0])
        adj = stats.holm(ps)
        for name, key, p, a, lo in zip(("overall", "night"), ("overall", "lighting=night"), ps, adj, lowers):
            assert got[key].p_value == pytest.approx(p) and got[key].p_adjusted == pytest.approx(a)
            assert (got[key].decision == "fail") == (a <= ALPHA and lo > 0), (g, name)


# --------------------------------------------------------------------------- slow: larger versions


@pytest.mark.slow
@pytest.mark.parametrize("p,rho,n_fixed,drop", [(0.9, 0.5, 94, 0.10), (0.9, 0.5, 300, 0.05), (0.7, 0.5, 156, 0.10),
                                                (0.7, 0.5, 581, 0.05), (0.9, 0.3, 126, 0.10)])
def test_slow_adaptive_savings_and_error_rates_across_the_reference_designs(p, rho, n_fixed, drop):
    rng = np.random.default_rng(12)
    gates, cap = 10_000, 3 * n_fixed
    d_aa, _ = paired(rng, gates, cap, p, p, rho)
    d_drop, _ = paired(rng, gates, cap, p, p - drop, rho)
    fail_aa, used_aa = adaptive_run(d_aa, drop, 10, cap)
    fail_drop, _ = adaptive_run(d_drop, drop, 10, cap)
    assert fail_aa.mean() <= ALPHA
    assert fail_drop.mean() >= 0.80
    assert used_aa.mean() <= 0.70 * n_fixed


@pytest.mark.slow
@pytest.mark.parametrize("dist,n", [("normal", 50), ("normal", 200), ("skew", 100), ("ternary", 100)])
def test_slow_bootstrap_coverage_across_shapes(dist, n):
    rng = np.random.default_rng(13)
    sims = 2000
    hits = 0
    for i in range(sims):
        if dist == "normal":
            d, mu = rng.normal(0.1, 1.0, n), 0.1
        elif dist == "skew":
            d, mu = rng.exponential(1.0, n) - 0.9, 0.1
        else:
            d, mu = rng.choice([-1.0, 0.0, 1.0], n, p=[0.05, 0.85, 0.10]), 0.05
        lo, hi = stats.mean_bounds(d, ALPHA, seed=i, n_resamples=1000)
        hits += lo <= mu <= hi
    assert abs(hits / sims - 0.90) <= 0.02 + _mc_tol(0.9, sims)


@pytest.mark.slow
def test_slow_whole_gate_aa_false_alarms_with_both_comparisons():
    rng = np.random.default_rng(14)
    gates, n_slice = 20_000, 200
    fails = np.zeros(gates, bool)
    # candidate vs baseline and vs reference: two comparisons in one Holm family of 6
    ds_b = {s: paired(rng, gates, n_slice, p, p, 0.5)[0] for s, p in SLICES.items()}
    ds_r = {s: paired(rng, gates, n_slice, p, p, 0.5)[0] for s, p in SLICES.items()}
    ps, clears = [], []
    for ds in (ds_b, ds_r):
        for name in ("overall", "night", "dusk"):
            d = np.concatenate(list(ds.values()), axis=1) if name == "overall" else ds[name]
            b, _, c = counts(d)
            ps.append(stats.mcnemar_p(b, c))
            clears.append(stats.tango_bounds(b, c, d.shape[1], ALPHA)[0] > 0)
    fails = np.any((stats.holm(np.stack(ps, -1)) <= ALPHA) & np.stack(clears, -1), axis=-1)
    assert fails.mean() <= ALPHA + _mc_tol(ALPHA, gates)
