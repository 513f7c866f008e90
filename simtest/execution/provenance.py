"""Where a run came from: the git commit, branch and dirty state of the repository it was run in,
and the CI job that ran it. Recorded in every new run's manifest (`provenance`), so that a pull
request's gate can take its baseline from a run made with the target branch's code
(`simtest gate --baseline REF@main`) instead of re-running the baseline with the PR's code.

Nothing here raises: outside a git repository, or without git, the git fields are None."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["collect", "ci_job", "on_branch", "vouches_for", "supersedes", "BRANCH_ENV"]

BRANCH_ENV = "SIMTEST_BRANCH"  # overrides the branch a run is recorded on (e.g. a detached CI checkout)
_GIT_TIMEOUT_S = 10.0
_MAX_DIRTY_SHOWN = 20


def _git(args: list[str], cwd: str | None, *, strip: bool = True) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=_GIT_TIMEOUT_S,
                             env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() if strip else out.stdout


def ci_job(environ: Mapping[str, str] | None = None) -> dict | None:
    """The CI job running this process, from the variables the common CI systems set: GitHub
    Actions, GitLab CI, Buildkite, Jenkins; None outside CI."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        url = f"{server}/{env.get('GITHUB_REPOSITORY', '')}/actions/runs/{env['GITHUB_RUN_ID']}"
        if env.get("GITHUB_RUN_ATTEMPT"):
            url += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
        return {"provider": "github-actions", "url": url, "job": env.get("GITHUB_JOB"),
                "event": env.get("GITHUB_EVENT_NAME"), "ref": env.get("GITHUB_REF"), "sha": env.get("GITHUB_SHA")}
    if env.get("GITLAB_CI") and env.get("CI_JOB_URL"):
        return {"provider": "gitlab-ci", "url": env["CI_JOB_URL"], "job": env.get("CI_JOB_NAME"),
                "event": env.get("CI_PIPELINE_SOURCE"), "ref": env.get("CI_COMMIT_REF_NAME"),
                "sha": env.get("CI_COMMIT_SHA")}
    if env.get("BUILDKITE") and env.get("BUILDKITE_BUILD_URL"):
        return {"provider": "buildkite", "url": env["BUILDKITE_BUILD_URL"], "job": env.get("BUILDKITE_LABEL"),
                "event": env.get("BUILDKITE_SOURCE"), "ref": env.get("BUILDKITE_BRANCH"),
                "sha": env.get("BUILDKITE_COMMIT")}
    if env.get("BUILD_URL"):  # Jenkins and friends
        return {"provider": "jenkins", "url": env["BUILD_URL"], "job": env.get("JOB_NAME"), "event": None,
                "ref": env.get("GIT_BRANCH"), "sha": env.get("GIT_COMMIT")}
    return None


def _ci_branch(env: Mapping[str, str]) -> str | None:
    """The branch CI says it builds. A GitHub pull request's GITHUB_REF_NAME is `<n>/merge`, so
    the PR's own branch (GITHUB_HEAD_REF) is used there."""
    if env.get("GITHUB_ACTIONS") == "true":
        if env.get("GITHUB_HEAD_REF"):
            return env["GITHUB_HEAD_REF"]
        if env.get("GITHUB_REF_TYPE", "branch") == "branch" and env.get("GITHUB_REF_NAME"):
            return env["GITHUB_REF_NAME"]
    for key in ("CI_COMMIT_BRANCH", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "BUILDKITE_BRANCH"):
        if env.get(key):
            return env[key]
    return None


@dataclass(frozen=True)
class _Git:
    commit: str | None
    branch: str | None
    dirty: bool | None
    dirty_files: tuple[str, ...]
    root: str | None


def _git_state(cwd: str | None) -> _Git:
    root = _git(["rev-parse", "--show-toplevel"], cwd)
    if root is None:
        return _Git(None, None, None, (), None)
    commit = _git(["rev-parse", "HEAD"], cwd)
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], cwd)
    # tracked files only: a CI checkout grows untracked build output (*.egg-info, a venv) that is not
    # the code; the model and env digests cover untracked code the agent imports anyway
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd, strip=False)
    files = tuple(line[3:] for line in (status or "").splitlines() if line.strip())
    return _Git(commit, None if branch in (None, "HEAD") else branch,
                None if status is None else bool(files), files, root)


def collect(cwd: str | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The provenance of a run started now in `cwd` (default: the current directory)."""
    env = os.environ if environ is None else environ
    g = _git_state(cwd)
    branch = env.get(BRANCH_ENV) or _ci_branch(env) or g.branch
    out: dict[str, Any] = {
        "git": {"commit": g.commit, "branch": branch, "dirty": g.dirty,
                **({"dirty_files": list(g.dirty_files[:_MAX_DIRTY_SHOWN]),
                    "dirty_count": len(g.dirty_files)} if g.dirty else {})},
        "ci": ci_job(env),
    }
    return out


# CI events whose job runs a proposed change (its branch name says nothing about the target branch)
_CHANGE_EVENTS = {"pull_request", "pull_request_target", "merge_request_event", "external_pull_request_event"}


def vouches_for(provenance: Mapping[str, Any] | None) -> str | None:
    """The branch whose code a job with this provenance ran, if it may say so: a clean commit on a
    named branch, in a job that is not a pull/merge request's (a PR from a fork may be named
    `main`). Such a job records which run its branch's code gives (RunStore.set_branch_run)."""
    git = (provenance or {}).get("git") or {}
    ci = (provenance or {}).get("ci") or {}
    if git.get("dirty") is not False or not git.get("commit") or not git.get("branch"):
        return None
    if ci.get("event") in _CHANGE_EVENTS:
        return None
    return str(git["branch"])


def on_branch(provenance: Mapping[str, Any] | None, branch: str, cwd: str | None = None) -> bool:
    """Whether a run with this provenance was made from `branch`'s code: recorded on that branch
    by a job that may vouch for it, or its commit is an ancestor of the local `branch` or
    `origin/branch` (a commit merged by fast-forward or rebase). Never a dirty run: its code is not
    a commit. The gate asks the branch's pointer first (RunStore.branch_run); this scan is the
    fallback for stores written before pointers."""
    git = (provenance or {}).get("git") or {}
    if git.get("dirty") is not False or not git.get("commit"):
        return False
    if vouches_for(provenance) == branch:
        return True
    for ref in (branch, f"origin/{branch}"):
        if _git(["merge-base", "--is-ancestor", str(git["commit"]), ref], cwd) is not None:
            return True
    return False


def supersedes(ours: str | None, theirs: str | None, cwd: str | None = None) -> bool:
    """Whether a job at commit `ours` may replace a branch pointer written at `theirs`: not when
    `theirs` is a strict descendant of `ours` (two jobs of one branch finishing out of order: the
    older commit's job must not point the branch back). Without the history to tell, it may."""
    if not ours or not theirs or ours == theirs:
        return True
    return _git(["merge-base", "--is-ancestor", ours, theirs], cwd) is None
