"""Quick check of grasp-perception versions outside the harness: offline localisation error on
fresh frames, and closed-loop success on the same scenes for every manifest, split by object size
(small parts 2-3 cm vs 3-6 cm).

    python -m simtest_models.grasp.evaluate models/grasp/grasp-perception-1.1.yaml ... --episodes 30
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

GROUPS = {"small parts (2-3 cm)": (0.02, 0.03), "larger (3-6 cm)": (0.03, 0.06)}


def case_params(rng: np.random.Generator, lo: float, hi: float) -> dict:
    from simtest_models.grasp.train import COLOURS, SHAPES

    return {
        "object_shape": SHAPES[int(rng.integers(len(SHAPES)))],
        "object_size": float(rng.uniform(lo, hi)),
        "object_colour": COLOURS[int(rng.integers(len(COLOURS)))],
        "n_distractors": int(rng.integers(0, 4)),
        "light_elevation": float(rng.uniform(10.0, 90.0)),
        "light_azimuth": float(rng.uniform(-180.0, 180.0)),
        "light_intensity": float(rng.uniform(0.6, 1.2)),
    }


def load_manifest_agent(path: Path):
    import yaml

    from simtest_models.grasp.agent import make_agent

    m = yaml.safe_load(path.read_text())
    return f"{m['name']}@{m['version']}", make_agent(str(path.parent / m["weights"]), **m.get("options", {}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simtest_models.grasp.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("manifests", nargs="+", type=Path)
    ap.add_argument("--episodes", type=int, default=30, help="episodes per size group")
    ap.add_argument("--seed", type=int, default=123)
    args = ap.parse_args(argv)
    import gymnasium

    import simtest_envs  # noqa: F401

    env = gymnasium.make("simtest/Grasp-v0", disable_env_checker=True)
    agents = [load_manifest_agent(p) for p in args.manifests]
    for group, (lo, hi) in GROUPS.items():
        rng = np.random.default_rng([args.seed, int(lo * 1000)])
        cases = [(case_params(rng, lo, hi), int(rng.integers(2**31))) for _ in range(args.episodes)]
        for label, agent in agents:
            t0 = time.perf_counter()
            wins, errs = 0, []
            for params, seed in cases:
                obs, info = env.reset(seed=seed, options={"params": params})
                xy = np.array(info["object_pose"][:2])
                agent.reset(seed)
                est = agent.perceive(obs["image"])
                errs.append(float(np.hypot(*(est[:2] - xy))) * 1000)
                agent.reset(seed)
                while True:
                    obs, _, terminated, truncated, info = env.step(agent.act(obs))
                    if terminated or truncated:
                        break
                wins += bool(info["placed"])
            print(f"{group:24s} {label:24s} success {wins}/{len(cases)} = {wins / len(cases):.0%}  "
                  f"first-look error {np.mean(errs):.1f} mm (p90 {np.percentile(errs, 90):.1f})  "
                  f"{time.perf_counter() - t0:.0f} s")
    env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
