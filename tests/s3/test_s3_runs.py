"""`simtest runs` and `runs gc` on a real S3 API (moto on 127.0.0.1): listing by prefix, removal of
old runs, and a live writer's lease protecting its run (object stores have no lock)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from test_store import MODEL, result  # noqa: E402

from simtest.execution.store import LEASES, RunStore  # noqa: E402
from simtest.runs import list_runs, runs_gc  # noqa: E402


def _run(store: RunStore, i: int, created: str):
    model = replace(MODEL, digest=f"{i:04d}" + MODEL.digest[4:])
    run = store.open_run("suite", model, "eb12345678",
                         provenance={"git": {"commit": f"{i}" * 40, "branch": "main", "dirty": False}})
    run.append([replace(result(k), model_digest=model.digest) for k in range(3)])
    # age the run: rewrite its manifest with an old timestamp (a PUT, as any writer does)
    m = dict(run.manifest, created=created, updated=created)
    run._files.write_atomic(run._files.join(run.path, "manifest.json"), json.dumps(m).encode())
    return run


def test_runs_and_gc_on_s3(s3_server, bucket):
    uri = s3_server.uri(bucket)
    store = RunStore(uri)
    old, busy, new = (_run(store, i, t) for i, t in ((1, "2026-01-01T00:00:00+00:00"),
                                                     (2, "2026-01-02T00:00:00+00:00"),
                                                     (3, "2026-01-03T00:00:00+00:00")))
    assert [i.key for i in store.runs()] == [new.key, busy.key, old.key]
    assert "3 run(s)" in list_runs(uri) and "3333333333 main" in list_runs(uri)
    with busy.writer() as w:  # a writer on another machine would hold the same lease object
        assert any(f"/{LEASES}/" in k for k in s3_server.keys(bucket, f"results/{busy.key}"))
        out = runs_gc(uri, keep=1)
        w.add(replace(result(9), model_digest=busy.model_digest))
    assert out.count("removed ") == 1 and f"kept {busy.location} (being written)" in out
    assert s3_server.keys(bucket, f"results/{old.key}") == []  # manifest and chunks gone
    assert [i.key for i in store.runs()] == [new.key, busy.key]
    assert not any(f"/{LEASES}/" in k for k in s3_server.keys(bucket, f"results/{busy.key}"))  # released
    assert len(store.lookup("suite", replace(MODEL, digest="0002" + MODEL.digest[4:]), "eb12345678")) == 4
