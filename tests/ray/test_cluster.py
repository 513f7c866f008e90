"""A real two-node Ray cluster on loopback (two raylets, one GCS): sweeps spread over both
nodes, and a driver killed with SIGKILL mid-sweep resumes to exactly the uninterrupted dataset."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import simtest_toyenv as toy
from simtest_toyenv import HERE, RUNTIME_ENV
from simtest.execution.executors.ray import RayExecutor
from simtest.contract.results import Outcome
from simtest.execution.store import open_run_path
from sweep_driver import sweep

pytestmark = pytest.mark.ray

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "object_store_memory": 100 * 1024 * 1024}


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Cluster() records its address in /tmp/ray/ray_current_cluster, where a bare ray.init() by
    # anyone on this machine would find it: put back what was there before.
    marker = Path("/tmp/ray/ray_current_cluster")
    before = marker.read_text() if marker.exists() else None
    # Ray rewrites a 127.0.0.1 address to the machine's own IP unless told that this is not a
    # multi-machine setup; the subprocess drivers get the same switch through LOOPBACK_ENV.
    from ray._private import ray_constants

    was = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    c = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    try:
        c.add_node(**NODE)
        c.wait_for_nodes()
        ray.init(address=c.address, _node_ip_address="127.0.0.1", log_to_driver=False,
                 logging_level=logging.ERROR, runtime_env=RUNTIME_ENV)
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = was
        if before is None:
            marker.unlink(missing_ok=True)
        else:
            marker.write_text(before)


def test_sweep_spreads_over_both_nodes(cluster):
    import ray

    nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert len(nodes) == 2
    cases = toy.cases(20, steps=3, step_s=0.01)
    with RayExecutor(workers=2, runtime_env=RUNTIME_ENV) as ex:
        got = {r.case.case_id: r for r in ex.run(cases, toy.MODEL)}
        by_node = dict(ex.stats["episodes_by_node"])
        assert set(ex.worker_pids().values()) == nodes  # one actor on each node
    assert set(got) == {c.case_id for c in cases}
    assert all(r.outcome is Outcome.COMPLETED for r in got.values())
    assert set(by_node) == nodes and sum(by_node.values()) == 20


def _driver(results: Path, address: str, n: int) -> subprocess.Popen:
    env = {**os.environ, **LOOPBACK_ENV, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, str(HERE / "sweep_driver.py"), "--results", str(results), "--address", address,
         "--n", str(n), "--step-s", "0.02"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)


def _committed_rows(results: Path) -> int:
    manifests = list(results.glob("*/*/*/manifest.json"))  # a test may peek; the store never globs
    if not manifests:
        return 0
    try:
        return sum(c["rows"] for c in json.loads(manifests[0].read_text())["chunks"])
    except (ValueError, OSError):
        return 0


def _comparable(path: str):
    df = open_run_path(path).read().drop(columns=["wall_s"])  # wall time is the only non-replayable column
    return df.sort_values("case_id").reset_index(drop=True)


def test_driver_sigkill_then_resume_gives_the_uninterrupted_dataset(cluster, tmp_path):
    import pandas as pd

    n = 48
    killed_dir = tmp_path / "killed"
    first = _driver(killed_dir, cluster.address, n)
    deadline = time.monotonic() + 120
    while _committed_rows(killed_dir) < 8:
        assert first.poll() is None, first.stdout.read()
        assert time.monotonic() < deadline, "the sweep never committed a chunk"
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    partial = _committed_rows(killed_dir)
    assert 8 <= partial < n, "the driver should have died mid-sweep"

    second = _driver(killed_dir, cluster.address, n)
    out, _ = second.communicate(timeout=180)
    assert second.returncode == 0, out
    resumed_line = next(ln for ln in out.splitlines() if ln.startswith("RESUME"))
    assert resumed_line == f"RESUME have={partial} missing={n - partial}"

    resumed_path = next(ln for ln in out.splitlines() if ln.startswith("DONE")).split()[2]
    reference_path = sweep(str(tmp_path / "reference"), n=n, step_s=0.02, address=None,
                           runtime_env=RUNTIME_ENV)  # uninterrupted, on the same cluster
    a, b = _comparable(resumed_path), _comparable(reference_path)
    assert len(a) == n and a["case_id"].is_unique
    pd.testing.assert_frame_equal(a, b)
