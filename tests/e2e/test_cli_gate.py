"""`simtest gate` and `simtest compare` end to end on a fast numpy env (no pybullet, no torch):
exit codes, report files, reuse of stored runs, and compare reproducing the gate's verdict."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from clirun import simtest  # tests/ is on sys.path (tests/conftest.py)

pytestmark = pytest.mark.e2e




@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "scenario.yaml").write_text(textwrap.dedent("""\
        id: toy/keep-centred-v1
        env: "fakes:simtest-test/Counter-v0"
        tags: [toy]
        horizon: 40
        params:
          limit: {choice: [2.5, 4.0]}
          noise: {uniform: [0.3, 0.6]}
        checks:
          - episode_length >= 40
        """))
    (tmp_path / "suite.yaml").write_text(textwrap.dedent("""\
        name: toy-smoke
        scenarios: [scenario.yaml]
        sampler: sobol
        samples: 30
        stratify: [limit]
        policy: policy.yaml
        max_extra_rounds: 0
        """))
    (tmp_path / "policy.yaml").write_text(textwrap.dedent("""\
        metrics:
          passed: {margin_baseline: 0.1, margin_reference: 0.15, blocking: true}
          errors: {margin_baseline: 0.1, margin_reference: 0.1, safety: true, blocking: true}
        slices:
          params: [limit]
        blocking_slices: ["limit=2.5"]
        """))
    for version, gain in (("1.0", 0.8), ("1.1", 0.8), ("1.2", 0.0)):
        (tmp_path / f"pusher-{version}.yaml").write_text(
            f'name: pusher\nversion: "{version}"\nentry_point: fakes:make_agent\noptions: {{gain: {gain}}}\n')
    return tmp_path


def gate(project: Path, candidate: str, out: str) -> subprocess.CompletedProcess:
    return simtest("gate", "--suite", "suite.yaml", "--candidate", candidate, "--baseline", "pusher-1.1.yaml",
                   "--reference", "pusher-1.0.yaml", "--executor", "local", "--out", out, cwd=project)


def test_gate_fails_a_candidate_that_stopped_pushing_and_writes_every_report(project):
    proc = gate(project, "pusher-1.2.yaml", "out-fail")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "VERDICT: FAIL" in proc.stdout
    out = project / "out-fail"
    for name in ("summary.md", "verdict.json", "junit.xml", "report.html"):
        assert (out / name).is_file(), name
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["verdict"] == "fail"
    failing = {(c["comparison"], c["metric"], c["slice"]) for c in verdict["checks"] if c["decision"] == "fail"}
    assert ("baseline", "passed", "overall") in failing
    assert "simtest replay" in (out / "summary.md").read_text()


def test_gate_passes_an_identical_candidate_and_reuses_stored_baselines(project):
    first = gate(project, "pusher-1.2.yaml", "out-1")
    assert first.returncode == 1
    (project / "pusher-1.3.yaml").write_text('name: pusher\nversion: "1.3"\nentry_point: fakes:make_agent\noptions: {gain: 0.8}\n')
    proc = gate(project, "pusher-1.3.yaml", "out-2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "VERDICT: PASS" in proc.stdout
    assert "pusher@1.1: all 60 cases already stored" in proc.stderr
    assert "pusher@1.3: running 60 cases" in proc.stderr


def test_compare_on_stored_runs_reproduces_the_gate_verdict(project):
    assert gate(project, "pusher-1.2.yaml", "out-gate").returncode == 1
    runs = sorted(p.parent for p in (project / ".simtest/results").rglob("manifest.json"))
    by_version = {p.parent.name.split("@")[1]: str(p) for p in runs}
    proc = simtest("compare", "--candidate", by_version["1.2"], "--baseline", by_version["1.1"], "--reference",
                   by_version["1.0"], "--out", "out-compare", cwd=project)  # the policy recorded in the run
    assert proc.returncode == 1, proc.stderr
    gate_json = json.loads((project / "out-gate/verdict.json").read_text())
    cmp_json = json.loads((project / "out-compare/verdict.json").read_text())
    assert gate_json["checks"] == cmp_json["checks"] and gate_json["verdict"] == cmp_json["verdict"]


def test_run_resume_runs_only_the_missing_cases(project):
    first = simtest("run", "--suite", "suite.yaml", "--model", "pusher-1.1.yaml", "--executor", "local", cwd=project)
    assert first.returncode == 0, first.stderr
    run_dir = next((project / ".simtest/results").rglob("manifest.json")).parent
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["suite_path"] == str(project / "suite.yaml")
    # drop the last chunk from the manifest, as if the driver died before listing it
    manifest["chunks"] = []
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    resumed = simtest("run", "--resume", str(run_dir), "--executor", "local", cwd=project)
    assert resumed.returncode == 0, resumed.stderr
    assert "pusher@1.1: running 60 cases" in resumed.stderr
    again = simtest("run", "--resume", str(run_dir), "--executor", "local", cwd=project)
    assert "all 60 cases already stored" in again.stderr
    assert "60 episodes" in again.stdout
