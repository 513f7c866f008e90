"""Episode metrics of `simtest/Driving-v0` (contract section 1): declarations plus
`episode_metrics(infos, params)`, computed in the worker from the per-step ground truth. Pure numpy."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from simtest_envs.driving.params import PARAMS

__all__ = ["METRICS", "SIGNALS", "MODEL_METRICS", "episode_metrics"]

METRICS: dict[str, dict[str, Any]] = {
    "success": {
        "kind": "binary", "better": "higher", "time_like": False, "unit": "",
        "doc": "1 if the goal was reached without any collision within the horizon",
    },
    "collision": {
        "kind": "binary", "better": "lower", "time_like": False, "unit": "",
        "doc": "1 if the car touched an obstacle",
        "margin": "min_clearance",  # a check on collision gets this as its robustness margin
    },
    "off_course": {
        "kind": "binary", "better": "lower", "time_like": False, "unit": "",
        "doc": "1 if the car left the arena (farther than arena_margin from the start-goal segment)",
    },
    "time_to_goal": {
        "kind": "continuous", "better": "lower", "time_like": True, "unit": "s",
        "doc": "simulated time until the goal was reached; NaN when the episode did not succeed",
    },
    "min_clearance": {
        "kind": "continuous", "better": "higher", "time_like": False, "unit": "m",
        "doc": "smallest distance between the car and any obstacle surface over the episode "
               "(0 on contact; capped at 10 m)",
    },
    "path_efficiency": {
        "kind": "continuous", "better": "higher", "time_like": False, "unit": "",
        "doc": "(initial goal distance - goal_radius) / driven path length when successful, else 0; "
               "1 is a straight drive",
    },
    "peak_lateral_accel": {
        "kind": "continuous", "better": "lower", "time_like": False, "unit": "m/s^2",
        "doc": "largest absolute lateral acceleration over the episode's steps (comfort); the impact "
               "step of a collision is left out",
    },
    "final_goal_distance": {
        "kind": "continuous", "better": "lower", "time_like": False, "unit": "m",
        "doc": "distance to the goal when the episode ended",
    },
}


# Per-step signals of the info dict that STL requirements may read (contract section 2).
SIGNALS: dict[str, dict[str, Any]] = {
    "speed": {"unit": "m/s", "doc": "forward speed"},
    "goal_distance": {"unit": "m", "doc": "distance to the goal"},
    "clearance": {"unit": "m", "doc": "chassis to the nearest obstacle surface"},
    "collision": {"unit": "", "doc": "1 while touching an obstacle"},
    "goal_reached": {"unit": "", "doc": "1 once the goal is reached"},
    "off_course": {"unit": "", "doc": "1 once the car left the arena"},
    "lateral_accel": {"unit": "m/s^2", "doc": "lateral acceleration"},
    "t": {"unit": "s", "doc": "simulated time"},
    "path_length": {"unit": "m", "doc": "driven path length"},
}


# In-the-loop model metrics (contract section 1.4): the perception model's predicted proximity bins
# (agent.diagnostics()["proximity"]) against the rays' ground truth in every step's info.
MODEL_METRICS: dict[str, dict[str, Any]] = {
    "model_mae": {
        "score": "mae", "prediction": "proximity", "label": "ray_proximity", "outcome": "success",
        "offline": "val_mae",  # the manifests' training.val_mae_<lighting>
        "doc": "mean absolute error of the predicted proximity bins vs ray_proximity, over the frames the "
               "model met in closed loop",
    },
    "model_ece": {
        "score": "calibration_error", "prediction": "proximity", "label": "ray_proximity", "outcome": "success",
        "doc": "calibration error of the predicted proximity bins (10 equal-width bins) vs ray_proximity",
    },
}


def episode_metrics(infos: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> dict[str, float]:
    """`infos[0]` is reset's info, `infos[i]` step i's. Returns every METRICS name as a float."""
    if not infos:
        raise ValueError("episode_metrics: infos is empty; it needs at least the info returned by reset()")
    goal_radius = float(params.get("goal_radius", PARAMS["goal_radius"]["default"]))
    collided = np.array([bool(i["collision"]) for i in infos])
    reached = np.array([bool(i["goal_reached"]) for i in infos])
    off = np.array([bool(i["off_course"]) for i in infos])
    clearance = np.array([float(i["clearance"]) for i in infos], dtype=np.float64)
    steps = infos[1:]
    # The impact step's acceleration measures the crash, not the driving: collision counts it.
    lateral = np.array([abs(float(i["lateral_accel"])) for i in steps if not i["collision"]], dtype=np.float64)

    success = bool(reached.any() and not collided.any())
    time_to_goal = math.nan
    efficiency = 0.0
    if success:
        first = int(np.argmax(reached))
        time_to_goal = float(infos[first]["t"])
        path = float(infos[first]["path_length"])
        straight = max(float(infos[0]["goal_distance"]) - goal_radius, 0.0)
        efficiency = 1.0 if path <= 0.0 else float(min(straight / path, 1.0))
    return {
        "success": float(success),
        "collision": float(collided.any()),
        "off_course": float(off.any()),
        "time_to_goal": time_to_goal,
        "min_clearance": float(np.nanmin(clearance)) if np.isfinite(clearance).any() else math.nan,
        "path_efficiency": efficiency,
        "peak_lateral_accel": float(lateral.max()) if lateral.size else 0.0,
        "final_goal_distance": float(infos[-1]["goal_distance"]),
    }
