"""Grasp harness overhead and per-step cost split: episodes per second through the harness
(LocalExecutor over planned smoke cases: runner, adapter, trace digest, metrics, checks) against a
hand-written loop over the same env, model and cases, then one instrumented hand pass that splits
a control step into physics (24 pybullet steps + ground truth), render (the 64x64 fixed camera),
inference (the CNN) and control (the IK controller). Target overhead: under 5 %.

    python benchmarks/bench_grasp.py [--suite scenarios/grasp/smoke.yaml] [--model grasp-perception@1.1] [--cases 12] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict

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


def _hand_setup(model):
    import simtest_envs  # noqa: F401
    from simtest_envs.grasp.env import GraspEnv
    from simtest_models.grasp.agent import make_agent

    return GraspEnv(), make_agent(model.weights, **model.options)


def _episode(env, agent, case, on_step=None) -> int:
    from simtest_envs.grasp.metrics import episode_metrics

    env_ss, agent_ss = np.random.SeedSequence(case.seed).spawn(2)
    obs, info = env.reset(seed=int(env_ss.generate_state(1)[0]), options={"params": case.params})
    agent.reset(int(agent_ss.generate_state(1)[0]))
    infos, steps = [info], 0
    for _ in range(case.horizon):
        obs, reward, terminated, truncated, info = env.step(agent.act(obs))
        infos.append(info)
        steps += 1
        if terminated or truncated:
            break
    episode_metrics(infos, case.params)
    return steps


def hand_loop(cases, model) -> tuple[int, float, float]:
    """What a model author would write: one env, one agent, seeds split the same way, metrics at the end."""
    env, agent = _hand_setup(model)
    _episode(env, agent, cases[0])  # the same warm-up as the harness gets
    t0, c0 = time.perf_counter(), time.process_time()
    steps = sum(_episode(env, agent, case) for case in cases)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    env.close()
    return steps, wall, cpu


def cost_split(cases, model) -> tuple[dict[str, float], int, float]:
    """Seconds per control step in each part, from timers wrapped around the env's and the agent's
    methods (one pass; the wrappers cost a few microseconds per call)."""
    env, agent = _hand_setup(model)
    spent: dict[str, float] = defaultdict(float)

    def timed(obj, name, key):
        fn = getattr(obj, name)

        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t

        setattr(obj, name, wrapper)

    timed(env, "_camera_image", "render")
    timed(env, "step", "step (all of it)")
    timed(env, "reset", "reset (world rebuild)")
    timed(agent, "perceive", "inference")
    timed(agent.controller, "act", "control")
    t0 = time.perf_counter()
    steps = sum(_episode(env, agent, case) for case in cases)
    total = time.perf_counter() - t0
    env.close()
    # step = physics + ground truth + the observation render; reset includes one render too.
    renders_in_steps = spent["render"] * steps / (steps + len(cases))
    split = {
        "physics + ground truth": (spent["step (all of it)"] - renders_in_steps) / steps,
        "render (64x64 camera)": spent["render"] / steps,
        "inference (CNN)": spent["inference"] / steps,
        "control (IK controller)": spent["control"] / steps,
        "reset (world rebuild)": spent["reset (world rebuild)"] / steps,
    }
    split["loop, metrics, rest"] = total / steps - sum(split.values())
    return split, steps, total


def main(argv: list[str] | None = None) -> int:
    from simtest.authoring.sampling import plan
    from simtest.authoring.spec import load_suite
    from simtest.contract.registry import resolve_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="scenarios/grasp/smoke.yaml")
    ap.add_argument("--model", default="grasp-perception@1.1")
    ap.add_argument("--cases", type=int, default=12, help="planned cases per pass (evenly spaced over the plan)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    planned = plan(load_suite(args.suite))
    cases = planned[:: max(1, len(planned) // args.cases)][: args.cases]
    model = resolve_model(args.model)
    eps: dict[str, list[float]] = {"harness": [], "hand": []}
    cpu_eps: dict[str, list[float]] = {"harness": [], "hand": []}
    counts: dict[str, int] = {}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        for name, fn in (("hand", hand_loop), ("harness", harness)):
            steps, wall_s, cpu_s = fn(cases, model)
            counts[name] = steps
            eps[name].append(len(cases) / wall_s)
            cpu_eps[name].append(len(cases) / cpu_s)
    if counts["hand"] != counts["harness"]:
        print(f"warning: step counts differ (hand {counts['hand']}, harness {counts['harness']}): "
              "the loops do not run the same episodes", file=sys.stderr)
    print(f"suite {args.suite}: {len(cases)} cases, {counts['harness']} control steps per pass, model {model.label}, "
          f"best of {args.repeats} passes")
    print(f"{'':18s} {'episodes/s (wall)':>18s} {'episodes/CPU-s':>15s}")
    for label, name in (("hand-written loop", "hand"), ("through harness", "harness")):
        print(f"{label:18s} {max(eps[name]):18.2f} {max(cpu_eps[name]):15.2f}")
    paired_cpu = statistics.median(h / t for h, t in zip(cpu_eps["hand"], cpu_eps["harness"]))
    paired_wall = statistics.median(h / t for h, t in zip(eps["hand"], eps["harness"]))
    print(f"harness overhead: {100 * (paired_cpu - 1):+.1f} % CPU time, {100 * (paired_wall - 1):+.1f} % wall "
          f"(median of paired passes); best vs best: {100 * (max(cpu_eps['hand']) / max(cpu_eps['harness']) - 1):+.1f} % CPU; "
          "target < 5 %")
    split, steps, total = cost_split(cases, model)
    print(f"per control step ({steps} steps, {1000 * total / steps:.2f} ms each, hand loop, instrumented):")
    for part, sec in split.items():
        print(f"  {part:26s} {1000 * sec:7.3f} ms  {100 * sec * steps / total:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
