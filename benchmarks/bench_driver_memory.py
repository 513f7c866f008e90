"""Driver memory over a long sweep: RSS of the driver process while 10,000 episodes of a fast
synthetic env stream through the whole pipeline (RayExecutor -> Run.writer -> Progress).
Target: growth under 100 MB. Prints the RSS curve and the growth measured in this run.

    python benchmarks/bench_driver_memory.py [--episodes 10000] [--workers 2]

This file also defines the synthetic env and agent (`bench_driver_memory:make_agent`) that the
throughput benchmark falls back to; Ray workers import it through PYTHONPATH."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import gymnasium
import numpy as np

HERE = Path(__file__).resolve().parent
ENV_ID = "simtest-bench/Synthetic-v0"


class SyntheticEnv(gymnasium.Env):
    """`steps` control steps, each burning `work` rounds of numpy arithmetic (CPU, like a sim)."""

    observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (4,), np.float64)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, steps: int = 10, work: int = 0, **_labels):
        self.steps, self.work = int(steps), int(work)
        self.t = 0
        self.rng = np.random.default_rng(0)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.rng = np.random.default_rng(seed)
        return self.rng.random(4), {"t": 0}

    def step(self, action):
        self.t += 1
        x = np.full(256, 1.0001)
        for _ in range(self.work):
            x = np.sqrt(x * x + 1e-9)
        return self.rng.random(4), float(self.rng.random()), self.t >= self.steps, False, {"t": self.t}


class SyntheticAgent:
    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs):
        return np.array([self.rng.uniform(-1, 1)], np.float32)


def make_agent(weights, **options) -> SyntheticAgent:
    return SyntheticAgent()


if ENV_ID not in gymnasium.envs.registry:
    gymnasium.register(ENV_ID, entry_point="bench_driver_memory:SyntheticEnv")


def synthetic_model():
    from simtest.contract.registry import ModelRef

    return ModelRef(name="synthetic", version="1", entry_point="bench_driver_memory:make_agent",
                    digest="5e17e71c00000001")


def synthetic_cases(n: int, *, steps: int = 10, work: int = 0, start: int = 0):
    from simtest.contract.cases import Case

    return [Case(scenario="bench/synthetic-v1", scenario_hash="bench", env=ENV_ID,
                 params_json=json.dumps({"i": i, "steps": steps, "work": work}, sort_keys=True),
                 seed=i, tags=("bench",), horizon=10_000, sample=i) for i in range(start, start + n)]


RUNTIME_ENV = {"env_vars": {"PYTHONPATH": str(HERE)}}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample-every", type=int, default=1000)
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))

    from simtest.execution.executors.ray import RayExecutor
    from simtest.execution.progress import Progress
    from simtest.contract.registry import env_build
    from simtest.execution.store import RunStore

    t0 = time.monotonic()
    rss0 = rss_mb()
    cpu0 = 0.0
    cases = synthetic_cases(args.episodes)
    model = synthetic_model()
    ex = RayExecutor(workers=args.workers, runtime_env=RUNTIME_ENV, wall_timeout_s=30)
    curve: list[tuple[int, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        run = RunStore(tmp).open_run("bench-synthetic", model, env_build(ENV_ID))
        with open(os.devnull, "w") as sink:
            progress = Progress(len(cases), stream=sink, tty=False)
            try:
                with run.writer() as w:
                    for i, r in enumerate(ex.run(cases, model), 1):
                        w.add(r)
                        progress.update(r)
                        if i == 1:
                            cpu0, t_first = time.process_time(), time.monotonic()
                        if i == 1 or i % args.sample_every == 0:
                            curve.append((i, time.monotonic() - t0, rss_mb()))
            finally:
                progress.close()
                stats = dict(ex.stats)
                ex.close()
        rows = len(run.read())
    wall = time.monotonic() - t0
    steady = time.monotonic() - t_first
    cpu = time.process_time() - cpu0
    base = next(mb for i, _, mb in curve if i >= min(args.sample_every, args.episodes))
    print(f"driver RSS over a {args.episodes}-episode sweep of {ENV_ID} "
          f"({args.workers} Ray workers, results streamed to a Run, progress on):")
    print(f"  before Ray: {rss0:.0f} MB")
    for i, t, mb in curve:
        print(f"  {i:>6} episodes  {t:6.1f} s  RSS {mb:6.1f} MB")
    growth = curve[-1][2] - base
    print(f"growth from episode {min(args.sample_every, args.episodes)} to {curve[-1][0]}: {growth:+.1f} MB "
          f"(target < 100 MB: {'PASS' if growth < 100 else 'FAIL'}); from the first result: "
          f"{curve[-1][2] - curve[0][2]:+.1f} MB")
    print(f"rows stored: {rows}; wall {wall:.1f} s ({args.episodes / wall:.0f} episodes/s end to end, "
          f"{(args.episodes - 1) / steady:.0f}/s after the first result); chunks {stats['chunks']}, "
          f"actor failures {stats['actor_failures']}")
    print(f"driver CPU after the first result (executor + store + progress): {cpu:.2f} s = "
          f"{1000 * cpu / args.episodes:.3f} ms/episode, {1000 * cpu / max(1, stats['chunks']):.1f} ms/chunk")


if __name__ == "__main__":
    main()
