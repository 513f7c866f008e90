"""`simtest/Grasp-v0`: a pybullet Franka Panda (pybullet_data's franka_panda/panda.urdf) picks a
coloured object from a table, among grey-white clutter, and places it in a bin, seen through a
fixed camera; per-step ground truth goes into `info` (docs/grasp.md)."""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import numpy as np
import pybullet as pb
import pybullet_data
from gymnasium import spaces
from pybullet_utils.bullet_client import BulletClient

from simtest_envs.native import native_stdout_silenced as _native_stdout_silenced
from simtest_envs.grasp.params import COLOURS, resolve_params
from simtest_envs.grasp.scene import Scene, sample_scene

__all__ = ["GraspEnv", "INFO_KEYS", "PHYSICS_HZ", "CONTROL_HZ", "HOME_JOINTS", "ARM_JOINTS", "FINGER_JOINTS",
           "GRASP_LINK", "JOINT_LOW", "JOINT_HIGH", "MAX_OPENING", "CAMERA", "BIN_INNER", "BIN_WALL_HEIGHT"]

PHYSICS_HZ = 240
CONTROL_HZ = 10
SUBSTEPS = PHYSICS_HZ // CONTROL_HZ
ARM_JOINTS = (0, 1, 2, 3, 4, 5, 6)
FINGER_JOINTS = (9, 10)
GRASP_LINK = 11  # panda_grasptarget: between the fingertips
HAND_LINK = 8
ARM_FORCES = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)  # N m: the URDF's effort limits
ARM_MAX_VELOCITY = (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61)  # rad/s: the URDF's velocity limits
FINGER_FORCE = 40.0  # N per finger
JOINT_LOW = (-2.9671, -1.8326, -2.9671, -3.1416, -2.9671, -0.0873, -2.9671)
JOINT_HIGH = (2.9671, 1.8326, 2.9671, 0.0, 2.9671, 3.8223, 2.9671)
MAX_OPENING = 0.08  # m between the fingers (0.04 per finger)
# Home: the hand above the workspace, pointing down, out of the fixed camera's way.
HOME_JOINTS = (0.0, -0.6, 0.0, -2.4, 0.0, 1.8, 0.785)
BIN_INNER = 0.16  # m, inner side of the square bin
BIN_WALL_HEIGHT = 0.05
BIN_WALL = 0.01
TABLE_RGBA = (0.62, 0.55, 0.45, 1.0)
BIN_RGBA = (0.25, 0.22, 0.20, 1.0)
DISTRACTOR_RGBA = (0.82, 0.82, 0.80, 1.0)
FIDUCIAL_RGBA = (0.05, 0.05, 0.05, 1.0)
FIDUCIALS = ((0.42, 0.19), (0.42, -0.19), (0.68, 0.17), (0.68, -0.17))  # m: black calibration marks
# The fixed camera (observation): in front of the workspace, looking down at it.
CAMERA = {"eye": (0.86, 0.0, 0.62), "target": (0.55, 0.0, 0.0), "fov": 36.0, "near": 0.05, "far": 3.0}
CLEARANCE_CAP = 0.2  # m: clearance reported when no distractor is nearer (or there are none)
INFO_KEYS = ("object_pose", "ee_pos", "gripper_width", "grasp_contact", "lifted", "in_bin", "placed", "slip",
             "drop", "off_table", "clutter_contact", "clearance", "joint_effort", "grasp_attempt", "t")


