"""Quick closed-loop check of driving-perception versions, outside the harness: N episodes per
lighting on the same scenes for every manifest, success (and collisions) per lighting.

    python -m simtest_models.driving.evaluate models/driving/driving-perception-1.1.yaml ... --episodes 40

`--oracle` adds the controller on ground-truth proximity (the ceiling perception can reach).
`--plan FILE` runs the cases that `simtest plan --suite ... > FILE` printed instead of the built-in
scene distribution (`--episodes` then caps the cases per lighting).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

LIGHTINGS = ("day", "dusk", "night")


def case_params(rng: np.random.Generator, fog_max: float) -> dict:
    """One evaluation scene (the lighting is set per slice): a few obstacles in the way."""
    return {
        "n_obstacles": int(rng.integers(2, 7)),
        "obstacle_size": float(rng.uniform(0.3, 0.8)),
        "obstacle_spread": float(rng.uniform(0.3, 1.5)),
        "goal_distance": float(rng.uniform(6.0, 12.0)),
        "goal_bearing": float(rng.uniform(-math.pi, math.pi)),
        "fog_density": float(rng.uniform(0.0, fog_max)) if fog_max > 0 else 0.0,
    }


def harness_env_seed(case_seed: int) -> int:
    """The env seed simtest derives from a case seed (its runner's `episode_seeds`), so that a
    `--plan` case here replays the harness's episode (models never import simtest)."""
    env_ss, _ = np.random.SeedSequence(case_seed).spawn(2)
    return int(env_ss.generate_state(1)[0])


def plan_cases(path: Path, per_lighting: int) -> dict[str, list[tuple[dict, int]]]:
    """Cases from `simtest plan` output lines: `<case_id>  <scenario>  seed=<n>  {params json}`,
    as (params, env seed)."""
    out: dict[str, list[tuple[dict, int]]] = {light: [] for light in LIGHTINGS}
    for line in path.read_text().splitlines():
        parts = line.split(None, 3)
        if len(parts) != 4 or not parts[2].startswith("seed="):
            continue
        params = json.loads(parts[3])
        seed = harness_env_seed(int(parts[2][5:]))
        out.setdefault(params.get("lighting", "day"), []).append((params, seed))
    # Evenly spaced, so a cap still covers every scenario of the plan.
    return {k: v[:: max(1, len(v) // per_lighting)][:per_lighting] for k, v in out.items()}


def load_manifest_agent(path: Path):
    import yaml

    from simtest_models.driving.agent import make_agent

    with open(path) as f:
        manifest = yaml.safe_load(f)
    weights = path.parent / manifest["weights"]
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if digest != manifest["sha256"]:
        raise ValueError(f"{path}: sha256 of {weights.name} is {digest}, the manifest says {manifest['sha256']}")
    return f"{manifest['name']}@{manifest['version']}", make_agent(str(weights), **manifest.get("options", {}))


class _OracleAgent:
    """The same controller on the env's ground-truth proximity: reads info, so calibration only."""

    def __init__(self) -> None:
        from simtest_models.driving.controller import HistogramController

        self.controller = HistogramController()
        self.info = None

    def reset(self, seed: int) -> None:
        self.controller.reset()

    def act(self, obs):
        return self.controller.act(self.info["ray_proximity"], obs["ego"])


def run_episode(env, agent, params: dict, seed: int) -> str:
    obs, info = env.reset(seed=seed, options={"params": params})
    agent.reset(seed)
    while True:
        if isinstance(agent, _OracleAgent):
            agent.info = info
        obs, _, terminated, truncated, info = env.step(agent.act(obs))
        if terminated or truncated:
            break
    if info["collision"]:
        return "collision"
    if info["goal_reached"]:
        return "success"
    return "off_course" if info["off_course"] else "timeout"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simtest_models.driving.evaluate")
    ap.add_argument("manifests", nargs="*", type=Path)
    ap.add_argument("--episodes", type=int, default=20, help="episodes per lighting")
    ap.add_argument("--fog-max", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--oracle", action="store_true", help="also run the controller on ground truth")
    ap.add_argument("--plan", type=Path, help="cases printed by `simtest plan --suite ...`")
    args = ap.parse_args(argv)

    import gymnasium
    import torch

    import simtest_envs  # noqa: F401  (registers simtest/Driving-v0)

    torch.set_num_threads(1)
    agents = [load_manifest_agent(p) for p in args.manifests]
    if args.oracle:
        agents.append(("oracle-proximity", _OracleAgent()))
    env = gymnasium.make("simtest/Driving-v0", disable_env_checker=True)
    rng = np.random.default_rng(args.seed)
    if args.plan:
        by_light = plan_cases(args.plan, args.episodes)
    else:
        cases = [(case_params(rng, args.fog_max), int(rng.integers(2**31))) for _ in range(args.episodes)]
        by_light = {light: [({**p, "lighting": light}, s) for p, s in cases] for light in LIGHTINGS}

    print("success and collisions/off-course/timeouts per lighting")
    print(f"{'model':24s} " + " ".join(f"{l:>16s}" for l in LIGHTINGS) + f" {'overall':>8s} {'s/ep':>6s}")
    for name, agent in agents:
        cells, wins, total, t0 = [], 0, 0, time.perf_counter()
        for light in LIGHTINGS:
            outcomes = [run_episode(env, agent, p, s) for p, s in by_light[light]]
            ok = outcomes.count("success")
            cells.append(f"{ok / len(outcomes):4.0%} {outcomes.count('collision'):2d}/{outcomes.count('off_course'):2d}/{outcomes.count('timeout'):2d}")
            wins, total = wins + ok, total + len(outcomes)
        per_ep = (time.perf_counter() - t0) / total
        print(f"{name:24s} " + " ".join(f"{c:>16s}" for c in cells) + f" {wins / total:8.0%} {per_ep:6.2f}")
    env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
