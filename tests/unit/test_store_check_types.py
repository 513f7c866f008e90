"""Check columns are typed nullable booleans (issue 14, part 4): Arrow bool in every Parquet chunk,
pandas "boolean" with <NA> when read, whichever chunk a check is missing from; and runs whose
chunks hold a check as null, float (1.0 / 0.0 / NaN), integer or text still read, as the same
nullable booleans. Real Parquet files on the local disk."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from simtest.contract.cases import Case
from simtest.contract.registry import ModelRef
from simtest.contract.results import EpisodeResult, Outcome
from simtest.core.errors import StoreError
from simtest.execution.store import MANIFEST, RunStore, open_run_path

MODEL = ModelRef(name="toy", version="1.0", entry_point="m:f", digest="abcdef0123456789", manifest="/m/toy.yaml")


def result(i: int, checks: tuple = (), outcome: Outcome = Outcome.COMPLETED) -> EpisodeResult:
    case = Case(scenario="toy/s-v1", scenario_hash="h1", env="Toy-v0", params_json=json.dumps({"i": i}),
                seed=1000 + i, tags=("day",), horizon=10, sample=i, seed_index=0)
    return EpisodeResult(case=case, model=MODEL.name, model_version=MODEL.version, model_digest=MODEL.digest,
                         outcome=outcome, metrics=(("success", 1.0),), checks=checks, steps=3,
                         error="" if outcome is Outcome.COMPLETED else "boom", env_build="eb12345678")


@pytest.fixture
def run(tmp_path: Path):
    return RunStore(str(tmp_path / "results")).open_run("s.yaml", MODEL, "eb12345678")


def chunk_tables(run) -> list[pa.Table]:
    manifest = json.loads((Path(run.path) / MANIFEST).read_text())
    return [pq.read_table(Path(run.path) / c["file"]) for c in manifest["chunks"]]


def test_check_columns_are_arrow_bool_in_every_chunk_and_nullable_boolean_when_read(run):
    run.append([result(1, (("ok", True), ("far", False))), result(2, (("ok", False),))])  # `far` absent in row 2
    run.append([result(3, (("far", True),))])  # `ok` absent from this whole chunk
    run.append([result(4, outcome=Outcome.AGENT_ERROR)])  # an errored episode: no check at all
    tables = chunk_tables(run)
    assert len(tables) == 3
    for t in tables:
        for f in t.schema:
            if f.name.startswith("check_"):
                assert f.type == pa.bool_(), (f.name, f.type)
    assert "check_far" in tables[0].schema.names and "check_ok" not in tables[1].schema.names
    df = open_run_path(run.path).read().set_index("case_id")
    ids = [result(i).case.case_id for i in (1, 2, 3, 4)]
    for col in ("check_ok", "check_far"):
        assert str(df[col].dtype) == "boolean", (col, df[col].dtype)
    assert df.loc[ids, "check_ok"].tolist() == [True, False, pd_na(), pd_na()]
    assert df.loc[ids, "check_far"].tolist() == [False, pd_na(), True, pd_na()]
    assert df["check_ok"].isna().sum() == 2 and df["check_far"].isna().sum() == 2


def pd_na():
    import pandas as pd

    return pd.NA


def write_old_chunk(run, table: pa.Table, name: str) -> None:
    """A chunk as an older or another writer left it, listed in the manifest with its sha256."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    (Path(run.path) / "chunks" / name).write_bytes(data)
    mpath = Path(run.path) / MANIFEST
    m = json.loads(mpath.read_text())
    m["chunks"].append({"file": f"chunks/{name}", "rows": table.num_rows, "bytes": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(), "committed": "2026-11-27T00:00:00Z"})
    mpath.write_text(json.dumps(m))


OLD = {
    "float": pa.array([1.0, float("nan"), 0.0]),  # pandas' float64 of a column mixing None and NaN
    "float-null": pa.array([1.0, None, 0.0], pa.float64()),
    "null": pa.nulls(3),  # every episode of the chunk errored
    "int": pa.array([1, None, 0], pa.int64()),
    "text": pa.array(["True", None, "false"]),
}
EXPECTED = {"float": [True, None, False], "float-null": [True, None, False], "null": [None, None, None],
            "int": [True, None, False], "text": [True, None, False]}


@pytest.mark.parametrize("kind", sorted(OLD))
def test_an_old_chunk_with_a_check_stored_as_another_type_reads_as_nullable_boolean(run, kind):
    run.append([result(1, (("ok", True),)), result(2, (("ok", False),))])  # today's chunk: bool
    table = pa.Table.from_pylist([result(i, (("ok", True),)).to_row() for i in (3, 4, 5)])
    table = table.set_column(table.schema.get_field_index("check_ok"), "check_ok", OLD[kind])
    write_old_chunk(run, table, f"old-{kind}.parquet")
    reread = open_run_path(run.path)
    df = reread.read().set_index("case_id")
    assert reread.problems == []  # no chunk rejected
    assert len(df) == 5
    assert str(df["check_ok"].dtype) == "boolean"
    got = [None if v is pd_na() else bool(v) for v in df.loc[[result(i).case.case_id for i in (1, 2, 3, 4, 5)],
                                                              "check_ok"].tolist()]
    assert got == [True, False] + EXPECTED[kind]


def test_a_chunk_whose_check_is_not_a_check_value_is_a_clear_store_error_not_a_guess(run):
    run.append([result(1, (("ok", True),))])
    table = pa.Table.from_pylist([result(i, (("ok", True),)).to_row() for i in (3, 4)])
    table = table.set_column(table.schema.get_field_index("check_ok"), "check_ok", pa.array(["True", "maybe"]))
    write_old_chunk(run, table, "old-garbage.parquet")
    with pytest.raises(StoreError, match=r"old-garbage.parquet: column check_ok holds 'maybe', not a check value"):
        open_run_path(run.path).read()
