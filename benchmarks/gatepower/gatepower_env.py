"""A one-step synthetic env whose per-slice success rates are known exactly, for measuring the
gate's power and error rates through the real `simtest gate` (benchmarks/bench_gate_power.py).

- The case's seed draws a latent z_case (the "scene"); the agent's seed stream draws z_model.
  Success = Phi(rho z_case + sqrt(1 - rho^2) z_model) < rate(lighting) - drop, so two model versions
  with different salts are equally good but correlated through the shared case (rho), as real
  pairs are, and a version with `night_drop: 0.10` loses exactly 10 points at night only.
- Registered with gymnasium as `gatepower_env:GatePower-v0` (importing the module registers it).
"""

from __future__ import annotations

import math

import gymnasium
import numpy as np

RATES = {"day": 0.90, "dusk": 0.88, "night": 0.85}
LIGHTING = ("day", "dusk", "night")
RHO = 0.95  # latent correlation between two versions: rho^2 = 0.90


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


class GatePowerEnv(gymnasium.Env):
    observation_space = gymnasium.spaces.Box(0.0, 2.0, (1,), np.float32)
    action_space = gymnasium.spaces.Box(-10.0, 10.0, (2,), np.float32)

    def __init__(self, lighting: str = "day", clutter: float = 0.0, rho: float = RHO, render_mode=None):
        # clutter: a nuisance parameter (no effect), so that samples of one lighting are distinct cases
        if lighting not in RATES:
            raise ValueError(f"lighting must be one of {sorted(RATES)}, got {lighting!r}")
        self.lighting, self.rho = lighting, float(rho)
        self.z_case = 0.0

    def _obs(self) -> np.ndarray:
        return np.array([LIGHTING.index(self.lighting)], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.z_case = float(np.random.default_rng(seed).normal())
        return self._obs(), {"rate": RATES[self.lighting]}

    def step(self, action):
        z_model, drop = float(action[0]), float(action[1])
        u = _phi(self.rho * self.z_case + math.sqrt(1 - self.rho**2) * z_model)
        ok = u < RATES[self.lighting] - drop
        return self._obs(), float(ok), True, False, {"success": ok}


class Agent:
    """A "model version": its own noise stream (salt) and, optionally, a planted night-only drop."""

    def __init__(self, salt: int = 0, night_drop: float = 0.0):
        self.salt, self.night_drop = int(salt), float(night_drop)
        self.z = 0.0

    def reset(self, seed: int) -> None:
        self.z = float(np.random.default_rng([int(seed), self.salt]).normal())

    def act(self, observation) -> np.ndarray:
        night = int(round(float(observation[0]))) == LIGHTING.index("night")
        return np.array([self.z, self.night_drop if night else 0.0], dtype=np.float32)


def make_agent(weights=None, **options) -> Agent:
    return Agent(**options)


if "GatePower-v0" not in gymnasium.envs.registry:
    gymnasium.register("GatePower-v0", entry_point=GatePowerEnv, max_episode_steps=1)
