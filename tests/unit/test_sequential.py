"""Group-sequential boundaries and design-weighted estimates, against independent computations:
published boundary tables (Jennison & Turnbull; ../shared/reference/statistics.md), Monte-Carlo
simulation of the canonical joint distribution, and a pandas stratified mean."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simtest.judging import sequential as gs

# (one-sided alpha, looks) -> (Pocock constant, O'Brien-Fleming boundaries), as published
PUBLISHED = {
    (0.025, 2): (2.178, (2.797, 1.977)),
    (0.025, 3): (2.289, (3.471, 2.454, 2.004)),
    (0.05, 2): (1.875, (2.373, 1.678)),
    (0.05, 3): (1.992, (2.961, 2.094, 1.710)),
}


@pytest.mark.parametrize("alpha,looks", sorted(PUBLISHED))
def test_classic_boundaries_reproduce_the_published_tables(alpha, looks):
    pocock, obf = PUBLISHED[(alpha, looks)]
    assert gs.classic_boundaries(alpha, looks, "pocock") == pytest.approx((pocock,) * looks, abs=5e-4)
    assert gs.classic_boundaries(alpha, looks, "obrien_fleming") == pytest.approx(obf, abs=5e-4)


def _simulated_crossing(bounds, fractions, n=400_000, seed=7):
    """P0(Z_k >= b_k for some k) by simulating Brownian motion at the information fractions."""
    rng = np.random.default_rng(seed)
    t = np.asarray(fractions)
    inc = rng.normal(size=(n, t.size)) * np.sqrt(np.diff(np.concatenate([[0.0], t])))
    z = np.cumsum(inc, axis=1) / np.sqrt(t)
    return float(np.mean((z >= np.asarray(bounds)).any(axis=1)))


@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
@pytest.mark.parametrize("fractions", [(0.5, 1.0), (1 / 3, 2 / 3, 1.0), (0.25, 0.6, 1.0)])
def test_spending_boundaries_spend_exactly_alpha(spending, fractions):
    alpha = 0.05
    b = gs.spending_boundaries(alpha, fractions, spending)
    # each look spends what the spending function allows (scipy's multivariate normal) ...
    cum = 0.0
    for j in range(1, len(fractions) + 1):
        cum += gs.crossing_probability(b[:j], fractions[:j])
        assert cum == pytest.approx(gs.spent(fractions[j - 1], alpha, spending), abs=2e-5)
    # ... and an independent simulation of the joint distribution agrees on the total
    sim = _simulated_crossing(b, fractions)
    assert sim == pytest.approx(alpha, abs=3 * math.sqrt(alpha * (1 - alpha) / 400_000) + 5e-4)


def test_one_look_is_the_fixed_design_and_spending_tracks_the_classic_shapes():
    assert gs.spending_boundaries(0.05, (1.0,))[0] == pytest.approx(stats.norm.isf(0.05))
    ld = gs.spending_boundaries(0.05, (1 / 3, 2 / 3, 1.0), "obrien_fleming")
    classic = gs.classic_boundaries(0.05, 3, "obrien_fleming")
    assert ld[0] > classic[0] > classic[1] and ld[-1] == pytest.approx(classic[-1], abs=0.03)
    # OBF-like keeps the last look close to the fixed design's 1.645; Pocock-like pays more there
    pocock = gs.spending_boundaries(0.05, (1 / 3, 2 / 3, 1.0), "pocock")
    assert ld[-1] < pocock[-1]


@pytest.mark.parametrize("fractions", [(0.4,), (1.0,), (0.3, 0.7), (1 / 3, 2 / 3, 1.0)])
@pytest.mark.parametrize("spending", ["obrien_fleming", "pocock"])
def test_repeated_p_inverts_the_boundary(fractions, spending):
    for level in (0.001, 0.0125, 0.05, 0.2):
        z = gs.boundary_at(level, fractions, spending)
        assert gs.repeated_p(z, fractions, spending) == pytest.approx(level, rel=0.03)
    assert gs.repeated_p(-1.0, fractions, spending) >= 0.5  # no evidence of a regression


def test_information_fractions_drop_empty_looks_and_spend_everything_at_the_end():
    assert gs.information_fractions([100, 100, 100], 300, final=False) == (pytest.approx(1 / 3),)
    assert gs.information_fractions([100, 150, 200], 300, final=True) == (pytest.approx(1 / 3), 0.5, 1.0)
    assert gs.information_fractions([100], 300, final=True) == (1.0,)


def test_design_maps_seed_indices_to_looks():
    d = gs.SequentialDesign(looks=3, base_seeds=2, seeds_per_round=1)
    assert d.look_of(np.array([0, 1, 2, 3, 4, 9])).tolist() == [1, 1, 2, 3, 3, 3]
    assert d.max_seeds == 4


def test_design_weighted_estimate_equals_the_stratified_mean():
    rng = np.random.default_rng(3)
    # 30 samples extended twice (3 pairs each), 60 never (1 pair): oversampled strata must not dominate
    unit = np.concatenate([np.repeat(np.arange(30), 3), np.arange(30, 90)])
    d = np.concatenate([rng.choice([0, 1], 90, p=[0.7, 0.3]), rng.choice([0, 1], 60, p=[0.95, 0.05])]).astype(float)
    frame = pd.DataFrame({"unit": unit, "d": d})
    frame["n"] = frame.groupby("unit")["d"].transform("size")
    per_sample = frame.groupby("unit")["d"].mean()
    expected = per_sample.mean()  # every parameter sample weighs the same, as in the base plan
    labels = frame["n"].to_numpy()
    counts = frame.drop_duplicates("unit")["n"].value_counts().to_dict()
    st = gs.stratified(d, labels, counts)
    assert st.mean == pytest.approx(expected)
    assert st.mean != pytest.approx(d.mean())  # the plain mean would be inflated by the extension
    # the variance is the stratified one: sum W^2 s^2 / n
    g = frame.groupby("n")["d"]
    w = pd.Series(counts) / sum(counts.values())
    var = sum(w[k] ** 2 * g.get_group(k).var(ddof=1) / g.get_group(k).size for k in counts)
    assert st.se == pytest.approx(math.sqrt(var))
    assert st.weights == pytest.approx(tuple(w.sort_index()))
