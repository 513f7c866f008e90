"""Test-only synthetic env and agent: fast, deterministic, and able to misbehave on demand
(hang, raise, kill its own worker process, make the agent raise). Registered with gymnasium on
import; the agent factory lives here too, so loading the model in a Ray worker registers the env."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import gymnasium
import numpy as np

from simtest.contract.registry import ModelRef
from simtest.contract.cases import Case

HERE = Path(__file__).resolve().parent
# Ray workers do not inherit the driver's sys.path: they find this module through PYTHONPATH.
RUNTIME_ENV = {"env_vars": {"PYTHONPATH": str(HERE)}}

ENV_ID = "simtest-test/Toy-v0"
MODEL = ModelRef(name="toy", version="1", entry_point="simtest_toyenv:make_agent", digest="70790001deadbeef")
BROKEN_MODEL = ModelRef(name="toy", version="broken", entry_point="simtest_toyenv:make_broken_agent",
                        digest="70790002deadbeef")


class ToyEnv(gymnasium.Env):
    observation_space = gymnasium.spaces.Box(-np.inf, np.inf, (3,), np.float64)
    action_space = gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, steps: int = 10, step_s: float = 0.0, work: int = 0, hang_at: int = -1,
                 hang: str = "sleep", raise_at: int = -1, crash_at: int = -1, agent_raise: bool = False,
                 log: str = "", render_mode=None, **_labels):
        self.steps, self.step_s, self.work = steps, step_s, work
        self.hang_at, self.hang, self.raise_at, self.crash_at = hang_at, hang, raise_at, crash_at
        self.agent_raise, self.log = agent_raise, log
        self.t = 0
        self.rng = np.random.default_rng(0)

    def _obs(self) -> np.ndarray:
        return np.array([self.t, 1.0 if self.agent_raise else 0.0, 0.0])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.rng = np.random.default_rng(seed)
        if self.log:  # one line per episode start, from whichever process runs it
            with open(self.log, "a") as f:
                f.write(json.dumps({"pid": os.getpid(), "t": time.time()}) + "\n")
        return self._obs(), {"t": 0}

    def step(self, action):
        self.t += 1
        if self.step_s:
            time.sleep(self.step_s)
        if self.work:  # burn CPU like a simulator step would
            x = np.full(64, 1.0001)
            for _ in range(self.work):
                x = np.sqrt(x * x + 1e-9)
        if self.t == self.hang_at:
            if self.hang == "blocked":  # like C code holding the GIL: the in-worker alarm cannot act
                signal.signal(signal.SIGALRM, signal.SIG_IGN)
            while True:
                time.sleep(0.05)
        if self.t == self.raise_at:
            raise RuntimeError("toy env: simulated simulator failure")
        if self.t == self.crash_at:
            os.kill(os.getpid(), signal.SIGKILL)
        reward = float(self.rng.random())
        return self._obs(), reward, self.t >= self.steps, False, {"t": self.t}


class ToyAgent:
    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs):
        if obs[1] > 0.5:
            raise ValueError("toy agent: simulated model failure")
        return np.array([self.rng.uniform(-1, 1)], np.float32)


def make_agent(weights, **options) -> ToyAgent:
    return ToyAgent()


def make_broken_agent(weights, **options):
    raise RuntimeError("toy checkpoint has the wrong shape")


def cases(n: int, *, scenario: str = "toy/basic-v1", start: int = 0, **params) -> list[Case]:
    """n distinct cases; every case gets its own `i` so that its id differs."""
    out = []
    for i in range(start, start + n):
        p = {"i": i, **params}
        out.append(Case(scenario=scenario, scenario_hash="toyhash", env=ENV_ID,
                        params_json=json.dumps(p, sort_keys=True, separators=(",", ":")),
                        seed=10_000 + i, tags=("toy",), horizon=1000, sample=i))
    return out


if ENV_ID not in gymnasium.envs.registry:
    gymnasium.register(ENV_ID, entry_point="simtest_toyenv:ToyEnv")
