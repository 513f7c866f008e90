"""Declared scenario parameters of `simtest/Grasp-v0` (contract section 1): plain data plus a
stdlib-only validator, so the harness can read and check them without pybullet or numpy.

Frames: world x points away from the robot base (at the origin), y to its left, z up; the table
top is z = 0. Objects are placed in the workspace x in [0.45, 0.65] m, y in [-0.15, 0.15] m."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["PARAMS", "COLOURS", "defaults", "resolve_params"]

# Object colours (RGB 0-1). Distractors are always grey-white, so the target is the coloured object.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.15, 0.12),
    "green": (0.15, 0.70, 0.20),
    "blue": (0.15, 0.30, 0.85),
    "yellow": (0.90, 0.80, 0.10),
}

PARAMS: dict[str, dict[str, Any]] = {
    "object_shape": {
        "type": "str", "choices": ["box", "cylinder", "sphere"], "default": "box", "unit": "",
        "doc": "shape of the object to pick (a cube, an upright cylinder or a ball)",
    },
    "object_size": {
        "type": "float", "min": 0.02, "max": 0.06, "default": 0.04, "unit": "m",
        "doc": "width of the object (cube side, cylinder or ball diameter); the cylinder is as tall as it is wide",
    },
    "object_colour": {
        "type": "str", "choices": list(COLOURS), "default": "red", "unit": "",
        "doc": "colour of the object; distractors are grey-white",
    },
    "object_mass": {
        "type": "float", "min": 0.02, "max": 0.5, "default": 0.1, "unit": "kg",
        "doc": "mass of the object",
        "observable": False,  # acts once the arm lifts the object, not on the initial scene
    },
    "object_friction": {
        "type": "float", "min": 0.2, "max": 1.5, "default": 0.8, "unit": "",
        "doc": "lateral friction coefficient of the object (the fingers and table have 1.0; pybullet "
               "combines them by multiplication)",
        "observable": False,  # acts on contact, not on the initial scene
    },
    "n_distractors": {
        "type": "int", "min": 0, "max": 5, "default": 0, "unit": "",
        "doc": "table clutter: grey-white boxes placed at random in the workspace, at least 9 cm "
               "(centre to centre) from the object and from each other",
    },
    "light_elevation": {
        "type": "float", "min": 10.0, "max": 90.0, "default": 60.0, "unit": "deg",
        "doc": "elevation of the light above the table (90 = straight overhead, low values = side light)",
    },
    "light_azimuth": {
        "type": "float", "min": -180.0, "max": 180.0, "default": 45.0, "unit": "deg",
        "doc": "azimuth of the light, counter-clockwise from +x",
    },
    "light_intensity": {
        "type": "float", "min": 0.2, "max": 1.5, "default": 1.0, "unit": "",
        "doc": "scales the diffuse and ambient light of the camera renderer",
    },
    "camera_jitter": {
        "type": "float", "min": 0.0, "max": 0.02, "default": 0.005, "unit": "m",
        "doc": "the fixed camera's position and look-at point vary uniformly by up to this much per "
               "axis (scene stream): a camera mount that is not exactly where it was calibrated; four "
               "black calibration marks on the table show where it looks",
    },
    "camera_noise": {
        "type": "float", "min": 0.0, "max": 30.0, "default": 2.0, "unit": "intensity (0-255)",
        "doc": "standard deviation of gaussian pixel noise, drawn from the camera-noise stream",
    },
    "bin_x": {
        "type": "float", "min": 0.2, "max": 0.35, "default": 0.3, "unit": "m",
        "doc": "x of the bin centre (the bin is 16 cm square with 5 cm walls)",
    },
    "bin_y": {
        "type": "float", "min": -0.45, "max": 0.45, "default": 0.35, "unit": "m",
        "doc": "y of the bin centre (+ = the robot's left); |bin_y| < 0.2 puts it in front of the base",
    },
    "max_steps": {
        "type": "int", "min": 10, "max": 400, "default": 80, "unit": "control steps (0.1 s)",
        "doc": "horizon: the episode is truncated after this many control steps",
        "observable": False,  # the horizon, not the scene
    },
}


def defaults() -> dict[str, Any]:
    """Every parameter at its declared default."""
    return {name: spec["default"] for name, spec in PARAMS.items()}


def resolve_params(overrides: Mapping[str, Any] | None, base: Mapping[str, Any] | None = None,
                   where: str = "params") -> dict[str, Any]:
    """Merge `overrides` over `base` (default: the declared defaults) and check every value; all
    problems at once in one ValueError naming `where`, the key and the fix."""
    from simtest_envs import paramcheck  # lazily: this module stays plain data for the harness

    return paramcheck.resolve(PARAMS, "simtest/Grasp-v0", overrides, defaults() if base is None else base, where)
