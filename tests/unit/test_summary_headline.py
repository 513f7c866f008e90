"""A summary a reviewer can trust (issue 14, part 4): the headline of summary.md and its "Blocking
checks not passed" table are made from one list, judging's BlockingDecisions, so they cannot
count differently, and a comparator that was not given is never named.

The original bug: with no `errors` metric in the policy (it is judged anyway, as a blocking safety
check that holds the gate only on a confident regression), no reference, and too few pairs to show
`errors` within its margin, the headline said "all 3 blocking checks passed non-inferiority against
the baseline and reference" above a table listing `errors | too_small`."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simtest.contract.policy import policy_from_dict
from simtest.judging.compare import BlockingDecisions, CheckResult, RunStats, Verdict, compare
from simtest.report import _data, write_reports
from simtest.report.markdown import render_summary

TABLE = re.compile(r"^\*\*Blocking checks not passed \((\d+)\)\*\*$", re.M)
ROW = re.compile(r"^\| vs (\w+) \| .+ \|$", re.M)


def frame(ok, lighting) -> pd.DataFrame:
    n = len(ok)
    return pd.DataFrame({
        "case_id": [f"c{i:04d}" for i in range(n)], "scenario": "toy/a-v1", "scenario_hash": "h1",
        "seed": np.arange(n), "sample": np.arange(n), "seed_index": 0,
        "params": [json.dumps({"lighting": lt}) for lt in lighting], "tags": [[lt] for lt in lighting],
        "outcome": "completed", "passed": np.asarray(ok, bool), "attempt": 1, "error": ""})


def headline_not_passed(headline: str) -> int | None:
    """The number of blocking checks not passed that the headline states (None: it states none)."""
    if re.search(r": all \d+ blocking checks? passed", headline):
        return 0
    if m := re.search(r": (\d+) of (\d+) blocking checks? passed", headline):
        return int(m[2]) - int(m[1])
    if m := re.search(r"; (\d+) more blocking checks? not passed", headline):
        return int(m[1]) + 1
    if m := re.search(r"; (\d+) blocking checks? not passed", headline):
        return int(m[1])
    if re.match(r"### simtest gate: ❌ \*\*FAIL\*\*: \S+ on \S+ vs (baseline|reference): ", headline):
        return 1  # one check named, no "more"
    return None


def table_count(text: str) -> int:
    m = TABLE.search(text)
    return int(m[1]) if m else 0


def test_no_errors_metric_no_reference_too_small_errors_the_headline_counts_what_the_table_lists(tmp_path):
    rng = np.random.default_rng(1)
    lighting = ["day", "night"] * 10
    ok = rng.random(20) < 0.9
    policy = policy_from_dict({
        "metrics": {"passed": {"margin_baseline": 0.6, "slice_margin_baseline": 0.7, "blocking": True}},
        "slices": {"params": ["lighting"]}, "blocking_slices": ["lighting=night"]})
    assert "errors" not in policy.metrics  # added by the gate, not by the author
    v = compare(frame(ok, lighting), frame(ok, lighting), None, policy)
    g = v.blocking
    assert v.verdict == "pass"
    assert [(c.metric, c.slice, c.decision) for c in g.unproven] == [("errors", "overall", "too_small")]
    assert (len(g.passed), g.total, g.comparisons) == (2, 3, ("baseline",))
    paths = write_reports(tmp_path, v, None, {"models": {"candidate": "m@2", "baseline": "m@1"}})
    text = paths["summary"].read_text(encoding="utf-8")
    headline = text.splitlines()[0]
    assert headline.startswith("### simtest gate: ✅ **PASS**: 2 of 3 blocking checks passed non-inferiority "
                               "against the baseline; 1 not passed and not holding the gate (errors on overall vs "
                               "baseline: too small to judge (n=20"), headline
    assert "all 3 blocking checks passed" not in text
    assert table_count(text) == 1 and "| vs baseline | errors | overall | 20 |" in text
    assert "too_small (not holding)" in text
    assert "reference" not in text.lower()
    html = paths["html"].read_text(encoding="utf-8")
    assert "2 of 3 blocking checks passed non-inferiority against the baseline;" in html
    assert "Blocking checks not passed (1)" in html

    from simtest.orchestrate import console_summary

    console = console_summary(v, {})
    assert "  blocking checks: 2 of 3 passed against the baseline; 1 not passed (1 not decided, not holding the gate)" \
        in console.splitlines(), console
    assert "reference" not in console


def test_the_verdicts_reasons_list_exactly_the_failed_and_open_blocking_checks():
    rng = np.random.default_rng(3)
    lighting = ["day", "night"] * 30
    base = rng.random(60) < 0.9
    cand = base & (rng.random(60) < 0.5)  # a large regression: passed fails overall
    policy = policy_from_dict({"metrics": {"passed": {"margin_baseline": 0.05, "blocking": True}},
                               "slices": {"params": ["lighting"], "tags": False},
                               "blocking_slices": ["lighting=night"], "adaptive": {"enabled": False}})
    v = compare(frame(cand, lighting), frame(base, lighting), None, policy)
    g = v.blocking
    assert v.verdict == "fail" and g.failed
    lines = [r for r in v.reasons if " regressed vs " in r or " is undecided " in r or " is too small " in r]
    assert len(lines) == len(g.failed) + len(g.open)
    for c in g.failed + g.open:
        assert any(r.startswith(f"{c.metric} ") and f" {c.slice}" in r for r in lines), (c, lines)


# --------------------------------------------------------------------------- generated verdicts

BLOCKING_DECISIONS = ("pass", "fail", "undecided", "too_small")
OTHER_DECISIONS = ("pass", "warn", "undecided", "too_small", "fail")


@st.composite
def verdicts(draw):
    has_ref = draw(st.booleans())
    comps = ("baseline", "reference") if has_ref else ("baseline",)
    on_undecided = draw(st.sampled_from(("fail", "pass")))
    metrics = draw(st.lists(st.sampled_from(("passed", "errors", "collision", "time_to_goal", "success")),
                            min_size=1, max_size=4, unique=True))
    slices = ["overall"] + draw(st.lists(st.sampled_from(("lighting=night", "lighting=day", "tag:fog")),
                                         max_size=3, unique=True))
    checks = []
    for m in metrics:
        blocking = draw(st.booleans())
        safety = m in ("errors", "collision") and draw(st.booleans())
        holds = not (m == "errors" or (safety and draw(st.booleans())))  # prove_within_margin
        in_slices = draw(st.booleans())
        kind = "continuous" if m == "time_to_goal" else "binary"
        for comp in comps:
            for s in slices:
                b = blocking and (s == "overall" or in_slices)
                decision = draw(st.sampled_from(BLOCKING_DECISIONS if b else OTHER_DECISIONS))
                n = draw(st.integers(0, 400))
                delta = draw(st.floats(-0.3, 0.5))
                width = draw(st.floats(0.0, 0.2))
                needed = draw(st.one_of(st.none(), st.integers(10, 5000))) if decision in ("too_small", "undecided") else None
                checks.append(CheckResult(
                    comparison=comp, metric=m, slice=s, n=n, delta=delta, lower=delta - width, upper=delta + width,
                    p_value=0.01 if decision == "fail" else 0.4, decision=decision, margin=0.05, blocking=b,
                    candidate_value=0.7, baseline_value=0.72, needed_n=needed, safety=safety, kind=kind, holds=holds))
    g = BlockingDecisions.of(checks)
    reasons = [f"{c.metric} regressed vs {c.comparison} in {c.slice}" for c in g.failed]
    reasons += [f"{c.metric} vs {c.comparison} in {c.slice} is {c.decision.replace('_', ' ')}" for c in g.open]
    verdict = "fail" if g.failed or (g.open and on_undecided == "fail") else "pass"
    other = draw(st.sampled_from(("none", "corpus", "invalid")))
    if other == "corpus" and verdict == "pass":  # failed for a reason outside the blocking checks
        verdict = "fail"
        reasons.append("corpus: 1 previously found failure(s) that the baseline passes fail again in the candidate")
    elif other == "invalid":
        verdict = "invalid"
        reasons.insert(0, "candidate run: 9 env_error + 0 timeout of 60 episodes (15.0%) exceeds the policy limit "
                          "5.0%; the run is invalid (infrastructure), rerun it")
    st_ = RunStats(rows=60, completed=60, agent_error=0, timeout=0, env_error=0)
    infra = {"candidate": st_, "baseline": st_, **({"reference": st_} if has_ref else {})}
    v = Verdict(verdict=verdict, checks=tuple(checks), reasons=tuple(reasons), infra=infra)
    models = {"candidate": "m@3", "baseline": "m@2", **({"reference": "m@1"} if has_ref else {})}
    return v, models, has_ref


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(verdicts())
def test_over_generated_verdicts_the_headline_agrees_with_the_table_and_names_only_given_roles(case):
    v, models, has_ref = case
    text = render_summary(_data.build(v, None, {"models": models}))
    headline = text.splitlines()[0]
    g = v.blocking
    shown = table_count(text)
    assert shown == len(g.not_passed)  # the table is the list
    stated = headline_not_passed(headline)
    assert stated == shown or (stated is None and shown == 0), (headline, shown)
    if m := re.search(r"(\d+) of (\d+) blocking checks? passed", headline):
        assert (int(m[1]), int(m[2])) == (len(g.passed), g.total)
    if m := re.search(r"all (\d+) blocking checks? passed", headline):
        assert int(m[1]) == g.total and shown == 0
    if v.verdict == "pass" and shown:  # a passing gate with checks not passed says why they do not hold it
        assert "not holding the gate" in headline
    rows = ROW.findall(text.split("**Blocking checks not passed")[1].split("\n\n**")[0]) if shown else []
    assert len(rows) == min(shown, 8)
    if not has_ref:
        assert "reference" not in text.lower(), text
    elif any(c.comparison == "reference" for c in g.passed) and not g.not_passed and v.verdict == "pass":
        assert "against the baseline and reference" in headline


def test_an_undecided_check_that_does_not_hold_the_gate_is_no_junit_failure_and_the_headline_says_so(tmp_path):
    import dataclasses

    import junitparser

    from simtest.report._example import handmade_verdict
    from simtest.report.junit import render_junit

    v = handmade_verdict("pass")
    v = dataclasses.replace(v, checks=tuple(
        dataclasses.replace(c, decision="undecided", holds=False) if c.metric == "collision" else c for c in v.checks))
    d = _data.build(v, None, {"models": {"candidate": "m@2", "baseline": "m@1", "reference": "m@0"}})
    headline = render_summary(d).splitlines()[0]
    assert "4 of 5 blocking checks passed non-inferiority against the baseline and reference; 1 not passed and " \
           "not holding the gate (collision on overall vs baseline:" in headline, headline
    path = tmp_path / "junit.xml"
    path.write_text(render_junit(d), encoding="utf-8")
    tc = {(t.classname, t.name): t for suite in junitparser.JUnitXml.fromfile(str(path)) for t in suite}
    (result,) = tc[("baseline.collision", "overall")].result
    assert isinstance(result, junitparser.Skipped) and "not holding the gate" in result.message
    held = dataclasses.replace(v, verdict="fail", checks=tuple(
        dataclasses.replace(c, holds=True) if c.metric == "collision" else c for c in v.checks))
    path.write_text(render_junit(_data.build(held, None, {})), encoding="utf-8")
    tc = {(t.classname, t.name): t for suite in junitparser.JUnitXml.fromfile(str(path)) for t in suite}
    (result,) = tc[("baseline.collision", "overall")].result
    assert isinstance(result, junitparser.Failure) and result.type == "undecided"  # a holding one still fails
