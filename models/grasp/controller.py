"""Scripted pick-and-place controller for `simtest/Grasp-v0`: a phase machine over grasp-point
waypoints (approach, descend, close, lift, check, carry, lower, release, retreat), turned into joint
targets by pybullet's inverse kinematics on the agent's own copy of the Panda (a separate DIRECT
client: the agent never touches the env's simulation). Deterministic: IK starts from the observed
joint angles every step, so the same observations give the same actions."""

from __future__ import annotations

import contextlib
import math
import os
import sys
from dataclasses import dataclass
from typing import Iterator

import numpy as np

__all__ = ["ControllerConfig", "GraspController", "HOME_JOINTS"]

HOME_JOINTS = (0.0, -0.6, 0.0, -2.4, 0.0, 1.8, 0.785)
_LOW = (-2.9671, -1.8326, -2.9671, -3.1416, -2.9671, -0.0873, -2.9671)
_HIGH = (2.9671, 1.8326, 2.9671, 0.0, 2.9671, 3.8223, 2.9671)
_GRASP_LINK = 11
_OPEN, _CLOSED = 0.08, 0.0


@dataclass(frozen=True)
class ControllerConfig:
    """Waypoint heights are of the grasp point (between the fingertips) above the table top."""

    hover_z: float = 0.14       # m: approach and lift height above the object
    grasp_height: float = 0.75  # grasp at this share of the perceived object size above the table
                                # (near the top: the fingers stay off the table and clear of the
                                # clutter around the object)...
    grasp_lift: float = 0.0     # ... plus this (m)
    min_grasp_z: float = 0.010  # m
    max_grasp_z: float = 0.045  # m
    carry_z: float = 0.20       # m: height while carrying to the bin
    release_z: float = 0.12     # m: the object is let go this high above the bin floor
    max_step: float = 0.05      # m per control step (0.1 s) along a straight line
    arrive_tol: float = 0.012   # m: a waypoint is reached within this distance
    close_steps: int = 4        # control steps to wait with the fingers closing
    release_steps: int = 3
    empty_width: float = 0.004  # m: finger opening below which the gripper holds nothing
    max_attempts: int = 3       # grasp attempts before giving up


