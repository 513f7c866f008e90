"""`simtest gate` with a `behaviour:` section, end to end on the one-step synthetic env
(tests/behaviour_env.py, numpy only): each planted version violates exactly one expectation and
the gate names it, with its exit code, verdict.json, summary.md and report.html; the sound version
passes every test. The behaviour tests also run as pytest items through the plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
TESTS = Path(__file__).resolve().parents[1]

SCENARIO = """\
id: toy/behaviour-v1
env: "behaviour_env:BehaviourToy-v0"
tags: [toy]
horizon: 1
params:
  colour: {choice: [red, blue, grey]}
  fog: {uniform: [0.0, 0.3]}
  clutter: {uniform: [0.1, 1.0]}
checks:
  - episode_return >= 1
"""
TRIVIAL = """\
id: toy/trivial-v1
env: "behaviour_env:BehaviourToy-v0"
horizon: 1
params:
  colour: blue
checks:
  - episode_return >= 1
"""
SUITE = """\
name: toy-behaviour
scenarios: [scenario.yaml]
sampler: sobol
samples: 80
policy: policy.yaml
max_extra_rounds: 0
behaviour:
  - invariance: {param: colour, values: [blue, grey], margin: 0.2, name: grey-invariance}
  - invariance: {param: colour, values: [blue, red], margin: 0.2, name: red-invariance}
  - directional: {param: fog, from: 0.05, to: 0.3, expect: not_higher, name: fog-monotone}
  - minimum: {scenario: trivial.yaml, set: {fog: 0.0, clutter: 0.0}, seeds: 20, name: empty-road}
