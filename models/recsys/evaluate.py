"""Closed-loop evaluation of `recsys-ranker` versions against the simulator, per cohort, without
the harness: the quick check a model author runs before opening a gate.

    python -m simtest_models.recsys.evaluate [--versions 1.0 1.1 1.2] [--episodes 40] [--models DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

__all__ = ["load_version", "run_episode", "evaluate", "main"]

HERE = Path(__file__).resolve().parent
COLUMNS = ("click_through_rate", "total_engagement", "session_length", "retained", "intra_slate_diversity",
           "catalogue_coverage", "interest_entropy_change", "final_satisfaction")


def load_version(version: str, models: Path = HERE) -> Any:
    """The agent of the manifest recsys-ranker-<version>.yaml in `models`, built as the harness would."""
    from simtest_models.recsys.agent import make_agent

    path = models / f"recsys-ranker-{version}.yaml"
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    weights = str(path.parent / manifest["weights"]) if manifest.get("weights") else None
    return make_agent(weights, **manifest.get("options", {}))


def run_episode(env: Any, agent: Any, seed: int, params: dict) -> dict[str, float]:
    """One session; seeds split like the harness's runner (env stream, agent stream)."""
    from simtest_envs.recsys.metrics import episode_metrics

    env_ss, agent_ss = np.random.SeedSequence(seed).spawn(2)
    obs, info = env.reset(seed=int(env_ss.generate_state(1)[0]), options={"params": params})
    agent.reset(int(agent_ss.generate_state(1)[0]))
    infos = [info]
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(agent.act(obs))
        infos.append(info)
        done = terminated or truncated
    return episode_metrics(infos, params)


def evaluate(versions: list[str], episodes: int = 40, models: Path = HERE, params: dict | None = None,
             cohorts: tuple[str, ...] = ("new", "niche", "mainstream")) -> list[dict]:
    from simtest_envs.recsys.env import RecsysSessionEnv

    env = RecsysSessionEnv()
    rows = []
    for cohort in cohorts:
        for version in versions:
            agent = load_version(version, models)
            results = [run_episode(env, agent, seed, {**(params or {}), "cohort": cohort}) for seed in range(episodes)]
            row = {"cohort": cohort, "version": version, "episodes": episodes}
            row.update({k: float(np.mean([r[k] for r in results])) for k in COLUMNS})
            rows.append(row)
    return rows


def format_table(rows: list[dict]) -> str:
    short = {"click_through_rate": "CTR", "total_engagement": "engagement", "session_length": "length",
             "retained": "retained", "intra_slate_diversity": "diversity", "catalogue_coverage": "coverage",
             "interest_entropy_change": "d_entropy", "final_satisfaction": "satisfaction"}
    head = "| cohort | version | n | " + " | ".join(short[c] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (3 + len(COLUMNS))]
    for r in rows:
        lines.append(f"| {r['cohort']} | {r['version']} | {r['episodes']} | "
                     + " | ".join(f"{r[c]:.3f}" for c in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simtest_models.recsys.evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("--versions", nargs="+", default=["1.0", "1.1", "1.2"])
    ap.add_argument("--episodes", type=int, default=40, help="sessions per cohort and version")
    ap.add_argument("--models", type=Path, default=HERE, help="directory holding the manifests")
    args = ap.parse_args(argv)
    print(format_table(evaluate(args.versions, args.episodes, args.models)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