class GraspEnv(gymnasium.Env):
    """Pick and place with a Panda arm.

    Observation {"image": uint8 (S, S, 3) from the fixed camera (the arm is left out of this image:
    its meshes cost ~20 ms a frame in the CPU renderer, and the perception reads the object),
    "joints": float32 (9,) = 7 arm joint angles (rad) + 2 finger positions (m, 0-0.04 each),
    "bin": float32 (2,) = the bin centre (x, y) in metres (the task instruction)}.
    Action float32 (8,): 7 arm joint position targets (rad, within the URDF limits) and the
    commanded finger opening (m, 0 closed - 0.08 open). Position control at 240 Hz physics,
    10 Hz control (24 physics steps per `step`), no wall clock.
    Scenario params: constructor kwargs set defaults, `reset(options={"params": ...})` overrides
    per episode. Seeds: SeedSequence(seed).spawn(2) -> scene stream (object pose, clutter, camera
    jitter), camera-noise stream.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(self, image_size: int = 64, render_mode: str | None = None, **params: Any) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f'GraspEnv: render_mode must be None or "rgb_array", got {render_mode!r}')
        if int(image_size) != image_size or not 16 <= image_size <= 512:
            raise ValueError(f"GraspEnv: image_size must be an integer in [16, 512], got {image_size!r}")
        self.render_mode = render_mode
        self.image_size = int(image_size)
        self.default_params = resolve_params(params, where="GraspEnv(...)")
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8),
            "joints": spaces.Box(-np.inf, np.inf, (9,), np.float32),
            "bin": spaces.Box(-np.inf, np.inf, (2,), np.float32),
        })
        self.action_space = spaces.Box(np.array([*JOINT_LOW, 0.0], np.float32),
                                       np.array([*JOINT_HIGH, MAX_OPENING], np.float32))
        self._p: BulletClient | None = None
        self._robot = -1
        self._robot_colours: list[tuple[int, tuple]] = []
        self._base_state = -1
        self._bodies: list[int] = []
        self.params: dict[str, Any] = dict(self.default_params)
        self.scene: Scene | None = None
        self._noise_rng: np.random.Generator | None = None

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"params"})
        if unknown:
            raise ValueError(f'GraspEnv.reset: unknown option(s) {unknown}; the only option is "params"')
        self.params = resolve_params(options.get("params"), base=self.default_params,
                                     where='reset(options["params"])')
        if seed is None:
            seed = int(self.np_random.integers(0, 2**63 - 1))
        scene_ss, noise_ss = np.random.SeedSequence(seed).spawn(2)
        self.scene = sample_scene(self.params, np.random.default_rng(scene_ss))
        self._noise_rng = np.random.default_rng(noise_ss)
        self._build_world(self.scene, self.params)
        self._steps = 0
        self._closing = False
        self._was_held = False
        self._airborne = False
        self._settled = 0
        self._rest_z = self._object_half_height()
        info = self._info(effort=0.0, attempt=False, slip=False, drop=False)
        return self._observation(), info

    def step(self, action):
        if self.scene is None:
            raise RuntimeError("GraspEnv.step called before reset()")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (8,) or not np.all(np.isfinite(a)):
            raise ValueError(f"GraspEnv.step: action must be 8 finite numbers (7 joint targets in rad, "
                             f"finger opening in m), got {action!r}")
        a = np.clip(a, self.action_space.low, self.action_space.high)
        p = self._p
        for j, q, force, vmax in zip(ARM_JOINTS, a[:7], ARM_FORCES, ARM_MAX_VELOCITY):
            p.setJointMotorControl2(self._robot, j, pb.POSITION_CONTROL, targetPosition=float(q), force=force,
                                    maxVelocity=vmax)
        half = float(a[7]) / 2
        p.setJointMotorControlArray(self._robot, FINGER_JOINTS, pb.POSITION_CONTROL, targetPositions=[half, half],
                                    forces=[FINGER_FORCE, FINGER_FORCE])
        closing = float(a[7]) < 0.5 * MAX_OPENING
        attempt = closing and not self._closing
        self._closing = closing
        torque_sum = np.zeros(len(ARM_JOINTS))
        clutter_contact = False
        distractors = self._distractor_ids
        for _ in range(SUBSTEPS):
            p.stepSimulation()
            torque_sum += np.abs([s[3] for s in p.getJointStates(self._robot, ARM_JOINTS)])
            if distractors and not clutter_contact:
                clutter_contact = any(c[2] in distractors for c in p.getContactPoints(bodyA=self._robot)) or any(
                    c[2] in distractors for c in p.getContactPoints(bodyA=self._object))
        self._steps += 1
        # Effort: each joint's mean |torque| over the control step as a share of its limit (the
        # servo's first physics step after a new target always saturates; the mean does not).
        effort = float(np.max(torque_sum / SUBSTEPS / np.asarray(ARM_FORCES)))

        held = self._grasp_contact() and self._lifted()
        slip = bool(self._was_held and not self._grasp_contact() and self._closing)
        pos = self._object_pos()
        drop = False
        if self._was_held and not self._grasp_contact():
            self._airborne = True  # let go of (or lost) above the table
        if self._airborne and pos[2] < self._rest_z + 0.01 and not self._in_bin(pos):
            drop, self._airborne = True, False
        if self._in_bin(pos) and not self._grasp_contact():
            self._airborne = False
        self._was_held = held
        info = self._info(effort=effort, attempt=attempt, slip=slip, drop=drop, clutter_contact=clutter_contact)
        self._settled = self._settled + 1 if info["placed"] else 0
        terminated = bool(self._settled >= 3 or info["off_table"])
        truncated = bool(not terminated and self._steps >= self.params["max_steps"])
        reward = 1.0 if (info["placed"] and self._settled == 1) else 0.0
        return self._observation(), reward, terminated, truncated, info

    def render(self):
        if self.render_mode == "rgb_array":
            return self.render_scene()
        return None

    def close(self):
        if self._p is not None:
            try:
                self._p.disconnect()
            except pb.error:
                pass
            self._p = None
        super().close()

    # ------------------------------------------------------------------ views

    def render_wrist(self, size: int = 128) -> np.ndarray:
        """The wrist camera: on the hand, looking down between the fingers (arm included), with the
        episode's light, no sensor noise (drawing noise here would shift the noise stream)."""
        self._require_reset()
        p = self._p
        pos, orn = p.getLinkState(self._robot, HAND_LINK, computeForwardKinematics=True)[4:6]
        rot = np.array(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
        eye = np.array(pos) + rot @ np.array([0.06, 0.0, 0.02])
        forward = rot @ np.array([0.0, 0.0, 1.0])
        view = p.computeViewMatrix(eye.tolist(), (eye + forward).tolist(), (rot @ np.array([1.0, 0.0, 0.0])).tolist())
        proj = p.computeProjectionMatrixFOV(70.0, 1.0, 0.01, 2.0)
        return self._render(int(size), view, proj, robot=True)

    def render_scene(self, size: int = 256) -> np.ndarray:
        """The scene camera: the whole cell (arm, table, clutter, bin) from the front left."""
        self._require_reset()
        p = self._p
        view = p.computeViewMatrix([1.05, 0.55, 0.75], [0.4, 0.05, 0.05], [0, 0, 1])
        proj = p.computeProjectionMatrixFOV(50.0, 1.0, 0.05, 4.0)
        return self._render(int(size), view, proj, robot=True)

    def render_camera(self, size: int = 128) -> np.ndarray:
        """The fixed observation camera at `size` px (with jitter, without noise; no arm)."""
        self._require_reset()
        return self._camera_image(int(size), noise=False)

    # ------------------------------------------------------------------ world

    def _connect(self) -> BulletClient:
        if self._p is None:
            with _native_stdout_silenced():  # pybullet's C code prints "argv[0]=" on every connect
                p = BulletClient(connection_mode=pb.DIRECT)
            p.setAdditionalSearchPath(pybullet_data.getDataPath())
            p.setPhysicsEngineParameter(fixedTimeStep=1.0 / PHYSICS_HZ, numSubSteps=0,
                                       deterministicOverlappingPairs=1)
            # The arm is loaded once per env instance (its meshes take ~0.3 s to load); every reset
            # restores this saved state and rebuilds everything else (see _build_world).
            self._robot = p.loadURDF("franka_panda/panda.urdf", [0, 0, 0], useFixedBase=True)
            for j in range(p.getNumJoints(self._robot)):
                p.changeDynamics(self._robot, j, lateralFriction=1.0, spinningFriction=0.001)
            self._reset_robot(p)
            self._robot_colours = [(s[1], tuple(s[7])) for s in p.getVisualShapeData(self._robot)]
            self._base_state = p.saveState()
            self._p = p
        return self._p

    def _reset_robot(self, p: BulletClient) -> None:
        for j, q in zip(ARM_JOINTS, HOME_JOINTS):
            p.resetJointState(self._robot, j, q, 0.0)
        for j in FINGER_JOINTS:
            p.resetJointState(self._robot, j, MAX_OPENING / 2, 0.0)
        p.setJointMotorControlArray(self._robot, ARM_JOINTS, pb.POSITION_CONTROL, targetPositions=list(HOME_JOINTS),
                                    forces=list(ARM_FORCES))
        p.setJointMotorControlArray(self._robot, FINGER_JOINTS, pb.POSITION_CONTROL,
                                    targetPositions=[MAX_OPENING / 2] * 2, forces=[FINGER_FORCE] * 2)

    def _build_world(self, scene: Scene, params: dict[str, Any]) -> None:
        # Determinism across reset orders: remove last episode's bodies newest first (pybullet then
        # hands out the same body ids again), restore the arm's saved state (joints, velocities,
        # solver warm starts), re-apply the home motor targets, then create this episode's bodies
        # in a fixed order. tests/sim/test_grasp_env.py checks it bit for bit.
        p = self._connect()
        for body in reversed(self._bodies):
            p.removeBody(body)
        self._bodies = []
        p.restoreState(self._base_state)
        self._reset_robot(p)
        p.setGravity(0, 0, -9.81)
        bodies = self._bodies

        def box(half, pos, rgba, mass=0.0, yaw=0.0, collide=True):
            col = p.createCollisionShape(pb.GEOM_BOX, halfExtents=half) if collide else -1
            vis = p.createVisualShape(pb.GEOM_BOX, halfExtents=half, rgbaColor=rgba)
            body = p.createMultiBody(mass, col, vis, basePosition=pos,
                                     baseOrientation=p.getQuaternionFromEuler([0, 0, yaw]))
            bodies.append(body)
            return body

        table = box([0.55, 0.65, 0.02], [0.45, 0.0, -0.02], TABLE_RGBA)
        p.changeDynamics(table, -1, lateralFriction=1.0)
        bx, by = float(params["bin_x"]), float(params["bin_y"])
        h, w, half_inner = BIN_WALL_HEIGHT, BIN_WALL, BIN_INNER / 2
        for dx, dy, hx, hy in ((half_inner + w / 2, 0, w / 2, half_inner + w), (-half_inner - w / 2, 0, w / 2, half_inner + w),
                               (0, half_inner + w / 2, half_inner, w / 2), (0, -half_inner - w / 2, half_inner, w / 2)):
            box([hx, hy, h / 2], [bx + dx, by + dy, h / 2], BIN_RGBA)
        self._bin_ids = set(bodies[1:])
        # Calibration marks (visual only) at known table positions: they let a camera-based model
        # see where its jittered camera is looking.
        for mx, my in FIDUCIALS:
            box([0.012, 0.012, 0.0005], [mx, my, 0.0005], FIDUCIAL_RGBA, collide=False)

        size = float(params["object_size"])
        shape = params["object_shape"]
        rgba = [*COLOURS[params["object_colour"]], 1.0]
        if shape == "box":
            col = p.createCollisionShape(pb.GEOM_BOX, halfExtents=[size / 2] * 3)
            vis = p.createVisualShape(pb.GEOM_BOX, halfExtents=[size / 2] * 3, rgbaColor=rgba)
        elif shape == "cylinder":
            col = p.createCollisionShape(pb.GEOM_CYLINDER, radius=size / 2, height=size)
            vis = p.createVisualShape(pb.GEOM_CYLINDER, radius=size / 2, length=size, rgbaColor=rgba)
        else:
            col = p.createCollisionShape(pb.GEOM_SPHERE, radius=size / 2)
            vis = p.createVisualShape(pb.GEOM_SPHERE, radius=size / 2, rgbaColor=rgba)
        self._object = p.createMultiBody(float(params["object_mass"]), col, vis,
                                         basePosition=[scene.object_xy[0], scene.object_xy[1], size / 2],
                                         baseOrientation=p.getQuaternionFromEuler([0, 0, scene.object_yaw]))
        bodies.append(self._object)
        p.changeDynamics(self._object, -1, lateralFriction=float(params["object_friction"]),
                         rollingFriction=0.0005 if shape == "sphere" else 0.0, spinningFriction=0.001)
        ids = []
        for x, y, yaw, s in scene.distractors:
            ids.append(box([s / 2] * 3, [x, y, s / 2], DISTRACTOR_RGBA, mass=0.2, yaw=yaw))
        self._distractor_ids = set(ids)

        e = np.add(CAMERA["eye"], scene.camera_eye_offset)
        t = np.add(CAMERA["target"], scene.camera_target_offset)
        self._cam_view = p.computeViewMatrix(e.tolist(), t.tolist(), [0, 0, 1])
        self._cam_proj = p.computeProjectionMatrixFOV(CAMERA["fov"], 1.0, CAMERA["near"], CAMERA["far"])

    # ------------------------------------------------------------------ state

    def _object_pos(self) -> tuple[float, float, float]:
        return tuple(self._p.getBasePositionAndOrientation(self._object)[0])  # type: ignore[return-value]

    def _object_half_height(self) -> float:
        return float(self.params["object_size"]) / 2

    def _lifted(self) -> bool:
        return self._object_pos()[2] > self._rest_z + 0.03

    def _grasp_contact(self) -> bool:
        p = self._p
        return all(p.getContactPoints(bodyA=self._robot, bodyB=self._object, linkIndexA=j) for j in FINGER_JOINTS)

    def _in_bin(self, pos) -> bool:
        bx, by = float(self.params["bin_x"]), float(self.params["bin_y"])
        return abs(pos[0] - bx) < BIN_INNER / 2 and abs(pos[1] - by) < BIN_INNER / 2 and pos[2] < BIN_WALL_HEIGHT + 0.02

    def _clearance(self) -> float:
        if not self._distractor_ids:
            return CLEARANCE_CAP
        best = CLEARANCE_CAP
        for d in self._distractor_ids:
            for body in (self._robot, self._object):
                for c in self._p.getClosestPoints(body, d, CLEARANCE_CAP):
                    best = min(best, max(float(c[8]), 0.0))
        return best

    def _info(self, *, effort: float, attempt: bool, slip: bool, drop: bool, clutter_contact: bool = False) -> dict:
        p = self._p
        pos, orn = p.getBasePositionAndOrientation(self._object)
        yaw = p.getEulerFromQuaternion(orn)[2]
        ee = p.getLinkState(self._robot, GRASP_LINK, computeForwardKinematics=True)[4]
        fingers = [s[0] for s in p.getJointStates(self._robot, FINGER_JOINTS)]
        contact = self._grasp_contact()
        in_bin = self._in_bin(pos)
        return {
            "object_pose": [float(pos[0]), float(pos[1]), float(pos[2]), float(yaw)],
            "ee_pos": [float(v) for v in ee],
            "gripper_width": float(sum(fingers)),
            "grasp_contact": bool(contact),
            "lifted": bool(pos[2] > self._rest_z + 0.03),
            "in_bin": bool(in_bin),
            "placed": bool(in_bin and not contact),
            "slip": bool(slip),
            "drop": bool(drop),
            "off_table": bool(pos[2] < -0.1),
            "clutter_contact": bool(clutter_contact),
            "clearance": float(self._clearance()),
            "joint_effort": float(effort),
            "grasp_attempt": bool(attempt),
            "t": self._steps / CONTROL_HZ,
        }

    def _observation(self) -> dict:
        joints = [s[0] for s in self._p.getJointStates(self._robot, (*ARM_JOINTS, *FINGER_JOINTS))]
        return {
            "image": self._camera_image(self.image_size, noise=True),
            "joints": np.array(joints, dtype=np.float32),
            "bin": np.array([self.params["bin_x"], self.params["bin_y"]], dtype=np.float32),
        }

    # ------------------------------------------------------------------ rendering

    def _light(self) -> dict:
        el, az = math.radians(float(self.params["light_elevation"])), math.radians(float(self.params["light_azimuth"]))
        k = float(self.params["light_intensity"])
        return {"lightDirection": [math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)],
                "lightColor": [1.0, 1.0, 1.0], "lightAmbientCoeff": 0.3 * k, "lightDiffuseCoeff": 0.7 * k,
                "lightSpecularCoeff": 0.05, "lightDistance": 3.0}

    def _render(self, size: int, view, proj, robot: bool, shadow: int = 0) -> np.ndarray:
        if not robot:
            self._set_robot_visible(False)
        try:
            _, _, rgba, _, _ = self._p.getCameraImage(size, size, view, proj, renderer=pb.ER_TINY_RENDERER,
                                                      flags=pb.ER_NO_SEGMENTATION_MASK, shadow=shadow, **self._light())
        finally:
            if not robot:
                self._set_robot_visible(True)
        img = np.reshape(np.asarray(rgba, dtype=np.uint8), (size, size, 4))[:, :, :3]
        return np.ascontiguousarray(img)

    def _camera_image(self, size: int, noise: bool) -> np.ndarray:
        img = self._render(size, self._cam_view, self._cam_proj, robot=False)
        std = float(self.params["camera_noise"])
        if noise and std > 0:
            rgb = img.astype(np.float32) + std * self._noise_rng.standard_normal(img.shape, dtype=np.float32)
            img = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
        return img

    def _set_robot_visible(self, visible: bool) -> None:
        for link, rgba in self._robot_colours:
            self._p.changeVisualShape(self._robot, link, rgbaColor=list(rgba[:3]) + [rgba[3] if visible else 0.0])

    def _require_reset(self) -> None:
        if self.scene is None:
            raise RuntimeError("GraspEnv: call reset() before rendering")
