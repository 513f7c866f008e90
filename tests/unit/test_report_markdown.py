"""summary.md: verdict first with why, blocking problems with effect and interval, the key metric
per slice, new failures with replay commands; short enough for a pull-request comment."""

from __future__ import annotations

import pytest

from simtest.report import _data
from simtest.report._example import example_context, example_frames, handmade_verdict
from simtest.report.markdown import render_summary


@pytest.fixture(scope="module")
def frames():
    return example_frames()


def summary(verdict, frames, **ctx) -> str:
    context = {**example_context(), **ctx}
    return render_summary(_data.build(verdict, frames, context), {"report.html": "report.html"})


def test_summary_starts_with_the_verdict_and_names_the_regressed_slice(frames):
    text = summary(handmade_verdict("fail", frames=frames), frames)
    first = text.splitlines()[0]
    assert "FAIL" in first
    assert "lighting=night" in first and "+30.0 pp" in first and "[+12.0, +45.0]" in first


def test_summary_lists_failing_and_undecided_blocking_checks_with_effect_and_interval(frames):
    text = summary(handmade_verdict("fail", frames=frames), frames)
    table = text.split("**Blocking checks not passed")[1].split("\n\n**")[0]
    rows = [r for r in table.splitlines() if r.startswith("| vs ")]
    assert len(rows) == 2
    assert "| vs baseline | passed | lighting=night | 40 | +30.0 pp | [+12.0, +45.0] | 10.0 pp | ❌ fail |" in rows[0]
    assert "undecided" in rows[1] and "vs reference" in rows[1]


def test_passing_verdict_says_every_blocking_check_passed_and_has_no_problem_table(frames):
    text = summary(handmade_verdict("pass", frames=frames), frames)
    assert text.startswith("### simtest gate: ✅ **PASS**: all 5 blocking checks passed")
    assert "Blocking checks not passed" not in text


def test_invalid_verdict_leads_with_the_infrastructure_reason(frames):
    text = summary(handmade_verdict("invalid", frames=frames), frames)
    assert "INVALID" in text.splitlines()[0] and "env_error" in text.splitlines()[0]
    assert "1 scenario(s) changed" in text


def test_new_failures_carry_their_replay_command(frames):
    v = handmade_verdict("fail", frames=frames, failures=3)
    text = summary(v, frames)
    for f in v.new_failures:
        assert (f"`simtest replay {f.case_id} --model driving-perception@1.2 --run /tmp/runs/candidate`") in text
    # agent errors first: a crash is worse than a missed goal
    lines = [line for line in text.splitlines() if line.startswith("- `")]
    assert "outcome=agent_error" in lines[0]


def test_too_small_slice_says_how_many_cases_it_would_need(frames):
    text = summary(handmade_verdict("pass", frames=frames), frames)
    assert "| n_obstacles=[4,6] | 9 |" in text and "too small (needs n≈85)" in text


def test_summary_stays_under_60_lines_when_everything_fails(frames):
    import dataclasses

    v = handmade_verdict("fail", frames=frames, extra_slices=30, failures=40)
    v = dataclasses.replace(v, checks=tuple(dataclasses.replace(c, decision="fail", blocking=True) for c in v.checks))
    text = summary(v, frames)
    lines = text.splitlines()
    assert len(lines) < 60
    assert sum(1 for line in lines if line.startswith("- `")) == 6
    assert "34 more in report.html" in text
    assert "more slices in report.html" in text
    assert f"| ... | {len(v.checks) - 8} more in report.html |" in text


def test_summary_shows_every_overall_metric_including_improvements(frames):
    text = summary(handmade_verdict("fail", frames=frames), frames)
    table = text.split("**Overall, every judged metric**")[1].split("\n\n")[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| metric")]
    overall = {c.metric for c in handmade_verdict("fail", frames=frames).checks if c.slice == "overall"}
    assert {r.split(" |")[0][2:].replace(" (blocking)", "") for r in rows} == overall


def test_summary_without_reference_has_no_reference_column(frames):
    v = handmade_verdict("pass", frames=frames)
    ctx = example_context()
    ctx["models"] = {k: x for k, x in ctx["models"].items() if k != "reference"}
    checks = tuple(c for c in v.checks if c.comparison != "reference")
    import dataclasses

    v = dataclasses.replace(v, checks=checks)
    text = render_summary(_data.build(v, {k: f for k, f in frames.items() if k != "reference"}, ctx))
    assert "| ref |" not in text and "reference" not in text.splitlines()[2]
