"""Pairwise coverage (simtest.judging.coverage), the cell space (simtest.contract.space), the
fill_coverage sampler (simtest.authoring.sampling) and `simtest coverage`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from simtest.authoring import spec
from simtest.authoring.sampling import coverage_axis, coverage_space, plan, sample_params
from simtest.cli import main
from simtest.contract.policy import policy_from_dict
from simtest.contract.space import Axis, ScenarioSpace
from simtest.judging.compare import compare
from simtest.judging.coverage import cell_counts, coverage
from simtest.judging.findings import attach

ROOT = Path(__file__).resolve().parents[2]


def scenario(params: dict, sid: str = "t/s-v1") -> spec.Scenario:
    return spec.Scenario.model_validate({"id": sid, "env": "CartPole-v1", "horizon": 10, "params": params})


SPACE = ScenarioSpace("t/s-v1", (Axis("light", values=("day", "night")), Axis("fog", edges=(0.0, 0.5, 1.0)),
                                 Axis("n", values=(0, 1))))


def frame(rows, passed=None):
    n = len(rows)
    return pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "scenario": "t/s-v1",
                         "params": [json.dumps(r) for r in rows], "outcome": "completed",
                         "passed": passed if passed is not None else [True] * n})


def test_axis_bins_values_and_buckets_with_a_closed_last_bucket():
    fog = SPACE.axes[1]
    assert [fog.bin_of(v) for v in (0.0, 0.49, 0.5, 1.0, 1.01, None, "x")] == [0, 0, 1, 1, -1, -1, -1]
    assert SPACE.axes[0].bin_of("night") == 1 and SPACE.axes[0].bin_of("noon") == -1
    assert fog.label(1) == "[0.5,1]" and SPACE.n_pairwise_cells() == 2 * 2 + 2 * 2 + 2 * 2


def test_coverage_counts_cells_and_names_the_empty_ones_with_outcomes():
    rows = [{"light": "day", "fog": 0.1, "n": 0}, {"light": "night", "fog": 0.7, "n": 1},
            {"light": "night", "fog": 0.9, "n": 1}]
    cand = frame(rows, passed=[True, False, False])
    base = frame(rows, passed=[True, True, False])
    cov = coverage([SPACE], {"candidate": cand, "baseline": base})
    # visited: light x fog {day,[0,.5)}, {night,[.5,1]}; light x n {day,0}, {night,1}; fog x n {[0,.5),0}, {[.5,1],1}
    assert (cov.visited, cov.cells, cov.n_empty) == (6, 12, 6)
    assert cov.share == pytest.approx(0.5)
    assert "t/s-v1: light=day & fog=[0.5,1]" in cov.empty
    lf = next(g for g in cov.grids if (g.x, g.y) == ("light", "fog"))
    assert lf.counts == ((1, 0), (0, 2))
    assert lf.rates["candidate"][1][1] == 0.0 and lf.rates["baseline"][1][1] == 0.5
    assert lf.rates["candidate"][0][1] is None  # empty: no outcome
    json.dumps(cov.to_json(), allow_nan=False)


def test_coverage_axes_from_domains():
    s = scenario({"lighting": {"choice": ["day", "dusk", "night"]}, "fog": {"uniform": [0.0, 0.2]},
                  "n": {"int_range": [0, 5]}, "big": {"int_range": [0, 100]}, "k": 3})
    sp = coverage_space(s, bins=4)
    assert [a.name for a in sp.axes] == ["lighting", "fog", "n", "big"]  # fixed k has no axis
    assert sp.axis("lighting").values == ("day", "dusk", "night")
    assert sp.axis("fog").edges == (0.0, 0.05, 0.1, 0.15, 0.2)
    assert sp.axis("n").values == (0, 1, 2, 3, 4, 5)  # few values: each its own cell
    assert sp.axis("big").edges == (0.0, 25.0, 50.0, 75.0, 100.0)
    assert coverage_axis("x", spec.Scenario.model_validate(
        {"id": "t/a-v1", "env": "CartPole-v1", "horizon": 1, "params": {"x": 1.0}}).params["x"]) is None


SMALL = {"a": {"choice": [0, 1, 2]}, "b": {"choice": [0, 1, 2]}, "c": {"choice": [0, 1, 2]},
         "d": {"uniform": [0.0, 3.0]}}


def _first_full(sampler: str, fill: bool) -> int:
    s = scenario(SMALL)
    sp = coverage_space(s, bins=3)
    total = sp.n_pairwise_cells()
    for samples in range(9, 80):
        pts = sample_params(s, sampler=sampler, samples=samples, seed=0, fill_coverage=fill, coverage_bins=3)
        if len(cell_counts(sp, pts)) == total:
            return samples
    return 10**6


def test_fill_coverage_reaches_full_pairwise_coverage_in_fewer_cases_than_random():
    # 4 parameters x 3 cells: 54 pairwise cells; an orthogonal array needs 9 cases
    greedy = _first_full("random", fill=True)
    coverage_sampler = _first_full("coverage", fill=False)
    random = _first_full("random", fill=False)
    halton = _first_full("halton", fill=False)
    assert greedy <= 15 and coverage_sampler <= 15
    assert greedy < random and coverage_sampler < random and coverage_sampler < halton


def test_fill_coverage_is_deterministic_and_respects_constraints():
    s = spec.Scenario.model_validate({"id": "t/s-v1", "env": "CartPole-v1", "horizon": 10, "params": SMALL,
                                      "constraints": ["a != b"]})
    one = sample_params(s, sampler="coverage", samples=12, seed=5)
    assert one == sample_params(s, sampler="coverage", samples=12, seed=5)
    assert len(one) == 12 and all(p["a"] != p["b"] for p in one)


def test_suite_schema_accepts_the_coverage_sampler_and_fill_coverage():
    s = spec.Suite.model_validate({"name": "t", "scenarios": ["x"], "sampler": "coverage"})
    assert s.sampler == "coverage" and not s.fill_coverage
    s = spec.Suite.model_validate({"name": "t", "scenarios": ["x"], "fill_coverage": True, "coverage_bins": 3})
    assert s.fill_coverage and s.coverage_bins == 3
    with pytest.raises(Exception):
        spec.Suite.model_validate({"name": "t", "scenarios": ["x"], "sampler": "lhs"})


def test_fill_coverage_plan_of_the_smoke_suite_covers_more_than_halton():
    import dataclasses

    from simtest.authoring.sampling import suite_space
    from simtest.authoring.spec import load_suite

    loaded = load_suite(ROOT / "scenarios/driving/smoke.yaml")
    shares = []
    for fill in (False, True):
        l2 = dataclasses.replace(loaded, suite=loaded.suite.model_copy(update={"fill_coverage": fill}))
        cases = plan(l2)
        f = pd.DataFrame({"case_id": [c.case_id for c in cases], "scenario": [c.scenario for c in cases],
                          "params": [c.params_json for c in cases]})
        shares.append(coverage(suite_space(l2), {"plan": f}, visits="all").share)
    assert shares[0] < shares[1] == 1.0


def test_coverage_below_the_policy_minimum_makes_the_run_invalid_not_a_regression():
    rows = [{"light": "day", "fog": 0.1, "n": 0}] * 30
    cand, base = frame(rows), frame(rows)
    for f in (cand, base):
        f["scenario_hash"] = "h"
    pol = policy_from_dict({"metrics": {"passed": {"margin_baseline": 0.1, "blocking": True}},
                            "adaptive": {"enabled": False}, "coverage": {"min_pairwise": 0.8}})
    v = attach(compare(cand, base, None, pol), {"candidate": cand, "baseline": base}, pol, None, [SPACE])
    assert v.verdict == "invalid" and v.exit_code == 3
    assert any("pairwise coverage 25.0%" in r and "invalid" in r for r in v.reasons)
    ok = policy_from_dict({"metrics": {"passed": {"margin_baseline": 0.1, "blocking": True}},
                           "adaptive": {"enabled": False}, "coverage": {"min_pairwise": 0.2}})
    v = attach(compare(cand, base, None, ok), {"candidate": cand, "baseline": base}, ok, None, [SPACE])
    assert v.verdict == "pass" and v.findings.coverage.sufficient


def test_cli_coverage_prints_the_share_and_the_empty_cells(capsys):
    assert main(["coverage", "--suite", str(ROOT / "scenarios/driving/smoke.yaml"), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "pairwise coverage of driving-smoke by the plan (108 cases): 94.6%" in out
    assert "empty cells:" in out and "driving/clear-road-v1: goal_distance=" in out and "more (--limit N)" in out


def test_cli_coverage_without_stored_runs_is_bad_input(tmp_path, capsys):
    rc = main(["coverage", "--suite", str(ROOT / "scenarios/driving/smoke.yaml"), "--all-runs",
               "--results", str(tmp_path)])
    assert rc == 2 and "no stored run of suite driving-smoke" in capsys.readouterr().err
