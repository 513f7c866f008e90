"""A minimal sweep driver for the resume tests: plan toy cases, open the run, run only the
missing cases on Ray and stream them into the store. Killing it at any point and starting it
again must end with the same dataset as one uninterrupted run."""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import simtest_toyenv as toy  # noqa: E402  (registers the env in this process)

from simtest.execution.executors.ray import RayExecutor  # noqa: E402
from simtest.contract.registry import env_build  # noqa: E402
from simtest.execution.store import RunStore  # noqa: E402


def plan(n: int, step_s: float) -> list:
    return toy.cases(n, steps=5, step_s=step_s)


def sweep(results: str, *, n: int, step_s: float, address: str | None, workers: int = 2,
          flush_rows: int = 4, runtime_env: dict | None = None) -> str:
    cases = plan(n, step_s)
    run = RunStore(results).open_run("toy-sweep", toy.MODEL, env_build(toy.ENV_ID))
    have = run.case_ids()
    missing = [c for c in cases if c.case_id not in have]
    print(f"RESUME have={len(have)} missing={len(missing)}", flush=True)
    if missing:
        ex = RayExecutor(workers=workers, address=address, wall_timeout_s=30, runtime_env=runtime_env)
        try:
            with run.writer(flush_rows=flush_rows, flush_s=0.5) as w:
                for r in ex.run(missing, toy.MODEL):
                    w.add(r)
        finally:
            ex.close()
    print(f"DONE {len(run.case_ids())} {run.path}", flush=True)
    return run.path


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--address", default=None)
    p.add_argument("--n", type=int, default=60)
    p.add_argument("--step-s", type=float, default=0.02)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    sweep(a.results, n=a.n, step_s=a.step_s, address=a.address, workers=a.workers,
          runtime_env={"env_vars": {"PYTHONPATH": os.path.dirname(os.path.abspath(__file__))}})
