"""`simtest/Driving-v0` (contract section 2): a pybullet racecar on a ground plane drives to a goal
among static obstacles, seen through an on-board camera; per-step ground truth goes into `info`."""

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
from simtest_envs.driving.params import resolve_params
from simtest_envs.driving.scene import Scene, sample_scene

__all__ = ["DrivingEnv", "INFO_KEYS", "LIGHTING", "PHYSICS_HZ", "CONTROL_HZ", "MAX_SPEED", "RAY_RANGE", "CAMERA_FOV_DEG"]

PHYSICS_HZ = 240
CONTROL_HZ = 10
SUBSTEPS = PHYSICS_HZ // CONTROL_HZ
MAX_SPEED = 4.0  # m/s at throttle 1 (wheel velocity motors' target)
MAX_STEER = 0.5  # rad at steering 1
WHEEL_RADIUS = 0.05
WHEEL_FORCE = 10.0
STEER_FORCE = 10.0
RAY_RANGE = 8.0  # m: ray_proximity is 0 beyond this
RAYS_PER_BIN = 3  # several rays per bin so thin obstacles between bin centres are not missed
CLEARANCE_CAP = 10.0  # m: clearance reported when nothing is nearer (also with no obstacles)
CAMERA_FOV_DEG = 90.0  # horizontal = vertical (square image); ray_proximity spans the same angle
CAMERA_NEAR, CAMERA_FAR = 0.05, 30.0
CAMERA_MOUNT = (0.42, 0.0, 0.30)  # in the car frame: just ahead of the front wheels, so the car is out of view
CAMERA_PITCH = math.radians(8.0)  # looking down a little: the near ground is in view
RAY_HEIGHT = 0.30  # m above ground: below every obstacle's top, above the ground

_WHEELS = (2, 3, 5, 7)
_STEERING = (4, 6)
_CAR_Z = 0.001  # the racecar's resting base height: no drop at reset
_GROUND_RGBA = (0.52, 0.52, 0.50, 1.0)
_GOAL_RGBA = (0.10, 0.75, 0.20, 1.0)

# Sun direction (towards the light), colour, ambient/diffuse levels, sky and fog colours (0-255).
LIGHTING: dict[str, dict[str, Any]] = {
    "day": {"elevation": 60.0, "azimuth": 135.0, "colour": (1.0, 1.0, 1.0), "ambient": 0.6,
            "diffuse": 0.45, "specular": 0.05, "sky": (170, 200, 235), "fog": (200, 203, 208)},
    "dusk": {"elevation": 8.0, "azimuth": 200.0, "colour": (1.0, 0.62, 0.38), "ambient": 0.35,
             "diffuse": 0.55, "specular": 0.02, "sky": (190, 110, 80), "fog": (140, 112, 100)},
    # Dim moonlight: obstacles keep a faint colour contrast against the ground; the sky is black.
    "night": {"elevation": 45.0, "azimuth": 60.0, "colour": (0.45, 0.5, 0.85), "ambient": 0.16,
              "diffuse": 0.3, "specular": 0.0, "sky": (6, 8, 16), "fog": (28, 30, 38)},
}
INFO_KEYS = ("pose", "speed", "goal_distance", "clearance", "collision", "goal_reached", "off_course",
              "lateral_accel", "t", "path_length", "ray_proximity")


