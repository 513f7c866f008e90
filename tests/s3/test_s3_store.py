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
