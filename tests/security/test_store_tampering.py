"""A stored run read from a shared store is untrusted input: a tampered manifest cannot make
simtest read a file outside the run directory, and a tampered chunk is detected, not read.
Real Parquet runs on the local disk (the same code path serves object stores: the path rules
are checked on the manifest's strings before any filesystem sees them)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from simtest.contract.cases import Case
from simtest.contract.registry import ModelRef
from simtest.contract.results import EpisodeResult, Outcome
from simtest.core.errors import StoreError
from simtest.execution.store import MANIFEST, RunStore, open_run_path

MODEL = ModelRef(name="toy", version="1.0", entry_point="m:f", digest="abcdef0123456789", manifest="/m/toy.yaml")


def result(i: int, scenario: str = "toy/s-v1") -> EpisodeResult:
    case = Case(scenario=scenario, scenario_hash="h1", env="Toy-v0", params_json=json.dumps({"i": i}),
                seed=1000 + i, tags=("day",), horizon=10, sample=i, seed_index=0)
    return EpisodeResult(case=case, model=MODEL.name, model_version=MODEL.version, model_digest=MODEL.digest,
                         outcome=Outcome.COMPLETED, metrics=(("success", 1.0),), checks=(("ok", True),),
                         steps=i, wall_s=0.01, env_build="eb12345678", attempt=1)


def make_run(root: Path, scenario: str, n: int = 4):
    run = RunStore(str(root)).open_run("suite.yaml", MODEL, "eb12345678")
    run.append([result(i, scenario) for i in range(n)])
    return run


@pytest.fixture
def runs(tmp_path: Path):
    """A good run, and a Parquet chunk with other rows lying outside it (what an attacker would
    want simtest to read as part of the run)."""
    good = make_run(tmp_path / "results", "toy/good-v1")
    other = make_run(tmp_path / "elsewhere", "toy/INJECTED-v1", n=3)
    outside = tmp_path / "x.parquet"
    shutil.copy(Path(other.path) / other.chunks[0].file, outside)
    return good, outside


def edit_manifest(run, edit) -> Path:
    path = Path(run.path) / MANIFEST
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return path


def entry_for(outside: Path, name: str) -> dict:
    data = outside.read_bytes()
    return {"file": name, "rows": 3, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "committed": ""}


@pytest.mark.parametrize("name", [
    "../../x.parquet", "../../../x.parquet", "chunks/../../../x.parquet", "chunks/../chunks/part.parquet",
    "ABSOLUTE", "chunks\\..\\..\\x.parquet", "C:/x.parquet", "file:///tmp/x.parquet", "s3://bucket/x.parquet",
    "chunks//x.parquet", "chunks/sub/x.parquet", "chunks/./x.parquet", "chunks/x.txt", "x.parquet", "",
])
def test_a_manifest_naming_a_chunk_outside_the_run_is_refused(runs, name):
    good, outside = runs
    if name == "ABSOLUTE":
        name = str(outside)
    # The outside file is a valid chunk with the right size and digest: only the path rule stops it.
    mpath = edit_manifest(good, lambda doc: doc["chunks"].append(entry_for(outside, name)))
    with pytest.raises(StoreError) as info:
        open_run_path(good.path).read()
    msg = str(info.value)
    assert str(mpath) in msg and "manifest refused" in msg and "chunks[1]" in msg
    assert "delete the run directory" in msg


@pytest.mark.parametrize("bad", [
    "not an entry", {"rows": 1}, {"file": 7}, {"file": "chunks/a.parquet", "rows": "3", "bytes": 1, "sha256": "0" * 64},
    {"file": "chunks/a.parquet", "rows": True, "bytes": 1, "sha256": "0" * 64},
    {"file": "chunks/a.parquet", "rows": 1, "bytes": -1, "sha256": "0" * 64},
    {"file": "chunks/a.parquet", "rows": 1, "bytes": 1, "sha256": "../../etc"},
])
def test_a_malformed_chunk_entry_is_a_clear_error_not_a_traceback(runs, bad):
    good, _ = runs
    edit_manifest(good, lambda doc: doc["chunks"].append(bad))
    with pytest.raises(StoreError, match=r"manifest refused.*chunks\[1\]"):
        open_run_path(good.path)


def test_the_untampered_run_reads_back(runs):
    good, _ = runs
    df = open_run_path(good.path).read()
    assert sorted(df["scenario"].unique()) == ["toy/good-v1"] and len(df) == 4


def test_a_chunk_that_is_a_symlink_out_of_the_run_is_not_read(runs):
    good, outside = runs
    link = Path(good.path) / "chunks" / "part-999999-deadbeef.parquet"
    link.symlink_to(outside)
    edit_manifest(good, lambda doc: doc["chunks"].append(entry_for(outside, "chunks/" + link.name)))
    run = open_run_path(good.path)
    df = run.read()
    assert "toy/INJECTED-v1" not in set(df["scenario"]) and len(df) == 4
    assert any("outside the run directory" in p for p in run.problems), run.problems


def test_a_tampered_chunk_is_detected_and_its_cases_count_as_missing(runs):
    good, _ = runs
    chunk = Path(good.path) / good.chunks[0].file
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    chunk.write_bytes(bytes(data))
    run = open_run_path(good.path)
    assert len(run.read()) == 0 and run.case_ids() == set()
    assert any("sha256 differs" in p for p in run.problems), run.problems


def test_simtest_compare_on_a_tampered_run_exits_2_with_one_message(runs, tmp_path, capsys):
    from simtest.cli import main

    good, outside = runs
    baseline = Path(good.path)
    tampered = tmp_path / "tampered"
    shutil.copytree(baseline, tampered)
    edit_manifest(open_run_path(str(tampered)), lambda doc: doc["chunks"].append(entry_for(outside, "../../x.parquet")))
    rc = main(["compare", "--candidate", str(tampered), "--baseline", str(baseline), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2, (rc, err)
    assert "manifest refused" in err and "../../x.parquet" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists(), "no report may be written from a refused run"
