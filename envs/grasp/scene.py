"""Scene sampling for `simtest/Grasp-v0`: pure numpy from the scene stream (object pose,
distractor layout, camera jitter), so a seed fixes the layout whatever the agent does."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

__all__ = ["Scene", "sample_scene", "WORKSPACE_X", "WORKSPACE_Y", "MIN_SPACING"]

WORKSPACE_X = (0.45, 0.65)  # m: where the object and the distractors are placed
WORKSPACE_Y = (-0.15, 0.15)
MIN_SPACING = 0.09  # m, centre to centre: a gripper finger fits between the object and clutter
YAW_JITTER = 0.4  # rad: the object's yaw is uniform in +-this (the controller grasps at yaw 0)


@dataclass(frozen=True)
class Scene:
    object_xy: tuple[float, float]
    object_yaw: float
    distractors: tuple[tuple[float, float, float, float], ...]  # (x, y, yaw, size)
    camera_eye_offset: tuple[float, float, float]
    camera_target_offset: tuple[float, float, float]


def sample_scene(params: Mapping[str, Any], rng: np.random.Generator) -> Scene:
    """Rejection sampling with a bounded number of tries: a distractor that finds no free spot
    after 200 draws is left out (never happens with the declared maximum of 5)."""
    ox = float(rng.uniform(*WORKSPACE_X))
    oy = float(rng.uniform(*WORKSPACE_Y))
    yaw = float(rng.uniform(-YAW_JITTER, YAW_JITTER))
    placed = [(ox, oy)]
    distractors = []
    for _ in range(int(params["n_distractors"])):
        for _ in range(200):
            # Clutter may spill a little beyond the workspace, so the object is not always central.
            x = float(rng.uniform(WORKSPACE_X[0] - 0.04, WORKSPACE_X[1] + 0.04))
            y = float(rng.uniform(WORKSPACE_Y[0] - 0.04, WORKSPACE_Y[1] + 0.04))
            if all(math.hypot(x - px, y - py) >= MIN_SPACING for px, py in placed):
                placed.append((x, y))
                distractors.append((x, y, float(rng.uniform(-math.pi, math.pi)), float(rng.uniform(0.03, 0.05))))
                break
    j = float(params["camera_jitter"])
    eye = tuple(float(v) for v in rng.uniform(-j, j, 3)) if j > 0 else (0.0, 0.0, 0.0)
    target = tuple(float(v) for v in rng.uniform(-j, j, 3)) if j > 0 else (0.0, 0.0, 0.0)
    return Scene((ox, oy), yaw, tuple(distractors), eye, target)  # type: ignore[arg-type]
