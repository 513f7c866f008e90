"""The light side of simtest/Driving-v0 without pybullet: episode metrics on synthetic info lists,
the PARAMS/METRICS declarations and their validator, the registry entry, and the scene layout."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest

from simtest_envs.driving.metrics import METRICS, episode_metrics
from simtest_envs.driving.params import PARAMS, defaults, resolve_params
from simtest_envs.driving.scene import PASS_GAP, START_CLEARANCE, sample_scene
from simtest_envs.registry import simtest_envs

PARAMS_DEFAULTS = defaults()


def _info(t=0.0, *, x=0.0, goal_distance=8.0, clearance=2.0, collision=False, goal_reached=False,
          off_course=False, lateral_accel=0.0, path_length=0.0, speed=0.0) -> dict:
    return {"pose": np.array([x, 0.0, 0.0]), "speed": speed, "goal_distance": goal_distance,
            "clearance": clearance, "collision": collision, "goal_reached": goal_reached,
            "off_course": off_course, "lateral_accel": lateral_accel, "t": t,
            "path_length": path_length, "ray_proximity": np.zeros(9, np.float32)}


def _straight_run(n_steps=10, reach_at=None, collide_at=None, speed=1.0, goal_distance=8.0):
    """A car driving straight at `speed` (m/s) along x, 0.1 s per step."""
    infos = [_info(goal_distance=goal_distance)]
    for i in range(1, n_steps + 1):
        x = speed * 0.1 * i
        infos.append(_info(t=0.1 * i, x=x, goal_distance=goal_distance - x, path_length=x,
                           clearance=max(1.0 - 0.05 * i, 0.0),
                           goal_reached=reach_at is not None and i >= reach_at,
                           collision=collide_at is not None and i >= collide_at,
                           lateral_accel=(-0.5 if i == 3 else 0.1)))
    return infos


# ------------------------------------------------------------------ episode_metrics


def test_goal_reached_without_collision_is_success_with_time_to_goal_at_first_arrival():
    infos = _straight_run(n_steps=8, reach_at=6, goal_distance=1.1)
    m = episode_metrics(infos, {"goal_radius": 0.5})
    assert m["success"] == 1.0 and m["collision"] == 0.0
    assert m["time_to_goal"] == pytest.approx(0.6)


def test_collision_makes_success_zero_and_time_to_goal_nan_even_if_goal_reached():
    infos = _straight_run(n_steps=8, reach_at=6, collide_at=5, goal_distance=1.1)
    m = episode_metrics(infos, PARAMS_DEFAULTS)
    assert m["success"] == 0.0 and m["collision"] == 1.0
    assert math.isnan(m["time_to_goal"])
    assert m["path_efficiency"] == 0.0


def test_episode_that_never_reaches_goal_fails_with_nan_time():
    m = episode_metrics(_straight_run(n_steps=5), PARAMS_DEFAULTS)
    assert m["success"] == 0.0 and math.isnan(m["time_to_goal"]) and m["path_efficiency"] == 0.0
    assert m["final_goal_distance"] == pytest.approx(8.0 - 0.5)


def test_path_efficiency_is_one_for_a_straight_drive_and_lower_for_a_detour():
    straight = _straight_run(n_steps=10, reach_at=10, goal_distance=1.5)  # 1.0 m driven, 1.0 m needed
    assert episode_metrics(straight, {"goal_radius": 0.5})["path_efficiency"] == pytest.approx(1.0)
    detour = [dict(i, path_length=2.0 * i["path_length"]) for i in straight]
    assert episode_metrics(detour, {"goal_radius": 0.5})["path_efficiency"] == pytest.approx(0.5)


def test_peak_lateral_accel_is_largest_magnitude_over_steps_not_reset():
    infos = _straight_run(n_steps=5)
    infos[0]["lateral_accel"] = 99.0  # reset info carries no motion: ignored
    assert episode_metrics(infos, PARAMS_DEFAULTS)["peak_lateral_accel"] == pytest.approx(0.5)


def test_peak_lateral_accel_leaves_out_the_impact_of_a_collision():
    infos = _straight_run(n_steps=5, collide_at=5)
    infos[-1]["lateral_accel"] = 40.0
    assert episode_metrics(infos, PARAMS_DEFAULTS)["peak_lateral_accel"] == pytest.approx(0.5)


def test_min_clearance_and_off_course_follow_the_infos():
    infos = _straight_run(n_steps=6)
    infos[-1]["off_course"] = True
    m = episode_metrics(infos, PARAMS_DEFAULTS)
    assert m["min_clearance"] == pytest.approx(0.7)
    assert m["off_course"] == 1.0


def test_metrics_return_every_declared_metric_as_float_with_binary_values_zero_or_one():
    for infos in (_straight_run(3), _straight_run(8, reach_at=7, goal_distance=1.0), [_info()]):
        m = episode_metrics(infos, PARAMS_DEFAULTS)
        assert set(m) == set(METRICS)
        assert all(type(v) is float for v in m.values())
        for name, spec in METRICS.items():
            if spec["kind"] == "binary":
                assert m[name] in (0.0, 1.0)


def test_metrics_accept_infos_round_tripped_through_plain_lists():
    infos = [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in i.items()}
             for i in _straight_run(8, reach_at=7, goal_distance=1.0)]
    assert episode_metrics(infos, {})["success"] == 1.0


def test_empty_infos_are_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="at least the info returned by reset"):
        episode_metrics([], PARAMS_DEFAULTS)


def test_metric_declarations_follow_the_contract():
    for name, spec in METRICS.items():
        assert spec["kind"] in ("binary", "continuous"), name
        assert spec["better"] in ("higher", "lower"), name
        assert isinstance(spec["time_like"], bool) and spec["doc"], name
    assert METRICS["time_to_goal"]["time_like"] is True
    assert {"success", "collision", "time_to_goal", "min_clearance", "path_efficiency",
            "peak_lateral_accel", "off_course"} <= set(METRICS)


# ------------------------------------------------------------------ params


def test_param_declarations_have_valid_types_and_defaults_inside_their_domain():
    for name, spec in PARAMS.items():
        assert spec["type"] in ("int", "float", "str", "bool", "list"), name
        assert spec["doc"], name
        if spec["type"] in ("int", "float"):
            assert spec["min"] <= spec["default"] <= spec["max"], name
        if spec["type"] == "str":
            assert spec["default"] in spec["choices"], name
    assert resolve_params({}) == PARAMS_DEFAULTS


def test_unknown_param_names_get_a_suggestion_and_all_problems_are_reported_at_once():
    with pytest.raises(ValueError) as err:
        resolve_params({"n_obstacle": 3, "lighting": "nite", "fog_density": 7.0}, where="case")
    text = str(err.value)
    assert 'case.n_obstacle: unknown parameter of simtest/Driving-v0; did you mean "n_obstacles"?' in text
    assert "case.lighting: 'nite' is not one of ['day', 'dusk', 'night'] (did you mean \"night\"?)" in text
    assert "case.fog_density: 7.0 is outside [0.0, 1.0] 1/m" in text


def test_params_are_coerced_to_their_declared_types():
    out = resolve_params({"n_obstacles": 4.0, "goal_distance": 9, "obstacle_positions": [(3, 0.5)]})
    assert out["n_obstacles"] == 4 and type(out["n_obstacles"]) is int
    assert type(out["goal_distance"]) is float
    assert out["obstacle_positions"] == [[3.0, 0.5]]
    with pytest.raises(ValueError, match="pair"):
        resolve_params({"obstacle_positions": [[1, 2, 3]]})
    with pytest.raises(ValueError, match="integer"):
        resolve_params({"max_steps": 10.5})


# ------------------------------------------------------------------ scene layout


def test_random_obstacles_sit_in_the_corridor_clear_of_start_goal_and_each_other():
    params = resolve_params({"n_obstacles": 6, "obstacle_spread": 1.0, "goal_distance": 12.0})
    for seed in range(20):
        scene = sample_scene(params, np.random.default_rng(seed))
        assert len(scene.obstacles) == 6
        assert sum(abs(o.y) <= 1.0 for o in scene.obstacles) >= 4  # mostly in the corridor
        for i, o in enumerate(scene.obstacles):
            assert 0.0 < o.x < 12.0  # route along +x (bearing 0)
            assert math.hypot(o.x - scene.start[0], o.y - scene.start[1]) >= o.radius + START_CLEARANCE
            assert math.hypot(o.x - 12.0, o.y) >= o.radius + params["goal_radius"]
            for other in scene.obstacles[:i]:
                assert math.hypot(o.x - other.x, o.y - other.y) >= o.radius + other.radius + PASS_GAP


def test_scene_is_a_function_of_params_and_scene_stream():
    params = resolve_params({"n_obstacles": 4})
    a = sample_scene(params, np.random.default_rng(np.random.SeedSequence(3)))
    b = sample_scene(params, np.random.default_rng(np.random.SeedSequence(3)))
    c = sample_scene(params, np.random.default_rng(np.random.SeedSequence(4)))
    assert a == b and a != c


def test_explicit_obstacle_positions_are_in_the_route_frame():
    params = resolve_params({"obstacle_positions": [[4.0, 1.0]], "goal_bearing": math.pi / 2})
    (o,) = sample_scene(params, np.random.default_rng(0)).obstacles
    assert (o.x, o.y) == pytest.approx((-1.0, 4.0))  # route along +y: "left" is -x
    assert o.size == params["obstacle_size"]


# ------------------------------------------------------------------ registry and import weight


def test_registry_entry_matches_the_contract():
    assert simtest_envs()["simtest/Driving-v0"] == {
        "entry_point": "simtest_envs.driving.env:DrivingEnv",
        "params": "simtest_envs.driving.params:PARAMS",
        "metrics": "simtest_envs.driving.metrics:METRICS",
        "episode_metrics": "simtest_envs.driving.metrics:episode_metrics",
        "signals": "simtest_envs.driving.metrics:SIGNALS",
        "model_metrics": "simtest_envs.driving.metrics:MODEL_METRICS",
        "configure": "reset_options",
        "views": {"topdown": "render_topdown", "camera": "render_camera"},
        "failure_views": ["camera", "topdown"],
    }


def test_registry_params_and_metrics_modules_import_no_pybullet():
    code = ("import sys, simtest_envs.registry, simtest_envs.driving.params, simtest_envs.driving.metrics; "
            "heavy = sorted(m for m in ('pybullet', 'pybullet_data', 'torch', 'simtest_envs.driving.env') "
            "if m in sys.modules); print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_params_module_imports_only_the_standard_library():
    # The package __init__ imports gymnasium (and with it numpy) to register the id; params itself
    # must not add anything: load it by path, outside the package.
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('p', "
            "'envs/driving/params.py'); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "print(sorted(k for k in ('numpy', 'pybullet', 'gymnasium') if k in sys.modules))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"
