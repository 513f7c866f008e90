"""`simtest runs` and `simtest runs gc`: stored runs listed with provenance, size and age; gc keeps
the newest N of each suite, model and branch and never removes a run being written. Real Parquet
runs on the local disk (the S3 variant is in tests/s3/test_s3_runs.py)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_store import MODEL, result  # noqa: E402

from simtest.cli import main  # noqa: E402
from simtest.execution.store import LEASES, MANIFEST, RunStore  # noqa: E402
from simtest.runs import list_runs, runs_gc  # noqa: E402


def _version(i: int):
    return replace(MODEL, digest=f"{i:04d}" + MODEL.digest[4:])


def _age(run, hours: float) -> None:
    """Make a stored run look `hours` old (what its manifest's timestamps say)."""
    when = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=hours)).isoformat(timespec="seconds")
    path = Path(run.path) / MANIFEST
    m = json.loads(path.read_text())
    m["created"] = m["updated"] = when
    path.write_text(json.dumps(m))


def _store_runs(root: Path, ages_by_branch: dict[str, list[float]]):
    store = RunStore(str(root))
    runs, i = {}, 0
    for branch, ages in ages_by_branch.items():
        for age in ages:
            i += 1
            prov = {"git": {"commit": (f"c{i}" * 20)[:40], "branch": branch, "dirty": False}, "ci": None}
            run = store.open_run("suite", _version(i), "eb12345678", provenance=prov)
            run.append([replace(result(k), model_digest=run.model_digest) for k in range(i)])
            _age(run, age)
            runs[(branch, age)] = run
    return store, runs


def test_runs_lists_provenance_rows_and_age_newest_first(tmp_path: Path):
    store, runs = _store_runs(tmp_path / "r", {"main": [30.0, 2.0], "pr/x": [5.0]})
    infos = store.runs()
    assert [i.path for i in infos] == [runs[("main", 2.0)].path, runs[("pr/x", 5.0)].path, runs[("main", 30.0)].path]
    assert [i.rows for i in infos] == [2, 3, 1] and all(i.bytes > 0 for i in infos)
    assert [i.branch for i in infos] == ["main", "pr/x", "main"]
    assert 1.9 * 3600 < infos[0].age_s < 2.1 * 3600
    text = list_runs(str(tmp_path / "r"))
    assert "3 run(s)" in text and "c2c2c2c2c2 main" in text and "1.3d" in text
    assert store.runs(model="toy@1.0") == infos and store.runs(model="other@1.0") == []
    assert store.runs(suite="no-such-suite") == []
    assert list_runs(str(tmp_path / "empty")) == f"no stored runs in {tmp_path / 'empty'}"


def test_gc_keeps_the_newest_per_branch_and_removes_the_rest(tmp_path: Path):
    store, runs = _store_runs(tmp_path / "r", {"main": [30.0, 20.0, 2.0], "pr/x": [40.0]})
    dry = runs_gc(str(tmp_path / "r"), keep=1, dry_run=True)
    assert dry.count("would remove") == 2 and len(store.runs()) == 4
    out = runs_gc(str(tmp_path / "r"), keep=1)
    assert out.count("removed ") == 2, out
    left = {i.path for i in store.runs()}
    assert left == {runs[("main", 2.0)].path, runs[("pr/x", 40.0)].path}  # the only pr/x run is its newest
    assert not Path(runs[("main", 30.0)].path).exists()
    assert len(store.lookup("suite", _version(3), "eb12345678").read()) == 3  # the kept run still reads


def test_gc_never_removes_a_run_being_written_or_updated_recently(tmp_path: Path):
    store, runs = _store_runs(tmp_path / "r", {"main": [30.0, 20.0, 10.0, 0.1]})
    writing = runs[("main", 20.0)]
    with writing.writer() as w:  # a live writer holds a fresh lease
        assert (Path(writing.path) / LEASES).is_dir()
        # another process holds the local lock of a third run (a driver in the middle of a commit)
        locked = runs[("main", 30.0)]
        holder = subprocess.Popen([sys.executable, "-c", (
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)"),
            str(Path(locked.path) / ".lock")], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "locked"
            out = runs_gc(str(tmp_path / "r"), keep=1)
        finally:
            holder.kill()
            holder.wait()
        w.add(replace(result(50), model_digest=writing.model_digest))
    assert f"kept {writing.path} (being written)" in out
    assert f"kept {locked.path} (being written)" in out
    assert out.count("removed ") == 1 and not Path(runs[("main", 10.0)].path).exists()
    assert not list((Path(writing.path) / LEASES).iterdir())  # the writer released its lease on exit
    # keep=1 keeps the newest (0.1 h); of the others, only the 10 h old one was free to go
    out = runs_gc(str(tmp_path / "r"), keep=1, grace_s=100 * 3600)
    assert "removed " not in out and out.count("(updated recently)") == 2


def test_a_stale_lease_of_a_dead_writer_does_not_protect_a_run(tmp_path: Path):
    store, runs = _store_runs(tmp_path / "r", {"main": [30.0, 1.5]})
    old = runs[("main", 30.0)]
    (Path(old.path) / LEASES).mkdir()
    (Path(old.path) / LEASES / "dead.json").write_text(json.dumps(
        {"pid": 1, "host": "gone", "heartbeat": "2020-01-01T00:00:00+00:00"}))
    assert runs_gc(str(tmp_path / "r"), keep=1).count("removed ") == 1
    assert [i.path for i in store.runs()] == [runs[("main", 1.5)].path]


def test_cli_runs_gc_needs_keep(tmp_path: Path, capsys):
    assert main(["runs", "gc", "--results", str(tmp_path)]) == 2
    assert "needs --keep N" in capsys.readouterr().err
    assert main(["runs", "--results", str(tmp_path), "--json"]) == 0
