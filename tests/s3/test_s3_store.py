"""The results store on a real S3 API (moto's server on 127.0.0.1, see conftest.py): a run is
written and read back through a plain `s3://` results URI with credentials from the environment."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from test_store import MODEL, result  # noqa: E402  (the store tests' small fakes)

from simtest.execution.store import MANIFEST, RunStore, open_run_path  # noqa: E402


def test_run_written_and_read_back_through_an_s3_uri(s3_server, bucket):
    store = RunStore(s3_server.uri(bucket))
    run = store.open_run("suite", MODEL, "eb12345678")
    assert run.append([result(i) for i in range(5)]) == 5
    assert run.append([result(i) for i in range(3, 8)]) == 3  # 3 and 4 already committed
    keys = s3_server.keys(bucket)
    assert f"{bucket}/results/{run.key}/{MANIFEST}" in keys
    assert sum(k.endswith(".parquet") for k in keys) == 2
    again = RunStore(s3_server.uri(bucket)).lookup("suite", MODEL, "eb12345678")
    assert again is not None and sorted(again.read()["case_id"]) == sorted(result(i).case.case_id for i in range(8))
    opened = open_run_path(s3_server.uri(bucket, f"results/{run.key}"))
    assert len(opened) == 8


def test_two_drivers_of_one_run_on_an_object_store_the_later_manifest_wins(s3_server, bucket):
    """What docs/cluster.md ("Object stores") says happens when the one-driver-per-run rule is
    broken: there is no lock, so two drivers that read manifest.json before either commits each
    write their own chunk and then the whole manifest; the later write wins. The earlier driver's
    chunk is orphaned (in the bucket, not in the run), never a torn run or a duplicate row, and its
    cases count as missing, so the next run or resume runs them again."""
    uri = s3_server.uri(bucket)
    first = RunStore(uri).open_run("suite", MODEL, "eb12345678")
    second = open_run_path(first.location)  # both have read the empty manifest
    second.refresh = lambda: None  # ... and the second does not read it again before its commit
    assert first.append([result(i) for i in range(4)]) == 4
    assert second.append([result(i) for i in range(4, 8)]) == 4
    run = open_run_path(first.location)
    ids = lambda rng: sorted(result(i).case.case_id for i in rng)  # noqa: E731
    assert sorted(run.read()["case_id"]) == ids(range(4, 8))  # the first driver's rows are gone from the run
    chunks = [k for k in s3_server.keys(bucket) if k.endswith(".parquet")]
    assert len(chunks) == 2 and len(run.chunks) == 1  # its chunk is an orphan object
    assert run.problems == []
    assert run.missing(ids(range(8))) == ids(range(4))
    assert run.append([result(i) for i in range(8)]) == 4  # rerunning the lost cases completes the run
    assert sorted(open_run_path(first.location).read()["case_id"]) == ids(range(8))