class DrivingEnv(gymnasium.Env):
    """Racecar to goal among obstacles. Observation {"image": uint8 (S, S, 3), "ego": [speed (m/s),
    heading error to goal (rad, +left), distance to goal (m)]}; action [steering, throttle] in [-1, 1]
    (steering 1 = full left; throttle = wheel target speed as a fraction of MAX_SPEED, negative
    reverses). Scenario params: constructor kwargs set defaults, `reset(options={"params": ...})`
    overrides per episode. `pose` and `goal_distance` refer to the base link (rear axle centre).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_HZ}

    def __init__(self, image_size: int = 64, proximity_bins: int = 9, render_mode: str | None = None,
                 **params: Any) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f'DrivingEnv: render_mode must be None or "rgb_array", got {render_mode!r}')
        if int(image_size) != image_size or not 8 <= image_size <= 512:
            raise ValueError(f"DrivingEnv: image_size must be an integer in [8, 512], got {image_size!r}")
        if int(proximity_bins) != proximity_bins or not 1 <= proximity_bins <= 64:
            raise ValueError(f"DrivingEnv: proximity_bins must be an integer in [1, 64], got {proximity_bins!r}")
        self.render_mode = render_mode
        self.image_size = int(image_size)
        self.proximity_bins = int(proximity_bins)
        self.default_params = resolve_params(params, where="DrivingEnv(...)")
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8),
            "ego": spaces.Box(-np.inf, np.inf, (3,), np.float32),
        })
        self.action_space = spaces.Box(np.array([-1.0, -1.0], np.float32), np.array([1.0, 1.0], np.float32))

        self._p: BulletClient | None = None
        self.params: dict[str, Any] = dict(self.default_params)
        self.scene: Scene | None = None
        self._car = -1
        self._obstacle_ids: tuple[int, ...] = ()
        self._car_colours: list[tuple[int, tuple]] = []
        self._noise_rng: np.random.Generator | None = None
        self._ray_angles = self._make_ray_angles()
        self._proj = None

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"params"})
        if unknown:
            raise ValueError(f'DrivingEnv.reset: unknown option(s) {unknown}; the only option is "params"')
        self.params = resolve_params(options.get("params"), base=self.default_params,
                                     where='reset(options["params"])')
        if seed is None:
            # Unseeded reset: continue gymnasium's np_random so a seeded sequence stays reproducible.
            seed = int(self.np_random.integers(0, 2**63 - 1))
        scene_ss, noise_ss = np.random.SeedSequence(seed).spawn(2)
        self.scene = sample_scene(self.params, np.random.default_rng(scene_ss))
        self._noise_rng = np.random.default_rng(noise_ss)
        self._build_world(self.scene, self.params)

        self._steps = 0
        self._substeps = 0
        self._path_length = 0.0
        self._collision = False
        self._state = self._read_state()
        self._path = [self._state["xy"]]  # for the top-down view only
        self._prev_velocity = self._state["velocity"]
        info = self._info(lateral_accel=0.0)
        self._prev_goal_distance = info["goal_distance"]
        return self._observation(info), info

    def step(self, action):
        if self.scene is None:
            raise RuntimeError("DrivingEnv.step called before reset()")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise ValueError(f"DrivingEnv.step: action must be 2 finite numbers [steering, throttle], got {action!r}")
        steering, throttle = np.clip(a, -1.0, 1.0)
        p = self._p
        for joint in _STEERING:
            p.setJointMotorControl2(self._car, joint, pb.POSITION_CONTROL,
                                    targetPosition=float(steering) * MAX_STEER, force=STEER_FORCE)
        for joint in _WHEELS:
            p.setJointMotorControl2(self._car, joint, pb.VELOCITY_CONTROL,
                                    targetVelocity=float(throttle) * MAX_SPEED / WHEEL_RADIUS, force=WHEEL_FORCE)
        obstacles = set(self._obstacle_ids)
        done_substeps = 0
        for _ in range(SUBSTEPS):
            p.stepSimulation()
            done_substeps += 1
            # Checked every physics step: a glancing hit can bounce off within one control step.
            if obstacles and any(c[2] in obstacles for c in p.getContactPoints(bodyA=self._car)):
                self._collision = True
                break
        self._substeps += done_substeps
        self._steps += 1

        prev_xy = self._state["xy"]
        self._state = self._read_state()
        self._path_length += math.hypot(self._state["xy"][0] - prev_xy[0], self._state["xy"][1] - prev_xy[1])
        self._path.append(self._state["xy"])
        dt = done_substeps / PHYSICS_HZ
        accel = (self._state["velocity"] - self._prev_velocity) / dt
        self._prev_velocity = self._state["velocity"]
        yaw = self._state["yaw"]
        lateral = float(-accel[0] * math.sin(yaw) + accel[1] * math.cos(yaw))
        info = self._info(lateral_accel=lateral)

        terminated = bool(info["goal_reached"] or info["collision"] or info["off_course"])
        truncated = bool(not terminated and self._steps >= self.params["max_steps"])
        reward = (self._prev_goal_distance - info["goal_distance"]) - 0.01
        reward += 10.0 * info["goal_reached"] - 10.0 * info["collision"] - 5.0 * info["off_course"]
        self._prev_goal_distance = info["goal_distance"]
        return self._observation(info), float(reward), terminated, truncated, info

    def render(self):
        if self.render_mode == "rgb_array":
            return self.render_topdown()
        return None

    def close(self):
        if self._p is not None:
            try:
                self._p.disconnect()
            except pb.error:  # already gone (interpreter shutdown)
                pass
            self._p = None
        super().close()

    # ------------------------------------------------------------------ views

    def render_camera(self, size: int = 128) -> np.ndarray:
        """The on-board camera at `size` px with the episode's lighting and fog, without sensor noise
        (drawing noise here would shift the episode's camera-noise stream)."""
        self._require_reset()
        return self._camera_image(int(size), noise=False)

    def render_topdown(self, size: int = 256) -> np.ndarray:
        """Day-lit, near-orthographic view from high above the route (the route points up the
        image): obstacles, goal disc, the car, plus the path driven so far and a white arrow on the
        car drawn in image space, because the 0.5 m car is only a few pixels across."""
        self._require_reset()
        p, scene = self._p, self.scene
        mid = np.array([(scene.route_origin[0] + scene.goal[0]) / 2, (scene.route_origin[1] + scene.goal[1]) / 2])
        half = float(self.params["goal_distance"]) / 2 + 2.5
        xy = np.array(self._state["xy"])
        half = max(half, float(np.hypot(*(xy - mid))) + 1.0)  # keep the car in frame
        height = 100.0
        up = np.array([math.cos(scene.route_yaw), math.sin(scene.route_yaw)])
        view = p.computeViewMatrix([mid[0], mid[1], height], [mid[0], mid[1], 0.0], [up[0], up[1], 0.0])
        fov = math.degrees(2 * math.atan(half / height))
        proj = p.computeProjectionMatrixFOV(fov, 1.0, height - 5.0, height + 5.0)
        self._set_car_visible(True)
        try:
            light = LIGHTING["day"]
            _, _, rgba, _, _ = p.getCameraImage(
                size, size, view, proj, renderer=pb.ER_TINY_RENDERER, flags=pb.ER_NO_SEGMENTATION_MASK,
                shadow=0, lightDirection=_sun(light), lightColor=list(light["colour"]),
                lightAmbientCoeff=light["ambient"], lightDiffuseCoeff=light["diffuse"],
                lightSpecularCoeff=light["specular"])
        finally:
            self._set_car_visible(False)
        img = np.array(np.reshape(rgba, (size, size, 4))[:, :, :3], dtype=np.uint8)

        right = np.array([up[1], -up[0]])
        scale = (size / 2) / half  # px per metre at the ground (the camera is far: nearly orthographic)

        def to_px(points: np.ndarray) -> np.ndarray:
            rel = np.atleast_2d(points) - mid
            return np.stack([size / 2 - rel @ up * scale, size / 2 + rel @ right * scale], axis=1)  # row, col

        path = np.array(self._path)
        if len(path) > 1:  # densify so the path is a line, not dots
            seg = np.linspace(0.0, 1.0, 8, endpoint=False)
            path = np.concatenate([path[:-1] + seg[:, None, None] * (path[1:] - path[:-1])[None]]
                                  ).reshape(-1, 2)
        _paint(img, to_px(path), (40, 40, 40))
        yaw = self._state["yaw"]
        fwd, left = np.array([math.cos(yaw), math.sin(yaw)]), np.array([-math.sin(yaw), math.cos(yaw)])
        length = max(0.6, 7.0 / scale)  # at least ~7 px long
        tip, base = xy + fwd * length, xy - fwd * length * 0.2
        u, v = np.meshgrid(np.linspace(0, 1, 24), np.linspace(-1, 1, 24))
        pts = (base[None, None] + u[..., None] * (tip - base)[None, None]
               + (v * (1 - u))[..., None] * left[None, None] * length * 0.45)
        _paint(img, to_px(pts.reshape(-1, 2)), (255, 255, 255))
        return img

    # ------------------------------------------------------------------ world

    def _connect(self) -> BulletClient:
        if self._p is None:
            with _native_stdout_silenced():  # pybullet's C code prints "argv[0]=" on every connect
                self._p = BulletClient(connection_mode=pb.DIRECT)
        return self._p

    def _build_world(self, scene: Scene, params: dict[str, Any]) -> None:
        # The whole world is rebuilt each reset (about 8 ms, a small share of a 150-step episode):
        # contact caches, body ids and solver warm starts then depend on params + seed only, so a
        # case gives the same trajectory bit for bit whatever ran before it in this process.
        p = self._connect()
        p.resetSimulation()
        p.setGravity(0, 0, -9.81)
        p.setPhysicsEngineParameter(fixedTimeStep=1.0 / PHYSICS_HZ, numSubSteps=0, deterministicOverlappingPairs=1,
                                   numSolverIterations=10)  # 5x fewer than the default: same behaviour here, faster
        ground_col = p.createCollisionShape(pb.GEOM_PLANE)
        ground_vis = p.createVisualShape(pb.GEOM_BOX, halfExtents=[60, 60, 0.05], rgbaColor=_GROUND_RGBA,
                                         visualFramePosition=[0, 0, -0.05])
        ground = p.createMultiBody(0, ground_col, ground_vis)
        p.changeDynamics(ground, -1, lateralFriction=float(params["surface_friction"]))

        # Visual only (no collision shape): never touched, never hit by rays.
        goal_vis = p.createVisualShape(pb.GEOM_CYLINDER, radius=float(params["goal_radius"]), length=0.01,
                                       rgbaColor=_GOAL_RGBA)
        p.createMultiBody(0, -1, goal_vis, basePosition=[scene.goal[0], scene.goal[1], 0.005])

        ids = []
        for ob in scene.obstacles:
            rgba = [*ob.colour, 1.0]
            if ob.shape == "box":
                he = [ob.size / 2, ob.size / 2, ob.height / 2]
                col = p.createCollisionShape(pb.GEOM_BOX, halfExtents=he)
                vis = p.createVisualShape(pb.GEOM_BOX, halfExtents=he, rgbaColor=rgba)
            else:
                col = p.createCollisionShape(pb.GEOM_CYLINDER, radius=ob.size / 2, height=ob.height)
                vis = p.createVisualShape(pb.GEOM_CYLINDER, radius=ob.size / 2, length=ob.height, rgbaColor=rgba)
            ids.append(p.createMultiBody(0, col, vis, basePosition=[ob.x, ob.y, ob.height / 2],
                                         baseOrientation=p.getQuaternionFromEuler([0, 0, ob.yaw])))
        self._obstacle_ids = tuple(ids)

        x, y, yaw = scene.start
        car = p.loadURDF(pybullet_data.getDataPath() + "/racecar/racecar.urdf", [x, y, _CAR_Z],
                         p.getQuaternionFromEuler([0, 0, yaw]))
        self._car = car
        for joint in range(p.getNumJoints(car)):
            p.setJointMotorControl2(car, joint, pb.VELOCITY_CONTROL, targetVelocity=0, force=0)
        for joint in _WHEELS:
            # Ground friction alone sets the tyre grip: Bullet multiplies the two coefficients.
            p.changeDynamics(car, joint, lateralFriction=1.0)
        v0 = float(params["initial_speed"])
        if v0 > 0:
            p.resetBaseVelocity(car, [v0 * math.cos(yaw), v0 * math.sin(yaw), 0.0], [0.0, 0.0, 0.0])
            for joint in _WHEELS:
                p.resetJointState(car, joint, 0.0, v0 / WHEEL_RADIUS)
        for joint in _WHEELS:
            p.setJointMotorControl2(car, joint, pb.VELOCITY_CONTROL, targetVelocity=v0 / WHEEL_RADIUS,
                                    force=WHEEL_FORCE)
        # The on-board camera never sees the car; TinyRenderer skips fully transparent shapes, which
        # also saves most of the render time (the car meshes dominate it).
        self._car_colours = [(v[1], tuple(v[7])) for v in p.getVisualShapeData(car)]
        self._set_car_visible(False)
        self._proj = p.computeProjectionMatrixFOV(CAMERA_FOV_DEG, 1.0, CAMERA_NEAR, CAMERA_FAR)

    def _set_car_visible(self, visible: bool) -> None:
        for link, rgba in self._car_colours:
            self._p.changeVisualShape(self._car, link, rgbaColor=list(rgba[:3]) + [rgba[3] if visible else 0.0])

    # ------------------------------------------------------------------ sensing

    def _read_state(self) -> dict[str, Any]:
        pos, orn = self._p.getBasePositionAndOrientation(self._car)
        lin, _ = self._p.getBaseVelocity(self._car)
        yaw = math.atan2(2 * (orn[3] * orn[2] + orn[0] * orn[1]), 1 - 2 * (orn[1] ** 2 + orn[2] ** 2))
        return {"xy": (pos[0], pos[1]), "pos": pos, "orn": orn, "yaw": yaw,
                "velocity": np.array(lin[:2], dtype=np.float64)}

    def _info(self, lateral_accel: float) -> dict[str, Any]:
        s, scene, params = self._state, self.scene, self.params
        x, y = s["xy"]
        yaw = s["yaw"]
        goal_distance = math.hypot(scene.goal[0] - x, scene.goal[1] - y)
        speed = float(s["velocity"][0] * math.cos(yaw) + s["velocity"][1] * math.sin(yaw))
        return {
            "pose": np.array([x, y, yaw], dtype=np.float64),
            "speed": speed,
            "goal_distance": float(goal_distance),
            "clearance": self._clearance(),
            "collision": bool(self._collision),
            "goal_reached": bool(goal_distance <= params["goal_radius"]),
            "off_course": bool(self._route_distance(x, y) > params["arena_margin"]),
            "lateral_accel": float(lateral_accel),
            "t": self._substeps / PHYSICS_HZ,
            "path_length": float(self._path_length),
            "ray_proximity": self._ray_proximity(),
        }

    def _observation(self, info: dict[str, Any]) -> dict[str, np.ndarray]:
        x, y, yaw = info["pose"]
        bearing = math.atan2(self.scene.goal[1] - y, self.scene.goal[0] - x)
        heading_error = (bearing - yaw + math.pi) % (2 * math.pi) - math.pi
        ego = np.array([info["speed"], heading_error, info["goal_distance"]], dtype=np.float32)
        return {"image": self._camera_image(self.image_size, noise=True), "ego": ego}

    def _clearance(self) -> float:
        best = CLEARANCE_CAP
        for body in self._obstacle_ids:
            for point in self._p.getClosestPoints(self._car, body, CLEARANCE_CAP):
                best = min(best, point[8])
        return float(max(best, 0.0))

    def _route_distance(self, x: float, y: float) -> float:
        (ax, ay), (bx, by) = self.scene.route_origin, self.scene.goal
        dx, dy = bx - ax, by - ay
        u = min(max(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0.0), 1.0)
        return math.hypot(x - ax - u * dx, y - ay - u * dy)

    def _make_ray_angles(self) -> np.ndarray:
        # Bin 0 is the leftmost (+ angle), like image column 0; angles relative to the car's heading.
        half = math.radians(CAMERA_FOV_DEG) / 2
        width = 2 * half / self.proximity_bins
        offsets = (np.arange(RAYS_PER_BIN) + 0.5) / RAYS_PER_BIN
        return np.array([[half - (i + f) * width for f in offsets] for i in range(self.proximity_bins)])

    def _ray_proximity(self) -> np.ndarray:
        if not self._obstacle_ids:
            return np.zeros(self.proximity_bins, dtype=np.float32)
        x, y = self._state["xy"]
        yaw = self._state["yaw"]
        c, s = math.cos(yaw), math.sin(yaw)
        ox, oy = x + CAMERA_MOUNT[0] * c, y + CAMERA_MOUNT[0] * s
        angles = yaw + self._ray_angles.reshape(-1)
        starts = [[ox, oy, RAY_HEIGHT]] * len(angles)
        ends = np.stack([ox + RAY_RANGE * np.cos(angles), oy + RAY_RANGE * np.sin(angles),
                         np.full(len(angles), RAY_HEIGHT)], axis=1).tolist()
        hits = self._p.rayTestBatch(starts, ends)
        obstacles = set(self._obstacle_ids)
        prox = np.array([1.0 - h[2] if h[0] in obstacles else 0.0 for h in hits], dtype=np.float64)
        return prox.reshape(self.proximity_bins, RAYS_PER_BIN).max(axis=1).astype(np.float32)

    def _camera_image(self, size: int, noise: bool) -> np.ndarray:
        p = self._p
        pos, orn = self._state["pos"], self._state["orn"]
        rot = np.array(p.getMatrixFromQuaternion(orn)).reshape(3, 3)
        eye = np.array(pos) + rot @ np.array(CAMERA_MOUNT)
        forward = rot @ np.array([math.cos(CAMERA_PITCH), 0.0, -math.sin(CAMERA_PITCH)])
        up = rot @ np.array([math.sin(CAMERA_PITCH), 0.0, math.cos(CAMERA_PITCH)])
        view = p.computeViewMatrix(eye.tolist(), (eye + forward).tolist(), up.tolist())
        light = LIGHTING[self.params["lighting"]]
        _, _, rgba, zbuf, _ = p.getCameraImage(
            size, size, view, self._proj, renderer=pb.ER_TINY_RENDERER, flags=pb.ER_NO_SEGMENTATION_MASK,
            shadow=0, lightDirection=_sun(light), lightColor=list(light["colour"]),
            lightAmbientCoeff=light["ambient"], lightDiffuseCoeff=light["diffuse"],
            lightSpecularCoeff=light["specular"])
        rgb = np.reshape(rgba, (size, size, 4))[:, :, :3].astype(np.float32)
        zbuf = np.reshape(zbuf, (size, size))
        sky = zbuf >= 1.0 - 1e-7  # nothing drawn there: the renderer's white clear colour
        rgb[sky] = light["sky"]
        density = float(self.params["fog_density"])
        if density > 0:
            depth = CAMERA_FAR * CAMERA_NEAR / (CAMERA_FAR - (CAMERA_FAR - CAMERA_NEAR) * zbuf)
            fog = (1.0 - np.exp(-density * depth)).astype(np.float32)
            fog[sky] = 1.0
            rgb += fog[:, :, None] * (np.asarray(light["fog"], dtype=np.float32) - rgb)
        std = float(self.params["camera_noise"])
        if noise and std > 0:
            rgb += std * self._noise_rng.standard_normal(rgb.shape, dtype=np.float32)
        return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)

    def _require_reset(self) -> None:
        if self.scene is None:
            raise RuntimeError("DrivingEnv: call reset() before rendering")


def _paint(img: np.ndarray, rows_cols: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Set the pixels under the given (row, col) points, ignoring those outside the image."""
    if rows_cols.size == 0:
        return
    rc = np.rint(rows_cols).astype(np.int64)
    inside = (rc[:, 0] >= 0) & (rc[:, 0] < img.shape[0]) & (rc[:, 1] >= 0) & (rc[:, 1] < img.shape[1])
    img[rc[inside, 0], rc[inside, 1]] = colour


def _sun(light: dict[str, Any]) -> list[float]:
    el, az = math.radians(light["elevation"]), math.radians(light["azimuth"])
    return [math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)]
