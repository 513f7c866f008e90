"""`simtest search` on a real local Ray survives a SIGKILL of a worker with nothing lost: the
killed actor's chunk is re-run on a replacement, every proposal has exactly one stored row, and the
search (same seed) proposes and finds exactly what a local, unkilled search does."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]  # ~32 s on 2 shared cores (18 s of it starting Ray)
REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"


@pytest.fixture(scope="module")
def ray_with_searchenv():
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             logging_level=logging.ERROR, object_store_memory=128 * 1024 * 1024,
             runtime_env={"env_vars": {"PYTHONPATH": str(BENCH), "OPENBLAS_NUM_THREADS": "1"}})
    yield ray
    ray.shutdown()


def _scenario(tmp_path: Path, log: Path) -> Path:
    text = (BENCH / "searchenv" / "planted.yaml").read_text()
    text = text.replace("id: bench/planted-v1", "id: bench/planted-kill-v1")
    text = text.replace("params:\n", f"params:\n  delay: 0.02\n  log: '{log}'\n")
    path = tmp_path / "planted.yaml"
    path.write_text(text)
    return path


def test_search_loses_nothing_when_a_worker_is_killed(ray_with_searchenv, tmp_path):
    from simtest.orchestrate import ExecutionOptions, search

    log = tmp_path / "episodes.log"
    scenario = _scenario(tmp_path, log)
    model = str(BENCH / "searchenv" / "idle-1.1.yaml")
    killed: list[int] = []

    def killer():  # a few batches in, SIGKILL a worker in the middle of an episode (each lasts ~0.2 s), once
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            if log.exists():
                lines = [json.loads(line) for line in log.read_text().splitlines()]
                workers = [e for e in lines if e["pid"] != os.getpid()]
                if len(workers) >= 6 and time.time() - workers[-1]["t"] < 0.05:
                    os.kill(workers[-1]["pid"], signal.SIGKILL)
                    killed.append(workers[-1]["pid"])
                    return
            time.sleep(0.01)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    ray_opts = ExecutionOptions(executor="ray", workers=2, results=str(tmp_path / "ray"), quiet=True, chunk_s=0.2)
    got = search(str(scenario), model, budget=24, options=ray_opts, seed=3, shrink_budget=8, target_failures=1,
                 reports=False)
    thread.join(timeout=5)
    assert killed, "the test never killed a worker (no episode log?)"

    from simtest.execution.store import open_run_path

    frame = open_run_path(got.run_dir).read()
    assert frame["case_id"].is_unique
    assert set(h["case_id"] for h in got.history) <= set(frame["case_id"])
    assert (frame["outcome"] == "completed").all(), frame["outcome"].value_counts()
    starts = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(starts) > len(frame), "the killed episode was not run again"  # it started twice, stored once
    assert killed[0] not in {e["pid"] for e in starts[-3:]}  # the dead worker was replaced

    local = search(str(scenario), model, budget=24, options=ExecutionOptions(executor="local", results=str(tmp_path / "local"),
                                                                             quiet=True),
                   seed=3, shrink_budget=8, target_failures=1, reports=False)
    assert [h["case_id"] for h in got.history] == [h["case_id"] for h in local.history]
    assert [f.shrunk_case_id for f in got.failures] == [f.shrunk_case_id for f in local.failures]
