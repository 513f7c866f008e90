"""Quick closed-loop check of driving-perception versions, outside the harness: N episodes per
lighting on the same scenes for every manifest, success (and collisions) per lighting.

    python -m simtest_models.driving.evaluate models/driving/driving-perception-1.1.yaml ... --episodes 40

`--oracle` adds the controller on ground-truth proximity (the ceiling perception can reach).
"""

from __future__ import annotations

import argparse
import hashlib
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
    cases = [(case_params(rng, args.fog_max), int(rng.integers(2**31))) for _ in range(args.episodes)]

    print(f"{'model':24s} " + " ".join(f"{l:>16s}" for l in LIGHTINGS) + f" {'overall':>8s} {'s/ep':>6s}")
    for name, agent in agents:
        cells, wins, total, t0 = [], 0, 0, time.perf_counter()
        for light in LIGHTINGS:
            outcomes = [run_episode(env, agent, {**p, "lighting": light}, s) for p, s in cases]
            ok = outcomes.count("success")
            cells.append(f"{ok / len(outcomes):5.0%} (col {outcomes.count('collision'):2d})")
            wins, total = wins + ok, total + len(outcomes)
        per_ep = (time.perf_counter() - t0) / total
        print(f"{name:24s} " + " ".join(f"{c:>16s}" for c in cells) + f" {wins / total:8.0%} {per_ep:6.2f}")
    env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
