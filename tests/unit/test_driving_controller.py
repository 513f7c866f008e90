"""The driving agent's histogram controller on synthetic proximity vectors (pure numpy: no torch,
no pybullet). Bin 0 looks left; ego = [speed, heading error (+left), goal distance]."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simtest_models.driving.controller import ControllerConfig, HistogramController

FREE = np.zeros(9)
AHEAD = np.array([0.0, 2.0, 8.0])  # standing, goal straight ahead, 8 m away


def act(prox, ego=AHEAD, controller=None):
    return (controller or HistogramController()).act(np.asarray(prox, dtype=np.float64), np.asarray(ego))


def test_free_road_drives_straight_at_the_goal_at_cruise_speed():
    ego = np.array([0.0, 0.0, 8.0])
    steering, throttle = act(FREE, ego)
    assert steering == pytest.approx(0.0)
    c = ControllerConfig()
    assert throttle == pytest.approx(c.max_speed / c.speed_scale)


@pytest.mark.parametrize("heading_error, sign", [(0.3, 1.0), (-0.3, -1.0)])
def test_free_road_steers_toward_the_goal_side(heading_error, sign):
    steering, _ = act(FREE, np.array([1.0, heading_error, 8.0]))
    assert sign * steering > 0.1


def test_goal_behind_the_car_turns_fully_toward_it_when_that_side_is_free():
    steering, _ = act(FREE, np.array([1.0, 2.5, 8.0]))
    assert steering == pytest.approx(1.0)


def test_obstacle_ahead_left_steers_right():
    prox = np.array([0.0, 0.0, 0.7, 0.8, 0.8, 0.0, 0.0, 0.0, 0.0])
    steering, _ = act(prox, np.array([1.0, 0.0, 8.0]))
    assert steering < -0.2


def test_obstacle_ahead_right_steers_left():
    prox = np.array([0.0, 0.0, 0.0, 0.0, 0.8, 0.8, 0.7, 0.0, 0.0])
    steering, _ = act(prox, np.array([1.0, 0.0, 8.0]))
    assert steering > 0.2


def test_blocked_goal_side_is_avoided_even_when_the_goal_is_there():
    prox = np.array([0.85, 0.85, 0.85, 0.85, 0.0, 0.0, 0.0, 0.0, 0.0])
    steering, _ = act(prox, np.array([1.0, 0.5, 8.0]))  # goal to the left, left blocked
    assert steering <= 0.0


def test_slows_down_when_the_way_ahead_is_blocked():
    ego = np.array([2.0, 0.0, 8.0])
    _, free_throttle = act(FREE, ego)
    near = np.array([0.0, 0.0, 0.0, 0.0, 0.8, 0.0, 0.0, 0.0, 0.0])
    _, near_throttle = act(near, ego)
    assert 0.0 < near_throttle < 0.8 * free_throttle


def test_slows_down_near_the_goal():
    _, far = act(FREE, np.array([2.0, 0.0, 8.0]))
    _, close = act(FREE, np.array([2.0, 0.0, 0.6]))
    assert 0.0 < close < far


def test_boxed_in_backs_up_then_keeps_to_the_freer_side():
    controller = HistogramController()
    wall = np.full(9, 0.95)
    wall[-2:] = 0.93  # a little less blocked on the right
    steering, throttle = act(wall, controller=controller)
    assert throttle < 0.0
    assert steering > 0.0  # reversing with left lock turns the nose to the right
    for _ in range(ControllerConfig().reverse_steps - 1):
        assert act(FREE, controller=controller)[1] < 0.0  # the manoeuvre runs to its end
    steering, throttle = act(FREE, np.array([0.5, 0.3, 8.0]), controller=controller)
    assert throttle > 0.0 and steering <= 0.0  # goal is left, but it keeps to the right side a while


def test_obstacle_that_left_the_view_at_the_left_edge_blocks_left_turns_for_a_while():
    controller = HistogramController()
    goal_left = np.array([1.5, 0.6, 8.0])
    edge = np.zeros(9)
    edge[0] = 0.9
    act(edge, goal_left, controller)
    steering, _ = act(FREE, goal_left, controller)
    assert steering == pytest.approx(0.0)
    for _ in range(ControllerConfig().side_hold_steps):
        act(FREE, goal_left, controller)
    steering, _ = act(FREE, goal_left, controller)
    assert steering > 0.5
    controller.reset()
    act(edge, goal_left, controller)
    controller.reset()  # reset forgets the obstacle
    assert act(FREE, goal_left, controller)[0] > 0.5


def test_same_inputs_after_reset_give_the_same_actions():
    rng = np.random.default_rng(0)
    seq = [(rng.uniform(0, 1, 9) * (rng.uniform(size=9) < 0.4), rng.normal(size=3) + [1, 0, 5]) for _ in range(50)]
    controller = HistogramController()
    first = [controller.act(p, e) for p, e in seq]
    controller.reset()
    second = [controller.act(p, e) for p, e in seq]
    assert np.array_equal(np.stack(first), np.stack(second))


def test_bins_can_be_ordered_right_to_left():
    prox = np.array([0.0, 0.0, 0.7, 0.8, 0.8, 0.0, 0.0, 0.0, 0.0])  # blocked on the right here
    steering, _ = act(prox, np.array([1.0, 0.0, 8.0]), HistogramController(config=ControllerConfig(first_bin_left=False)))
    assert steering > 0.2


def test_wrong_number_of_bins_is_a_clear_error():
    with pytest.raises(ValueError, match="expected 9 proximity bins, got 5"):
        act(np.zeros(5))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fov_deg": 0.0}, "fov_deg must be in"),
        ({"free_level": 1.0}, "free_level must be in"),
        ({"slow_start": 0.9, "slow_stop": 0.5}, "slow_start must be below slow_stop"),
        ({"speed_scale": 0.0}, "speed_scale must be > 0"),
        ({"side_hold_steps": -1}, "side_hold_steps must be >= 0"),
    ],
)
def test_invalid_config_is_rejected_with_the_field_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ControllerConfig(**kwargs)


@given(
    prox=st.lists(st.floats(0.0, 1.0), min_size=9, max_size=9),
    speed=st.floats(-5.0, 5.0),
    heading=st.floats(-np.pi, np.pi),
    distance=st.floats(0.0, 30.0),
)
def test_actions_are_always_finite_and_within_the_action_box(prox, speed, heading, distance):
    action = HistogramController().act(np.array(prox), np.array([speed, heading, distance]))
    assert action.shape == (2,) and action.dtype == np.float32
    assert np.all(np.isfinite(action)) and np.all(np.abs(action) <= 1.0)
