"""Reference policies for tests and calibration only: they read the ground-truth `info`
(ray_proximity), which a real agent never sees. They show that the task is doable and that the
obstacles matter; they are not agents of the harness."""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from simtest_envs.driving.env import CAMERA_FOV_DEG, MAX_SPEED, RAY_RANGE

__all__ = ["oracle_action", "straight_action"]


def _bin_angles(n_bins: int) -> np.ndarray:
    half = math.radians(CAMERA_FOV_DEG) / 2
    edges = np.linspace(half, -half, n_bins + 1)  # bin 0 is the leftmost, like the env's rays
    return (edges[:-1] + edges[1:]) / 2


def oracle_action(obs: Mapping[str, Any], info: Mapping[str, Any], cruise: float = 2.0,
                  half_width: float = 0.45) -> np.ndarray:
    """Head for the goal; steer to the free proximity bin nearest the goal direction; slow down
    when the way ahead is blocked or the goal is near."""
    speed, heading_error, distance = (float(v) for v in obs["ego"])
    prox = np.asarray(info["ray_proximity"], dtype=np.float64)
    angles = _bin_angles(prox.size)
    half = math.radians(CAMERA_FOV_DEG) / 2
    # A hit at distance d blocks every direction within asin(w / d) of it: the car is not a point.
    dist = (1.0 - prox) * RAY_RANGE
    hit = prox > 0.0
    reach = np.where(hit, np.arcsin(np.clip(half_width / np.maximum(dist, 1e-6), 0.0, 1.0)), -1.0)
    gap = np.abs(angles[:, None] - angles[None, :])  # [candidate, ray bin]
    wide = np.where(gap <= reach[None, :], prox[None, :], 0.0).max(axis=1)
    blocked = np.clip((wide - 0.15) / 0.5, 0.0, 1.0)
    target = float(np.clip(heading_error, -half, half))
    cost = np.abs(angles - target) / half + 4.0 * blocked
    best = int(np.argmin(cost))
    direction = float(angles[best])
    if abs(heading_error) > half and blocked[best] == 0.0:
        direction = heading_error
    if float(info["clearance"]) < 0.3 and not prox.any():
        # Passing an obstacle that has left the view: hold the heading until it is behind.
        direction = 0.0
    steering = float(np.clip(2.5 * direction, -1.0, 1.0))
    ahead = float(wide[prox.size // 2])
    target_speed = cruise * (1.0 - 0.7 * np.clip((ahead - 0.4) / 0.5, 0.0, 1.0))
    target_speed = min(target_speed, 0.8 * distance + 0.5) * (1.0 - 0.4 * abs(steering))
    return np.array([steering, np.clip(target_speed / MAX_SPEED, -1.0, 1.0)], dtype=np.float32)


def straight_action(obs: Mapping[str, Any], info: Mapping[str, Any], cruise: float = 2.5) -> np.ndarray:
    """Drive straight at the goal, ignoring obstacles."""
    heading_error = float(obs["ego"][1])
    return np.array([np.clip(2.5 * heading_error, -1.0, 1.0), cruise / MAX_SPEED], dtype=np.float32)
