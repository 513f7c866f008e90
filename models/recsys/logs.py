"""Logged interaction data from the simulator, as a production recommender would have it: the
documents a logging policy showed, what was clicked and how long the user engaged. Used by the
training script; numpy and the env only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simtest_models.recsys.features import doc_features

__all__ = ["Logs", "logging_params", "collect"]


@dataclass(frozen=True)
class Logs:
    features: np.ndarray  # float32 (rows, n_features): one row per shown document
    clicked: np.ndarray  # float32 (rows,): 1 if this document was the one clicked
    engagement: np.ndarray  # float32 (rows,): engagement of the click (0 when not clicked)
    episodes: int
    steps: int


def logging_params(rng: np.random.Generator) -> dict:
    """Scenario parameters of one logged session: varied so the ranker generalises across them."""
    return {
        "cohort": str(rng.choice(["new", "niche", "mainstream"])),
        "n_topics": int(rng.integers(5, 21)),
        "catalogue_size": int(rng.integers(100, 401)),
        "interest_concentration": float(np.exp(rng.uniform(np.log(0.3), np.log(3.0)))),
        "drift_rate": float(rng.uniform(0.0, 0.1)),
        "quality_spread": float(rng.uniform(0.5, 1.5)),
        "popularity_bias": float(rng.uniform(1.0, 3.0)),
        "satiation": float(rng.uniform(0.3, 1.0)),
        "slate_size": int(rng.integers(3, 9)),
        "max_steps": 50,
    }


def collect(episodes: int, seed: int, temperature: float = 1.0) -> Logs:
    """Run `episodes` sessions under a stochastic logging policy (popularity and history scores
    with Gumbel noise, i.e. Plackett-Luce sampling) and log every shown document."""
    from simtest_envs.recsys.env import RecsysSessionEnv

    env = RecsysSessionEnv()
    feats, clicks, engage = [], [], []
    steps = 0
    for ss in np.random.SeedSequence(seed).spawn(episodes):
        param_ss, env_ss, policy_ss = ss.spawn(3)
        params = logging_params(np.random.default_rng(param_ss))
        rng = np.random.default_rng(policy_ss)
        obs, _ = env.reset(seed=int(env_ss.generate_state(1)[0]), options={"params": params})
        done = False
        while not done:
            idx, x = doc_features(obs)
            score = 2.0 * x[:, 3] + 2.0 * x[:, 1] - 5.0 * x[:, 5] + temperature * rng.gumbel(size=len(idx))
            k = params["slate_size"]
            pos = np.argsort(-score, kind="stable")[:k]
            action = np.zeros(env.max_slate, np.int64)
            action[:k] = idx[pos]
            obs, reward, terminated, truncated, info = env.step(action)
            chosen = info["choice"]
            feats.append(x[pos])
            hit = (idx[pos] == chosen).astype(np.float32)
            clicks.append(hit)
            engage.append(hit * np.float32(info["engagement"]))
            steps += 1
            done = terminated or truncated
    return Logs(np.concatenate(feats), np.concatenate(clicks), np.concatenate(engage), episodes, steps)
