"""simtest/Driving-v0 with real pybullet episodes: gymnasium conformance, bit-for-bit determinism,
scenario params that visibly change the scene, ground truth in info, and a doable task."""

from __future__ import annotations

import importlib
import math
import warnings

import gymnasium
import numpy as np
import pytest

import simtest_envs
from simtest_envs.driving.env import INFO_KEYS, DrivingEnv
from simtest_envs.driving.metrics import episode_metrics
from simtest_envs.driving.oracle import oracle_action, straight_action

pytestmark = pytest.mark.sim

CLEAN = {"camera_noise": 0.0, "start_jitter": 0.0, "heading_jitter": 0.0}


@pytest.fixture(scope="module")
def env():
    e = DrivingEnv()
    yield e
    e.close()


def _rollout(env, seed, params, policy=oracle_action, max_steps=200):
    obs, info = env.reset(seed=seed, options={"params": params})
    frames = [(obs["image"].copy(), obs["ego"].copy(), info["pose"].copy(), info["ray_proximity"].copy())]
    infos = [info]
    for _ in range(max_steps):
        obs, reward, terminated, truncated, info = env.step(policy(obs, info))
        frames.append((obs["image"].copy(), obs["ego"].copy(), info["pose"].copy(),
                       info["ray_proximity"].copy(), reward))
        infos.append(info)
        if terminated or truncated:
            break
    return frames, infos


def _identical(a, b) -> bool:
    return len(a) == len(b) and all(
        all(np.array_equal(x, y) for x, y in zip(fa, fb)) for fa, fb in zip(a, b))


def test_passes_gymnasium_env_checker_with_only_the_contracts_infinite_ego_bounds_warned():
    e = gymnasium.make("simtest/Driving-v0", render_mode="rgb_array")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from gymnasium.utils.env_checker import check_env

        check_env(e.unwrapped)
    e.close()
    unexpected = [str(w.message) for w in caught if "infinity" not in str(w.message)]
    assert unexpected == []


def test_registration_is_idempotent_and_make_builds_the_driving_env():
    importlib.reload(simtest_envs)  # a second registration must not raise or warn about overriding
    e = gymnasium.make("simtest/Driving-v0", image_size=32, proximity_bins=5, n_obstacles=1)
    try:
        obs, info = e.reset(seed=0)
        assert isinstance(e.unwrapped, DrivingEnv)
        assert obs["image"].shape == (32, 32, 3) and info["ray_proximity"].shape == (5,)
        assert len(e.unwrapped.scene.obstacles) == 1  # constructor kwargs set per-episode defaults
    finally:
        e.close()


def test_same_case_gives_bit_identical_trajectory_across_instances_and_reset_orders(env):
    case_a = {"n_obstacles": 3}
    case_b = {"n_obstacles": 6, "lighting": "night", "fog_density": 0.2, "initial_speed": 2.0}
    first, _ = _rollout(env, 5, case_a, max_steps=30)
    other, _ = _rollout(env, 9, case_b, max_steps=30)
    again, _ = _rollout(env, 5, case_a, max_steps=30)
    fresh_env = DrivingEnv()
    try:
        fresh, _ = _rollout(fresh_env, 5, case_a, max_steps=30)
    finally:
        fresh_env.close()
    assert len(first) > 10
    assert _identical(first, again)
    assert _identical(first, fresh)
    assert not _identical(first, other)


def test_different_seeds_give_different_scenes(env):
    env.reset(seed=1)
    a = env.scene
    env.reset(seed=2)
    assert env.scene != a


def test_camera_noise_does_not_move_the_scene_or_the_trajectory(env):
    """Scene and camera noise are separate streams: a noisier camera pairs with the same case."""
    params = {"n_obstacles": 4}
    env.reset(seed=3, options={"params": {**params, "camera_noise": 0.0}})
    quiet_scene = env.scene
    env.reset(seed=3, options={"params": {**params, "camera_noise": 20.0}})
    assert env.scene == quiet_scene
    quiet, _ = _rollout(env, 3, {**params, "camera_noise": 0.0}, policy=straight_action, max_steps=15)
    noisy, _ = _rollout(env, 3, {**params, "camera_noise": 20.0}, policy=straight_action, max_steps=15)
    assert [f[2].tolist() for f in quiet] == [f[2].tolist() for f in noisy]  # poses
    assert not np.array_equal(quiet[0][0], noisy[0][0])  # images


