"""Recsys harness overhead: simulated user-steps per second through the harness (LocalExecutor over
the planned smoke cases: runner, adapter, step digests, metrics, checks) against a hand-written loop
over the same env, model and cases. Prints the figures and the overhead; target under 10 %.

    python benchmarks/bench_recsys.py [--suite scenarios/recsys/smoke.yaml] [--model recsys-ranker@1.1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np


def harness(cases, model) -> tuple[int, float, float]:
    from simtest.execution.executors.local import LocalExecutor

    ex = LocalExecutor()
    try:
        list(ex.run(cases[:1], model))  # warm up: env and agent are built once per worker
        t0, c0 = time.perf_counter(), time.process_time()
        steps = sum(r.steps for r in ex.run(cases, model))
        return steps, time.perf_counter() - t0, time.process_time() - c0
    finally:
        ex.close()


def hand_loop(cases, model) -> tuple[int, float, float]:
    """What a model author would write: one env, one agent, seeds split the same way, metrics at the end."""
    from simtest_envs.recsys.env import RecsysSessionEnv
    from simtest_envs.recsys.metrics import episode_metrics
    from simtest_models.recsys.agent import make_agent

    env = RecsysSessionEnv()
    agent = make_agent(model.weights, **model.options)
    t0, c0 = time.perf_counter(), time.process_time()
    steps = 0
    for case in cases:
        env_ss, agent_ss = np.random.SeedSequence(case.seed).spawn(2)
        obs, info = env.reset(seed=int(env_ss.generate_state(1)[0]), options={"params": case.params})
        agent.reset(int(agent_ss.generate_state(1)[0]))
        infos = [info]
        for _ in range(case.horizon):
            obs, reward, terminated, truncated, info = env.step(agent.act(obs))
            infos.append(info)
            steps += 1
            if terminated or truncated:
                break
        episode_metrics(infos, case.params)
    return steps, time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    from simtest.contract.registry import resolve_model
    from simtest.authoring.sampling import plan
    from simtest.authoring.spec import load_suite

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="scenarios/recsys/smoke.yaml")
    ap.add_argument("--model", default="recsys-ranker@1.1")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    cases = plan(load_suite(args.suite))
    model = resolve_model(args.model)
    # Rates per wall second and per CPU second of this process: on a shared machine the CPU
    # figure is the stable one, so the overhead is judged on it (best of the repeats).
    wall: dict[str, list[float]] = {"harness": [], "hand": []}
    cpu: dict[str, list[float]] = {"harness": [], "hand": []}
    counts: dict[str, int] = {}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        for name, fn in (("hand", hand_loop), ("harness", harness)):
            steps, wall_s, cpu_s = fn(cases, model)
            counts[name] = steps
            wall[name].append(steps / wall_s)
            cpu[name].append(steps / cpu_s)
    if counts["hand"] != counts["harness"]:
        print(f"warning: step counts differ (hand {counts['hand']}, harness {counts['harness']}): "
              "the loops do not run the same episodes", file=sys.stderr)
    print(f"suite {args.suite}: {len(cases)} cases, {counts['harness']} user-steps per pass, model {model.label}, "
          f"best of {args.repeats} passes")
    print(f"{'':18s} {'steps/s (wall)':>15s} {'steps/CPU-s':>12s}")
    for label, name in (("hand-written loop", "hand"), ("through harness", "harness")):
        print(f"{label:18s} {max(wall[name]):15.0f} {max(cpu[name]):12.0f}")
    # Each pass pairs one hand loop with one harness run back to back; the median of the paired
    # ratios is robust to other processes coming and going.
    paired_cpu = statistics.median(h / t for h, t in zip(cpu["hand"], cpu["harness"]))
    paired_wall = statistics.median(h / t for h, t in zip(wall["hand"], wall["harness"]))
    print(f"harness overhead: {100 * (paired_cpu - 1):+.1f} % CPU time, {100 * (paired_wall - 1):+.1f} % wall "
          f"(median of paired passes); best vs best: {100 * (max(cpu['hand']) / max(cpu['harness']) - 1):+.1f} % CPU; "
          "target < 10 %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
