"""Benchmark: falsification search methods on a synthetic env with a planted failure region of 1 %
of the parameter volume and a smooth margin (benchmarks/searchenv). Every method gets the same
episode budget, and every episode runs through simtest's runner (EpisodeWorker: the real closed
loop, the real STL margin of `always(gap > 0)`), in process.

Methods: simtest's bayes (default: Gaussian-process falsification), cross-entropy and tpe (optuna), random sampling, scrambled
Halton, and VerifAI's cross-entropy sampler (`pip install .[bench-search]`, or its modules on
PYTHONPATH) driving the same runner one sample at a time (its getSample/update API with the
episode's robustness as rho).

Prints, per method, the median over seeds of episodes to the first failure (a seed that finds
none counts as budget + 1, and is reported) and the distinct failures per 1,000 episodes (distinct:
normalised parameter distance > the scenario's `search.distinct`, greedy in the order found).
Usage: PYTHONPATH=benchmarks python benchmarks/bench_search.py [--seeds 20] [--budget 120]
       python benchmarks/bench_search.py --driving fog.yaml [--model driving-perception@1.1] [--budget 400]"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # small matrices: threads only contend
    os.environ.setdefault(_var, "1")

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from simtest.authoring.spec import load_scenario  # noqa: E402
from simtest.contract.registry import resolve_model  # noqa: E402
from simtest.execution.runner import EpisodeWorker  # noqa: E402
from simtest.exploration import search as xs  # noqa: E402

SCENARIO = HERE / "searchenv" / "planted.yaml"
MODEL = HERE / "searchenv" / "idle-1.0.yaml"


def run_episodes(worker, space, units, seed, start):
    """Run the proposals through the real runner; return their scores."""
    out = []
    for i, u in enumerate(units):
        case = space.case(space.params(u), index=start + i, seed=seed)
        r = worker.run(case)
        score = xs.episode_score(r.passed, [m for _, m in r.margins], r.outcome.is_infrastructure)
        out.append((score, case.params, r.passed))
    return out


def simtest_method(method, worker, space, seed, budget, batch):
    proposer = xs.make_proposer(method, space.d, seed)
    trace = []
    while len(trace) < budget:
        U = proposer.ask(min(batch, budget - len(trace)))
        scored = run_episodes(worker, space, U, seed, len(trace))
        proposer.tell(U, [s for s, _, _ in scored])
        trace.extend(scored)
    return trace


def verifai_ce(worker, space, seed, budget):
    from dotmap import DotMap
    from verifai.features.features import Box, Feature, FeatureSpace
    from verifai.samplers.feature_sampler import FeatureSampler

    np.random.seed(seed)  # VerifAI draws from numpy's global generator
    fs = FeatureSpace({f"u{i}": Feature(Box((0.0, 1.0))) for i in range(space.d)})
    params = DotMap(alpha=0.9, thres=0.0, cont=DotMap(buckets=5, dist=None), disc=DotMap(dist=None))
    sampler = FeatureSampler.crossEntropySamplerFor(fs, params)
    trace = []
    for i in range(budget):
        sample, info = sampler.getSample()
        u = np.array([float(getattr(sample, f"u{j}")[0]) for j in range(space.d)])
        (score, p, ok), = run_episodes(worker, space, [u], seed, i)
        sampler.update(sample, info, score)
        trace.append((score, p, ok))
    return trace


def summarise(space, trace, budget):
    first = next((i + 1 for i, (_, _, ok) in enumerate(trace) if not ok), None)
    fails = [p for _, p, ok in trace if not ok]
    threshold = space.scenario.search.distinct
    kept = []
    for p in fails:
        if all(space.distance(p, k) > threshold for k in kept):
            kept.append(p)
    return (first if first is not None else budget + 1), first is None, 1000.0 * len(kept) / len(trace)


def driving(args) -> int:
    """Rare failures: the search against driving-perception@1.1 (about 98.5 % pass on the smoke
    suite) on a driving scenario, next to random sampling, in one run: episodes to the first failure
    (each method stops there), at most --budget episodes each."""
    scenario = load_scenario(HERE.parent / "scenarios" / "driving" / args.driving)
    space = xs.SearchSpace.of(scenario)
    worker = EpisodeWorker(resolve_model(args.model))
    print(f"{args.model} on {scenario.id}: episodes to the first failure (budget {args.budget}, batch {args.batch}, "
          f"seed {args.seed})")
    for method in ("bayes", "random"):
        t0 = time.perf_counter()
        proposer = xs.make_proposer(method, space.d, args.seed)
        n, first, best = 0, None, math.inf
        while n < args.budget and first is None:
            U = proposer.ask(min(args.batch, args.budget - n))
            scored = run_episodes(worker, space, U, args.seed, n)
            proposer.tell(U, [s for s, _, _ in scored])
            for i, (score, params, ok) in enumerate(scored):
                best = min(best, score if score is not None else math.inf)
                if not ok and first is None:
                    first = (n + i + 1, params)
            n += len(U)
        where = f"episode {first[0]}: {first[1]}" if first else f"none in {n} episodes (smallest margin {best:+.3g})"
        print(f"  {method:<8} first failure at {where}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    worker.close()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--driving", metavar="SCENARIO", help="e.g. fog.yaml: the rare-failure run on the driving env")
    ap.add_argument("--model", default="driving-perception@1.1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budget", type=int, default=120)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--methods", default="bayes,cross-entropy,tpe,random,halton,verifai-ce")
    args = ap.parse_args()
    if args.driving:
        args.budget = args.budget if args.budget != 120 else 400
        return driving(args)
    scenario = load_scenario(SCENARIO)
    space = xs.SearchSpace.of(scenario)
    worker = EpisodeWorker(resolve_model(str(MODEL)))
    print(f"env: searchenv:Planted-v0, failure region 1.0 % of the volume ({space.d} parameters, 2 matter); "
          f"budget {args.budget} episodes, batch {args.batch}, {args.seeds} seeds")
    print(f"{'method':<14} {'median to 1st failure':>22} {'none found':>10} {'distinct / 1000 ep':>19} {'s':>6}")
    results = {}
    for method in args.methods.split(","):
        t0 = time.perf_counter()
        firsts, misses, rates = [], 0, []
        for seed in range(args.seeds):
            if method == "verifai-ce":
                try:
                    trace = verifai_ce(worker, space, seed, args.budget)
                except ImportError as exc:
                    print(f"{method:<14} skipped: {exc} (pip install .[bench-search])")
                    break
            else:
                trace = simtest_method(method, worker, space, seed, args.budget, args.batch)
            first, miss, rate = summarise(space, trace, args.budget)
            firsts.append(first)
            misses += miss
            rates.append(rate)
        if not firsts:
            continue
        med = statistics.median(firsts)
        results[method] = med
        print(f"{method:<14} {med:>22.1f} {misses:>10d} {statistics.mean(rates):>19.1f} "
              f"{time.perf_counter() - t0:>6.0f}", flush=True)
    worker.close()
    d = xs.DEFAULT_METHOD
    if d in results and "random" in results:
        print(f"{d} (default) / random, episodes to first failure: {results[d] / results['random']:.3f} (target <= 0.2)")
    if d in results and "verifai-ce" in results:
        print(f"{d} (default) / VerifAI cross-entropy: {results[d] / results['verifai-ce']:.3f} (target <= 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
