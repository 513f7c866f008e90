"""simtest recipe for highway-env's `highway-fast-v0` (a third-party gymnasium env).

An adapter (registry entry `adapter`) configures the env per episode through highway-env's own
`configure()` (vehicles_count, lanes_count, vehicles_density, duration) before `reset(seed)`, and
keeps only the per-step signals the metrics read: `info["crashed"]` and `info["speed"]`. The
registry entry reaches simtest through the `simtest.envs` entry point declared in this folder's
pyproject.toml (`pip install -e examples/highway`); the env itself is highway-env's, unchanged.
This module never imports simtest.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, Sequence

# pygame (imported by highway-env) prints a banner on stdout when imported; keep it off.
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

ENV_ID = "highway-fast-v0"

PARAMS: dict[str, dict[str, Any]] = {
    "vehicles_count": {"type": "int", "min": 1, "max": 60, "default": 20, "unit": "",
                       "doc": "other vehicles on the road (highway-env config vehicles_count)"},
    "lanes_count": {"type": "int", "min": 2, "max": 6, "default": 3, "unit": "",
                    "doc": "lanes of the road (config lanes_count)"},
    "vehicles_density": {"type": "float", "min": 0.3, "max": 3.0, "default": 1.0, "unit": "",
                         "doc": "spacing factor of the other vehicles, higher = denser (config vehicles_density)"},
    "duration": {"type": "int", "min": 5, "max": 60, "default": 20, "unit": "s",
                 "doc": "episode length in seconds (config duration; 1 policy step per second)"},
}

METRICS: dict[str, dict[str, Any]] = {
    "crashed": {"kind": "binary", "better": "lower", "time_like": False, "unit": "",
                "doc": "1 if info['crashed'] was true at any step"},
    "mean_speed": {"kind": "continuous", "better": "higher", "time_like": False, "unit": "m/s",
                   "doc": "mean of info['speed'] over the steps"},
    "time_to_crash": {"kind": "continuous", "better": "higher", "time_like": False, "unit": "s",
                      "doc": "seconds until the first crash; the episode length when none"},
}


def simtest_envs() -> dict[str, dict]:
    """The `simtest.envs` entry point (docs/contracts.md section 1)."""
    return {
        ENV_ID: {
            "entry_point": "highway_env.envs.highway_env:HighwayEnvFast",  # simtest imports highway_env first
            "params": "highway_recipe:PARAMS",
            "metrics": "highway_recipe:METRICS",
            "episode_metrics": "highway_recipe:episode_metrics",
            "adapter": "highway_recipe:HighwayAdapter",
        },
    }


def episode_metrics(infos: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> dict[str, float]:
    del params
    crashed = [bool(i.get("crashed", False)) for i in infos]
    speeds = [float(i["speed"]) for i in infos[1:] if "speed" in i]
    first = next((k for k, c in enumerate(crashed) if c), None)
    return {
        "crashed": float(first is not None),
        "mean_speed": float(sum(speeds) / len(speeds)) if speeds else math.nan,
        "time_to_crash": float(first if first is not None else len(infos) - 1),
    }


def _adapter_base():
    from simtest.execution.envadapter import EnvAdapter  # the harness's base class, imported when used

    return EnvAdapter


class _Lazy(type):
    """Builds the adapter class on first use, so importing this module needs neither simtest nor highway-env."""

    def __call__(cls, *args, **kwargs):
        return _make_adapter_class()(*args, **kwargs)


def _make_adapter_class():
    base = _adapter_base()

    class HighwayAdapter(base):  # type: ignore[misc, valid-type]
        """One highway-fast-v0 instance per worker, reconfigured every episode."""

        def reset(self, params: dict, params_json: str, seed: int):
            import gymnasium
            import highway_env  # noqa: F401  (registers the ids)

            if self.env is None:
                self.env = gymnasium.make(ENV_ID, disable_env_checker=True)
            merged = {name: spec["default"] for name, spec in PARAMS.items()}
            merged.update(json.loads(params_json) if params_json else params)
            # Observations in metres (not normalised by the lane count), so an agent reads the same
            # numbers on 2 and 4 lanes.
            merged["observation"] = {"type": "Kinematics", "normalize": False, "absolute": False}
            self.env.unwrapped.configure(merged)  # read by highway-env at reset
            return self.env.reset(seed=seed)

        def signals(self, info: dict, reward: float) -> dict:
            return {"crashed": bool(info.get("crashed", False)), "speed": float(info.get("speed", 0.0))}

    return HighwayAdapter


class HighwayAdapter(metaclass=_Lazy):
    """simtest adapter for highway-fast-v0 (see the module docstring)."""
