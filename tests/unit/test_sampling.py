"""Planning: grid, random, sobol and halton samplers, stratification, constraints and case ids.
Pure and deterministic: the same suite gives the same cases and ids everywhere."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simtest.authoring import spec
from simtest.core.errors import ScenarioError
from simtest.authoring.sampling import Case, case_seed, plan, plan_scenario, sample_params

ROOT = Path(__file__).resolve().parents[2]


def scenario(params: dict, constraints: tuple = (), sid: str = "t/s-v1", **extra) -> spec.Scenario:
    return spec.Scenario.model_validate({"id": sid, "env": "CartPole-v1", "horizon": 10, "params": params,
                                         "constraints": list(constraints), **extra})


def suite(*scenarios: spec.Scenario, **fields) -> spec.LoadedSuite:
    s = spec.Suite.model_validate({"name": "t", "scenarios": ["x"], **fields})
    return spec.LoadedSuite("suite.yaml", s, tuple(scenarios), None)


UNIT2 = {"a": {"uniform": [0, 1]}, "b": {"uniform": [0, 1]}}


def test_case_id_is_a_stable_content_hash():
    case = Case(scenario="t/s-v1", scenario_hash="0123456789abcdef", env="CartPole-v1", params_json='{"a":1}', seed=7)
    # Pinned: stored results are joined on case ids, so the hashing scheme must never drift.
    assert case.case_id == "c99a4baa70b2bf9c"
    assert Case(**{**case.__getstate__(), "horizon": 99, "tags": ("x",)}).case_id == case.case_id


def test_case_seed_is_pinned():
    assert case_seed(0, "t/s-v1", 0, 0) == case_seed(0, "t/s-v1", 0, 0)
    assert len({case_seed(0, "t/s-v1", i, k) for i in range(20) for k in range(5)}) == 100


@pytest.mark.parametrize("sampler", ["random", "sobol", "halton", "grid"])
def test_plan_is_deterministic(sampler):
    s = scenario({**UNIT2, "c": {"choice": ["x", "y"]}, "n": {"int_range": [1, 3]}})
    first = plan(suite(s, sampler=sampler, samples=8, seeds=2))
    again = plan(suite(s, sampler=sampler, samples=8, seeds=2))
    assert [c.case_id for c in first] == [c.case_id for c in again]
    assert first == again


def test_different_suite_seeds_give_different_samples():
    s = scenario(UNIT2)
    a = plan(suite(s, samples=5, seed=1))
    b = plan(suite(s, samples=5, seed=2))
    assert {c.params_json for c in a}.isdisjoint({c.params_json for c in b})


def test_sobol_points_fill_every_cell_of_an_8x8_grid_exactly_once():
    for seed in range(3):
        pts = sample_params(scenario(UNIT2), sampler="sobol", samples=64, seed=seed)
        a = np.array([p["a"] for p in pts])
        b = np.array([p["b"] for p in pts])
        cells = np.bincount((a * 8).astype(int) * 8 + (b * 8).astype(int), minlength=64)
        assert cells.tolist() == [1] * 64


def test_low_discrepancy_samplers_cover_each_axis_more_evenly_than_random():
    def worst_bin_error(sampler: str, seed: int) -> int:
        pts = sample_params(scenario(UNIT2), sampler=sampler, samples=64, seed=seed)
        worst = 0
        for name in "ab":
            counts = np.bincount((np.array([p[name] for p in pts]) * 8).astype(int), minlength=8)
            worst = max(worst, int(np.abs(counts - 8).max()))
        return worst

    for seed in range(3):
        assert worst_bin_error("sobol", seed) == 0
        assert worst_bin_error("halton", seed) <= 1
        assert worst_bin_error("random", seed) >= 3


def test_stratified_values_each_get_an_equal_share_whatever_their_weights():
    s = scenario({"lighting": {"choice": ["day", "dusk", "night"], "weights": [10, 1, 1]}, **UNIT2})
    cases = plan(suite(s, sampler="halton", samples=7, seeds=2, stratify=["lighting"]))
    assert Counter(c.params["lighting"] for c in cases) == {"day": 14, "dusk": 14, "night": 14}


def test_stratified_int_range_gets_every_value():
    s = scenario({"n": {"int_range": [0, 3]}, **UNIT2})
    cases = plan(suite(s, samples=3, stratify=["n"]))
    assert Counter(c.params["n"] for c in cases) == {0: 3, 1: 3, 2: 3, 3: 3}


def test_unstratified_choice_follows_its_weights():
    s = scenario({"c": {"choice": ["common", "rare"], "weights": [9, 1]}})
    counts = Counter(p["c"] for p in sample_params(s, sampler="random", samples=2000, seed=0))
    assert 0.86 < counts["common"] / 2000 < 0.94


def test_grid_domains_are_crossed_and_each_grid_point_gets_its_samples():
    s = scenario({"g": {"grid": [1, 2]}, "h": {"grid": ["x", "y", "z"]}, "u": {"uniform": [0, 1]}})
    pts = sample_params(s, sampler="random", samples=4, seed=0)
    assert Counter((p["g"], p["h"]) for p in pts) == {(g, h): 4 for g in (1, 2) for h in "xyz"}


def test_grid_sampler_enumerates_finite_domains_and_spaces_continuous_ones_evenly():
    s = scenario({"c": {"choice": ["a", "b"]}, "u": {"uniform": [0, 10]}, "f": 5})
    pts = sample_params(s, sampler="grid", samples=4, seed=0)
    assert sorted((p["c"], p["u"]) for p in pts) == [(c, u) for c in "ab" for u in (1.25, 3.75, 6.25, 8.75)]
    assert {p["f"] for p in pts} == {5}


def test_int_range_reaches_both_ends_and_stays_inside():
    values = {p["n"] for p in sample_params(scenario({"n": {"int_range": [2, 5]}}), sampler="random", samples=200, seed=0)}
    assert values == {2, 3, 4, 5}


def test_truncated_normal_stays_within_its_bounds():
    s = scenario({"x": {"normal": {"mean": 0.0, "std": 5.0, "min": -1.0, "max": 2.0}}})
    xs = np.array([p["x"] for p in sample_params(s, sampler="sobol", samples=500, seed=0)])
    assert xs.min() >= -1.0 and xs.max() <= 2.0 and abs(np.median(xs) - 0.5) < 0.2


def test_every_case_satisfies_the_constraints():
    s = scenario({"a": {"uniform": [0, 10]}, "b": {"uniform": [0, 10]}}, constraints=("a + b < 10", "a > 1"))
    for sampler in ("random", "sobol", "halton", "grid"):
        pts = sample_params(s, sampler=sampler, samples=30, seed=0)
        assert pts and all(p["a"] + p["b"] < 10 and p["a"] > 1 for p in pts)
    assert len(sample_params(s, sampler="random", samples=30, seed=0)) == 30


def test_unsatisfiable_constraints_are_a_scenario_error():
    s = scenario({"a": {"uniform": [0, 1]}}, constraints=("a > 2",))
    with pytest.raises(ScenarioError, match="no parameter combination satisfies the constraints"):
        plan_scenario(s)


def test_constraints_that_almost_never_hold_are_an_error_not_fewer_cases():
    s = scenario({"a": {"uniform": [0, 1]}}, constraints=("a < 0.0002",))
    with pytest.raises(ScenarioError, match="reject almost every draw"):
        sample_params(s, sampler="random", samples=20, seed=0)


def test_huge_grids_are_refused():
    s = scenario({f"p{i}": {"grid": list(range(10))} for i in range(6)})
    with pytest.raises(ScenarioError, match="the grid has 1000000 points"):
        sample_params(s, sampler="random", samples=1, seed=0)


def test_extra_seed_rounds_reuse_the_parameter_samples_with_new_seeds():
    s = scenario(UNIT2)
    base = plan(suite(s, samples=4, seeds=2))
    extra = plan(suite(s, samples=4, seeds=2), seed_start=2, seeds=2)
    assert [c.params_json for c in base] == [c.params_json for c in extra]
    assert {c.seed_index for c in extra} == {2, 3}
    assert {c.case_id for c in base}.isdisjoint({c.case_id for c in extra})


def test_cases_carry_horizon_checks_and_tags():
    s = scenario(UNIT2, checks=["episode_length >= 5"], tags=["night"])
    (case,) = plan_scenario(s, samples=1)
    assert (case.horizon, case.checks, case.tags) == (10, (("episode_length", "episode_length >= 5"),), ("night",))


def test_shipped_smoke_suite_plans_with_equal_lighting_shares():
    loaded = spec.load_suite(ROOT / "scenarios" / "driving" / "smoke.yaml")
    cases = plan(loaded)
    shares = Counter(c.params["lighting"] for c in cases)
    assert len(set(shares.values())) == 1 and set(shares) == {"day", "dusk", "night"}
    assert len({c.case_id for c in cases}) == len(cases)


# --------------------------------------------------------------------------- properties

domains = st.one_of(
    st.builds(lambda v: v, st.one_of(st.integers(-5, 5), st.text(max_size=3), st.booleans())),
    st.lists(st.integers(-3, 3), min_size=1, max_size=4).map(lambda v: {"choice": v}),
    st.tuples(st.floats(-10, 10), st.floats(0, 5)).map(lambda t: {"uniform": [t[0], t[0] + t[1]]}),
    st.tuples(st.integers(-5, 5), st.integers(0, 6)).map(lambda t: {"int_range": [t[0], t[0] + t[1]]}),
    st.tuples(st.floats(-5, 5), st.floats(0.1, 3)).map(lambda t: {"normal": {"mean": t[0], "std": t[1],
                                                                             "min": t[0] - 1, "max": t[0] + 2}}),
    st.lists(st.integers(0, 3), min_size=1, max_size=3).map(lambda v: {"grid": v}),
)
scenarios = st.dictionaries(st.sampled_from(list("abcdef")), domains, max_size=4).map(scenario)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=scenarios, sampler=st.sampled_from(["random", "sobol", "halton", "grid"]),
       samples=st.integers(1, 6), seeds=st.integers(1, 3), seed=st.integers(0, 2**31))
def test_plan_is_deterministic_and_case_ids_are_unique(s, sampler, samples, seeds, seed):
    loaded = suite(s, sampler=sampler, samples=samples, seeds=seeds, seed=seed)
    cases = plan(loaded)
    assert cases == plan(loaded)
    ids = [c.case_id for c in cases]
    assert len(set(ids)) == len(ids)
    for c in cases:
        for name, d in s.params.items():
            v = c.params[name]
            if isinstance(d, spec.Uniform):
                assert d.uniform[0] <= v <= d.uniform[1]
            elif isinstance(d, spec.IntRange):
                assert d.int_range[0] <= v <= d.int_range[1] and isinstance(v, int)
            elif isinstance(d, spec.Normal):
                assert d.normal.min <= v <= d.normal.max
            else:
                assert v in d.finite_values()


@settings(max_examples=30, deadline=None)
@given(s=scenarios, seed=st.integers(0, 1000))
def test_adding_seeds_never_changes_the_existing_cases(s, seed):
    few = plan(suite(s, samples=3, seeds=1, seed=seed))
    more = plan(suite(s, samples=3, seeds=3, seed=seed))
    assert {c.case_id for c in few} <= {c.case_id for c in more}
