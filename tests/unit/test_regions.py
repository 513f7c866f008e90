"""Regression regions (simtest.judging.regions) on seeded synthetic paired data with planted
regions of known extent, and on small result frames paired like the gate pairs them."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from simtest.contract.policy import policy_from_dict
from simtest.judging import regions as R
from simtest.judging.compare import compare
from simtest.judging.findings import attach

LIGHT = ("day", "dusk", "night")


def planted(n=3000, *, seed=0, where=None, drop=0.5, gain=None, base_rate=0.92, n_params=4):
    """Paired binary data: lighting (3 values) and n_params - 1 uniform parameters x0.. in [0, 1).
    Inside `where(lighting, x)` the candidate loses its success with probability `drop`; inside
    `gain(...)` it turns a baseline failure into a success. Elsewhere both agree."""
    rng = np.random.default_rng(seed)
    light = rng.choice(LIGHT, n)
    x = rng.random((n, n_params - 1)).round(4)
    params = tuple({"lighting": str(lt), **{f"x{j}": float(v) for j, v in enumerate(row)}} for lt, row in zip(light, x))
    base = (rng.random(n) < base_rate).astype(float)
    cand = base.copy()
    if where is not None:
        hit = where(light, x) & (base > 0) & (rng.random(n) < drop)
        cand[hit] = 0.0
    if gain is not None:
        up = gain(light, x) & (base == 0)
        cand[up] = 1.0
    return R.PairedData(params, tuple(() for _ in range(n)), "binary", cand, base, base - cand), light, x


def test_a_planted_two_condition_region_is_the_top_regression_with_bounds_around_its_effect():
    data, light, x = planted(where=lambda lt, x: (lt == "night") & (x[:, 0] >= 0.5))
    res = R.search(data)
    top = res.regressions()[0]
    assert {c.feature for c in top.conditions} == {"lighting", "x0"}
    assert "lighting=night" in top.rule and "x0>=0.5" in top.rule
    truth = (light == "night") & (x[:, 0] >= 0.5)
    true_delta = float(data.d[truth].mean())
    assert top.lower <= true_delta <= top.upper and top.lower > 0.3
    assert abs(top.n - truth.sum()) <= 0.05 * truth.sum()
    assert top.p_adjusted <= res.q and top.parent_p <= res.alpha
    # the parents it explains are not reported beside it
    rules = [r.rule for r in res.regressions()]
    assert "lighting=night" not in rules and "x0>=0.5" not in rules


@pytest.mark.parametrize("depth", [1, 3])
def test_planted_regions_of_one_and_three_conditions_are_found(depth):
    if depth == 1:
        where = lambda lt, x: lt == "dusk"  # noqa: E731
        want = {"lighting"}
    else:
        where = lambda lt, x: (lt == "night") & (x[:, 0] >= 0.5) & (x[:, 1] < 0.5)  # noqa: E731
        want = {"lighting", "x0", "x1"}
    data, *_ = planted(n=4000, where=where, drop=0.7)
    top = R.search(data).regressions()[0]
    assert {c.feature for c in top.conditions} == want


def test_aa_data_reports_no_region():
    found = 0
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        data, *_ = planted(n=2000, seed=seed)
        flip = rng.random(data.n) < 0.1  # symmetric noise: both versions fail some cases, equally often
        cand = np.where(flip, 1 - data.base, data.base)
        swap = rng.random(data.n) < 0.5
        c2, b2 = np.where(swap, data.base, cand), np.where(swap, cand, data.base)
        aa = R.PairedData(data.params, data.tags, "binary", c2, b2, b2 - c2)
        res = R.search(aa)
        assert res.examined > 100
        found += len(res.regions)
    assert found == 0


def test_an_improvement_is_named_as_an_improvement_not_a_regression():
    data, *_ = planted(base_rate=0.6, gain=lambda lt, x: lt == "dusk",
                       where=lambda lt, x: (lt == "night") & (x[:, 0] < 0.5))
    res = R.search(data)
    assert [r.rule for r in res.improvements()][:1] == ["lighting=dusk"]
    assert res.improvements()[0].delta < 0 < res.regressions()[0].delta
    assert all("dusk" not in r.rule for r in res.regressions())


def test_a_uniform_regression_has_no_region_worse_than_its_parent():
    data, *_ = planted(where=lambda lt, x: np.ones(lt.size, bool), drop=0.3)
    res = R.search(data)
    assert res.discoveries > 0  # many regions regressed...
    assert res.regressions() == ()  # ...but none more than the whole suite: the overall check says it


def test_histogram_counts_equal_counting_with_masks():
    data, *_ = planted(n=500, where=lambda lt, x: lt == "night", n_params=4)
    feats = R._features(data, cuts=3)
    b = ((data.base > 0.5) & (data.cand < 0.5)).astype(float)
    w = np.column_stack([np.ones(data.n), b, np.zeros(data.n)])
    seen = 0
    for combo, hist in R._count(feats, w, 3):
        for idx in itertools.product(*(range(len(feats[i].conditions)) for i in combo)):
            key = tuple(zip(combo, idx))
            mask = R._mask(key, feats)
            assert hist[idx][0] == mask.sum() and hist[idx][1] == b[mask].sum()
            seen += 1
    assert seen > 500  # every region up to depth 3 of 4 features


def test_cut_points_come_from_distinct_samples_so_extra_seeds_do_not_move_them():
    data, *_ = planted(n=300)
    shared = {id(p): p for p in data.params}
    # every sample twice more (adaptive seeds): the same dict objects, so the same distinct samples
    params3 = data.params + data.params + data.params
    d3 = R.PairedData(params3, data.tags * 3, "binary", np.tile(data.cand, 3), np.tile(data.base, 3), np.tile(data.d, 3))
    cuts = lambda d: [c.label for f in R._features(d, 3) for c in f.conditions]  # noqa: E731
    assert cuts(d3) == cuts(data) and len(shared) == 300


def test_continuous_metric_regions_use_the_paired_differences():
    rng = np.random.default_rng(3)
    n = 2000
    light = rng.choice(LIGHT, n)
    params = tuple({"lighting": str(v), "x": float(rng.random())} for v in light)
    base = rng.normal(10, 1, n)
    cand = base + rng.normal(0, 0.3, n) + np.where(light == "night", 0.8, 0.0)  # lower is better: worse at night
    d = cand - base
    res = R.search(R.PairedData(params, tuple(() for _ in range(n)), "continuous", cand, base, d))
    top = res.regressions()[0]
    assert top.rule == "lighting=night" and top.lower < 0.8 < top.upper


def test_too_few_pairs_examines_nothing():
    data, *_ = planted(n=8)
    res = R.search(data, min_support=10)
    assert res.examined == 0 and res.regions == () and "fewer than" in res.note


# --------------------------------------------------------------------------- frames, policy, verdict


def frames(n=240, seed=1):
    """Baseline and candidate result frames; the candidate fails foggy night cases. Candidate rows are
    shuffled and carry one env_error row: pairing is by case_id, infrastructure is left out."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        lt = LIGHT[i % 3]
        fog = round(float(rng.uniform(0, 0.3)), 3)
        rows.append({"case_id": f"c{i:05d}", "scenario": "driving/fog-v1", "scenario_hash": "h", "seed": i,
                     "sample": i, "seed_index": 0, "params": json.dumps({"lighting": lt, "fog_density": fog}),
                     "tags": ["fog"], "attempt": 1, "error": ""})
    base = pd.DataFrame(rows)
    base["outcome"] = "completed"
    base["passed"] = rng.random(n) < 0.95
    cand = base.copy()
    params = [json.loads(p) for p in base["params"]]
    bad = np.array([p["lighting"] == "night" and p["fog_density"] >= 0.1 for p in params])
    cand["passed"] = base["passed"] & ~bad
    cand.loc[5, "outcome"] = "env_error"
    return cand.sample(frac=1.0, random_state=0).reset_index(drop=True), base


