"""Behavioural tests (issue 11): the `behaviour:` section (schema, positioned errors), planning of
metamorphic groups, and the decisions against references computed independently with scipy:
Tango's score test from a numerically maximised restricted likelihood, exact binomial tests,
exact sign-flip permutation tests and Clopper-Pearson bounds. The A/A check runs the planner and
the judge on a synthetic env (tests/behaviour_env.py) whose true effects are known."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from simtest.authoring.spec import Suite, load_suite
from simtest.contract.behaviour import Group, PlannedTest
from simtest.core.errors import ScenarioError
from simtest.exploration.behaviour import plan_behaviour
from simtest.judging import behaviour as jb

# --------------------------------------------------------------------------- spec

DRIVING = """\
id: driving/b-v1
env: simtest/Driving-v0
horizon: 20
params:
  lighting: {choice: [day, night]}
  n_obstacles: {int_range: [2, 4]}
  fog_density: {uniform: [0.0, 0.2]}
  goal_distance: {uniform: [8.0, 12.0]}
checks:
  - success == 1
"""


def _suite(tmp_path: Path, behaviour: str, extra: str = "") -> Path:
    (tmp_path / "s.yaml").write_text(DRIVING)
    (tmp_path / "clear.yaml").write_text(DRIVING.replace("driving/b-v1", "driving/clear-v1"))
    path = tmp_path / "suite.yaml"
    path.write_text("name: b\nscenarios: [s.yaml]\nsamples: 6\nseed: 3\nstratify: [lighting]\n" + extra
                    + "behaviour:\n" + textwrap.indent(textwrap.dedent(behaviour), "  "))
    return path


GOOD = """\
- invariance: {param: obstacle_colour, values: [red, blue, yellow], margin: 0.1, by: lighting}
- directional: {param: fog_density, from: 0.05, to: 0.25, metric: success, expect: not_lower, margin: 0.15}
- minimum: {scenario: clear.yaml, set: {lighting: day, n_obstacles: 0}, seeds: 5, name: clear-day}
"""


def test_a_behaviour_section_loads_and_is_in_the_json_schema(tmp_path):
    loaded = load_suite(_suite(tmp_path, GOOD))
    kinds = [next(iter(t.model_dump(by_alias=True))) for t in loaded.suite.behaviour]
    assert kinds == ["invariance", "directional", "minimum"]
    schema = Suite.model_json_schema(by_alias=True)
    assert "behaviour" in schema["properties"]
    text = str(schema)
    for word in ("InvarianceSpec", "DirectionalSpec", "MinimumSpec", "not_higher", "at_least"):
        assert word in text, word


@pytest.mark.parametrize("behaviour, line_col, words", [
    ("- invariance: {param: obstacle_color, values: [red, blue], margin: 0.1}\n", "7:25",
     ['can vary "obstacle_color"', 'did you mean "obstacle_colour"']),
    ("- invariance: {param: obstacle_colour, values: [red, pink], margin: 0.1}\n", "7:56",
     ["$.behaviour[0].invariance.values[1]", '"obstacle_colour" must be one of', "got 'pink'"]),
    ("- directional: {param: fog_density, from: 0.05, to: 3.0, expect: not_lower}\n", "7:55",
     ['"fog_density" = 3.0', "above the maximum 1.0"]),
    ("- directional: {param: fog_density, from: 0.05, to: 0.2, expect: lower}\n", "7:68",
     ["not_higher", 'did you mean "not_lower"']),
    ("- invariance: {param: lighting, values: [day, night]}\n", "7:17", ['required key "margin" is missing']),
    ("- invarience: {param: lighting, values: [day, night], margin: 0.1}\n", "7:5",
     ["exactly one key: invariance, directional or minimum"]),
    ("- minimum: {scenario: nowhere.yaml, seeds: 3}\n", "7:25", ['"nowhere.yaml" not found']),
    ("- minimum: {scenario: clear.yaml, set: {n_obstacles: 99}}\n", "7:56", ['"n_obstacles" = 99 is above the maximum 12']),
    ("- invariance: {param: obstacle_colour, values: [red, blue], margin: 0.1, metric: sucess}\n", "7:84",
     ['unknown metric "sucess"', 'did you mean "success"']),
    ("- invariance: {param: obstacle_colour, values: [red, blue], margin: 0.1, by: goal_distance}\n", "7:80",
     ['by: "goal_distance"', "finite domain"]),
])
def test_behaviour_problems_are_positioned_in_the_suite(tmp_path, behaviour, line_col, words):
    path = _suite(tmp_path, behaviour)
    with pytest.raises(ScenarioError) as exc:
        load_suite(path)
    text = str(exc.value)
    assert f"suite.yaml:{line_col}" in text, text
    for w in words:
        assert w in text, text
    assert "Traceback" not in text


# --------------------------------------------------------------------------- planning


def test_metamorphic_groups_share_seed_and_params_but_the_varied_one(tmp_path):
    loaded = load_suite(_suite(tmp_path, GOOD))
    bplan = plan_behaviour(loaded)
    inv, dirn, mini = bplan.tests
    by_id = {c.case_id: c for c in bplan.cases}
    assert len(inv.groups) == 12 and len(dirn.groups) == 12 and len(mini.groups) == 5  # 6 samples x 2 lightings
    for t in (inv, dirn):
        for g in t.groups:
            members = [by_id[c] for c in g.case_ids]
            assert len({m.seed for m in members}) == 1 and len(set(g.case_ids)) == len(members)
            assert [m.params[t.param] for m in members] == list(t.values)
            others = [{k: v for k, v in m.params.items() if k != t.param} for m in members]
            assert all(o == others[0] for o in others)
            assert g.stratum == (members[0].params["lighting"] if t.by else None)
            for j, m in enumerate(members):  # the stored rows keep the relation
                assert {f"behaviour={t.name}", f"pair_of={g.group_id}", f"member={j}"} <= set(m.tags)
    assert {by_id[g.case_ids[0]].params["n_obstacles"] for g in mini.groups} == {0}
    assert len({by_id[g.case_ids[0]].seed for g in mini.groups}) == 5
    # pure: the same file plans the same case ids
    again = plan_behaviour(load_suite(tmp_path / "suite.yaml"))
    assert [c.case_id for c in again.cases] == [c.case_id for c in bplan.cases]


def test_pairs_caps_the_base_cases_spread_over_the_plan(tmp_path):
    loaded = load_suite(_suite(tmp_path, "- invariance: {param: obstacle_colour, values: [red, blue], margin: 0.1, pairs: 4}\n"))
    (test,) = plan_behaviour(loaded).tests
    lights = [g.stratum for g in test.groups]
    assert len(test.groups) == 4 and test.by is None
    bases = {c.case_id: c for c in plan_behaviour(loaded).cases}
    assert {bases[g.case_ids[0]].params["lighting"] for g in test.groups} == {"day", "night"}, lights


# --------------------------------------------------------------------------- decisions vs scipy references


def _tango_reference(b: int, c: int, n: int, d0: float) -> float:
    """Tango's score statistic with the restricted MLE of p21 found by maximising the multinomial
    likelihood numerically (scipy.optimize), independent of the closed form in stats."""
    def nll(q):
        p12, p21 = q + d0, q
        p11 = 1 - p12 - p21
        return -(b * math.log(p12) + c * math.log(p21) + (n - b - c) * math.log(max(p11, 1e-300)))

    lo, hi = max(0.0, -d0) + 1e-12, (1 - d0) / 2 - 1e-12
    q = optimize.minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}).x
    return (b - c - n * d0) / math.sqrt(n * (2 * q + d0 * (1 - d0)))


@pytest.mark.parametrize("up, down, n, margin", [(3, 2, 60, 0.1), (12, 3, 80, 0.1), (1, 1, 200, 0.05), (9, 20, 90, 0.15)])
def test_tost_binary_matches_a_scipy_score_test(up, down, n, margin):
    got = jb.tost_binary(up, down, n, margin, alpha=0.05)
    p_low = stats.norm.sf(_tango_reference(up, down, n, -margin))  # H0: delta <= -margin
    p_high = stats.norm.cdf(_tango_reference(up, down, n, margin))  # H0: delta >= margin
    assert got["p_pass"] == pytest.approx(max(p_low, p_high), rel=1e-5, abs=1e-9)
    p_up = stats.norm.sf(_tango_reference(up, down, n, margin))
    p_down = stats.norm.cdf(_tango_reference(up, down, n, -margin))
    assert got["p_fail"] == pytest.approx(min(1.0, 2 * min(p_up, p_down)), rel=1e-5, abs=1e-9)
    assert got["delta"] == pytest.approx((up - down) / n)
    # TOST at alpha <=> the one-sided (1 - alpha) bounds lie inside (-margin, margin), up to the bisection
    inside = -margin < got["lower"] and got["upper"] < margin
    assert inside == (got["p_pass"] <= 0.05) or abs(got["p_pass"] - 0.05) < 1e-3


@pytest.mark.parametrize("worse, better, n", [(7, 1, 50), (3, 3, 40), (0, 5, 30), (10, 2, 12)])
def test_directional_with_zero_margin_is_the_exact_mcnemar(worse, better, n):
    got = jb.directional_binary(worse, better, n, 0.0)
    ref = stats.binomtest(worse, worse + better, 0.5, alternative="greater").pvalue if worse + better else 1.0
    assert got["p_fail"] == pytest.approx(ref, rel=1e-9)


def test_directional_with_a_margin_is_the_one_sided_score_test():
    got = jb.directional_binary(20, 4, 100, 0.05)
    assert got["p_fail"] == pytest.approx(stats.norm.sf(_tango_reference(20, 4, 100, 0.05)), rel=1e-5)


def test_continuous_tost_and_directional_match_exact_sign_flip_tests():
    rng = np.random.default_rng(4)
    d = rng.normal(0.02, 0.1, size=10)  # 2^10 sign flips: the permutation test is exact
    m = 0.15

    def exact(x, alternative):
        return stats.permutation_test((x,), np.mean, permutation_type="samples", alternative=alternative,
                                      n_resamples=np.inf).pvalue

    got = jb.tost_continuous(d, m)
    assert got["p_pass"] == pytest.approx(max(exact(d + m, "greater"), exact(d - m, "less")), abs=1e-12)
    assert got["p_fail"] == pytest.approx(min(1.0, 2 * min(exact(d - m, "greater"), exact(d + m, "less"))), abs=1e-12)
    v = d + 0.1
    assert jb.directional_continuous(v, 0.05)["p_fail"] == pytest.approx(exact(v - 0.05, "greater"), abs=1e-12)


@pytest.mark.parametrize("good, n, at_least", [(20, 20, 1.0), (19, 20, 1.0), (45, 50, 0.95), (30, 40, 0.9)])
def test_minimum_functionality_is_an_exact_binomial_bound(good, n, at_least):
    got = jb.minimum_rate(good, n, at_least, alpha=0.05)
    ref = stats.binomtest(good, n, at_least, alternative="less")
    assert got["p_fail"] == pytest.approx(ref.pvalue if good < n else 1.0, abs=1e-12)
    ci = stats.binomtest(good, n, alternative="greater").proportion_ci(0.95, method="exact")
    assert got["lower"] == pytest.approx(ci.low, abs=1e-9)
    if at_least == 1.0 and good < n:
        assert got["p_fail"] == 0.0  # one failure refutes "always passes" exactly


def _frame(rows: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"case_id": list(rows), "passed": [bool(v) for v in rows.values()],
                         "outcome": ["completed"] * len(rows)})


def _pairs(x0, x1, kind="invariance", **kw) -> tuple[PlannedTest, pd.DataFrame]:
    groups, rows = [], {}
    for i, (a, b) in enumerate(zip(x0, x1)):
        ids = (f"b{i}", f"v{i}")
        rows.update({ids[0]: a, ids[1]: b})
        groups.append(Group(group_id=ids[0], case_ids=ids, values=("blue", "red")))
    t = PlannedTest(name=f"t-{kind}", kind=kind, param="colour", metric="passed", blocking=True, groups=tuple(groups),
                    values=("blue", "red"), **kw)
    return t, _frame(rows)


def test_invariance_decides_pass_fail_and_undecided():
    same = [1] * 150 + [0] * 50
    t, f = _pairs(same, same, margin=0.1)
    (r,) = jb.judge_behaviour([t], {"candidate": f}, {"candidate": "m@1"}).results
    assert r.decision == "pass" and r.n == 200 and r.delta == 0
    t, f = _pairs([1] * 100, [0] * 40 + [1] * 60, margin=0.1)  # red loses 40 points
    (r,) = jb.judge_behaviour([t], {"candidate": f}, {"candidate": "m@1"}).results
    assert r.decision == "fail" and r.delta == pytest.approx(-0.4) and r.worst == ("b0", "v0")
    assert "m@1 violates t-invariance" in r.statement
    t, f = _pairs([1] * 10, [1] * 10, margin=0.1)  # 10 identical pairs cannot show equivalence within 10 points
    (r,) = jb.judge_behaviour([t], {"candidate": f}, {"candidate": "m@1"}).results
    assert r.decision == "undecided"


def test_directional_fails_only_in_the_forbidden_direction():
    base = [0] * 30 + [1] * 70
    up = [1] * 30 + [1] * 70  # the variant is 30 points higher
    t, f = _pairs(base, up, kind="directional", margin=0.0, expect="not_higher")
    (r,) = jb.judge_behaviour([t], {"candidate": f}, {"candidate": "m@1"}).results
    assert r.decision == "fail" and r.delta == pytest.approx(0.3)
    t, f = _pairs(base, up, kind="directional", margin=0.0, expect="not_lower")
    (r,) = jb.judge_behaviour([t], {"candidate": f}, {"candidate": "m@1"}).results
    assert r.decision == "pass" and r.delta == pytest.approx(-0.3)


def test_the_candidate_shares_the_gates_holm_family_and_newly_violated_is_named():
    base = [0] * 8 + [1] * 92
    t, f = _pairs(base, [1] * 100, kind="directional", margin=0.0, expect="not_higher")  # 8 discordant: p = 2^-8
    p = jb.directional_binary(8, 0, 100, 0.0)["p_fail"]
    gate_p = [0.001, 0.2, 0.5]
    ok, _ = _pairs(base, base, kind="directional", margin=0.0, expect="not_higher")
    v = jb.judge_behaviour([t], {"candidate": f, "baseline": _frame(dict(zip(f.case_id, [True] * 200)))},
                           {"candidate": "m@2", "baseline": "m@1"}, gate_p_values=gate_p)
    cand = v.for_role("candidate")[0]
    # Holm over [0.001, p, 0.2, 0.5]: p is second smallest -> adjusted max(4 * 0.001, 3 * p)
    assert cand.p_adjusted == pytest.approx(max(4 * 0.001, 3 * p))
    assert v.family == 4 and v.failed and v.newly_violated == ("t-directional in overall",)
    alone = jb.judge_behaviour([t], {"candidate": f}, {"candidate": "m@2"})
    assert alone.for_role("candidate")[0].p_adjusted == pytest.approx(p)


def test_infrastructure_rows_drop_their_group():
    t, f = _pairs([1, 1, 1], [1, 1, 0], margin=0.1)
    f.loc[f.case_id == "v2", "outcome"] = "env_error"
    (r,) = jb.judge_behaviour([t], {"candidate": f}, {"candidate": "m@1"}).results
    assert r.n == 2 and r.dropped == 1


# --------------------------------------------------------------------------- A/A on the synthetic env


def _aa_outcomes(bplan, agent):
    """Every planned case's episode on the synthetic env, in-process (the env's own outcome rule)."""
    import behaviour_env as toy

    rows = []
    for c in bplan.cases:
        p = c.params
        shift = agent.act(np.array([toy.COLOURS.index(p["colour"]), p["fog"], p["clutter"]], dtype=float))[0]
        rows.append({"case_id": c.case_id, "passed": toy.succeeds(c.seed, p["colour"], p["fog"], p["clutter"], shift),
                     "outcome": "completed"})
    return bplan.tests, pd.DataFrame(rows)


def _toy_suite(tmp_path: Path, seed: int, samples: int) -> Path:
    (tmp_path / "toy.yaml").write_text(textwrap.dedent("""\
        id: toy/aa-v1
        env: "behaviour_env:BehaviourToy-v0"
        horizon: 1
        params:
          colour: {choice: [red, blue, grey]}
          fog: {uniform: [0.0, 0.3]}
          clutter: {uniform: [0.1, 1.0]}
        checks: [episode_return >= 1]
        """))
    path = tmp_path / f"aa-{seed}.yaml"
    path.write_text(f"name: aa\nscenarios: [toy.yaml]\nsampler: random\nsamples: {samples}\nseed: {seed}\nbehaviour:\n"
                    "  - invariance: {param: colour, values: [blue, grey], margin: 0.15}\n")
    return path


def test_aa_an_irrelevant_parameter_passes_at_the_nominal_rate(tmp_path):
    """A/A: colour does not matter to a sound model (true paired difference 0, discordance ~0.3),
    so over R independent suites the invariance test must (a) fail at most at the nominal alpha
    and (b) pass in at least 1 - alpha of them at this size (n = 200 pairs, margin 0.15: TOST power
    ~0.99). At the margin itself (a model that loses exactly 15 points on grey), TOST may pass at
    most at rate alpha: its size. Binomial 99.9 % allowances keep the test from flaking."""
    import behaviour_env as toy

    R, n, alpha = 60, 200, 0.05
    decisions, at_margin = [], []
    for r in range(R):
        bplan = plan_behaviour(load_suite(_toy_suite(tmp_path, seed=1000 + r, samples=n)))
        tests, frame = _aa_outcomes(bplan, toy.Agent())
        (res,) = jb.judge_behaviour(tests, {"candidate": frame}, {"candidate": "toy@aa"}, alpha=alpha).results
        decisions.append(res.decision)
        # the same suite with grey losing exactly the margin: the TOST boundary
        at_margin.append(_boundary_decision(bplan, alpha))
    fails, passes = decisions.count("fail"), decisions.count("pass")
    print(f"A/A over {R} suites: {passes} pass, {fails} fail; at the margin: "
          f"{sum(d == 'pass' for d in at_margin)} pass, {sum(d == 'fail' for d in at_margin)} fail")
    allowance = stats.binom.ppf(0.999, R, alpha)
    assert fails <= allowance, decisions
    assert R - passes <= allowance, decisions
    assert sum(d == "pass" for d in at_margin) <= allowance, at_margin


def _boundary_decision(bplan, alpha: float) -> str:
    """A model on the equivalence boundary: on grey it fails each otherwise-successful case with
    probability margin / base rate, drawn from the case seed, so the true paired delta is -margin."""
    import behaviour_env as toy

    rows = []
    for c in bplan.cases:
        p = c.params
        ok = toy.succeeds(c.seed, p["colour"], p["fog"], p["clutter"], 0.0)
        if p["colour"] == "grey" and ok:
            rate = toy.BASE - toy.FOG_COST * p["fog"]
            ok = toy._ND.cdf(toy._normal(c.seed, 77)) >= 0.15 / rate
        rows.append({"case_id": c.case_id, "passed": ok, "outcome": "completed"})
    (res,) = jb.judge_behaviour(bplan.tests, {"candidate": pd.DataFrame(rows)}, {"candidate": "toy@edge"},
                                alpha=alpha).results
    return res.decision


def test_the_shipped_driving_example_plans_what_the_driving_e2e_ran(tmp_path):
    """examples/behaviour/driving-smoke-behaviour.yaml is the suite of tests/e2e/test_behaviour_driving.py
    (whose results docs/authoring.md quotes): the same behaviour cases, case for case."""
    import sys

    root = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(root / "tests" / "e2e"))
    try:
        import test_behaviour_driving as e2e
    finally:
        sys.path.pop(0)
    shipped = plan_behaviour(load_suite(root / "examples/behaviour/driving-smoke-behaviour.yaml"))
    ran = plan_behaviour(load_suite(e2e._suite(tmp_path)))
    assert [t.name for t in shipped.tests] == [t.name for t in ran.tests]
    assert [c.case_id for c in shipped.cases] == [c.case_id for c in ran.cases]
    assert len(shipped.cases) == 236
