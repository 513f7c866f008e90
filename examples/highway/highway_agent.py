"""A rule-based driver for highway-env's Kinematics observation as the recipe configures it
(5 vehicles x [presence, x, y, vx, vy] in metres, ego first, others relative to it) and
DiscreteMetaAction (0 LANE_LEFT, 1 IDLE, 2 LANE_RIGHT, 3 FASTER, 4 SLOWER). Deterministic."""

from __future__ import annotations

import numpy as np

LANE_LEFT, IDLE, LANE_RIGHT, FASTER, SLOWER = range(5)
LANE = 4.0  # m: highway-env's lane width


class RuleDriver:
    def __init__(self, gap: float, lane_gap: float) -> None:
        self.gap = gap            # m ahead in the same lane that counts as "too close"
        self.lane_gap = lane_gap  # m free before and behind in the next lane to change into it

    def reset(self, seed: int) -> None:
        del seed

    def act(self, obs) -> int:
        o = np.asarray(obs, dtype=np.float64)
        others = o[1:][o[1:, 0] > 0.5]
        ahead = [v for v in others if abs(v[2]) < LANE / 2 and 0 < v[1] < self.gap]
        if not ahead:
            return FASTER
        for action, side in ((LANE_LEFT, -1), (LANE_RIGHT, 1)):
            beside = [v for v in others if abs(v[2] - side * LANE) < LANE / 2 and abs(v[1]) < self.lane_gap]
            if not beside:
                return action
        return SLOWER


def make_agent(weights=None, gap: float = 30.0, lane_gap: float = 15.0) -> RuleDriver:
    del weights
    return RuleDriver(gap=float(gap), lane_gap=float(lane_gap))
