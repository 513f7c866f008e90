"""simtest recipe for panda-gym's `PandaReach-v3` and `PandaPush-v3` (third-party gymnasium envs).

An adapter (registry entry `adapter`) sets the task's goal and object ranges and its success
threshold per episode (attributes of panda-gym's task, read when it samples a goal at reset),
silences pybullet's native `argv[0]=` line on connect, and keeps the per-step signals the metrics
read: `info["is_success"]` and the achieved-to-desired goal distance. The registry entry reaches
simtest through the `simtest.envs` entry point in this folder's pyproject.toml
(`pip install -e examples/panda`). This module never imports simtest at import time.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from typing import Any, Iterator, Mapping, Sequence

PARAMS_REACH: dict[str, dict[str, Any]] = {
    "goal_range": {"type": "float", "min": 0.02, "max": 0.3, "default": 0.3, "unit": "m",
                   "doc": "the goal is drawn uniformly in a cube of this side around the task's centre"},
    "distance_threshold": {"type": "float", "min": 0.005, "max": 0.1, "default": 0.05, "unit": "m",
                           "doc": "success: the end effector is this close to the goal"},
}
PARAMS_PUSH: dict[str, dict[str, Any]] = {
    **PARAMS_REACH,
    "obj_range": {"type": "float", "min": 0.0, "max": 0.3, "default": 0.3, "unit": "m",
                  "doc": "the object's start is drawn in a square of this side on the table"},
}

METRICS: dict[str, dict[str, Any]] = {
    "success": {"kind": "binary", "better": "higher", "time_like": False, "unit": "",
                "doc": "info['is_success'] at the last step"},
    "time_to_success": {"kind": "continuous", "better": "lower", "time_like": True, "unit": "steps",
                        "doc": "first step with info['is_success']; NaN when never"},
    "final_distance": {"kind": "continuous", "better": "lower", "time_like": False, "unit": "m",
                       "doc": "distance between the achieved and the desired goal at the end"},
}


def simtest_envs() -> dict[str, dict]:
    """The `simtest.envs` entry point (docs/contracts.md section 1)."""
    common = {"metrics": "panda_recipe:METRICS", "episode_metrics": "panda_recipe:episode_metrics",
              "adapter": "panda_recipe:PandaAdapter"}
    return {
        "PandaReach-v3": {"entry_point": "panda_gym.envs:PandaReachEnv", "params": "panda_recipe:PARAMS_REACH", **common},
        "PandaPush-v3": {"entry_point": "panda_gym.envs:PandaPushEnv", "params": "panda_recipe:PARAMS_PUSH", **common},
    }


def episode_metrics(infos: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> dict[str, float]:
    del params
    success = [bool(i["is_success"]) for i in infos]
    first = next((k for k, s in enumerate(success) if s), None)
    return {
        "success": float(success[-1]),
        "time_to_success": float(first) if first is not None else math.nan,
        "final_distance": float(infos[-1]["distance"]),
    }


@contextlib.contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """fd 1 to /dev/null while pybullet's C code connects (it prints argv[0]= there)."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _make_adapter_class():
    import numpy as np

    from simtest.execution.envadapter import EnvAdapter  # the harness's base class, imported when used

    class PandaAdapter(EnvAdapter):
        def _make(self, kwargs: dict) -> Any:
            import gymnasium
            import panda_gym  # noqa: F401  (registers the ids)

            with _native_stdout_silenced():
                return gymnasium.make(self.info.id, disable_env_checker=True)

        def reset(self, params: dict, params_json: str, seed: int):
            if self.env is None:
                self.env = self._make({})
            declared = PARAMS_PUSH if "obj_range" in PARAMS_PUSH and self.info.id.startswith("PandaPush") else PARAMS_REACH
            p = {name: spec["default"] for name, spec in declared.items()}
            p.update(json.loads(params_json) if params_json else params)
            task = self.env.unwrapped.task
            centre = (task.goal_range_low + task.goal_range_high) / 2
            half = p["goal_range"] / 2
            if self.info.id.startswith("PandaPush"):
                task.goal_range_low = np.array([-half, -half, 0.0])
                task.goal_range_high = np.array([half, half, 0.0])
                task.obj_range_low = np.array([-p["obj_range"] / 2, -p["obj_range"] / 2, 0.0])
                task.obj_range_high = np.array([p["obj_range"] / 2, p["obj_range"] / 2, 0.0])
            else:
                task.goal_range_low = centre - half
                task.goal_range_high = centre + half
            task.distance_threshold = float(p["distance_threshold"])
            return self.env.reset(seed=seed)

        def signals(self, info: dict, reward: float) -> dict:
            task = self.env.unwrapped.task
            # From float32 values, as in the observation: panda-gym resets its robot without
            # rebuilding the world, so its float64 state differs in the last bits between reset
            # histories (the float32 observations do not), and check-determinism is bit for bit.
            a = np.asarray(task.get_achieved_goal(), dtype=np.float32).astype(np.float64)
            g = np.asarray(task.get_goal(), dtype=np.float32).astype(np.float64)
            distance = math.dist(a.tolist(), g.tolist())
            return {"is_success": bool(info.get("is_success", False)), "distance": distance}

    return PandaAdapter


class _Lazy(type):
    def __call__(cls, *args, **kwargs):
        return _make_adapter_class()(*args, **kwargs)


class PandaAdapter(metaclass=_Lazy):
    """simtest adapter for PandaReach-v3 / PandaPush-v3 (see the module docstring)."""
