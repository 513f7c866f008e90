"""Declared scenario parameters of `simtest/Driving-v0` (contract section 1): plain data plus a
stdlib-only validator, so the harness can read and check them without pybullet or numpy."""

from __future__ import annotations

import math
from typing import Any, Mapping

__all__ = ["PARAMS", "defaults", "resolve_params"]

# Route frame (used by obstacle_positions): origin at the start, x along the straight line from the
# start to the goal, y to its left. World frame: the route points along goal_bearing.
PARAMS: dict[str, dict[str, Any]] = {
    "n_obstacles": {
        "type": "int", "min": 0, "max": 12, "default": 3, "unit": "",
        "doc": "number of randomly placed static obstacles (ignored when obstacle_positions is set); "
               "when the corridor is full the next ones spill further to the sides",
    },
    "obstacle_size": {
        "type": "float", "min": 0.2, "max": 1.5, "default": 0.5, "unit": "m",
        "doc": "footprint width of an obstacle (box side or cylinder diameter); random obstacles vary "
               "by +-20% around it",
    },
    "obstacle_spread": {
        "type": "float", "min": 0.0, "max": 3.0, "default": 0.8, "unit": "m",
        "doc": "largest lateral offset of a random obstacle's centre from the start-goal line (exceeded "
               "only when the corridor is too full for n_obstacles)",
    },
    "obstacle_shape": {
        "type": "str", "choices": ["box", "cylinder", "mixed"], "default": "mixed", "unit": "",
        "doc": "shape of the obstacles; mixed draws each shape from the scene stream",
    },
    "obstacle_colour": {
        "type": "str", "choices": ["mixed", "red", "orange", "yellow", "blue", "magenta", "cyan"],
        "default": "mixed", "unit": "",
        "doc": "paint of every obstacle; mixed draws each obstacle's colour from the scene stream. The "
               "colour is drawn in every case, so changing this parameter changes the paint only: the "
               "layout, shapes and sizes of a seed stay the same (a metamorphic pair differs in colour alone)",
    },
    "obstacle_positions": {
        "type": "list", "default": [], "unit": "m",
        "doc": "explicit obstacle centres [[along, left], ...] in the route frame (along: metres from "
               "the start toward the goal, left: metres to the left of that line); when not empty it "
               "replaces the random placement and n_obstacles",
    },
    "goal_distance": {
        "type": "float", "min": 3.0, "max": 20.0, "default": 8.0, "unit": "m",
        "doc": "straight-line distance from the start to the goal",
    },
    "goal_bearing": {
        "type": "float", "min": -math.pi, "max": math.pi, "default": 0.0, "unit": "rad",
        "doc": "world-frame direction of the goal seen from the start (counter-clockwise from +x); it "
               "sets where the sun is relative to the route",
    },
    "initial_heading": {
        "type": "float", "min": -math.pi, "max": math.pi, "default": 0.0, "unit": "rad",
        "doc": "the car's initial heading relative to the direction of the goal (+left); 0 points at it",
    },
    "initial_speed": {
        "type": "float", "min": 0.0, "max": 4.0, "default": 0.0, "unit": "m/s",
        "doc": "forward speed of the car at reset",
    },
    "start_jitter": {
        "type": "float", "min": 0.0, "max": 0.5, "default": 0.1, "unit": "m",
        "doc": "the start position varies uniformly by up to this much in x and y (scene stream)",
    },
    "heading_jitter": {
        "type": "float", "min": 0.0, "max": 0.5, "default": 0.05, "unit": "rad",
        "doc": "the initial heading varies uniformly by up to this much (scene stream)",
    },
    "lighting": {
        "type": "str", "choices": ["day", "dusk", "night"], "default": "day", "unit": "",
        "doc": "sun direction, light colour and ambient/diffuse levels of the camera renderer; night "
               "is dark and blue-tinted but obstacles stay faintly visible",
    },
    "fog_density": {
        "type": "float", "min": 0.0, "max": 1.0, "default": 0.0, "unit": "1/m",
        "doc": "image-space fog: each pixel blends toward the fog colour by 1 - exp(-density * depth)",
    },
    "camera_noise": {
        "type": "float", "min": 0.0, "max": 50.0, "default": 2.0, "unit": "intensity (0-255)",
        "doc": "standard deviation of gaussian pixel noise, drawn from the camera-noise stream",
    },
    "surface_friction": {
        "observable": False,  # acts during the episode, not on the initial scene
        "type": "float", "min": 0.1, "max": 1.5, "default": 0.8, "unit": "",
        "doc": "tyre-ground friction coefficient (0.8 dry asphalt, 0.3 wet, 0.1 ice)",
    },
    "goal_radius": {
        "type": "float", "min": 0.2, "max": 2.0, "default": 0.5, "unit": "m",
        "doc": "the goal is reached when the car's reference point comes this close to it",
    },
    "arena_margin": {
        "observable": False,  # acts during the episode, not on the initial scene
        "type": "float", "min": 1.0, "max": 10.0, "default": 3.0, "unit": "m",
        "doc": "the car is off course (episode ends) when farther than this from the start-goal segment",
    },
    "max_steps": {
        "observable": False,  # acts during the episode, not on the initial scene
        "type": "int", "min": 10, "max": 2000, "default": 150, "unit": "control steps (0.1 s)",
        "doc": "horizon: the episode is truncated after this many control steps",
    },
}


def defaults() -> dict[str, Any]:
    """Every parameter at its declared default (fresh containers: safe to mutate)."""
    return {name: _copy(spec["default"]) for name, spec in PARAMS.items()}


def resolve_params(overrides: Mapping[str, Any] | None, base: Mapping[str, Any] | None = None,
                   where: str = "params") -> dict[str, Any]:
    """Merge `overrides` over `base` (default: the declared defaults) and check every value.

    All problems are reported at once in one ValueError naming `where`, the key and the fix;
    unknown names get a suggestion.
    """
    from simtest_envs import paramcheck  # lazily: this module stays plain data for the harness

    return paramcheck.resolve(PARAMS, "simtest/Driving-v0", overrides, defaults() if base is None else base, where, _check_positions)


def _check_positions(value: Any) -> tuple[Any, str | None]:
    if value is None:
        return [], None
    if not isinstance(value, (list, tuple)):
        return None, f"expected a list of [along, left] pairs, got {value!r}"
    out = []
    for i, item in enumerate(value):
        try:
            along, left = (float(v) for v in item)
        except (TypeError, ValueError):
            return None, f"item {i} must be a pair [along, left] of numbers in metres, got {item!r}"
        if not (math.isfinite(along) and math.isfinite(left)):
            return None, f"item {i} must be finite, got {item!r}"
        out.append([along, left])
    if len(out) > 32:
        return None, f"at most 32 obstacles, got {len(out)}"
    return out, None


def _copy(value: Any) -> Any:
    return [list(v) if isinstance(v, (list, tuple)) else v for v in value] if isinstance(value, list) else value