def test_search_frames_pairs_by_case_id_and_leaves_infrastructure_out():
    cand, base = frames()
    res = R.search_frames(cand, base)
    assert res.n_pairs == len(base) - 1
    top = res.regressions()[0]
    conds = {c.feature: c for c in top.conditions}
    assert set(conds) == {"lighting", "fog_density"} and conds["lighting"].value == "night"
    # the planted edge is 0.1; the nearest data-driven cut below it is the first quartile (~0.08)
    assert conds["fog_density"].op == ">=" and 0.05 < conds["fog_density"].value <= 0.1
    assert top.delta > 0.7


def test_a_tighter_cut_is_reported_only_when_worse_than_the_looser_one():
    data, light, x = planted(n=4000, where=lambda lt, x: (lt == "night") & (x[:, 0] >= 0.25), drop=0.6)
    rules = [r.rule for r in R.search(data).regressions()]
    assert len(rules) == 1 and rules[0].startswith("lighting=night & x0>=0.2")  # the cut nearest 0.25
    # x0>=0.5 and x0>=0.75 at night regress as much, but not more: not reported beside it


def test_a_blocking_region_search_fails_the_verdict_and_a_diagnostic_one_does_not():
    cand, base = frames()
    pol = {"metrics": {"passed": {"margin_baseline": 0.5, "blocking": True}}, "adaptive": {"enabled": False},
           "slices": {"tags": False}}
    diag = policy_from_dict(pol)
    v = attach(compare(cand, base, None, diag), {"candidate": cand, "baseline": base}, diag, None)
    assert v.verdict == "pass" and v.findings.regions[0].regressions()
    assert any(r.startswith("diagnostic: top regression region") for r in v.reasons)
    block = policy_from_dict({**pol, "regions": {"blocking": True, "margin": 0.2}})
    v = attach(compare(cand, base, None, block), {"candidate": cand, "baseline": base}, block, None)
    assert v.verdict == "fail" and v.exit_code == 1
    assert any("in region" in r and "blocking region search" in r for r in v.reasons)
    # a margin larger than the regression: nothing to block
    wide = policy_from_dict({**pol, "regions": {"blocking": True, "margin": 0.99}})
    v = attach(compare(cand, base, None, wide), {"candidate": cand, "baseline": base}, wide, None)
    assert v.verdict == "pass"


def test_region_values_are_frozen_and_json_safe():
    cand, base = frames()
    res = R.search_frames(cand, base)
    with pytest.raises(Exception):
        res.regions[0].delta = 0.0  # type: ignore[misc]
    doc = json.loads(json.dumps(res.to_json(), allow_nan=False))
    assert doc["regions"][0]["rule"] == res.regions[0].rule and doc["examined"] == res.examined


def test_same_inputs_give_the_same_regions():
    cand, base = frames()
    assert R.search_frames(cand, base).to_json() == R.search_frames(cand.iloc[::-1], base).to_json()


def test_two_disjoint_planted_regions_are_both_reported():
    data, *_ = planted(n=4000, drop=0.6,
                       where=lambda lt, x: ((lt == "night") & (x[:, 0] >= 0.5)) | ((lt == "day") & (x[:, 1] < 0.25)))
    rules = [r.rule for r in R.search(data).regressions()]
    assert any(r.startswith("lighting=night & x0>=0.") for r in rules)
    assert any(r.startswith("lighting=day & x1<0.2") for r in rules)
    assert len(rules) == 2
