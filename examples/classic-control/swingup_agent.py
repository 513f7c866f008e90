"""A user-written agent for gymnasium's Pendulum-v1 (no simtest import needed).

simtest builds it from a manifest's entry point `swingup_agent:make_agent`, calling
`make_agent(weights, **options)`; the agent sees only observations:
[cos(angle), sin(angle), angular velocity], angle 0 = upright.
"""

from __future__ import annotations

import math

import numpy as np

NOMINAL_G = 10.0  # the agent does not know the scenario's gravity; it assumes Earth's


class SwingUp:
    """Pump energy until the pendulum swings near the top, then catch it with a PD controller."""

    def __init__(self, energy_gain: float, kp: float, kd: float, catch: float):
        self.energy_gain, self.kp, self.kd, self.catch = energy_gain, kp, kd, catch

    def reset(self, seed: int) -> None:
        del seed  # deterministic: no randomness to seed

    def act(self, observation) -> np.ndarray:
        cos, sin, rate = (float(x) for x in observation)
        angle = math.atan2(sin, cos)
        if cos > self.catch:  # close to upright: stabilise
            torque = -self.kp * angle - self.kd * rate
        else:  # drive the energy toward that of the upright rest state (0)
            energy = 0.5 * rate**2 + 1.5 * NOMINAL_G * (cos - 1.0)
            torque = -self.energy_gain * energy * rate if abs(rate) > 1e-3 else 1.0
        return np.array([np.clip(torque, -2.0, 2.0)], dtype=np.float32)


def make_agent(weights: str | None = None, energy_gain: float = 0.5, kp: float = 10.0, kd: float = 2.0,
               catch: float = 0.85) -> SwingUp:
    del weights  # a hand-written controller has no weights file
    return SwingUp(energy_gain, kp, kd, catch)
