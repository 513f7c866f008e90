"""The CI workflow of examples/ci/simtest.yml, checked and played locally.

- The workflow validates against GitHub's workflow schema (SchemaStore's, vendored by
  check-jsonschema: offline), and the validator rejects a broken copy.
- Both jobs are played step by step, their `run:` scripts executed by bash as the runner would,
  on a project repository (a copy of examples/classic-control committed on `main`) with two git
  worktrees, results in a real S3 server on 127.0.0.1 (moto, conftest.py):
  - the push-to-main job stores the suite's run for the model at main;
  - a pull request that worsens the agent's code fails its gate (exit 1) against main's stored
    run: the baseline's results are main's, made with main's code, and no baseline episode runs;
  - a pull request that leaves the agent unchanged passes (exit 0) with zero episodes run.
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
import yaml

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FILE = ROOT / "examples" / "ci" / "simtest.yml"
BIN = str(Path(sys.executable).parent)
GIT_ID = ["-c", "user.email=ci@example.invalid", "-c", "user.name=ci"]

# The PR's change to the agent: the catch controller loses most of its damping, so the pendulum
# overshoots and falls at high gravity (a real closed-loop regression, not a planted number).
WORSE = ("torque = -self.kp * angle - self.kd * rate", "torque = -self.kp * angle - 0.1 * self.kd * rate")


def workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW_FILE.read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as True
    return doc


def step(job: str, step_id: str) -> dict:
    (s,) = [s for s in workflow()["jobs"][job]["steps"] if s.get("id") == step_id]
    return s


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


class Runner:
    """Plays a job's steps the way GitHub's runner does: `bash --noprofile --norc -eo pipefail`,
    the workflow's env (expressions replaced by this machine's values), GITHUB_OUTPUT and
    GITHUB_STEP_SUMMARY files, and step outputs."""

    def __init__(self, job: str, workspace: Path, s3_server, bucket: str, tmp: Path, github: dict | None = None):
        self.job, self.workspace = job, workspace
        self.outputs: dict[str, dict[str, str]] = {}
        self.summary = tmp / f"{job}-{workspace.name}-summary.md"
        self.summary.write_text("")
        base = {k: v for k, v in s3_server.env().items() if not k.startswith(("GITHUB_", "SIMTEST_"))}
        wf_env = {k: str(v) for k, v in workflow()["env"].items()}
        here = {"SIMTEST_RESULTS": s3_server.uri(bucket), "PYTHONPATH": str(workspace),
                **{k: base[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}}
        unresolved = [k for k, v in wf_env.items() if "${{" in v and k not in here]
        assert not unresolved, f"workflow env {unresolved} use expressions this test does not provide"
        self.env = {**base, **wf_env, **here, "PATH": BIN + os.pathsep + base.get("PATH", ""),
                    **(github or {}), "GITHUB_STEP_SUMMARY": str(self.summary)}

    def run(self, step_id: str) -> subprocess.CompletedProcess:
        s = step(self.job, step_id)
        out_file = self.workspace.parent / f"{self.workspace.name}-{step_id}-output"
        out_file.write_text("")
        env = {**self.env, "GITHUB_OUTPUT": str(out_file)}
        for k, v in (s.get("env") or {}).items():
            m = re.fullmatch(r"\$\{\{ steps\.(\w+)\.outputs\.(\w+) \}\}", str(v))
            assert m, f"step {step_id}: env {k} = {v!r} is not a step output this runner knows"
            env[k] = self.outputs.get(m.group(1), {}).get(m.group(2), "")
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s["run"]],
                              cwd=self.workspace, env=env, capture_output=True, text=True, timeout=300)
        self.outputs[step_id] = dict(line.split("=", 1) for line in out_file.read_text().splitlines() if "=" in line)
        return proc


def github(event: str, run_id: int, **extra: str) -> dict:
    """What GitHub's runner sets for a job of this event (the parts simtest reads)."""
    return {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event, "GITHUB_RUN_ID": str(run_id),
            "GITHUB_RUN_ATTEMPT": "1", "GITHUB_REPOSITORY": "acme/robot", "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_JOB": "gate" if event == "pull_request" else "baseline", **extra}


def push_event(run_id: int) -> dict:
    return github("push", run_id, GITHUB_REF_NAME="main", GITHUB_REF_TYPE="branch", GITHUB_REF="refs/heads/main")


def pr_event(run_id: int, head: str, number: int) -> dict:
    return github("pull_request", run_id, GITHUB_HEAD_REF=head, GITHUB_BASE_REF="main",
                  GITHUB_REF_NAME=f"{number}/merge", GITHUB_REF=f"refs/pull/{number}/merge")


