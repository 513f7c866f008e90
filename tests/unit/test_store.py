"""The results store: atomic chunks listed in a manifest, no lost or duplicated rows, damaged
chunks detected and their cases counted as missing. Real Parquet files on the local disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simtest.core.errors import StoreError
from simtest.contract.registry import ModelRef
from simtest.contract.results import BASE_COLUMNS, EpisodeResult, Outcome
from simtest.contract.cases import Case
from simtest.execution.store import MANIFEST, RunStore, open_run_path, suite_slug

MODEL = ModelRef(name="toy", version="1.0", entry_point="m:f", digest="abcdef0123456789", manifest="/m/toy.yaml")


def case(i: int, scenario: str = "toy/s-v1") -> Case:
    return Case(scenario=scenario, scenario_hash="h1", env="Toy-v0", params_json=json.dumps({"i": i}),
                seed=1000 + i, tags=("day", f"g{i % 3}"), horizon=10, sample=i, seed_index=0)


def result(i: int, *, outcome: Outcome = Outcome.COMPLETED, metrics=None, attempt: int = 1) -> EpisodeResult:
    m = {"success": float(i % 2), "time": i / 10} if metrics is None else metrics
    return EpisodeResult(case=case(i), model=MODEL.name, model_version=MODEL.version, model_digest=MODEL.digest,
                         outcome=outcome, metrics=tuple(sorted(m.items())),
                         checks=(("ok", bool(i % 2)),) if outcome is Outcome.COMPLETED else (),
                         steps=i, wall_s=0.01 * i, error="" if outcome is Outcome.COMPLETED else "boom",
                         env_build="eb12345678", attempt=attempt)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(str(tmp_path / "results"))


def test_open_run_creates_keyed_directory_with_manifest(store: RunStore, tmp_path: Path):
    run = store.open_run("scenarios/driving/smoke.yaml", MODEL, "eb12345678ffff",
                         suite_path="scenarios/driving/smoke.yaml", extra={"sampler": "halton"})
    expected = tmp_path / "results" / "scenarios-driving-smoke" / "toy@1.0" / "abcdef01-eb123456"
    assert Path(run.path) == expected
    assert (expected / "chunks").is_dir()
    m = json.loads((expected / MANIFEST).read_text())
    assert m["suite"] == "scenarios/driving/smoke.yaml"
    assert m["model"] == {"label": "toy@1.0", "name": "toy", "version": "1.0", "digest": MODEL.digest,
                          "manifest": "/m/toy.yaml", "entry_point": "m:f"}
    assert m["env_build"] == "eb12345678ffff" and m["chunks"] == [] and m["created"] and m["simtest_version"]
    assert m["suite_path"] == os.path.abspath("scenarios/driving/smoke.yaml") and m["extra"] == {"sampler": "halton"}


def test_suite_slug_is_one_path_segment():
    assert suite_slug("scenarios/driving/smoke.yaml") == "scenarios-driving-smoke"
    assert suite_slug("Nightly Suite") == "nightly-suite"


def test_appended_rows_read_back_with_base_columns_first(store: RunStore):
    run = store.open_run("s", MODEL, "eb")
    assert run.append([result(i) for i in range(5)]) == 5
    df = run.read()
    assert list(df.columns[: len(BASE_COLUMNS)]) == list(BASE_COLUMNS)
    assert list(df.columns[len(BASE_COLUMNS):]) == ["metric_success", "metric_time", "check_ok"]
    assert sorted(df["case_id"]) == sorted(case(i).case_id for i in range(5))
    row = df.set_index("case_id").loc[case(3).case_id]
    assert row["metric_time"] == pytest.approx(0.3) and row["steps"] == 3 and list(row["tags"]) == ["day", "g0"]
    assert row["outcome"] == "completed" and bool(row["passed"]) and row["attempt"] == 1


def test_metric_columns_are_the_union_over_chunks(store: RunStore):
    run = store.open_run("s", MODEL, "eb")
    run.append([result(0, metrics={"a": 1.0})])
    run.append([result(1, metrics={"b": 2.0}), result(2, outcome=Outcome.ENV_ERROR, metrics={})])
    df = run.read().set_index("case_id")
    assert [c for c in df.columns if c.startswith("metric_")] == ["metric_a", "metric_b"]
    assert df.loc[case(0).case_id, "metric_a"] == 1.0 and pd_isna(df.loc[case(0).case_id, "metric_b"])
    assert df.loc[case(2).case_id, "outcome"] == "env_error" and pd_isna(df.loc[case(2).case_id, "check_ok"])


def pd_isna(v) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def test_a_committed_case_is_never_appended_again(store: RunStore):
    run = store.open_run("s", MODEL, "eb")
    run.append([result(0), result(1)])
    assert run.append([result(1, attempt=2), result(2), result(2)]) == 1
    assert run.append([result(0)]) == 0
    df = run.read()
    assert len(df) == 3 and df["case_id"].is_unique
    assert int(df.set_index("case_id").loc[case(1).case_id, "attempt"]) == 1  # the first commit stays
    assert len(run.chunks) == 2


def test_a_result_of_another_model_is_refused(store: RunStore):
    from dataclasses import replace

    run = store.open_run("s", MODEL, "eb")
    with pytest.raises(StoreError, match="refusing a result of model digest ffff"):
        run.append([replace(result(0), model_digest="ffff")])
    assert run.case_ids() == set()


def test_reopening_a_run_resumes_it(store: RunStore):
    run = store.open_run("s", MODEL, "eb")
    run.append([result(i) for i in range(3)])
    again = RunStore(store.root).open_run("s", MODEL, "eb")
    assert again.path == run.path and again.case_ids() == {case(i).case_id for i in range(3)}
    assert again.missing([case(i).case_id for i in range(5)]) == [case(3).case_id, case(4).case_id]
    assert open_run_path(run.path).case_ids() == again.case_ids()
    assert store.lookup("s", MODEL, "other") is None


def test_open_run_path_on_a_plain_directory_names_the_path_and_the_fix(tmp_path: Path):
    with pytest.raises(StoreError, match=r"not a simtest run \(no manifest.json\); pass a run directory"):
        open_run_path(str(tmp_path))


def test_orphan_chunk_without_manifest_entry_is_ignored(store: RunStore):
    """A driver killed between publishing a chunk and committing the manifest leaves an orphan."""
    run = store.open_run("s", MODEL, "eb")
    run.append([result(0)])
    other = RunStore(str(Path(store.root).parent / "other")).open_run("s", MODEL, "eb")
    other.append([result(1)])
    stray = Path(other.path) / other.chunks[0].file
    (Path(run.path) / "chunks" / "part-999999-orphan.parquet").write_bytes(stray.read_bytes())
    (Path(run.path) / "chunks" / ".part-000002-x.parquet.tmp").write_bytes(b"PAR1 half")
    fresh = open_run_path(run.path)
    assert fresh.case_ids() == {case(0).case_id}
    assert list(fresh.read()["case_id"]) == [case(0).case_id]


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_damaged_chunk_is_reported_and_its_cases_count_as_missing(store: RunStore, damage: str):
    run = store.open_run("s", MODEL, "eb")
    run.append([result(0), result(1)])
    run.append([result(2), result(3)])
    victim = Path(run.path) / run.chunks[0].file
    data = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        victim.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    else:
        victim.unlink()
    fresh = open_run_path(run.path)
    assert fresh.case_ids() == {case(2).case_id, case(3).case_id}
    assert len(fresh.problems) == 1 and run.chunks[0].file in fresh.problems[0]
    assert len(fresh.read()) == 2
    # Redoing the missing cases commits them again and retires the damaged chunk.
    assert fresh.append([result(0), result(1)]) == 2
    final = open_run_path(run.path)
    assert sorted(final.read()["case_id"]) == sorted(case(i).case_id for i in range(4))
    assert final.problems == [] and [r["file"] for r in final.manifest["rejected"]] == [run.chunks[0].file]


def test_corrupt_manifest_is_a_store_error_naming_the_file(store: RunStore):
    run = store.open_run("s", MODEL, "eb")
    (Path(run.path) / MANIFEST).write_text("{not json")
    with pytest.raises(StoreError, match=r"manifest.json: manifest is not valid JSON"):
        open_run_path(run.path)


def test_writer_commits_every_flush_rows_and_on_exit(store: RunStore):
    run = store.open_run("s", MODEL, "eb")
    with run.writer(flush_rows=4, flush_s=3600) as w:
        for i in range(10):
            w.add(result(i))
        assert len(run.chunks) == 2 and w.pending == 2
    assert len(run.chunks) == 3 and len(run.read()) == 10 and w.written == 10


def test_writer_commits_buffered_results_when_the_sweep_raises(store: RunStore):
    run = store.open_run("s", MODEL, "eb")
    with pytest.raises(KeyboardInterrupt):
        with run.writer(flush_rows=100, flush_s=3600) as w:
            w.add(result(0))
            w.add(result(1))
            raise KeyboardInterrupt
    assert open_run_path(run.path).case_ids() == {case(0).case_id, case(1).case_id}


def test_writer_flushes_after_flush_s(store: RunStore):
    run = store.open_run("s", MODEL, "eb")
    w = run.writer(flush_rows=1000, flush_s=0.0)
    w.add(result(0))
    assert len(run.chunks) == 1 and w.pending == 0


def test_concurrent_appenders_never_duplicate_a_case(store: RunStore):
    run_a = store.open_run("s", MODEL, "eb")
    run_b = RunStore(store.root).open_run("s", MODEL, "eb")
    batches = [[result(i) for i in range(k, k + 5)] for k in range(0, 20, 3)]  # overlapping

    def go(run, bs):
        for b in bs:
            run.append(b)

    threads = [threading.Thread(target=go, args=(r, batches)) for r in (run_a, run_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    df = open_run_path(run_a.path).read()
    assert df["case_id"].is_unique and len(df) == 23
    assert sum(c.rows for c in open_run_path(run_a.path).chunks) == 23


def test_generic_pyarrow_filesystem_round_trip(tmp_path: Path):
    """The object-store code path (no rename, no fsync) on a non-Local pyarrow filesystem."""
    from pyarrow import fs as pafs

    sub = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    store = RunStore("bucket/results", filesystem=sub)
    run = store.open_run("s", MODEL, "eb")
    run.append([result(0), result(1)])
    run.append([result(1), result(2)])
    again = RunStore("bucket/results", filesystem=sub).open_run("s", MODEL, "eb")
    assert sorted(again.read()["case_id"]) == sorted(case(i).case_id for i in range(3))
    assert (tmp_path / "bucket" / "results" / "s" / "toy@1.0" / "abcdef01-eb" / MANIFEST).is_file()


def test_file_uri_root_is_the_local_filesystem(tmp_path: Path):
    store = RunStore(f"file://{tmp_path}/r")
    run = store.open_run("s", MODEL, "eb")
    run.append([result(0)])
    assert (tmp_path / "r" / "s").is_dir() and len(open_run_path(run.path).read()) == 1


def test_importing_the_store_does_not_import_pyarrow_or_pandas():
    code = "import sys, simtest.execution.store; print(sorted(m for m in ('pyarrow', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(st.integers(0, 30), max_size=8), max_size=6))
def test_any_append_sequence_keeps_exactly_one_row_per_case(tmp_path_factory, batches):
    run = RunStore(str(tmp_path_factory.mktemp("r"))).open_run("s", MODEL, "eb")
    for b in batches:
        run.append([result(i) for i in b])
    df = open_run_path(run.path).read()
    expected = {case(i).case_id for b in batches for i in b}
    assert set(df["case_id"]) == expected and df["case_id"].is_unique
    assert sum(c.rows for c in run.chunks) == len(expected)
