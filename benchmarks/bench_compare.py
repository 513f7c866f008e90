"""Benchmark: `compare()` on stored-run-sized inputs (default 100,000 paired episodes x 20 slices x
6 metrics, candidate vs baseline and vs reference), in fixed-n and sequential (anytime-valid)
mode. Prints seconds; no simulation. Usage: python benchmarks/bench_compare.py [--pairs N]."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from simtest.judging.compare import compare
from simtest.contract.policy import policy_from_dict

METRICS = {
    "success": {"kind": "binary", "better": "higher", "time_like": False},
    "collision": {"kind": "binary", "better": "lower", "time_like": False},
    "time_to_goal": {"kind": "continuous", "better": "lower", "time_like": True},
    "min_clearance": {"kind": "continuous", "better": "higher", "time_like": False},
    "path_efficiency": {"kind": "continuous", "better": "higher", "time_like": False},
}
# passed (built in) + 5 declared = 6 metrics; the built-in errors check comes on top.

POLICY = {
    "metrics": {
        "passed": {"margin_baseline": 0.02, "margin_reference": 0.05, "slice_margin_baseline": 0.05, "blocking": True},
        "success": {"margin_baseline": 0.02, "margin_reference": 0.05},
        "collision": {"safety": True, "margin_baseline": 0.01, "blocking": True},
        "time_to_goal": {"relative": True, "margin_baseline": 0.03},
        "min_clearance": {"margin_baseline": 0.05},
        "path_efficiency": {"margin_baseline": 0.02},
    },
    # overall + 5 tags + 3 lighting + 4 fog buckets + 4 distance quantiles + 3 obstacle counts = 20
    "slices": {"tags": True, "params": {"lighting": {}, "fog_density": {"bins": [0, 0.1, 0.2, 0.4, 1.0]},
                                        "goal_distance": {"quantiles": 4}, "n_obstacles": {}}},
    "blocking_slices": ["lighting=night", "lighting=dusk"],
}


def make_runs(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_samples = n // 4  # 4 seeds per parameter sample
    lighting = rng.choice(["day", "dusk", "night"], n_samples)
    fog = rng.uniform(0, 1, n_samples).round(3)
    dist = rng.uniform(3, 20, n_samples).round(2)
    nobs = rng.integers(0, 3, n_samples)
    params = [json.dumps({"fog_density": float(f), "goal_distance": float(d), "lighting": str(lt),
                          "n_obstacles": int(k)}, sort_keys=True)
              for lt, f, d, k in zip(lighting, fog, dist, nobs)]
    sample = np.repeat(np.arange(n_samples), 4)[:n]
    tag_pool = [["a"], ["b"], ["c"], ["d", "e"], ["a", "e"]]
    tags = [tag_pool[s % 5] for s in sample]
    latent = rng.random(n)  # common random numbers: the shared scene
    noise = rng.normal(size=n)

    def run(drop_night: float, label: str) -> pd.DataFrame:
        p = np.where(lighting[sample] == "night", 0.85 - drop_night, 0.9)
        ok = latent < p
        return pd.DataFrame({
            "case_id": [f"{i:016x}" for i in range(n)], "scenario": "bench/s-v1", "scenario_hash": "h",
            "seed": np.arange(n), "sample": sample, "seed_index": np.arange(n) % 4,
            "params": [params[s] for s in sample], "tags": tags, "model": label, "outcome": "completed",
            "passed": ok, "metric_success": ok.astype(float), "metric_collision": (latent > 0.97).astype(float),
            "metric_time_to_goal": np.where(ok, 8 + noise + drop_night * 5, np.nan),
            "metric_min_clearance": 0.5 + 0.1 * noise - drop_night,
            "metric_path_efficiency": np.clip(0.9 - 0.05 * np.abs(noise), 0, 1),
        })

    return run(0.05, "cand"), run(0.0, "base"), run(0.0, "ref")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=100_000)
    args = ap.parse_args()
    cand, base, ref = make_runs(args.pairs)
    for sequential in (False, True):
        policy = policy_from_dict({**POLICY, "adaptive": {"enabled": sequential}})
        t0 = time.perf_counter()
        verdict = compare(cand, base, ref, policy, METRICS)
        dt = time.perf_counter() - t0
        slices = len({c.slice for c in verdict.checks if c.kind != "gap"})
        metrics = len({c.metric for c in verdict.checks})
        mode = "sequential" if sequential else "fixed-n"
        print(f"compare {mode:10s}: {args.pairs} pairs x {slices} slices x {metrics} metrics (incl. errors) "
              f"x 2 comparisons = {len(verdict.checks)} checks in {dt:.2f} s; verdict {verdict.verdict}")


if __name__ == "__main__":
    main()
