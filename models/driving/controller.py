"""Non-learned controller of the driving agent: a vector-field histogram over the proximity bins.

Pure numpy and deterministic: steers to the free bin closest to the goal direction, slows down when
the way ahead is blocked and when the goal is near, backs out of dead ends, and remembers for a few
steps an obstacle that has just left the view at an edge. Perception decides what is free; this
decides what to do about it, so model versions differ only by their perception weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ControllerConfig:
    """Tuning of the histogram controller; every field is a plain number so it fits a manifest."""

    fov_deg: float = 90.0  # horizontal field of view that the proximity bins span
    first_bin_left: bool = True  # bin 0 looks to the left (+ heading error) of the camera axis
    ray_range: float = 8.0  # m at proximity 0: proximity = 1 - distance / ray_range
    half_width: float = 0.45  # m kept between the car's centre line and an obstacle
    free_level: float = 0.15  # proximity below this costs nothing
    block_span: float = 0.5  # proximity above free_level at which a direction is fully blocked
    side_level: float = 0.5  # edge-bin proximity that marks an obstacle beside the car
    side_hold_steps: int = 5  # control steps not to turn toward such an obstacle after it left view
    obstacle_weight: float = 4.0  # cost of a fully blocked bin, in units of half the field of view
    steer_gain: float = 2.5  # steering command per radian of chosen direction
    max_speed: float = 2.0  # m/s on a free road
    slow_start: float = 0.4  # proximity ahead where slowing starts
    slow_stop: float = 0.9  # proximity ahead where the target speed reaches min_speed
    min_speed: float = 0.75  # m/s: keep creeping so the car can still turn away
    goal_slow_gain: float = 0.8  # target speed (m/s) per metre of remaining distance
    turn_slow: float = 0.4  # fraction of speed shed at full steering
    repulse_weight: float = 0.5  # cost of directions near close hits, even where all are blocked
    repulse_width_deg: float = 20.0  # angular reach of that repulsion
    reverse_level: float = 0.9  # if even the best direction is this blocked, back up ...
    reverse_steps: int = 4  # ... for this many control steps
    reverse_speed: float = 1.0  # m/s
    escape_steps: int = 10  # control steps to keep to the side chosen when reversing
    speed_scale: float = 4.0  # m/s at throttle 1: the env's throttle is a wheel speed command

    def __post_init__(self) -> None:
        if not 0.0 < self.fov_deg < 360.0:
            raise ValueError(f"fov_deg must be in (0, 360), got {self.fov_deg}")
        if not 0.0 <= self.free_level < 1.0:
            raise ValueError(f"free_level must be in [0, 1), got {self.free_level}")
        if self.speed_scale <= 0.0:
            raise ValueError(f"speed_scale must be > 0, got {self.speed_scale}")
        if not self.slow_start < self.slow_stop:
            raise ValueError("slow_start must be below slow_stop")
        if self.ray_range <= 0.0 or self.half_width < 0.0 or self.block_span <= 0.0:
            raise ValueError("ray_range and block_span must be > 0, half_width >= 0")
        if self.side_hold_steps < 0:
            raise ValueError(f"side_hold_steps must be >= 0, got {self.side_hold_steps}")


class HistogramController:
    """proximity (n_bins,) + ego [speed, heading error, goal distance] -> [steering, throttle].

    Stateful only through short manoeuvre memories (reverse, escape side, obstacles beside the car);
    `reset()` clears them. The throttle is a speed command, so ego speed is not needed.
    """

    def __init__(self, n_bins: int = 9, config: ControllerConfig | None = None) -> None:
        if n_bins < 1:
            raise ValueError(f"n_bins must be >= 1, got {n_bins}")
        self.n_bins = n_bins
        self.config = config or ControllerConfig()
        half = np.deg2rad(self.config.fov_deg) / 2.0
        # Bin centres; positive angles are to the left, like the heading error.
        edges = np.linspace(half, -half, n_bins + 1)
        centres = (edges[:-1] + edges[1:]) / 2.0
        self.bin_angles = centres if self.config.first_bin_left else centres[::-1].copy()
        self._half_fov = half
        gap = self.bin_angles[:, None] - self.bin_angles[None, :]
        self._kernel = np.exp(-0.5 * (gap / np.deg2rad(self.config.repulse_width_deg)) ** 2)
        self.reset()

    def widened(self, proximity: np.ndarray) -> np.ndarray:
        """Each direction takes the worst proximity of the hits that the car body would touch if it
        drove that way: a hit at distance d blocks every direction within asin(half_width / d)."""
        c = self.config
        distance = np.maximum((1.0 - proximity) * c.ray_range, 1e-6)
        reach = np.where(
            proximity > 0.0, np.arcsin(np.clip(c.half_width / distance, 0.0, 1.0)), -1.0
        )
        gap = np.abs(self.bin_angles[:, None] - self.bin_angles[None, :])  # [direction, hit bin]
        return np.where(gap <= reach[None, :], proximity[None, :], 0.0).max(axis=1)

    def choose_direction(
        self, proximity: np.ndarray, heading_error: float, side: float = 0.0
    ) -> tuple[float, float]:
        """(direction in rad, +left; its widened proximity). side=+1/-1 restricts the choice to the
        left/right half (and the centre) while escaping after a reverse."""
        c = self.config
        target = float(np.clip(heading_error, -self._half_fov, self._half_fov))
        if side != 0.0:
            target = side * self._half_fov
        wide = self.widened(proximity)
        blocked = np.clip((wide - c.free_level) / c.block_span, 0.0, 1.0)
        # Soft repulsion: among equally blocked directions prefer those away from the nearest hits.
        near = (self._kernel @ proximity**2) / self._kernel.sum(axis=1)
        cost = (
            np.abs(self.bin_angles - target) / self._half_fov
            + c.obstacle_weight * blocked
            + c.repulse_weight * near
        )
        if side != 0.0:
            cost = cost + 10.0 * (side * self.bin_angles < 0.0)
        best = int(np.argmin(cost))
        direction = float(self.bin_angles[best])
        if abs(heading_error) > self._half_fov and blocked[best] == 0.0:
            # The goal is outside the view and the way toward it is free: turn fully toward it.
            direction = heading_error
        return direction, float(wide[best])

    def reset(self) -> None:
        self._side_memory = np.zeros(2, dtype=np.int64)
        self._reverse_left = 0
        self._reverse_steer = 0.0
        self._escape_left = 0
        self._escape_side = 0.0

    def act(self, proximity: np.ndarray, ego: np.ndarray) -> np.ndarray:
        c = self.config
        prox = np.clip(np.asarray(proximity, dtype=np.float64).reshape(-1), 0.0, 1.0)
        if prox.shape != (self.n_bins,):
            raise ValueError(f"expected {self.n_bins} proximity bins, got {prox.shape[0]}")
        _, heading_error, distance = (float(v) for v in np.asarray(ego).reshape(-1)[:3])

        if self._reverse_left > 0:
            self._reverse_left -= 1
            return np.array([self._reverse_steer, -c.reverse_speed / c.speed_scale], dtype=np.float32)
        side = 0.0
        if self._escape_left > 0:
            self._escape_left -= 1
            side = self._escape_side
        direction, best_wide = self.choose_direction(prox, heading_error, side)
        if best_wide >= c.reverse_level and c.reverse_steps > 0:
            # Boxed in: back up while turning the nose toward the least blocked side (in reverse,
            # steering the other way turns the nose that way), then keep to that side for a while
            # so the car does not drive straight back into the same spot.
            left = self._side_mean(prox, +1.0)
            right = self._side_mean(prox, -1.0)
            self._escape_side = side or (1.0 if left < right else -1.0)
            self._escape_left = c.escape_steps
            self._reverse_left = c.reverse_steps - 1
            self._reverse_steer = -self._escape_side
            return np.array([self._reverse_steer, -c.reverse_speed / c.speed_scale], dtype=np.float32)
        # An obstacle that just left the view at an edge is still beside the car: do not turn into
        # it until it is behind (a few control steps).
        left_edge, right_edge = (0, -1) if self.config.first_bin_left else (-1, 0)
        for slot, edge, sign in ((0, left_edge, 1.0), (1, right_edge, -1.0)):
            if prox[edge] >= c.side_level:
                self._side_memory[slot] = c.side_hold_steps
            elif self._side_memory[slot] > 0:
                self._side_memory[slot] -= 1
                if sign * direction > 0.0:
                    direction = 0.0
        steering = float(np.clip(c.steer_gain * direction, -1.0, 1.0))

        wide = self.widened(prox)
        ahead = float(wide[self._centre_bins()].max())
        frac = np.clip((ahead - c.slow_start) / (c.slow_stop - c.slow_start), 0.0, 1.0)
        target = c.max_speed - frac * (c.max_speed - c.min_speed)
        target = min(target, c.goal_slow_gain * max(distance, 0.0) + c.min_speed)
        target *= 1.0 - c.turn_slow * abs(steering)
        throttle = float(np.clip(target / c.speed_scale, -1.0, 1.0))
        return np.array([steering, throttle], dtype=np.float32)

    def _side_mean(self, proximity: np.ndarray, sign: float) -> float:
        """Mean proximity over the bins on one side (+1 left, -1 right)."""
        mask = sign * self.bin_angles > 0.0
        return float(proximity[mask].mean()) if mask.any() else 1.0

    def _centre_bins(self) -> slice:
        mid = self.n_bins // 2
        if self.n_bins % 2:
            return slice(mid, mid + 1)
        return slice(mid - 1, mid + 1)