class GraspController:
    """act(target, joints, bin_xy) -> action (8,) float32 = 7 joint targets + finger opening.

    `target` is the perceived object (x, y[, size]) in metres; the controller asks for a fresh one
    (wants_target) at the start and before every retry. The grasp height follows the perceived
    size (the fingers close near its top, never below min_grasp_z); without a size
    the object is taken to be 4 cm wide."""

    def __init__(self, config: ControllerConfig | None = None) -> None:
        import pybullet as pb
        import pybullet_data
        from pybullet_utils.bullet_client import BulletClient

        self.config = config or ControllerConfig()
        with _native_stdout_silenced():
            self._p = BulletClient(connection_mode=pb.DIRECT)
        self._p.setAdditionalSearchPath(pybullet_data.getDataPath())
        self._robot = self._p.loadURDF("franka_panda/panda.urdf", [0, 0, 0], useFixedBase=True)
        self._down = self._p.getQuaternionFromEuler([math.pi, 0.0, 0.0])
        self.reset()

    def reset(self) -> None:
        self.phase = "perceive"
        self.attempts = 0
        self.target: np.ndarray | None = None
        self.grasp_z = 0.024
        self._wait = 0
        self._joints_cmd: np.ndarray | None = None
        self._opening = _OPEN

    @property
    def wants_target(self) -> bool:
        return self.phase == "perceive"

    def close(self) -> None:
        try:
            self._p.disconnect()
        except Exception:  # noqa: BLE001 - already gone at interpreter shutdown
            pass

    # ------------------------------------------------------------------ kinematics

    def _set(self, joints: np.ndarray) -> None:
        for j, q in enumerate(joints[:7]):
            self._p.resetJointState(self._robot, j, float(q), 0.0)

    def grasp_point(self, joints: np.ndarray) -> np.ndarray:
        """Forward kinematics of the grasp point for the observed joint angles."""
        self._set(joints)
        return np.array(self._p.getLinkState(self._robot, _GRASP_LINK, computeForwardKinematics=True)[4])

    def _ik(self, joints: np.ndarray, pos: np.ndarray) -> np.ndarray:
        self._set(joints)
        ranges = [h - lo for lo, h in zip(_LOW, _HIGH)]
        q = self._p.calculateInverseKinematics(
            self._robot, _GRASP_LINK, pos.tolist(), self._down, lowerLimits=list(_LOW), upperLimits=list(_HIGH),
            jointRanges=ranges, restPoses=list(HOME_JOINTS), maxNumIterations=60, residualThreshold=1e-5)
        return np.clip(np.array(q[:7]), _LOW, _HIGH)

    # ------------------------------------------------------------------ phases

    def act(self, target: np.ndarray | None, joints: np.ndarray, bin_xy: np.ndarray) -> np.ndarray:
        c = self.config
        joints = np.asarray(joints, dtype=np.float64)
        here = self.grasp_point(joints)
        width = float(joints[7] + joints[8])
        if self.phase == "perceive":
            t = np.asarray(target, dtype=np.float64).reshape(-1)
            size = float(t[2]) if t.size > 2 else 0.04
            self.target = t[:2]
            self.grasp_z = float(np.clip(c.grasp_height * size + c.grasp_lift, c.min_grasp_z, c.max_grasp_z))
            self.attempts += 1
            self._opening = _OPEN
            self.phase = "approach"
        tx, ty = self.target
        bx, by = float(bin_xy[0]), float(bin_xy[1])
        waypoint = None
        if self.phase == "approach":
            waypoint = np.array([tx, ty, c.hover_z])
            if self._arrived(here, waypoint, xy_only=False):
                self.phase = "descend"
        if self.phase == "descend":
            waypoint = np.array([tx, ty, self.grasp_z])
            if self._arrived(here, waypoint, xy_only=False):
                self.phase, self._wait = "close", c.close_steps
        if self.phase == "close":
            self._opening = _CLOSED
            waypoint = np.array([tx, ty, self.grasp_z])
            self._wait -= 1
            if self._wait < 0:
                self.phase = "lift"
        if self.phase == "lift":
            waypoint = np.array([tx, ty, c.carry_z])
            if self._arrived(here, waypoint, xy_only=False):
                if width < c.empty_width:  # nothing between the fingers
                    self.phase = "perceive" if self.attempts < c.max_attempts else "give_up"
                    self._opening = _OPEN
                else:
                    self.phase = "carry"
        if self.phase == "carry":
            waypoint = np.array([bx, by, c.carry_z])
            if self._arrived(here, waypoint, xy_only=False):
                self.phase = "lower"
        if self.phase == "lower":
            waypoint = np.array([bx, by, c.release_z])
            if self._arrived(here, waypoint, xy_only=False):
                self.phase, self._wait = "release", c.release_steps
        if self.phase == "release":
            self._opening = _OPEN
            waypoint = np.array([bx, by, c.release_z])
            self._wait -= 1
            if self._wait < 0:
                self.phase = "retreat"
        if self.phase in ("retreat", "give_up", "perceive"):
            waypoint = np.array([here[0], here[1], c.carry_z + 0.05])
        step = waypoint - here
        dist = float(np.linalg.norm(step))
        goal = waypoint if dist <= c.max_step else here + step * (c.max_step / dist)
        q = self._ik(joints, goal)
        return np.array([*q, self._opening], dtype=np.float32)

    def _arrived(self, here: np.ndarray, waypoint: np.ndarray, xy_only: bool) -> bool:
        d = here[:2] - waypoint[:2] if xy_only else here - waypoint
        return float(np.linalg.norm(d)) < self.config.arrive_tol


@contextlib.contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
