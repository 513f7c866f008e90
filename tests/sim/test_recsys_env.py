"""simtest/RecsysSession-v0 episodes: gymnasium conformance, determinism per seed, and the env's
wiring of the user model (choice probabilities, drift, churn) checked by hand against info."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest

import simtest_envs  # noqa: F401 - registers the ids
from simtest_envs.recsys import dynamics as dyn
from simtest_envs.recsys.env import INFO_KEYS, RecsysSessionEnv
from simtest_envs.recsys.metrics import episode_metrics

pytestmark = pytest.mark.sim


@pytest.fixture()
def env():
    e = RecsysSessionEnv()
    yield e
    e.close()


def _action(env, docs):
    a = np.full(env.max_slate, docs[0] if len(docs) else env.max_catalogue - 1, np.int64)
    a[: len(docs)] = docs
    return a


def _rollout(env, seed, params, steps=30):
    obs, info = env.reset(seed=seed, options={"params": params})
    trace = [(obs, info)]
    for t in range(steps):
        # A fixed, agent-free policy: the t-th block of documents.
        docs = (np.arange(params.get("slate_size", 5)) + 5 * t) % params.get("catalogue_size", 200)
        obs, r, term, trunc, info = env.step(_action(env, docs))
        trace.append((obs, info, r, term, trunc))
        if term or trunc:
            break
    return trace


def test_passes_gymnasium_check_env():
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make("simtest/RecsysSession-v0", disable_env_checker=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "unbounded space" or similar warnings either
        check_env(env.unwrapped, skip_render_check=True)


def test_same_seed_gives_the_same_session_bit_for_bit(env):
    params = {"cohort": "niche", "n_topics": 7, "catalogue_size": 120}
    a, b = _rollout(env, 11, params), _rollout(env, 11, params)
    assert len(a) == len(b)
    for sa, sb in zip(a, b):
        for k in sa[0]:
            np.testing.assert_array_equal(sa[0][k], sb[0][k])
        np.testing.assert_array_equal(sa[1]["interests"], sb[1]["interests"])
        assert sa[1]["choice"] == sb[1]["choice"] and sa[1]["satisfaction"] == sb[1]["satisfaction"]


def test_different_seeds_give_different_users_and_catalogues(env):
    o1, i1 = env.reset(seed=1)
    o2, i2 = env.reset(seed=2)
    assert not np.array_equal(i1["interests"], i2["interests"])
    assert not np.array_equal(o1["doc_topic"], o2["doc_topic"])


def test_the_agents_slate_does_not_shift_the_catalogue_or_the_user(env):
    """Streams are separate: whatever is shown, the same seed draws the same world."""
    env.reset(seed=5)
    env.step(_action(env, [0, 1, 2, 3, 4]))
    topics_a, interests_a = env.catalogue.topic.copy(), env.user.interests.copy()
    env.reset(seed=5)
    env.step(_action(env, [9, 8, 7]))
    np.testing.assert_array_equal(env.catalogue.topic, topics_a)
    np.testing.assert_array_equal(env.user.interests, interests_a)


def test_observation_hides_interests_and_satisfaction_but_info_has_them(env):
    obs, info = env.reset(seed=3)
    assert set(obs) == {"history", "recent", "session", "doc_topic", "doc_popularity", "doc_rating",
                        "doc_consumed", "doc_mask"}
    assert set(INFO_KEYS) <= set(info)
    assert info["interests"].sum() == pytest.approx(1.0)
    assert obs["doc_mask"].sum() == 200 and obs["session"][4] == 5


def test_click_probability_in_info_matches_the_hand_computed_logit(env):
    params = {"popularity_bias": 1.5, "no_click_utility": 2.0, "slate_size": 3}
    obs, info = env.reset(seed=8, options={"params": params})
    slate = np.array([4, 17, 30])
    _, _, _, _, step_info = env.step(_action(env, slate))
    theta = info["interests"]
    topics = obs["doc_topic"][slate]
    pop = env.catalogue.popularity[slate]
    u = dyn.CONSTANTS.interest_weight * theta[topics] / theta.max() + 1.5 * pop
    p_none = np.exp(2.0) / (np.exp(2.0) + np.exp(u).sum())
    assert step_info["p_click"] == pytest.approx(1.0 - p_none, rel=1e-9)
    np.testing.assert_array_equal(step_info["slate_topics"], topics)


def test_a_click_drifts_interests_toward_the_consumed_topic_by_the_drift_rate(env):
    params = {"drift_rate": 0.2, "no_click_utility": -5.0, "engagement_noise": 0.0}  # a click is near certain
    for seed in range(20):
        _, info0 = env.reset(seed=seed, options={"params": params})
        _, _, _, _, info = env.step(_action(env, [0, 1, 2, 3, 4]))
        if info["clicked"]:
            break
    assert info["clicked"]
    topic = int(env.catalogue.topic[info["choice"]])
    expected = 0.8 * info0["interests"]
    expected[topic] += 0.2
    np.testing.assert_allclose(info["interests"], expected, rtol=1e-12)
    assert info["interests"][topic] > info0["interests"][topic]


def test_a_user_shown_nothing_churns_when_satisfaction_hits_zero(env):
    # An index outside the catalogue is an empty slot: an empty slate is never clicked.
    params = {"cohort": "new", "catalogue_size": 50, "max_steps": 100}
    obs, info = env.reset(seed=4, options={"params": params})
    s0 = info["satisfaction"]
    infos, terminated, truncated = [info], False, False
    while not (terminated or truncated):
        obs, r, terminated, truncated, info = env.step(np.full(env.max_slate, env.max_catalogue - 1, np.int64))
        infos.append(info)
    assert terminated and not truncated and info["churned"] and info["satisfaction"] == 0.0
    assert len(infos) - 1 == round(s0 / dyn.CONSTANTS.no_click_cost)
    m = episode_metrics(infos, params)
    assert m["retained"] == 0.0 and m["click_through_rate"] == 0.0 and m["catalogue_coverage"] == 0.0
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(np.zeros(env.max_slate, np.int64))


def test_a_session_that_survives_is_truncated_at_max_steps(env):
    trace = _rollout(env, 0, {"max_steps": 3, "cohort": "mainstream"}, steps=10)
    assert len(trace) == 4 and trace[-1][4] and not trace[-1][3]


def test_repeated_and_out_of_catalogue_slots_are_shown_once_or_not_at_all(env):
    env.reset(seed=0, options={"params": {"slate_size": 5, "catalogue_size": 20}})
    a = np.array([3, 3, 25, 7, 3, 1, 1, 1, 1, 1], np.int64)  # slots past slate_size are ignored
    _, _, _, _, info = env.step(a)
    np.testing.assert_array_equal(info["slate"], [3, 7])


def test_wrong_action_shape_and_bad_params_are_clear_errors(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be 10 integer document indices"):
        env.step(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"reset\(options=\{'params'\}\)\.slate_sise: unknown parameter .* did you mean \"slate_size\""):
        env.reset(seed=0, options={"params": {"slate_sise": 3}})
    small = RecsysSessionEnv(max_slate=4, slate_size=3)
    with pytest.raises(ValueError, match="slate_size=5 exceeds this env's max 4; lower it or construct the env with a larger max_slate"):
        small.reset(seed=0, options={"params": {"slate_size": 5}})
