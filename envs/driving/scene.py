"""Scene layout of the driving env: params + scene stream -> start pose, goal and obstacles.

Pure numpy (no pybullet), so the placement rules are testable on their own and the env only
turns a `Scene` into bodies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

__all__ = ["Obstacle", "Scene", "sample_scene", "OBSTACLE_COLOURS", "COLOUR_NAMES"]

# Saturated colours far from the grey ground, so obstacles stand out in every lighting.
OBSTACLE_COLOURS: tuple[tuple[float, float, float], ...] = (
    (0.90, 0.15, 0.10),  # red
    (0.95, 0.55, 0.05),  # orange
    (0.95, 0.85, 0.10),  # yellow
    (0.15, 0.35, 0.95),  # blue
    (0.85, 0.20, 0.85),  # magenta
    (0.10, 0.80, 0.85),  # cyan
)
# The names of OBSTACLE_COLOURS, in the same order (values of the obstacle_colour parameter).
COLOUR_NAMES: tuple[str, ...] = ("red", "orange", "yellow", "blue", "magenta", "cyan")

START_CLEARANCE = 1.5  # m between the start point and any random obstacle's bounding circle
GOAL_CLEARANCE = 0.3  # m between the goal circle and any random obstacle's bounding circle
PASS_GAP = 0.6  # m between random obstacles' bounding circles: the car (0.3 m wide) fits through
PLACEMENT_TRIES = 400  # candidates per obstacle before it is dropped
WIDEN_EVERY, WIDEN_BY = 50, 0.5  # a full corridor widens by 0.5 m every 50 failed candidates


@dataclass(frozen=True)
class Obstacle:
    shape: str  # "box" | "cylinder"
    x: float
    y: float
    yaw: float
    size: float  # footprint width (box side, cylinder diameter), m
    height: float
    colour: tuple[float, float, float]

    @property
    def radius(self) -> float:
        """Radius of the footprint's bounding circle."""
        return self.size * (math.sqrt(0.5) if self.shape == "box" else 0.5)


@dataclass(frozen=True)
class Scene:
    start: tuple[float, float, float]  # x, y, yaw of the car at reset (jitter applied)
    goal: tuple[float, float]
    route_origin: tuple[float, float]  # nominal start (before jitter)
    route_yaw: float  # world direction of the start -> goal line
    obstacles: tuple[Obstacle, ...]

    def to_world(self, along: float, left: float) -> tuple[float, float]:
        c, s = math.cos(self.route_yaw), math.sin(self.route_yaw)
        ox, oy = self.route_origin
        return ox + along * c - left * s, oy + along * s + left * c


def sample_scene(params: Mapping[str, Any], rng: np.random.Generator) -> Scene:
    """Draw a scene. Every random number comes from `rng` (the scene stream), in a fixed order."""
    d = float(params["goal_distance"])
    route_yaw = float(params["goal_bearing"])
    jitter = float(params["start_jitter"])
    dx, dy = rng.uniform(-jitter, jitter, size=2) if jitter > 0 else (0.0, 0.0)
    dyaw = rng.uniform(-1.0, 1.0) * float(params["heading_jitter"])
    start = (float(dx), float(dy), _wrap(route_yaw + float(params["initial_heading"]) + float(dyaw)))
    goal = (d * math.cos(route_yaw), d * math.sin(route_yaw))
    base = Scene(start=start, goal=goal, route_origin=(0.0, 0.0), route_yaw=route_yaw, obstacles=())

    explicit = params.get("obstacle_positions") or []
    size = float(params["obstacle_size"])
    obstacles: list[Obstacle] = []
    if explicit:
        for along, left in explicit:
            shape, yaw, colour = _looks(params["obstacle_shape"], rng, params.get("obstacle_colour", "mixed"))
            x, y = base.to_world(float(along), float(left))
            obstacles.append(_make(shape, x, y, yaw, size, colour))
    else:
        spread = float(params["obstacle_spread"])
        goal_r = float(params["goal_radius"])
        for _ in range(int(params["n_obstacles"])):
            shape, yaw, colour = _looks(params["obstacle_shape"], rng, params.get("obstacle_colour", "mixed"))
            s = size * float(rng.uniform(0.8, 1.2))
            r = _make(shape, 0.0, 0.0, 0.0, s, colour).radius
            lo, hi = r + START_CLEARANCE, d - r - goal_r - GOAL_CLEARANCE
            for attempt in range(PLACEMENT_TRIES):
                # n_obstacles is honoured where possible: when the corridor is full, later
                # obstacles go a little further to the sides rather than being dropped.
                band = spread + WIDEN_BY * (attempt // WIDEN_EVERY)
                along = float(rng.uniform(lo, hi)) if hi > lo else (lo + hi) / 2
                left = float(rng.uniform(-band, band)) if band > 0 else 0.0
                x, y = base.to_world(along, left)
                if hi <= lo or _blocked(x, y, r, obstacles, start, goal, goal_r):
                    continue
                obstacles.append(_make(shape, x, y, yaw, s, colour))
                break
    return Scene(start=start, goal=goal, route_origin=(0.0, 0.0), route_yaw=route_yaw,
                 obstacles=tuple(obstacles))


def _looks(shape_param: str, rng: np.random.Generator,
           colour_param: str = "mixed") -> tuple[str, float, tuple[float, float, float]]:
    # Always draw all three, so the stream position depends on neither obstacle_shape nor
    # obstacle_colour: two cases that differ in colour only have the same layout.
    pick, yaw, colour_i = rng.random(), rng.uniform(0.0, math.pi / 2), rng.integers(len(OBSTACLE_COLOURS))
    shape = shape_param if shape_param != "mixed" else ("box" if pick < 0.5 else "cylinder")
    if colour_param != "mixed":
        colour_i = COLOUR_NAMES.index(colour_param)
    return shape, float(yaw), OBSTACLE_COLOURS[int(colour_i)]


def _make(shape: str, x: float, y: float, yaw: float, size: float, colour) -> Obstacle:
    # Taller than the camera and the proximity rays (0.3 m), so both always see it.
    return Obstacle(shape=shape, x=float(x), y=float(y), yaw=float(yaw), size=float(size),
                    height=max(0.6, float(size)), colour=colour)


def _blocked(x, y, r, placed, start, goal, goal_r) -> bool:
    if math.hypot(x - start[0], y - start[1]) < r + START_CLEARANCE:
        return True
    if math.hypot(x - goal[0], y - goal[1]) < r + goal_r + GOAL_CLEARANCE:
        return True
    return any(math.hypot(x - o.x, y - o.y) < r + o.radius + PASS_GAP for o in placed)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi
