"""Which stored run a gate reads as a branch's baseline (orchestrate.find_stored_run): the branch's
pointer first (it follows merges, squashes and reverts), else the newest clean run on the branch;
never a dirty run, another branch's, or a pull request job's run that merely names the branch.
Real Parquet runs on the local disk."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_runs_gc import _age, _version  # noqa: E402
from test_store import result  # noqa: E402

from simtest.core.errors import UsageError  # noqa: E402
from simtest.execution.store import BRANCHES, MANIFEST, RunStore  # noqa: E402
from simtest.orchestrate import StoredSource, find_stored_run  # noqa: E402
from simtest.runs import runs_gc  # noqa: E402

MAKE = "simtest run --suite s.yaml --model toy@1.0 --full --results R"
MAIN = StoredSource("toy@1.0", branch="main")


def prov(commit: str, branch: str | None = "main", dirty: bool = False, event: str | None = "push") -> dict:
    return {"git": {"commit": commit, "branch": branch, "dirty": dirty},
            "ci": {"provider": "github-actions", "url": f"https://ci.example/{commit}", "event": event}}


def stored(store: RunStore, i: int, provenance: dict, hours_old: float, rows: int = 3):
    run = store.open_run("suite", _version(i), "eb12345678", provenance=provenance)
    run.append([replace(result(k), model_digest=run.model_digest) for k in range(rows)])
    _age(run, hours_old)
    return store.lookup("suite", _version(i), "eb12345678")


def find(root: Path, source: StoredSource = MAIN, cases=()):
    return find_stored_run(str(root), "suite", source, list(cases), make_command=MAKE)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "results"


def test_without_a_pointer_the_newest_clean_run_on_the_branch(root: Path, monkeypatch):
    monkeypatch.setattr("simtest.orchestrate._label_of", lambda ref: ref)
    store = RunStore(str(root))
    old = stored(store, 1, prov("a" * 40), 30)
    stored(store, 2, prov("b" * 40, dirty=True), 20)  # dirty: its code is not a commit
    stored(store, 3, prov("c" * 40, branch="feature"), 10)  # another branch (and not an ancestor here)
    stored(store, 4, prov("d" * 40, branch="main", event="pull_request"), 5)  # a PR from a fork named main
    newest = stored(store, 5, prov("e" * 40), 15)
    assert find(root).path == newest.path
    # a newer run that lacks planned cases loses to an older complete one
    partial = stored(store, 6, prov("f" * 40), 1, rows=1)
    cases = [result(k).case for k in range(3)]
    assert find(root, cases=cases).path == newest.path
    assert find(root).path == partial.path  # nothing planned: simply the newest
    assert old.path != newest.path


def test_the_branch_pointer_wins_over_newer_runs_and_follows_a_revert(root: Path, monkeypatch):
    monkeypatch.setattr("simtest.orchestrate._label_of", lambda ref: ref)
    store = RunStore(str(root))
    r1 = stored(store, 1, prov("a" * 40), 30)  # main at C1 gives model d1
    r2 = stored(store, 2, prov("b" * 40), 20)  # C2 changes the model: d2
    store.set_branch_run(r2, "main", prov("b" * 40))
    assert find(root).path == r2.path
    store.set_branch_run(r1, "main", prov("c" * 40))  # C3 reverts to d1: the job reuses R1, and says so
    assert find(root).path == r1.path  # not R2, the newer but reverted code
    pointer = json.loads((Path(root) / "suite" / "toy@1.0" / BRANCHES / "main.json").read_text())
    assert pointer["run_key"] == r1.key and pointer["commit"] == "c" * 40
    assert pointer["ci"]["url"] == "https://ci.example/" + "c" * 40


def test_a_pointer_to_a_removed_run_falls_back_with_a_warning(root: Path, monkeypatch, capsys):
    monkeypatch.setattr("simtest.orchestrate._label_of", lambda ref: ref)
    store = RunStore(str(root))
    r1 = stored(store, 1, prov("a" * 40), 30)
    r2 = stored(store, 2, prov("b" * 40), 20)
    store.set_branch_run(r2, "main", prov("b" * 40))
    (Path(r2.path) / MANIFEST).unlink()
    assert find(root).path == r1.path
    assert f"names {r2.key}, which cannot be read" in capsys.readouterr().err


def test_no_run_of_the_branch_is_exit_2_naming_the_command(root: Path, monkeypatch):
    monkeypatch.setattr("simtest.orchestrate._label_of", lambda ref: ref)
    store = RunStore(str(root))
    stored(store, 1, prov("a" * 40, dirty=True), 3)
    with pytest.raises(UsageError) as info:
        find(root)
    text = str(info.value)
    assert info.value.exit_code == 2
    assert "no stored run of toy@1.0 for suite suite made from branch main" in text
    assert "1 run(s) of it are stored there, none made from a clean commit on main (1 from a dirty checkout)" in text
    assert text.endswith(MAKE)


def test_gc_keeps_the_run_a_branch_pointer_names(root: Path, monkeypatch):
    store = RunStore(str(root))
    r1 = stored(store, 1, prov("a" * 40), 30)  # main's baseline, pointed at
    stored(store, 2, prov("b" * 40, dirty=True), 20)  # newer runs recorded on main, not pointed at
    stored(store, 3, prov("c" * 40), 10)
    store.set_branch_run(r1, "main", prov("a" * 40))
    out = runs_gc(str(root), keep=1)
    assert f"kept {r1.location} (a branch's baseline)" in out and out.count("removed ") == 1
    assert Path(r1.path, MANIFEST).is_file()


def test_an_older_commits_job_finishing_late_does_not_point_the_branch_back(root: Path, tmp_path: Path,
                                                                            monkeypatch):
    import subprocess

    from simtest.orchestrate import _vouch

    repo = tmp_path / "repo"
    repo.mkdir()
    g = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run([*g, "init", "-q", "-b", "main"], cwd=repo, check=True)
    commits = []
    for i in range(2):
        (repo / "a.txt").write_text(str(i))
        subprocess.run([*g, "add", "a.txt"], cwd=repo, check=True)
        subprocess.run([*g, "commit", "-qm", str(i)], cwd=repo, check=True)
        commits.append(subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True,
                                      text=True).stdout.strip())
    monkeypatch.chdir(repo)  # the ancestry is read from the job's checkout
    store = RunStore(str(root))
    r1 = stored(store, 1, prov(commits[0]), 2)
    r2 = stored(store, 2, prov(commits[1]), 1)
    assert _vouch(store, r2, [], prov(commits[1]))  # the newer commit's job finishes first
    assert not _vouch(store, r1, [], prov(commits[0]))  # the older one, late: leaves the pointer
    assert store.branch_run("suite", "toy@1.0", "main")["run_key"] == r2.key
    assert _vouch(store, r1, [], prov("f" * 40))  # a commit this checkout cannot place: the later wins
    assert store.branch_run("suite", "toy@1.0", "main")["run_key"] == r1.key
    assert not _vouch(store, r2, [], prov(commits[1], event="pull_request"))  # a PR's job never vouches
    assert not _vouch(store, r2, [result(9).case], prov(commits[1]))  # nor a job missing a case it asked for