"""
VERSIONS = {"1.0": "{}", "1.1": "{red_drop: 0.5}", "1.2": "{fog_gain: 1.0}", "1.3": "{easy_drop: 0.3}", "1.4": "{}"}


def simtest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "simtest.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("behaviour")
    (root / "scenario.yaml").write_text(SCENARIO)
    (root / "trivial.yaml").write_text(TRIVIAL)
    (root / "suite.yaml").write_text(SUITE)
    (root / "policy.yaml").write_text("metrics:\n  passed: {margin_baseline: 0.3, margin_reference: 0.3, blocking: true}\n")
    for v, options in VERSIONS.items():
        (root / f"toy-{v}.yaml").write_text(f'name: toy\nversion: "{v}"\nentry_point: behaviour_env:make_agent\n'
                                            f"options: {options}\n")
    return root


def gate(project: Path, version: str, capsys=None) -> tuple[subprocess.CompletedProcess, dict]:
    """`simtest gate` as a subprocess, or in-process through cli.main when `capsys` is given (the
    same code path minus the interpreter start, which dominates on a one-step env)."""
    out = f"out-{version}"
    args = ("gate", "--suite", "suite.yaml", "--candidate", f"toy-{version}.yaml", "--baseline", "toy-1.0.yaml",
            "--executor", "local", "--out", out)
    if capsys is None:
        proc = simtest(*args, cwd=project)
    else:
        from simtest.cli import main

        here = os.getcwd()
        os.chdir(project)
        try:
            code = main([*args, "--quiet"])  # the progress log is bound to the interpreter's first stderr
        finally:
            os.chdir(here)
        captured = capsys.readouterr()
        proc = subprocess.CompletedProcess(args, code, captured.out, captured.err)
    doc = json.loads((project / out / "verdict.json").read_text()) if (project / out / "verdict.json").is_file() else {}
    return proc, doc


def decisions(doc: dict, role: str = "candidate") -> dict[str, str]:
    return {r["test"]: r["decision"] for r in doc["behaviour"]["results"] if r["role"] == role and r["slice"] == "overall"}


def test_a_sound_version_meets_every_expectation(project, capsys):
    proc, doc = gate(project, "1.4", capsys)  # same agent as the baseline, another version
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert decisions(doc) == {"grey-invariance": "pass", "red-invariance": "pass", "fog-monotone": "pass",
                              "empty-road": "pass"}
    assert doc["behaviour"]["failed"] is False and doc["behaviour"]["newly_violated"] == []
    # the gate's blocking checks and the behaviour tests form one Holm family
    assert doc["behaviour"]["family"] == sum(1 for c in doc["checks"] if c["blocking"]) + 4


def test_a_colour_shortcut_violates_invariance_and_is_named_in_every_report(project):
    proc, doc = gate(project, "1.1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    d = decisions(doc)
    assert d["red-invariance"] == "fail" and d["grey-invariance"] == "pass" and d["fog-monotone"] == "pass"
    assert "behaviour: toy@1.1 violates red-invariance" in proc.stdout
    assert "behaviour: 4 tests, 420 cases per model" in proc.stderr  # the blue members of both invariance tests are shared
    assert "red-invariance in overall" in doc["behaviour"]["newly_violated"]
    red = next(r for r in doc["behaviour"]["results"] if r["test"] == "red-invariance" and r["role"] == "candidate")
    assert red["upper"] < -0.2 and len(red["worst"]) == 2  # the whole interval is beyond the margin
    base = next(r for r in doc["behaviour"]["results"] if r["test"] == "red-invariance" and r["role"] == "baseline")
    assert base["decision"] == "pass"  # judged per version: the baseline meets it
    summary = (project / "out-1.1/summary.md").read_text()
    assert "Behavioural tests: 1 violated by the candidate" in summary
    assert "| toy@1.1 | red-invariance (invariance) | overall | 80 |" in summary
    html = (project / "out-1.1/report.html").read_text()
    assert "<h2 id='behaviour'>Behavioural tests</h2>" in html and "red-invariance" in html
    assert html.count("data:image/gif;base64,") >= 2  # both members of the worst pair, side by side


def test_fog_that_raises_success_violates_the_direction(project, capsys):
    proc, doc = gate(project, "1.2", capsys)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    d = decisions(doc)
    assert d["fog-monotone"] == "fail" and d["red-invariance"] == "pass"
    fog = next(r for r in doc["behaviour"]["results"] if r["test"] == "fog-monotone" and r["role"] == "candidate")
    assert fog["lower"] > 0 and fog["p_adjusted"] <= 0.05


def test_minimum_functionality_names_each_failing_case_with_its_replay_command(project, capsys):
    proc, doc = gate(project, "1.3", capsys)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert decisions(doc)["empty-road"] == "fail"
    mini = next(r for r in doc["behaviour"]["results"] if r["test"] == "empty-road" and r["role"] == "candidate")
    assert mini["failures"] and mini["n"] == 20
    summary = (project / "out-1.3/summary.md").read_text()
    command = next(line.strip(" -`") for line in summary.splitlines() if f"simtest replay {mini['failures'][0]}" in line)
    replay = simtest(*command.split()[1:], cwd=project)
    assert replay.returncode == 0 and "IDENTICAL" in replay.stdout, replay.stdout + replay.stderr


def test_behaviour_tests_are_pytest_items(project):
    env = {**os.environ, "PYTHONPATH": str(TESTS) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "suite.yaml", "--simtest-model", "toy-1.1.yaml", "-p",
                           "no:cacheprovider", "-q", "-rA"], cwd=project, env=env, capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "FAILED suite.yaml::toy-behaviour::red-invariance" in out
    assert "PASSED suite.yaml::toy-behaviour::grey-invariance" in out
    assert "toy@1.1 violates red-invariance" in out and "replay: simtest replay" in out


def test_a_stored_baseline_brings_its_behaviour_run(project, tmp_path):
    """`--baseline-run`: the baseline's behaviour cases are read from the run beside it (made by
    `simtest run --full`), never run; without them the gate says which command makes them (exit 2)."""
    import shutil

    proj = tmp_path / "p"
    shutil.copytree(project, proj, ignore=shutil.ignore_patterns("out-*", ".simtest"))
    made = simtest("run", "--suite", "suite.yaml", "--model", "toy-1.0.yaml", "--executor", "local",
                   "--results", "stored", "--quiet", cwd=proj)
    assert made.returncode == 0, made.stderr
    (base_dir,) = [p.parent for p in (proj / "stored").rglob("manifest.json")]
    args = ("gate", "--suite", "suite.yaml", "--candidate", "toy-1.1.yaml", "--baseline", "toy-1.0.yaml",
            "--baseline-run", str(base_dir), "--executor", "local", "--results", "stored", "--out", "out")
    missing = simtest(*args, cwd=proj)
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert "has no toy-behaviour+behaviour run beside it" in missing.stderr
    assert "simtest run --suite suite.yaml --model toy-1.0.yaml --full" in missing.stderr
    assert "running" not in missing.stderr  # found out before anything ran
    full = simtest("run", "--suite", "suite.yaml", "--model", "toy-1.0.yaml", "--full", "--executor", "local",
                   "--results", "stored", "--quiet", cwd=proj)
    assert full.returncode == 0, full.stderr
    proc = simtest(*args, cwd=proj)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "toy@1.0: running" not in proc.stderr and "toy@1.1: running" in proc.stderr
    doc = json.loads((proj / "out" / "verdict.json").read_text())
    assert decisions(doc)["red-invariance"] == "fail"
    assert decisions(doc, "baseline")["red-invariance"] == "pass"  # judged on the stored baseline's cases