def checkout_pr(worktree: Path) -> str:
    """Check out what GitHub builds for a pull request: a synthetic merge of the PR's head into
    main (refs/pull/N/merge), a commit that never becomes part of main."""
    merge = git(worktree, "commit-tree", "HEAD^{tree}", "-p", "main", "-p", "HEAD", "-m", "synthetic PR merge")
    git(worktree, "checkout", "-q", "--detach", merge)
    return merge


def simtest(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(BIN) / "simtest"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def stored_runs(cwd: Path, env: dict) -> list[dict]:
    listing = simtest(cwd, env, "runs", "--results", env["SIMTEST_RESULTS"], "--json")
    assert listing.returncode == 0, listing.stderr
    return [json.loads(line) for line in listing.stdout.splitlines()]


# --------------------------------------------------------------------------- the file


def test_workflow_matches_githubs_schema_and_the_check_is_real(tmp_path: Path):
    check = [str(Path(BIN) / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    ok = subprocess.run([*check, str(WORKFLOW_FILE)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW_FILE.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    bad = subprocess.run([*check, str(broken)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "jobs.baseline" in bad.stdout


def test_workflow_has_the_two_jobs_and_what_each_promises():
    wf = workflow()
    assert wf["on"]["push"]["branches"] == ["main"] and "pull_request" in wf["on"]
    assert wf["jobs"]["baseline"]["if"] == "github.event_name == 'push'"
    assert wf["jobs"]["gate"]["if"] == "github.event_name == 'pull_request'"
    assert "--full" in step("baseline", "store")["run"] and '"$SIMTEST_RESULTS"' in step("baseline", "store")["run"]
    assert '--baseline "$MODEL@main"' in step("gate", "gate")["run"]
    assert "$GITHUB_STEP_SUMMARY" in step("gate", "summary")["run"] and step("gate", "summary")["if"] == "always()"
    (upload,) = [s for s in wf["jobs"]["gate"]["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    paths = upload["with"]["path"].split()
    assert {"report/report.html", "report/junit.xml", "report/failures/"} <= set(paths) and upload["if"] == "always()"
    assert wf["jobs"]["gate"]["steps"][-1]["id"] == "exit"
    assert wf["permissions"] == {"contents": "read"}  # the gate needs no write access to the repository


# --------------------------------------------------------------------------- both jobs, played


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "classic-control", repo)
    (repo / ".gitignore").write_text("__pycache__/\nreport/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "the project on main")
    return repo


def test_pr_gates_against_mains_stored_baseline(project: Path, tmp_path: Path, s3_server, bucket):
    main_commit = git(project, "rev-parse", "HEAD")
    push = Runner("baseline", project, s3_server, bucket, tmp_path, push_event(101))
    stored = push.run("store")
    assert stored.returncode == 0, stored.stdout + stored.stderr
    env = push.env
    (main_run,) = stored_runs(project, env)
    assert main_run["rows"] == 200 and main_run["model"] == "swingup@1.0"
    assert main_run["provenance"]["git"] == {"commit": main_commit, "branch": "main", "dirty": False}
    assert main_run["provenance"]["ci"]["url"] == "https://github.com/acme/robot/actions/runs/101/attempts/1"
    main_keys = set(s3_server.keys(bucket))
    manifest_key = next(k for k in main_keys if k.endswith(main_run["key"] + "/manifest.json"))
    main_manifest = s3_server.filesystem().open_input_stream(manifest_key).read()

    # two pull requests, each in its own worktree: one worsens the agent, one only adds a notes file
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
    checkout_pr(worse)
    checkout_pr(same)

    pr = Runner("gate", worse, s3_server, bucket, tmp_path, pr_event(201, "pr/worse", 7))
    gate = pr.run("gate")
    assert gate.returncode == 0 and pr.outputs["gate"] == {"code": "1"}, gate.stdout + gate.stderr
    assert f"baseline: swingup@1.0 read from the stored run {main_run['path']}" in gate.stderr
    assert f"commit {main_commit[:10]} on main" in gate.stderr and "none re-run" in gate.stderr
    assert "swingup@1.0: running 200 cases" in gate.stderr  # the candidate, with the PR's code
    assert gate.stderr.count("running ") == 1  # and nothing else ran
    assert "VERDICT: FAIL" in gate.stdout
    assert pr.run("summary").returncode == 0
    assert pr.summary.read_text() == (worse / "report" / "summary.md").read_text() != ""
    assert (f"baseline results read from the stored run of `swingup@1.0` from commit {main_commit[:10]} on main, "
            "CI job `https://github.com/acme/robot/actions/runs/101/attempts/1` (none re-run)") in pr.summary.read_text()
    assert (worse / "report" / "report.html").is_file() and (worse / "report" / "junit.xml").is_file()
    assert list((worse / "report" / "failures").glob("*.gif"))  # the artifacts the upload step lists
    assert pr.run("exit").returncode == 1  # the job exits with the gate's code
    verdict = json.loads((worse / "report" / "verdict.json").read_text())
    failed = [c for c in verdict["checks"] if c["blocking"] and c["decision"] == "fail"]
    assert failed and all(c["comparison"] == "baseline" for c in failed)

    # the stored runs now: main's baseline untouched, plus the PR's candidate under another code digest
    after = stored_runs(project, env)
    assert len(after) == 2 and {r["path"]: r for r in after}[main_run["path"]]["rows"] == 200
    (pr_run,) = [r for r in after if r["path"] != main_run["path"]]
    assert pr_run["digest"] != main_run["digest"]  # the PR's code is a different model digest
    assert pr_run["provenance"]["git"]["branch"] == "pr/worse"
    assert main_keys <= set(s3_server.keys(bucket))  # nothing of main's run was removed

    ok_pr = Runner("gate", same, s3_server, bucket, tmp_path, pr_event(202, "pr/docs", 8))
    ok = ok_pr.run("gate")
    assert ok_pr.outputs["gate"] == {"code": "0"}, ok.stdout + ok.stderr
    assert "VERDICT: PASS" in ok.stdout
    assert "running " not in ok.stderr  # zero episodes: the baseline is read, the candidate reused
    assert re.search(r"swingup@1\.0: all 200 cases already stored in \S+" + re.escape(main_run["key"]), ok.stderr)
    assert ok_pr.run("summary").returncode == 0 and "PASS" in ok_pr.summary.read_text()
    assert ok_pr.run("exit").returncode == 0
    # main's run is byte for byte what the push job wrote
    assert s3_server.filesystem().open_input_stream(manifest_key).read() == main_manifest

    # A PR that changes the agent's code without changing what it does passes; it is merged
    # (a merge commit on main, not GitHub's synthetic PR commit); main's next push job reuses the
    # PR's run, made with the same code, and says so: the next PR is judged against that run.
    tidy = tmp_path / "pr-tidy"
    git(project, "worktree", "add", "-q", "-b", "pr/tidy", str(tidy))
    (tidy / "swingup_agent.py").write_text((tidy / "swingup_agent.py").read_text() + "\n# tidied\n")
    git(tidy, "commit", "-qam", "agent: a comment")
    checkout_pr(tidy)
    tidy_pr = Runner("gate", tidy, s3_server, bucket, tmp_path, pr_event(203, "pr/tidy", 9))
    gate = tidy_pr.run("gate")
    assert tidy_pr.outputs["gate"] == {"code": "0"}, gate.stdout + gate.stderr
    assert "swingup@1.0: running 200 cases" in gate.stderr  # new code digest: the PR's own run
    (tidy_run,) = [r for r in stored_runs(project, env) if r["path"] not in (main_run["path"], pr_run["path"])]
    assert tidy_run["provenance"]["ci"]["event"] == "pull_request"
    git(project, "merge", "-q", "--no-ff", "-m", "Merge pull request #9", "pr/tidy")
    merged = Runner("baseline", project, s3_server, bucket, tmp_path, push_event(102))
    again = merged.run("store")
    assert again.returncode == 0 and "running " not in again.stderr, again.stderr  # reused the PR's run
    nxt = tmp_path / "pr-next"
    git(project, "worktree", "add", "-q", "-b", "pr/next", str(nxt))
    (nxt / "NOTES.md").write_text("after the merge\n")
    git(nxt, "add", "NOTES.md")
    git(nxt, "commit", "-qm", "docs")
    checkout_pr(nxt)
    next_pr = Runner("gate", nxt, s3_server, bucket, tmp_path, pr_event(204, "pr/next", 10))
    gate = next_pr.run("gate")
    assert next_pr.outputs["gate"] == {"code": "0"}, gate.stdout + gate.stderr
    # the baseline is the merged code's run (which the PR job created), not main's older run
    assert f"baseline: swingup@1.0 read from the stored run {tidy_run['path']}" in gate.stderr
    assert "running " not in gate.stderr


def test_gate_without_a_stored_main_run_says_which_command_makes_one(project: Path, tmp_path: Path, s3_server,
                                                                     bucket):
    pr = Runner("gate", project, s3_server, bucket, tmp_path)
    gate = pr.run("gate")
    assert pr.outputs["gate"] == {"code": "2"}, gate.stdout + gate.stderr
    assert "Traceback" not in gate.stderr
    assert "no stored run of swingup@1.0 for suite pendulum-smoke made from branch main" in gate.stderr
    assert (f"simtest run --suite suite.yaml --model swingup-1.0.yaml --full --results {s3_server.uri(bucket)}"
            in gate.stderr)
    assert s3_server.keys(bucket) == []  # nothing ran, nothing was stored
    assert pr.run("summary").returncode == 0 and "exit code 2" in pr.summary.read_text()
    assert pr.run("exit").returncode == 2
