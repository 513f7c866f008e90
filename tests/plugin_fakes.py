"""Third-party env packages as a new user meets them (highway-env, panda-gym), reproduced small:
a tmp "site" directory with a package, a `.dist-info` declaring a `simtest.envs` entry point, and
an agent module. Put the directory on PYTHONPATH (subprocesses) or sys.path (in-process)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# A toy highway: like highway-env it reads reset(options={"config": {...}}), not "params".
TOYPLUG = '''
import gymnasium
import numpy as np
from gymnasium import spaces

PARAMS = {"lanes_count": {"type": "int", "min": 2, "max": 6, "default": 3, "doc": "lanes"}}
METRICS = {
    "progress": {"kind": "continuous", "better": "higher"},
    "crashed": {"kind": "binary", "better": "lower"},
}


class Lanes(gymnasium.Env):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode
        self.observation_space = spaces.Box(0.0, 100.0, (2,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.lanes, self.t = 3, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.lanes = int((options or {}).get("config", {}).get("lanes_count", 3))
        self.t = 0
        return np.array([self.lanes, 0.0], np.float32), {"t": 0}

    def step(self, action):
        self.t += 1
        return np.array([self.lanes, self.t], np.float32), 1.0, self.t >= 5, False, {"t": self.t}

    def render(self):
        return np.full((8, 8, 3), 20 * self.lanes, np.uint8)


def episode_metrics(infos, params):
    return {"progress": float(len(infos) - 1), "crashed": 0.0}


def wrong_metrics(infos, params):  # forgets "crashed", returns an undeclared "speed"
    return {"progress": float(len(infos) - 1), "speed": 1.0}


def simtest_envs():
    base = {"entry_point": "toyplug.envs:Lanes", "params": "toyplug.envs:PARAMS", "metrics": "toyplug.envs:METRICS",
            "episode_metrics": "toyplug.envs:episode_metrics", "configure": "reset_options"}
    return {
        "toy/Lanes-v0": base,  # options go to "params", which the env never reads
        "toy/LanesFixed-v0": {**base, "options_key": "config"},
        "toy/WrongMetrics-v0": {**base, "options_key": "config", "episode_metrics": "toyplug.envs:wrong_metrics"},
        "toy/Typo-v0": {**base, "options_key": "config", "adapter": "toyplug.envs:NoSuchAdapter"},
    }
'''

INIT = '''
import gymnasium

for _id in ("toy/Lanes-v0", "toy/LanesFixed-v0", "toy/WrongMetrics-v0", "toy/Typo-v0"):
    if _id not in gymnasium.envs.registry:
        gymnasium.register(id=_id, entry_point="toyplug.envs:Lanes")
'''

# Like highway_env: importing the module registers the id (no simtest entry point).
TOYHIGHWAY = '''
import gymnasium

if "toyhighway-v0" not in gymnasium.envs.registry:
    gymnasium.register(id="toyhighway-v0", entry_point="toyplug.envs:Lanes")
'''

AGENT = '''
class Zero:
    def reset(self, seed):
        pass

    def act(self, observation):
        return 0


def make_agent(weights=None):
    return Zero()
'''


def dist_info(site: Path, name: str, entry_points: str) -> None:
    d = site / f"{name}-0.1.dist-info"
    d.mkdir(parents=True, exist_ok=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (d / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def make_site(root: Path) -> Path:
    """root/site: toyplug (with its dist-info), toyhighway_env, toyagent; root/toyagent-1.0.yaml."""
    site = root / "site"
    (site / "toyplug").mkdir(parents=True)
    (site / "toyplug" / "__init__.py").write_text(INIT)
    (site / "toyplug" / "envs.py").write_text(TOYPLUG)
    (site / "toyhighway_env.py").write_text(TOYHIGHWAY)
    (site / "toyagent.py").write_text(AGENT)
    dist_info(site, "toyplug", "[simtest.envs]\ntoyplug = toyplug.envs:simtest_envs\n")
    (root / "toyagent-1.0.yaml").write_text("name: toyagent\nversion: '1.0'\nentry_point: toyagent:make_agent\n")
    return site


def break_plugin(site: Path) -> None:
    """A half-removed editable install: the dist-info is left, the module is gone."""
    dist_info(site, "brokenplug", "[simtest.envs]\nbroken = brokenplug_gone.registry:simtest_envs\n")


def simtest_cli(*args: str, cwd: Path, site: Path | None = None, timeout: int = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "simtest.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)


def write_suite(root: Path, env: str, params: dict | None = None, *, seeds: int = 2, horizon: int = 10,
                name: str = "toy") -> Path:
    lines = [f"id: {name}/s-v1", f"env: {env}", f"horizon: {horizon}"]
    if params:
        lines.append("params:")
        lines += [f"  {k}: {v}" for k, v in params.items()]
    (root / f"{name}-scenario.yaml").write_text("\n".join(lines) + "\n")
    suite = root / f"{name}-suite.yaml"
    suite.write_text(f"name: {name}\nscenarios: [{name}-scenario.yaml]\nsamples: 1\nseeds: {seeds}\n")
    return suite
