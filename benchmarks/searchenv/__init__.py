"""A synthetic env for falsification benchmarks and fast search tests: a planted failure region
of exactly 1 % of the parameter volume and a smooth margin.

Parameters (passed to gymnasium.make, like any third-party env): `x`, `y` in [0, 1] (the two that
matter), `clutter` (int 0..4) and `weather` (clear | rain | fog), which do not. The episode's
per-step signal `gap` falls linearly to d - r, where d is the distance of (x, y) from the planted
centre C and r = sqrt(0.01 / pi) (a disc of area 0.01 inside the unit square). The requirement
`always(gap > 0)` therefore fails exactly inside the disc, with robustness d - r: smooth, and
negative only in the 1 % region. `clutter` and `weather` change other signals only (`noise`), so
shrinking must move them back to nominal. The agent's action adds 0.1 x action to `gap`: the
shipped `planted-idle@1.0` acts 0 (the planted region exactly); `@1.1` acts -1, which widens the
failure region to radius r + 0.1 (a regression the gate's corpus section must report). Import name `searchenv`: put benchmarks/ on sys.path
(and on PYTHONPATH for Ray workers)."""

from __future__ import annotations

import json
import math
import os
import time

import gymnasium
import numpy as np
from gymnasium import spaces

ENV_ID = "searchenv:Planted-v0"
CENTRE = (0.73, 0.29)
RADIUS = math.sqrt(0.01 / math.pi)
STEPS = 10


def true_margin(x: float, y: float) -> float:
    return math.hypot(x - CENTRE[0], y - CENTRE[1]) - RADIUS


class PlantedEnv(gymnasium.Env):
    metadata = {"render_modes": []}

    def __init__(self, x: float = 0.5, y: float = 0.5, clutter: int = 0, weather: str = "clear", delay: float = 0.0,
                 log: str = "", render_mode=None):
        self.x, self.y, self.clutter, self.weather = float(x), float(y), int(clutter), str(weather)
        self.delay, self.log = float(delay), str(log)  # tests: seconds per step; a file of (pid, time) per episode
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float64)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), np.float64)
        self.t = 0
        self.action = 0.0
        self.margin = true_margin(self.x, self.y)

    def _info(self) -> dict:
        frac = self.t / (STEPS - 1)
        return {"gap": self.margin + 0.3 * (1.0 - frac) + 0.1 * self.action,
                "noise": 0.1 * self.clutter + (self.weather == "fog"), "t": self.t}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.action = 0.0
        if self.log:
            with open(self.log, "a") as f:
                f.write(json.dumps({"pid": os.getpid(), "t": time.time()}) + "\n")
        return np.array([self.x, self.y]), self._info()

    def step(self, action):
        self.t += 1
        if self.delay:
            time.sleep(self.delay)
        self.action = float(np.clip(np.asarray(action, float).reshape(-1)[0], -1.0, 1.0))
        done = self.t >= STEPS - 1
        return np.array([self.x, self.y]), 0.0, done, False, self._info()


class Idle:
    """The 'model' under test: a constant action `push` (0: the failure is the scene's alone)."""

    def __init__(self, push: float = 0.0):
        self.push = float(push)

    def reset(self, seed: int) -> None:
        pass

    def act(self, obs):
        return np.full(1, self.push)


def make_agent(weights=None, push: float = 0.0, **options):
    return Idle(push)


if "Planted-v0" not in gymnasium.envs.registry:
    gymnasium.register(id="Planted-v0", entry_point="searchenv:PlantedEnv")
