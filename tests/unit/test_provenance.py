"""Run provenance (simtest.execution.provenance) on real git repositories in tmp_path, and the
`REF@BRANCH` syntax of stored baselines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from simtest.execution.provenance import ci_job, collect, on_branch
from simtest.orchestrate import split_branch

GIT_ID = ["-c", "user.email=t@example.invalid", "-c", "user.name=t"]
NO_CI: dict = {}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    (r / "agent.py").write_text("GAIN = 1\n")
    git(r, "add", "agent.py")
    git(r, "commit", "-qm", "one")
    return r


def test_clean_checkout_records_commit_branch_and_not_dirty(repo: Path):
    p = collect(str(repo), NO_CI)
    assert p == {"git": {"commit": git(repo, "rev-parse", "HEAD"), "branch": "main", "dirty": False}, "ci": None}


def test_modified_tracked_file_is_dirty_and_named(repo: Path):
    (repo / "agent.py").write_text("GAIN = 2\n")
    (repo / "untracked_build_output.txt").write_text("x")  # build output is not the code
    g = collect(str(repo), NO_CI)["git"]
    assert g["dirty"] is True and g["dirty_files"] == ["agent.py"] and g["dirty_count"] == 1


def test_outside_git_every_git_field_is_none(tmp_path: Path):
    plain = tmp_path / "plain"
    plain.mkdir()
    out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=plain, capture_output=True, text=True)
    if out.returncode == 0:  # tmp_path lies inside some repository on this machine
        pytest.skip("tmp_path is inside a git repository")
    assert collect(str(plain), NO_CI)["git"] == {"commit": None, "branch": None, "dirty": None}


def test_detached_head_takes_the_branch_from_ci_or_simtest_branch(repo: Path):
    git(repo, "checkout", "-q", "--detach")
    assert collect(str(repo), NO_CI)["git"]["branch"] is None
    assert collect(str(repo), {"SIMTEST_BRANCH": "release/2"})["git"]["branch"] == "release/2"
    gh_push = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "77", "GITHUB_REF_NAME": "main", "GITHUB_REF_TYPE": "branch",
               "GITHUB_REPOSITORY": "acme/robot", "GITHUB_SERVER_URL": "https://github.com"}
    assert collect(str(repo), gh_push)["git"]["branch"] == "main"
    gh_pr = {**gh_push, "GITHUB_REF_NAME": "12/merge", "GITHUB_HEAD_REF": "fix-brakes"}
    assert collect(str(repo), gh_pr)["git"]["branch"] == "fix-brakes"


def test_ci_job_urls():
    gh = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": "2", "GITHUB_REPOSITORY": "acme/robot",
          "GITHUB_SERVER_URL": "https://github.example.com", "GITHUB_JOB": "gate", "GITHUB_EVENT_NAME": "pull_request"}
    job = ci_job(gh)
    assert job["url"] == "https://github.example.com/acme/robot/actions/runs/77/attempts/2"
    assert job["provider"] == "github-actions" and job["job"] == "gate" and job["event"] == "pull_request"
    assert ci_job({"GITLAB_CI": "true", "CI_JOB_URL": "https://gitlab.example.com/j/5"})["url"] == \
        "https://gitlab.example.com/j/5"
    assert ci_job({"BUILD_URL": "https://jenkins.example.com/job/7/"})["provider"] == "jenkins"
    assert ci_job({}) is None


def test_on_branch_by_record_or_by_ancestry(repo: Path):
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "agent.py").write_text("GAIN = 3\n")
    git(repo, "commit", "-qam", "two")
    feature = git(repo, "rev-parse", "HEAD")
    clean = lambda commit, branch: {"git": {"commit": commit, "branch": branch, "dirty": False}}  # noqa: E731
    assert on_branch(clean(first, "feature"), "main", str(repo))  # recorded elsewhere, but an ancestor of main
    assert not on_branch(clean(feature, "feature"), "main", str(repo))  # not merged
    assert on_branch(clean(feature, "feature"), "feature", str(repo))
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "feature")
    assert on_branch(clean(feature, "feature"), "main", str(repo))  # merged: now main's code
    assert on_branch(clean("0" * 40, "main"), "main", str(repo))  # recorded on main (e.g. a shallow CI clone)
    dirty = {"git": {"commit": first, "branch": "main", "dirty": True}}
    assert not on_branch(dirty, "main", str(repo))  # a dirty run's code is not a commit
    assert not on_branch({}, "main", str(repo)) and not on_branch(None, "main", str(repo))


@pytest.mark.parametrize("ref, expected", [
    ("driving-perception@1.1@main", ("driving-perception@1.1", "main")),
    ("driving-perception@1.1@release/2", ("driving-perception@1.1", "release/2")),
    ("models/x-1.0.yaml@main", ("models/x-1.0.yaml", "main")),
    ("driving-perception@1.1", ("driving-perception@1.1", None)),
    ("models/x-1.0.yaml", ("models/x-1.0.yaml", None)),
])
def test_split_branch(ref, expected):
    assert split_branch(ref) == expected
