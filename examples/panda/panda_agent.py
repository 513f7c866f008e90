"""Scripted agents for panda-gym's end-effector control (action = displacement command in
[-1, 1]^3, 5 cm per unit). Observation dict: "observation" starts with the end-effector position
(and, for Push, has the object position at [6:9]), "desired_goal" is the target. Deterministic."""

from __future__ import annotations

import numpy as np


class ReachAgent:
    """Proportional reach that stops moving within `deadband` (m) of the goal."""

    def __init__(self, gain: float, deadband: float) -> None:
        self.gain = gain
        self.deadband = deadband

    def reset(self, seed: int) -> None:
        del seed

    def act(self, obs) -> np.ndarray:
        ee = np.asarray(obs["observation"][:3], dtype=np.float64)
        goal = np.asarray(obs["desired_goal"], dtype=np.float64)
        if float(np.linalg.norm(goal - ee)) < self.deadband:
            return np.zeros(3, dtype=np.float32)
        return np.clip(self.gain * (goal - ee) / 0.05, -1.0, 1.0).astype(np.float32)


class PushAgent:
    """Goes behind the object (seen from the goal), then pushes it along the line to the goal."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def reset(self, seed: int) -> None:
        del seed

    def act(self, obs) -> np.ndarray:
        o = np.asarray(obs["observation"], dtype=np.float64)
        ee, obj = o[:3], o[6:9]
        goal = np.asarray(obs["desired_goal"], dtype=np.float64)
        d = goal[:2] - obj[:2]
        n = d / max(float(np.linalg.norm(d)), 1e-6)
        behind = np.array([*(obj[:2] - 0.05 * n), obj[2]])
        lateral = ee[:2] - obj[:2]
        aligned = float(np.dot(lateral, -n)) > 0.03 and abs(float(np.cross(n, lateral))) < 0.015
        if not aligned:
            target = behind + np.array([0.0, 0.0, 0.04 if float(np.linalg.norm(ee[:2] - behind[:2])) > 0.02 else 0.0])
        else:
            target = np.array([*(goal[:2] - 0.02 * n), obj[2]])
        return np.clip(self.gain * (target - ee) / 0.05, -1.0, 1.0).astype(np.float32)


def make_agent(weights=None, task: str = "reach", gain: float = 1.0, deadband: float = 0.0):
    del weights
    if task == "push":
        return PushAgent(gain=float(gain))
    return ReachAgent(gain=float(gain), deadband=float(deadband))