def test_obstacle_colour_repaints_the_same_scene_deterministically(env):
    """obstacle_colour changes the paint only: the same seed gives the same layout (the colour is
    drawn from the scene stream in every case), the camera sees the new paint, and a repeat is
    bit-identical. This is what makes a colour-invariance pair differ in colour alone."""
    from simtest_envs.driving.scene import COLOUR_NAMES, OBSTACLE_COLOURS

    params = {"n_obstacles": 4, **CLEAN}
    scenes = {}
    for colour in ("mixed", "red", "blue"):
        env.reset(seed=5, options={"params": {**params, "obstacle_colour": colour}})
        scenes[colour] = env.scene
    strip = lambda s: [(o.shape, o.x, o.y, o.yaw, o.size) for o in s.obstacles]  # noqa: E731
    assert strip(scenes["red"]) == strip(scenes["blue"]) == strip(scenes["mixed"])
    assert {o.colour for o in scenes["red"].obstacles} == {OBSTACLE_COLOURS[COLOUR_NAMES.index("red")]}
    assert {o.colour for o in scenes["blue"].obstacles} == {OBSTACLE_COLOURS[COLOUR_NAMES.index("blue")]}
    red, _ = _rollout(env, 5, {**params, "obstacle_colour": "red"}, policy=straight_action, max_steps=5)
    blue, _ = _rollout(env, 5, {**params, "obstacle_colour": "blue"}, policy=straight_action, max_steps=5)
    again, _ = _rollout(env, 5, {**params, "obstacle_colour": "red"}, policy=straight_action, max_steps=5)
    assert _identical(red, again)
    assert [f[2].tolist() for f in red] == [f[2].tolist() for f in blue]  # the car moves the same
    assert not np.array_equal(red[0][0], blue[0][0])  # the camera sees the paint
    with pytest.raises(ValueError, match="obstacle_colour"):
        env.reset(seed=5, options={"params": {"obstacle_colour": "pink"}})


def test_info_from_reset_and_step_has_the_contract_keys_and_types(env):
    obs, info = env.reset(seed=0)
    _, _, _, _, step_info = env.step(np.array([0.0, 0.5], np.float32))
    for i in (info, step_info):
        assert tuple(i) == INFO_KEYS
        assert i["pose"].shape == (3,) and i["pose"].dtype == np.float64
        for key in ("speed", "goal_distance", "clearance", "lateral_accel", "t", "path_length"):
            assert type(i[key]) is float, key
        for key in ("collision", "goal_reached", "off_course"):
            assert type(i[key]) is bool, key
        assert i["ray_proximity"].dtype == np.float32 and i["ray_proximity"].shape == (9,)
        assert np.all((0 <= i["ray_proximity"]) & (i["ray_proximity"] <= 1))
    assert info["t"] == 0.0 and step_info["t"] == pytest.approx(0.1)
    assert obs["ego"].dtype == np.float32 and obs["ego"][2] == pytest.approx(info["goal_distance"], rel=1e-6)
    assert step_info["speed"] > 0 and step_info["path_length"] > 0


def test_night_is_much_darker_than_day_but_obstacles_still_show(env):
    def image(lighting, n_obstacles):
        obs, _ = env.reset(seed=4, options={"params": {**CLEAN, "lighting": lighting, "n_obstacles": 0,
                                                       "obstacle_positions": [[2.5, 0.0]] * n_obstacles}})
        return obs["image"].astype(np.float64)

    day, night, dusk = image("day", 1), image("night", 1), image("dusk", 1)
    assert night.mean() < 0.3 * day.mean()
    assert night.mean() < dusk.mean() < day.mean()
    # The obstacle changes the night image clearly: it carries information, not just black.
    diff = np.abs(night - image("night", 0)).max(axis=2)
    assert (diff > 10).sum() > 40


def test_fog_pulls_the_image_toward_the_fog_colour(env):
    def image(fog):
        obs, _ = env.reset(seed=4, options={"params": {**CLEAN, "fog_density": fog, "n_obstacles": 0}})
        return obs["image"].astype(np.float64)

    clear, foggy = image(0.0), image(0.5)
    fog_colour = np.array([200, 203, 208])
    assert np.abs(foggy - fog_colour).mean() < 0.6 * np.abs(clear - fog_colour).mean()
    assert np.abs(foggy[:30] - fog_colour).max() < 25  # sky and far ground (rows just below the horizon)
    assert np.abs(clear[:30] - fog_colour).max() > 50


