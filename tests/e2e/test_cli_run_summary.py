"""`simtest run` and `simtest plan --count` say what they found by name (issue 14, part 4): the
failed checks with their counts, and the cases per value of every stratified or categorical
parameter, integers included."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from clirun import simtest  # tests/ is on sys.path (tests/conftest.py)

pytestmark = pytest.mark.e2e




def test_run_prints_the_failed_checks_by_name_most_failures_first(tmp_path):
    # the pusher does nothing (gain 0): the point drifts out of [-limit, limit], so long-episode
    # checks fail often and short ones rarely; `episode_length >= 1` never fails
    (tmp_path / "scenario.yaml").write_text(textwrap.dedent("""\
        id: toy/drift-v1
        env: "fakes:simtest-test/Counter-v0"
        horizon: 30
        params:
          limit: {choice: [2.0, 3.0]}
          noise: {uniform: [0.3, 0.6]}
        checks:
          - {name: long, expr: episode_length >= 30}
          - {name: short, expr: episode_length >= 4}
          - {name: any, expr: episode_length >= 1}
        """))
    (tmp_path / "suite.yaml").write_text("name: drift\nscenarios: [scenario.yaml]\nsampler: sobol\nsamples: 24\n")
    (tmp_path / "idle.yaml").write_text('name: idle\nversion: "1.0"\nentry_point: fakes:make_agent\noptions: {gain: 0.0}\n')
    proc = simtest("run", "--suite", "suite.yaml", "--model", "idle.yaml", "--executor", "local", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    from simtest.execution.store import open_run_path

    run_dir = next((tmp_path / ".simtest/results").rglob("manifest.json")).parent
    frame = open_run_path(str(run_dir)).read()
    expected = {}
    for col in [c for c in frame.columns if c.startswith("check_")]:
        n = int((frame[col] == False).fillna(False).sum())  # noqa: E712
        if n:
            expected[col] = n
    assert len(expected) == 2, expected  # the test needs two failing checks with counts to compare
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("failed checks: "))
    shown = re.findall(r"(episode_length >= \d+): (\d+) failed", line)
    assert [name for name, _ in shown] == ["episode_length >= 30", "episode_length >= 4"], line
    assert dict(shown) == {"episode_length >= 30": str(expected["check_long"]),
                           "episode_length >= 4": str(expected["check_short"])}, line
    assert int(shown[0][1]) > int(shown[1][1])  # most failures first
    assert "episode_length >= 1:" not in line  # a check that never failed is not listed


def test_run_prints_no_failed_checks_line_when_every_check_held(tmp_path):
    (tmp_path / "scenario.yaml").write_text(textwrap.dedent("""\
        id: toy/hold-v1
        env: "fakes:simtest-test/Counter-v0"
        horizon: 10
        params:
          limit: 50.0
        checks:
          - episode_length >= 1
        """))
    (tmp_path / "suite.yaml").write_text("name: hold\nscenarios: [scenario.yaml]\nsamples: 1\nseeds: 4\n")
    (tmp_path / "pusher.yaml").write_text('name: pusher\nversion: "1.0"\nentry_point: fakes:make_agent\n')
    proc = simtest("run", "--suite", "suite.yaml", "--model", "pusher.yaml", "--executor", "local", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 episodes: 4 passed checks" in proc.stdout
    assert "failed checks" not in proc.stdout


def test_plan_count_shows_every_stratified_or_categorical_parameter_integers_included(tmp_path):
    # `fail_at_step` is an integer choice, stratified (as `lanes_count: {choice: [2, 3, 4]}` in the
    # issue); `limit` a float choice; `noise` continuous.
    (tmp_path / "scenario.yaml").write_text(textwrap.dedent("""\
        id: toy/count-v1
        env: "fakes:simtest-test/Counter-v0"
        tags: [toy]
        horizon: 5
        params:
          fail_at_step: {choice: [1000, 2000, 3000]}
          limit: {choice: [2.5, 4.0]}
          noise: {uniform: [0.3, 0.6]}
        checks:
          - episode_length >= 1
        """))
    (tmp_path / "suite.yaml").write_text(
        "name: count\nscenarios: [scenario.yaml]\nsampler: sobol\nsamples: 4\nstratify: [fail_at_step]\n")
    proc = simtest("plan", "--suite", "suite.yaml", "--count", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = dict(re.findall(r"^  (\S+)\s+(\d+)$", proc.stdout, flags=re.M))
    assert proc.stdout.startswith("12 cases"), proc.stdout
    # stratified: every value gets an equal share, and each is listed
    assert {k: counts.get(k) for k in ("fail_at_step=1000", "fail_at_step=2000", "fail_at_step=3000")} == {
        "fail_at_step=1000": "4", "fail_at_step=2000": "4", "fail_at_step=3000": "4"}, proc.stdout
    # categorical, not stratified: every value drawn is listed, and the counts add up
    assert {k for k in counts if k.startswith("limit=")} <= {"limit=2.5", "limit=4.0"}
    assert sum(int(v) for k, v in counts.items() if k.startswith("limit=")) == 12, proc.stdout
    assert not any(k.startswith("noise=") for k in counts)  # a continuous parameter is not counted per value
    assert counts["scenario:toy/count-v1"] == "12" and counts["tag:toy"] == "12"
