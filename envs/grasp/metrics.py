"""Episode metrics of `simtest/Grasp-v0` (contract section 1): declarations plus
`episode_metrics(infos, params)`, computed in the worker from the per-step ground truth. Pure numpy."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["METRICS", "episode_metrics"]

METRICS: dict[str, dict[str, Any]] = {
    "success": {
        "kind": "binary", "better": "higher", "time_like": False, "unit": "",
        "doc": "1 if the object ended the episode released inside the bin",
    },
    "grasp_attempts": {
        "kind": "continuous", "better": "lower", "time_like": False, "unit": "",
        "doc": "number of times the gripper was commanded to close (open -> closed transitions)",
    },
    "time_to_place": {
        "kind": "continuous", "better": "lower", "time_like": True, "unit": "s",
        "doc": "simulated time until the object first rested released in the bin; NaN when it never did",
    },
    "drops": {
        "kind": "continuous", "better": "lower", "time_like": False, "unit": "",
        "doc": "times the object fell back onto the table (outside the bin) after it had been lifted",
    },
    "slipped": {
        "kind": "binary", "better": "lower", "time_like": False, "unit": "",
        "doc": "1 if a lifted object left the closed gripper at least once",
    },
    "clutter_collision": {
        "kind": "binary", "better": "lower", "time_like": False, "unit": "",
        "doc": "1 if the arm or the object touched a distractor",
    },
    "min_clearance": {
        "kind": "continuous", "better": "higher", "time_like": False, "unit": "m",
        "doc": "smallest distance between the arm (or the object) and any distractor (0 on contact, "
               "capped at 0.2 m, also with no clutter)",
    },
    "peak_joint_effort": {
        "kind": "continuous", "better": "lower", "time_like": False, "unit": "fraction of the torque limit",
        "doc": "largest mean |joint torque| over a control step, as a share of that joint's torque limit "
               "(the arm's 7 joints; heavy objects and fast moves raise it)",
    },
}


def episode_metrics(infos: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> dict[str, float]:
    """`infos[0]` is reset's info, `infos[i]` step i's. Returns every METRICS name as a float."""
    del params
    if not infos:
        raise ValueError("episode_metrics: infos is empty; it needs at least the info returned by reset()")
    placed = np.array([bool(i["placed"]) for i in infos])
    first = int(np.argmax(placed)) if placed.any() else -1
    clearance = np.array([float(i["clearance"]) for i in infos], dtype=np.float64)
    steps = infos[1:]
    return {
        "success": float(bool(infos[-1]["placed"])),
        "grasp_attempts": float(sum(bool(i["grasp_attempt"]) for i in steps)),
        "time_to_place": float(infos[first]["t"]) if first >= 0 and infos[-1]["placed"] else math.nan,
        "drops": float(sum(bool(i["drop"]) for i in steps)),
        "slipped": float(any(bool(i["slip"]) for i in steps)),
        "clutter_collision": float(any(bool(i["clutter_contact"]) for i in steps)),
        "min_clearance": float(clearance.min()),
        "peak_joint_effort": float(max((float(i["joint_effort"]) for i in steps), default=0.0)),
    }
