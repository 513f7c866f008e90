"""compare() and slicing on small hand-made result frames: pairing, changed scenarios, missing
rows, infrastructure, agent errors, decisions at their boundaries, multiplicity, slices,
new failures, determinism."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simtest.judging import stats
from simtest.judging.compare import CheckResult, Verdict, cases_in_slices, compare, undecided_slices
from simtest.core.errors import ComparisonError
from simtest.contract.policy import policy_from_dict
from simtest.judging.slicing import slice_masks

DECL = {
    "success": {"kind": "binary", "better": "higher", "time_like": False},
    "collision": {"kind": "binary", "better": "lower", "time_like": False},
    "time_to_goal": {"kind": "continuous", "better": "lower", "time_like": True},
    "min_clearance": {"kind": "continuous", "better": "higher", "time_like": False},
}


def run(ok, *, n=None, outcome=None, lighting=None, hash_="h1", scenario="driving/a-v1", ids=None,
        extra=None) -> pd.DataFrame:
    """A result frame: one row per case; `ok` = passed/success per case."""
    ok = np.asarray(ok, dtype=bool)
    n = ok.size
    outcome = list(outcome) if outcome is not None else ["completed"] * n
    lighting = list(lighting) if lighting is not None else ["day"] * n
    ids = ids if ids is not None else [f"c{i:04d}" for i in range(n)]
    passed = ok & np.array([o == "completed" for o in outcome])
    frame = pd.DataFrame({
        "case_id": ids, "scenario": scenario, "scenario_hash": hash_, "seed": np.arange(n) + 100,
        "sample": np.arange(n) // 2, "seed_index": np.arange(n) % 2,
        "params": [json.dumps({"lighting": lt, "fog_density": round(0.1 * (i % 10), 1)}, sort_keys=True)
                   for i, lt in enumerate(lighting)],
        "tags": [["obstacles", lt] for lt in lighting],
        "outcome": outcome, "passed": passed, "attempt": 1, "error": "",
        "metric_success": np.where(np.array(outcome) == "completed", ok.astype(float), np.nan),
        "metric_collision": 0.0,
        "metric_time_to_goal": np.where(passed, 5.0, np.nan),
        "check_success": passed,
    })
    for k, v in (extra or {}).items():
        frame[k] = v
    return frame


def policy(**over):
    base = {"metrics": {"passed": {"margin_baseline": 0.05, "margin_reference": 0.1, "blocking": True},
                        "errors": {"safety": True, "margin_baseline": 0.05, "blocking": False}},
            "adaptive": {"enabled": False}, "slices": {"tags": False}}
    base.update(over)
    return policy_from_dict(base, DECL)


def check(v: Verdict, metric="passed", slice_="overall", comparison="baseline") -> CheckResult:
    hits = [c for c in v.checks if (c.metric, c.slice, c.comparison) == (metric, slice_, comparison)]
    assert len(hits) == 1, [(c.metric, c.slice, c.comparison) for c in v.checks]
    return hits[0]


def pair(b, c, n):
    """Baseline/candidate success arrays with b regressions, c fixes, the rest both succeeding."""
    base = np.ones(n, bool)
    cand = np.ones(n, bool)
    cand[:b] = False
    base[b:b + c] = False
    return base, cand


# --------------------------------------------------------------------------- pairing


def test_rows_pair_on_case_id_whatever_their_order():
    base, cand = pair(6, 1, 40)
    b, c = run(base), run(cand)
    v1 = compare(c, b, None, policy(), DECL)
    v2 = compare(c.sample(frac=1, random_state=3), b.sample(frac=1, random_state=4), None, policy(), DECL)
    assert v1.to_json() == v2.to_json()
    assert check(v1).n == 40 and check(v1).delta == pytest.approx(5 / 40)


def test_a_changed_scenario_is_reported_and_not_compared():
    base, cand = pair(0, 0, 20)
    b = pd.concat([run(base[:10]), run(base[10:], scenario="driving/b-v1", ids=[f"b{i}" for i in range(10)])])
    c = pd.concat([run(cand[:10]), run(cand[10:], scenario="driving/b-v1", hash_="h2",
                                        ids=[f"x{i}" for i in range(10)])])
    v = compare(c, b, None, policy(), DECL)
    assert [(s.scenario, s.candidate_hashes, s.other_hashes) for s in v.scenario_changes] == [
        ("driving/b-v1", ("h2",), ("h1",))]
    assert check(v).n == 10
    assert any("scenario driving/b-v1 changed" in r for r in v.reasons)


def test_same_case_id_with_a_different_hash_is_never_compared_silently():
    base, cand = pair(0, 0, 10)
    b, c = run(base), run(cand)
    # both runs hold hashes {h1, h2} for the scenario, but cases c0000/c0001 swapped them
    b.loc[0, "scenario_hash"] = "h2"
    c.loc[1, "scenario_hash"] = "h2"
    v = compare(c, b, None, policy(), DECL)
    assert not v.scenario_changes
    assert check(v).n == 8 and v.missing["baseline"]["hash_mismatch"] == 2
    assert any("2 case(s) have the same id but a different scenario hash" in r for r in v.reasons)


def test_rows_missing_on_one_side_are_counted():
    base, cand = pair(0, 0, 30)
    v = compare(run(cand[:25]), run(base), None, policy(), DECL)
    assert v.missing["baseline"] == {"only_candidate": 0, "only_other": 5, "hash_mismatch": 0}
    assert check(v).n == 25
    assert any("5 baseline case(s) have no candidate row" in r for r in v.reasons)


def test_runs_without_a_common_case_cannot_be_compared():
    base, cand = pair(0, 0, 5)
    with pytest.raises(ComparisonError, match="share no comparable case"):
        compare(run(cand, ids=list("abcde")), run(base), None, policy(), DECL)


def test_missing_columns_are_a_comparison_error():
    with pytest.raises(ComparisonError, match="lack the column"):
        compare(pd.DataFrame({"case_id": ["a"]}), run([True]), None, policy(), DECL)


def test_retried_case_counts_once_with_its_last_attempt():
    base, cand = pair(0, 0, 10)
    c = run(cand)
    retry = c.iloc[[0]].copy()
    c.loc[0, ["outcome", "passed"]] = ["env_error", False]
    retry["attempt"] = 2
    v = compare(pd.concat([c, retry]), run(base), None, policy(), DECL)
    assert check(v).n == 10 and v.infra["candidate"].env_error == 0


# --------------------------------------------------------------------------- infrastructure


def test_infrastructure_errors_above_the_limit_make_the_run_invalid():
    base, cand = pair(0, 0, 40)
    outcome = ["completed"] * 36 + ["env_error"] * 2 + ["timeout"] * 2
    v = compare(run(cand, outcome=outcome), run(base), None, policy(max_infra_error_rate=0.05), DECL)
    assert v.verdict == "invalid" and v.exit_code == 3
    assert v.infra["candidate"].infra_rate == pytest.approx(0.1)
    assert "candidate run: 2 env_error + 2 timeout of 40 episodes (10.0%) exceeds the policy limit 5.0%" in v.reasons[0]
    assert check(v).n == 36  # infrastructure rows are not metric pairs


def test_more_agent_errors_under_the_candidate_is_a_regression():
    base, cand = pair(0, 0, 60)
    outcome = ["completed"] * 48 + ["agent_error"] * 12
    pol = policy(metrics={"errors": {"safety": True, "blocking": True, "margin_baseline": 0.02}})
    v = compare(run(cand, outcome=outcome), run(base), None, pol, DECL)
    errors = check(v, "errors")
    assert errors.decision == "fail" and errors.delta == pytest.approx(12 / 60)
    assert v.verdict == "fail"


def test_timeouts_count_in_the_errors_check_but_not_in_metric_pairs():
    base, cand = pair(0, 0, 100)
    outcome = ["completed"] * 96 + ["timeout"] * 4
    v = compare(run(cand, outcome=outcome), run(base), None, policy(max_infra_error_rate=0.1), DECL)
    assert check(v, "errors").n == 100 and check(v, "errors").delta == pytest.approx(0.04)
    assert check(v).n == 96


# --------------------------------------------------------------------------- decisions


def _boundary_verdict(b, c, n, margin, *, safety=False, sequential=False):
    base, cand = pair(b, c, n)
    pol = policy(metrics={"passed": {"margin_baseline": margin, "blocking": True, "safety": safety},
                          "errors": {"blocking": False}},
                 adaptive={"enabled": sequential, "design": "anytime"})
    return check(compare(run(cand), run(base), None, pol, DECL))


def test_pass_exactly_when_the_upper_bound_is_below_the_margin():
    lo, hi = stats.tango_bounds(6, 4, 200, 0.05)
    assert _boundary_verdict(6, 4, 200, hi + 1e-6).decision == "pass"
    assert _boundary_verdict(6, 4, 200, hi - 1e-6).decision == "undecided"


def test_fail_exactly_when_the_lower_bound_reaches_the_margin():
    lo, hi = stats.tango_bounds(30, 5, 200, 0.05)
    r = _boundary_verdict(30, 5, 200, lo - 1e-6)
    assert r.decision == "fail" and r.lower == pytest.approx(lo) and r.p_value < 0.05
    assert _boundary_verdict(30, 5, 200, lo + 1e-6).decision == "undecided"


def test_safety_metric_fails_on_any_confident_increase_whatever_the_margin():
    r = _boundary_verdict(12, 1, 200, 0.5, safety=True)
    assert r.decision == "fail" and r.lower > 0 and r.p_value == pytest.approx(stats.mcnemar_p(12, 1))
    assert _boundary_verdict(12, 1, 200, 0.5, safety=False).decision == "pass"  # within a 50-point margin


def test_sequential_mode_uses_the_anytime_valid_bounds():
    r = _boundary_verdict(30, 5, 200, 0.05, sequential=True)
    grid = stats.bet_grid(0.05)
    lo, _ = stats.betting_bounds(30, 165, 5, 0.05, 0.2, grid)
    assert r.lower == pytest.approx(lo) and "anytime-valid" in r.note


def test_undecided_blocking_check_fails_the_verdict_and_names_its_slice():
    base, cand = pair(2, 1, 30)
    v = compare(run(cand), run(base), None, policy(), DECL)
    assert check(v).decision in ("undecided", "too_small")
    assert v.verdict == "fail" and undecided_slices(v) == ["overall"]
    assert check(v).needed_n and check(v).needed_n > 30


def test_on_undecided_pass_lets_an_undecided_gate_pass():
    base, cand = pair(2, 1, 30)
    v = compare(run(cand), run(base), None, policy(on_undecided="pass"), DECL)
    assert v.verdict == "pass"


def test_a_slice_too_small_to_reach_significance_says_how_many_pairs_it_needs():
    base, cand = pair(1, 0, 8)
    v = compare(run(cand), run(base), None, policy(), DECL)
    r = check(v)
    assert r.decision == "too_small" and r.needed_n >= stats.min_discordant(0.05)


def test_holm_adjusts_the_blocking_family():
    n = 300
    base, cand = pair(20, 4, n)
    lighting = ["night"] * 150 + ["day"] * 150
    pol = policy(metrics={"passed": {"margin_baseline": 0.0, "slice_margin_baseline": 0.0, "blocking": True,
                                     "safety": True}, "errors": {"blocking": False}},
                 slices={"tags": False, "params": {"lighting": {}}}, blocking_slices=["lighting=night"])
    v = compare(run(cand, lighting=lighting), run(base, lighting=lighting), None, pol, DECL)
    fam = [c for c in v.checks if c.blocking]
    assert {c.slice for c in fam} == {"overall", "lighting=night"}
    assert [c.p_adjusted for c in fam] == pytest.approx(list(stats.holm([c.p_value for c in fam])))
    day = check(v, slice_="lighting=day")
    assert not day.blocking


def test_bh_warns_on_a_regressed_diagnostic_slice():
    n = 400
    lighting = ["night"] * 100 + ["day"] * 300
    base = np.ones(n, bool)
    cand = np.ones(n, bool)
    cand[:30] = False  # 30 night regressions
    pol = policy(slices={"tags": False, "params": {"lighting": {}}},
                 metrics={"passed": {"margin_baseline": 0.1, "slice_margin_baseline": 0.05, "blocking": True},
                          "errors": {"blocking": False}})
    v = compare(run(cand, lighting=lighting), run(base, lighting=lighting), None, pol, DECL)
    night = check(v, slice_="lighting=night")
    assert night.decision == "warn" and not night.blocking and night.p_adjusted <= 0.1
    assert check(v, slice_="lighting=day").decision == "pass"


def test_reference_comparison_uses_the_cumulative_margin():
    base, cand = pair(0, 0, 200)
    ref = np.ones(200, bool)
    v = compare(run(cand), run(base), run(ref), policy(), DECL)
    assert check(v, comparison="reference").margin == 0.1
    assert check(v, comparison="baseline").margin == 0.05


# --------------------------------------------------------------------------- metrics


def test_failed_episodes_rank_worst_on_time_like_metrics():
    base, cand = pair(10, 0, 40)
    pol = policy(metrics={"passed": {"blocking": True, "margin_baseline": 0.05}, "errors": {"blocking": False},
                          "time_to_goal": {"margin_baseline": 0.5}})
    b, c = run(base), run(cand)
    b["metric_time_to_goal"] = np.where(base, 5.0, np.nan)
    b.loc[20, "metric_time_to_goal"] = 9.0  # the slowest finite time seen in either run
    c["metric_time_to_goal"] = np.where(cand, 5.0, np.nan)
    c.loc[20, "metric_time_to_goal"] = 9.0
    t = check(compare(c, b, None, pol, DECL), "time_to_goal")
    assert t.delta == pytest.approx(10 * (9.0 - 5.0) / 40)  # 10 failures scored at the worst time
    assert t.kind == "continuous" and math.isfinite(t.upper)


def test_lower_is_better_binary_metric_is_oriented_as_a_regression():
    base, cand = pair(0, 0, 50)
    b, c = run(base), run(cand)
    c.loc[:9, "metric_collision"] = 1.0
    pol = policy(metrics={"collision": {"safety": True, "blocking": True}, "errors": {"blocking": False}})
    col = check(compare(c, b, None, pol, DECL), "collision")
    assert col.delta == pytest.approx(0.2) and col.decision == "fail"


def test_direction_override_flips_the_orientation():
    base, cand = pair(0, 0, 50)
    b, c = run(base), run(cand)
    b["metric_min_clearance"] = 1.0
    c["metric_min_clearance"] = 2.0
    pol = policy(metrics={"min_clearance": {"direction": "lower"}, "errors": {"blocking": False}})
    assert check(compare(c, b, None, pol, DECL), "min_clearance").delta == pytest.approx(1.0)


def test_relative_margin_scales_with_the_comparator_mean():
    base, cand = pair(0, 0, 50)
    b, c = run(base), run(cand)
    b["metric_min_clearance"] = 2.0
    c["metric_min_clearance"] = 2.0
    pol = policy(metrics={"min_clearance": {"relative": True, "margin_baseline": 0.05}, "errors": {"blocking": False}})
    assert check(compare(c, b, None, pol, DECL), "min_clearance").margin == pytest.approx(0.1)


# --------------------------------------------------------------------------- slices


def test_slices_from_tags_categorical_params_and_buckets():
    frame = run(np.ones(10, bool), lighting=["day"] * 6 + ["night"] * 4)
    pol = policy_from_dict({"slices": {"tags": True, "params": {"lighting": {}, "fog_density": {"bins": [0, 0.5, 0.9]}}}})
    masks = slice_masks(frame, pol)
    assert list(masks) == ["overall", "tag:day", "tag:night", "tag:obstacles", "lighting=day", "lighting=night",
                           "fog_density=[0,0.5)", "fog_density=[0.5,0.9]"]
    assert masks["lighting=night"].sum() == 4
    assert masks["fog_density=[0,0.5)"].sum() == 5  # 0.0 .. 0.4
    assert masks["fog_density=[0.5,0.9]"].sum() == 5  # 0.5 .. 0.9: the last bucket is closed


def test_quantile_buckets_are_computed_over_distinct_parameter_samples():
    frame = run(np.ones(10, bool))
    doubled = pd.concat([frame, frame.iloc[:5].assign(case_id=[f"x{i}" for i in range(5)])])
    pol = policy_from_dict({"slices": {"tags": False, "params": {"fog_density": {"quantiles": 2}}}})
    assert list(slice_masks(frame, pol)) == list(slice_masks(doubled, pol))  # extra seeds keep the edges


def test_a_blocking_slice_with_no_data_is_reported_not_skipped():
    base, cand = pair(0, 0, 100)
    pol = policy(slices={"tags": False, "params": {"lighting": {}}}, blocking_slices=["lighting=night"])
    v = compare(run(cand), run(base), None, pol, DECL)
    night = check(v, slice_="lighting=night")
    assert night.n == 0 and night.decision == "too_small" and night.blocking
    assert v.verdict == "fail" and "lighting=night" in undecided_slices(v)


def test_slice_gap_growth_fails_when_night_falls_behind():
    n = 400
    lighting = ["night"] * 200 + ["day"] * 200
    base = np.ones(n, bool)
    cand = np.ones(n, bool)
    cand[:60] = False  # night drops 30 points, day unchanged
    pol = policy(slices={"tags": False, "params": {"lighting": {}}},
                 slice_gaps=[{"better": "lighting=day", "worse": "lighting=night", "metric": "success",
                              "margin": 0.1, "against": "baseline"}])
    v = compare(run(cand, lighting=lighting), run(base, lighting=lighting), None, pol, DECL)
    gap = check(v, "success", "gap:lighting=day-vs-lighting=night")
    assert gap.delta == pytest.approx(0.3) and gap.decision == "fail" and gap.kind == "gap"
    assert v.verdict == "fail"


def test_cases_in_slices_names_scenario_samples():
    frame = run(np.ones(8, bool), lighting=["night", "night", "day", "day"] * 2)
    pol = policy_from_dict({"slices": {"params": {"lighting": {}}}})
    assert cases_in_slices(frame, ["lighting=night"], pol) == {("driving/a-v1", 0), ("driving/a-v1", 2)}
    assert cases_in_slices(frame, [], pol) == set()
    assert len(cases_in_slices(frame, ["overall"], pol)) == 4


# --------------------------------------------------------------------------- outputs


def test_new_failures_list_cases_that_passed_before_and_fail_now():
    base, cand = pair(3, 2, 20)
    v = compare(run(cand), run(base), None, policy(), DECL)
    assert [f.case_id for f in v.new_failures] == ["c0000", "c0001", "c0002"]
    f = v.new_failures[0]
    assert f.failed_checks == ("success",) and f.seed == 100 and f.params["lighting"] == "day"
    assert f.scenario == "driving/a-v1" and f.sample == 0


def test_verdict_json_has_the_design_format_and_is_deterministic():
    base, cand = pair(8, 2, 120)
    b, c = run(base), run(cand)
    b["metric_min_clearance"] = np.random.default_rng(0).normal(1, 0.2, 120)
    c["metric_min_clearance"] = b["metric_min_clearance"] - 0.05
    pol = policy(metrics={"passed": {"blocking": True, "margin_baseline": 0.05},
                          "min_clearance": {"margin_baseline": 0.1}})
    j1 = compare(c, b, b, pol, DECL).to_json()
    j2 = compare(c, b, b, pol, DECL).to_json()
    assert j1 == j2
    json.dumps(j1, allow_nan=False)
    assert j1["verdict"] in ("pass", "fail", "invalid")
    for chk in j1["checks"]:
        assert {"comparison", "metric", "slice", "n", "delta", "lower", "upper", "p_value", "decision"} <= set(chk)
        assert chk["comparison"] in ("baseline", "reference")
        assert chk["decision"] in ("pass", "fail", "undecided", "warn", "too_small")
    assert {"infra", "new_failures", "scenario_changes", "undecided_blocking", "reasons"} <= set(j1)


def test_an_undecided_rare_event_check_is_reported_but_does_not_hold_the_gate():
    base, cand = pair(0, 0, 300)
    outcome = ["completed"] * 298 + ["agent_error"] * 2  # two more errors: no confident increase
    pol = policy(metrics={"passed": {"blocking": True, "margin_baseline": 0.05},
                          "errors": {"safety": True, "blocking": True, "margin_baseline": 0.005,
                                     "prove_within_margin": False}})
    v = compare(run(cand, outcome=outcome), run(base), None, pol, DECL)
    errors = check(v, "errors")
    assert errors.decision in ("undecided", "too_small") and errors.blocking and not errors.holds
    assert v.verdict == "pass" and undecided_slices(v) == []


def test_a_reason_is_given_once_even_when_both_comparisons_see_it():
    base, cand = pair(0, 0, 60)
    pol = policy(metrics={"passed": {"blocking": True, "margin_baseline": 0.05}, "min_clearance": {}})
    v = compare(run(cand), run(base), run(base), pol, DECL)  # no metric_min_clearance column anywhere
    assert sum("min_clearance" in r for r in v.reasons) == 1


# --------------------------------------------------------------------------- properties

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.sampled_from(["day", "night"])), min_size=4, max_size=60),
       st.sampled_from([False, "anytime", "group_sequential"]))
def test_compare_properties_on_random_paired_outcomes(rows, sequential):
    base = np.array([r[0] for r in rows])
    cand = np.array([r[1] for r in rows])
    lighting = [r[2] for r in rows]
    adaptive = {"enabled": bool(sequential), **({"design": sequential} if sequential else {})}
    pol = policy(slices={"tags": False, "params": {"lighting": {}}}, adaptive=adaptive)
    b, c = run(base, lighting=lighting), run(cand, lighting=lighting)
    v = compare(c, b, None, pol, DECL)
    swapped = compare(b, c, None, pol, DECL)
    shuffled = compare(c.iloc[::-1], b.sample(frac=1, random_state=0), None, pol, DECL)
    assert v.to_json() == shuffled.to_json()  # row order never matters
    json.dumps(v.to_json(), allow_nan=False)
    for chk in v.checks:
        if chk.n == 0:
            continue
        twin = check(swapped, chk.metric, chk.slice)
        assert twin.delta == pytest.approx(-chk.delta)  # swapping the runs negates the regression
        assert chk.lower <= chk.delta + 1e-9 and chk.delta <= chk.upper + 1e-9
        assert chk.decision in ("pass", "fail", "undecided", "warn", "too_small")
        if chk.decision == "fail":
            assert chk.lower > 0 or chk.lower >= chk.margin
    overall = check(v)
    assert overall.n == len(rows)
    d = base.astype(int) - cand.astype(int)
    if sequential == "group_sequential":  # design-weighted: every parameter sample weighs the same
        expected = pd.Series(d).groupby(b["sample"].to_numpy()).mean().mean()
    else:
        expected = d.mean()
    assert overall.delta == pytest.approx(expected)


def test_new_failures_ignore_checks_that_other_scenarios_do_not_have():
    # as read back from Parquet: a check only one scenario has is <NA> in the other scenario's rows
    base, cand = pair(3, 0, 20)
    b, c = run(base), run(cand)
    for frame in (b, c):
        frame["check_collision"] = pd.array([None] * 10 + [True] * 10, dtype="boolean")
    v = compare(c, b, None, policy(), DECL)
    assert [f.case_id for f in v.new_failures] == ["c0000", "c0001", "c0002"]
    assert v.new_failures[0].failed_checks == ("success",)
