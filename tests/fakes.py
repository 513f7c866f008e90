"""Small fakes for unit tests: a numpy-only gymnasium env configured through make() kwargs (like
any third-party env) and a tiny agent factory. No pybullet, no torch."""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

ENV_ID = "simtest-test/Counter-v0"


class CounterEnv(gymnasium.Env):
    """A point that drifts with noise; the agent pushes it back. Terminates when |x| > limit."""

    metadata = {"render_modes": []}

    def __init__(self, limit: float = 3.0, fail_at_step: int = -1, noise: float = 0.5):
        self.limit, self.fail_at_step, self.noise = limit, fail_at_step, noise
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float64)
        self.t = 0
        self.x = np.zeros(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.x = self.np_random.normal(size=2)
        return self.x.copy(), {"x": float(self.x[0])}

    def step(self, action):
        if self.t == self.fail_at_step:
            raise RuntimeError("simulator exploded")
        self.t += 1
        self.x = self.x + np.array([float(action[0]), 0.0]) + self.noise * self.np_random.normal(size=2)
        terminated = bool(abs(self.x[0]) > self.limit)
        return self.x.copy(), 1.0, terminated, False, {"x": float(self.x[0])}


if ENV_ID not in gymnasium.envs.registry:
    gymnasium.register(id=ENV_ID, entry_point="fakes:CounterEnv")


class PushBack:
    def __init__(self, gain: float, draws: int, fail: bool):
        self.gain, self.draws, self.fail = gain, draws, fail
        self.rng = np.random.default_rng(0)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs):
        if self.fail:
            raise ValueError("model exploded")
        self.rng.random(self.draws)  # randomness the env must not notice
        return np.array([-self.gain * obs[0]])


def make_agent(weights=None, gain: float = 0.8, draws: int = 0, fail: bool = False):
    return PushBack(gain, draws, fail)
