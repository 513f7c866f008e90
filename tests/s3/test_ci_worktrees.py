"""The CI loop of examples/ci/ played locally: a project repository (a copy of
examples/classic-control, committed on `main`) with two git worktrees, and results in a real S3
server on 127.0.0.1 (moto, conftest.py).

- the push-to-main job runs the suite for the model at main (`simtest run --full`), results to S3;
- a pull request that worsens the agent's code gates against main's stored run and fails (exit 1);
  the baseline's results are main's, made with main's code: no baseline episode runs on the PR;
- a pull request that leaves the agent unchanged passes (exit 0) with zero episodes run at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SIMTEST = str(Path(sys.executable).parent / "simtest")
GIT_ID = ["-c", "user.email=ci@example.invalid", "-c", "user.name=ci"]

# The PR's change to the agent: the catch controller loses most of its damping, so the pendulum
# overshoots and falls at high gravity (a real closed-loop regression, not a planted number).
WORSE = ("torque = -self.kp * angle - self.kd * rate", "torque = -self.kp * angle - 0.1 * self.kd * rate")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def simtest(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SIMTEST, *args], cwd=cwd, env={**env, "PYTHONPATH": str(cwd)}, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "classic-control", repo)
    (repo / ".gitignore").write_text("__pycache__/\nreport*/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the project on main")
    return repo


def test_pr_gates_against_mains_stored_baseline(project: Path, tmp_path: Path, s3_server, bucket):
    results = s3_server.uri(bucket)
    env = s3_server.env()
    env.pop("SIMTEST_BRANCH", None)
    for key in [k for k in env if k.startswith("GITHUB_")]:
        env.pop(key)
    main_commit = git(project, "rev-parse", "HEAD")

    # push to main: the suite for the model at main, stored in the shared store
    push = simtest(project, env, "run", "--suite", "suite.yaml", "--model", "swingup-1.0.yaml", "--full",
                   "--executor", "local", "--results", results, "--quiet")
    assert push.returncode == 0, push.stderr
    listing = simtest(project, env, "runs", "--results", results, "--json")
    assert listing.returncode == 0, listing.stderr
    (main_run,) = [json.loads(line) for line in listing.stdout.splitlines()]
    assert main_run["rows"] == 200 and main_run["model"] == "swingup@1.0"
    assert main_run["provenance"]["git"] == {"commit": main_commit, "branch": "main", "dirty": False}
    main_keys = set(s3_server.keys(bucket))
    manifest_key = next(k for k in main_keys if k.endswith(main_run["key"] + "/manifest.json"))
    main_manifest = s3_server.filesystem().open_input_stream(manifest_key).read()

    # two pull requests, each in its own worktree: one worsens the agent, one only edits a comment file
    worse, same = tmp_path / "pr-worse", tmp_path / "pr-same"
    git(project, "worktree", "add", "-q", "-b", "pr/worse", str(worse))
    git(project, "worktree", "add", "-q", "-b", "pr/docs", str(same))
    agent = worse / "swingup_agent.py"
    assert WORSE[0] in agent.read_text()
    agent.write_text(agent.read_text().replace(*WORSE))
    git(worse, "commit", "-qam", "agent: less damping in the catch phase")
    (same / "NOTES.md").write_text("a pull request that leaves the agent alone\n")
    git(same, "add", "NOTES.md")
    git(same, "commit", "-qm", "docs only")

    gate_args = ("gate", "--suite", "suite.yaml", "--candidate", "swingup-1.0.yaml", "--baseline",
                 "swingup-1.0.yaml@main", "--executor", "local", "--results", results)
    bad = simtest(worse, env, *gate_args, "--out", str(tmp_path / "report-worse"))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"baseline: swingup@1.0 read from the stored run {main_run['path']}" in bad.stderr
    assert f"commit {main_commit[:10]} on main" in bad.stderr and "none re-run" in bad.stderr
    assert "swingup@1.0: running 200 cases" in bad.stderr  # the candidate, with the PR's code
    assert bad.stderr.count("running ") == 1  # and nothing else ran
    assert "VERDICT: FAIL" in bad.stdout
    verdict = json.loads((tmp_path / "report-worse" / "verdict.json").read_text())
    failed = [c for c in verdict["checks"] if c["blocking"] and c["decision"] == "fail"]
    assert failed and all(c["comparison"] == "baseline" for c in failed)

    # the stored runs now: main's baseline untouched, plus the PR's candidate under another code digest
    after = [json.loads(line) for line in simtest(project, env, "runs", "--results", results, "--json").stdout.splitlines()]
    by_path = {r["path"]: r for r in after}
    assert by_path[main_run["path"]]["rows"] == 200 and len(after) == 2
    (pr_run,) = [r for r in after if r["path"] != main_run["path"]]
    assert pr_run["digest"] != main_run["digest"]  # the PR's code is a different model digest
    assert pr_run["provenance"]["git"]["branch"] == "pr/worse"
    assert main_keys <= set(s3_server.keys(bucket))  # nothing of main's run was rewritten or removed

    ok = simtest(same, env, *gate_args, "--out", str(tmp_path / "report-same"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VERDICT: PASS" in ok.stdout
    assert "running " not in ok.stderr  # zero episodes: the baseline is read, the candidate reused
    assert re.search(r"swingup@1\.0: all 200 cases already stored in \S+" + re.escape(main_run["key"]), ok.stderr)
    # main's run is byte for byte what the push job wrote
    assert s3_server.filesystem().open_input_stream(manifest_key).read() == main_manifest


def test_gate_without_a_stored_main_run_says_which_command_makes_one(project: Path, s3_server, bucket):
    env = s3_server.env()
    for key in [k for k in env if k.startswith("GITHUB_")]:
        env.pop(key)
    out = simtest(project, env, "gate", "--suite", "suite.yaml", "--candidate", "swingup-1.1.yaml", "--baseline",
                  "swingup-1.0.yaml@main", "--executor", "local", "--results", s3_server.uri(bucket))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "no stored run of swingup@1.0 for suite pendulum-smoke made from branch main" in out.stderr
    assert f"simtest run --suite suite.yaml --model swingup-1.0.yaml --full --results {s3_server.uri(bucket)}" \
        in out.stderr
    assert s3_server.keys(bucket) == []  # nothing ran, nothing was stored