def test_more_obstacles_make_more_bodies_and_explicit_positions_are_honoured(env):
    env.reset(seed=0, options={"params": {"n_obstacles": 1}})
    one = env._p.getNumBodies()
    env.reset(seed=0, options={"params": {"n_obstacles": 5}})
    assert env._p.getNumBodies() == one + 4
    _, info = env.reset(seed=0, options={"params": {**CLEAN, "obstacle_positions": [[3.0, 0.0]]}})
    assert len(env.scene.obstacles) == 1
    # Straight ahead: only the centre bins see it, about 3 m - camera offset - half its size away.
    prox = info["ray_proximity"]
    assert prox[4] == pytest.approx(1 - (3.0 - 0.42 - 0.25) / 8.0, abs=0.02)
    assert prox[0] == 0.0 and prox[-1] == 0.0


def test_driving_into_an_obstacle_ends_the_episode_with_a_collision(env):
    _, infos = _rollout(env, 0, {**CLEAN, "obstacle_positions": [[3.0, 0.0]]}, policy=straight_action)
    last = infos[-1]
    assert last["collision"] and not last["goal_reached"]
    assert last["clearance"] == pytest.approx(0.0, abs=0.01)
    m = episode_metrics(infos, {})
    assert m["collision"] == 1.0 and m["success"] == 0.0 and math.isnan(m["time_to_goal"])


def test_clear_road_reaches_the_goal_and_scores_success(env):
    _, infos = _rollout(env, 0, {"n_obstacles": 0}, policy=straight_action)
    m = episode_metrics(infos, {"goal_radius": 0.5})
    assert infos[-1]["goal_reached"] and m["success"] == 1.0
    assert 2.0 < m["time_to_goal"] < 6.0
    assert m["path_efficiency"] > 0.95
    assert m["min_clearance"] == 10.0  # nothing to be near: the cap


def test_driving_away_from_the_route_is_off_course(env):
    _, infos = _rollout(env, 0, {"n_obstacles": 0, "initial_heading": math.pi / 2},
                        policy=lambda obs, info: np.array([0.0, 1.0], np.float32))
    assert infos[-1]["off_course"] and not infos[-1]["goal_reached"]


def test_episode_is_truncated_at_max_steps(env):
    env.reset(seed=0, options={"params": {"max_steps": 10, "n_obstacles": 0}})
    for i in range(10):
        _, _, terminated, truncated, info = env.step(np.zeros(2, np.float32))
        assert not terminated and truncated == (i == 9)
    assert info["t"] == pytest.approx(1.0)


def test_initial_speed_and_surface_friction_change_the_motion(env):
    _, info = env.reset(seed=0, options={"params": {**CLEAN, "initial_speed": 3.0}})
    assert info["speed"] == pytest.approx(3.0, abs=0.05)

    def turn(friction):
        env.reset(seed=0, options={"params": {**CLEAN, "n_obstacles": 0, "initial_speed": 3.5,
                                              "surface_friction": friction}})
        for _ in range(8):
            _, _, _, _, info = env.step(np.array([1.0, 0.9], np.float32))
        return info["pose"][2]

    assert turn(0.15) < turn(1.2) - 0.3  # on ice the car slides instead of turning


def test_bad_params_and_actions_are_rejected_with_clear_messages(env):
    with pytest.raises(ValueError, match='reset\\(options\\["params"\\]\\).lightning: unknown .*"lighting"'):
        env.reset(seed=0, options={"params": {"lightning": "night"}})
    with pytest.raises(ValueError, match="DrivingEnv\\(...\\).n_obstacles"):
        DrivingEnv(n_obstacles=-1)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0.0]))


def test_views_render_topdown_and_camera_images(env):
    env.reset(seed=0)
    top = env.render_topdown(96)
    cam = env.render_camera(48)
    assert top.shape == (96, 96, 3) and top.dtype == np.uint8
    assert cam.shape == (48, 48, 3) and cam.dtype == np.uint8
    green = (top[:, :, 1] > 150) & (top[:, :, 0] < 80)  # the goal disc
    white = top.min(axis=2) == 255  # the car's arrow
    assert green.any() and white.any()
    assert np.argwhere(green)[:, 0].mean() < np.argwhere(white)[:, 0].mean()  # goal up, car down
    e = DrivingEnv(render_mode="rgb_array")
    try:
        e.reset(seed=0)
        assert e.render().shape == (256, 256, 3)
    finally:
        e.close()


def test_oracle_mostly_succeeds_while_driving_straight_mostly_collides(env):
    """The obstacles matter and the task is doable: a policy that sees the true proximity avoids them."""
    seeds = range(12)
    oracle = [episode_metrics(_rollout(env, s, {"n_obstacles": 3})[1], {}) for s in seeds]
    straight = [episode_metrics(_rollout(env, s, {"n_obstacles": 3}, policy=straight_action)[1], {})
                for s in seeds]
    assert np.mean([m["success"] for m in oracle]) >= 0.75
    assert np.mean([m["collision"] for m in straight]) >= 0.5
