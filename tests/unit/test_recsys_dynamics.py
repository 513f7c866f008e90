"""The recsys user model on hand-checkable numbers (choice logit, drift, engagement, satisfaction
and churn), its parameter validation, and the episode metrics on synthetic info traces. Numpy
only: no gymnasium episodes, no torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simtest_envs.recsys import dynamics as dyn
from simtest_envs.recsys.metrics import METRICS, episode_metrics
from simtest_envs.recsys.params import PARAMS, defaults, resolve_params

C = dyn.CONSTANTS


def test_choice_probabilities_match_the_hand_computed_conditional_logit():
    p_docs, p_none = dyn.choice_probabilities(np.array([1.0, 2.0]), no_click_utility=0.0)
    z = 1.0 + math.e + math.e**2
    assert p_docs == pytest.approx([math.e / z, math.e**2 / z], rel=1e-12)
    assert p_none == pytest.approx(1.0 / z, rel=1e-12)


def test_choice_probabilities_with_equal_utilities_split_evenly_with_the_no_click_option():
    p_docs, p_none = dyn.choice_probabilities(np.full(4, 3.0), no_click_utility=3.0)
    assert p_docs == pytest.approx([0.2] * 4)
    assert p_none == pytest.approx(0.2)


def test_choice_probabilities_of_an_empty_slate_are_no_click_for_sure():
    p_docs, p_none = dyn.choice_probabilities(np.zeros(0), no_click_utility=-5.0)
    assert len(p_docs) == 0 and p_none == 1.0


def test_click_utilities_weigh_affinity_popularity_and_repeat_penalty():
    u = dyn.click_utilities(np.array([1.0, 0.5, 1.0]), np.array([0.2, 0.8, 0.2]), np.array([0, 0, 1]),
                            popularity_bias=2.0)
    assert u == pytest.approx([C.interest_weight + 0.4, 0.5 * C.interest_weight + 1.6,
                               C.interest_weight + 0.4 - C.repeat_penalty])


def test_affinity_is_interest_relative_to_the_favourite_topic():
    assert dyn.affinity(np.array([0.5, 0.25, 0.25]), np.array([0, 1, 2, 0])) == pytest.approx([1.0, 0.5, 0.5, 1.0])


def test_draw_choice_maps_one_uniform_to_a_slate_position_or_no_click():
    p = np.array([0.2, 0.3])
    assert dyn.draw_choice(p, 0.1) == 0
    assert dyn.draw_choice(p, 0.25) == 1
    assert dyn.draw_choice(p, 0.5) == -1  # the remaining 0.5 is the no-click option
    assert dyn.draw_choice(np.zeros(0), 0.0) == -1


def test_drift_moves_interests_toward_the_consumed_topic_by_the_drift_rate():
    theta = np.array([0.5, 0.3, 0.2])
    out = dyn.drift(theta, topic=2, rate=0.1)
    assert out == pytest.approx([0.45, 0.27, 0.28])
    assert out.sum() == pytest.approx(1.0)
    assert theta == pytest.approx([0.5, 0.3, 0.2])  # the input is not modified
    assert dyn.drift(theta, 0, 0.0) == pytest.approx(theta)


def test_engagement_rises_with_quality_and_interest_and_falls_with_fatigue():
    e = dyn.engagement(quality=0.5, aff=1.0, fatigue=1.0, satiation=0.4, repeat=False)
    logit = C.quality_weight * 0.5 + C.affinity_weight * 0.5 - 0.4
    assert e == pytest.approx(1.0 / (1.0 + math.exp(-logit)))
    assert dyn.engagement(0.5, 1.0, 1.0, 0.4, repeat=True) == pytest.approx(e * C.repeat_engagement)
    assert dyn.engagement(1.0, 1.0, 1.0, 0.4, False) > e > dyn.engagement(0.5, 1.0, 2.0, 0.4, False)


def test_fatigue_decays_every_step_and_grows_with_the_consumed_topic():
    f = dyn.decay_fatigue(np.array([1.0, 0.0]), topic=1)
    assert f == pytest.approx([C.fatigue_decay, 1.0])
    assert dyn.decay_fatigue(f, None) == pytest.approx([C.fatigue_decay**2, C.fatigue_decay])


def test_satisfaction_moves_with_engagement_after_a_click_and_pays_for_a_miss():
    assert dyn.update_satisfaction(0.5, True, 0.9) == pytest.approx(0.5 + C.satisfaction_gain * 0.4)
    assert dyn.update_satisfaction(0.5, True, 0.1) == pytest.approx(0.5 - C.satisfaction_gain * 0.4)
    assert dyn.update_satisfaction(0.5, False, 0.0) == pytest.approx(0.5 - C.no_click_cost)
    assert dyn.update_satisfaction(0.99, True, 1.0) == 1.0


def test_satisfaction_hits_exactly_zero_after_the_hand_computed_number_of_misses():
    s, steps = 0.5, 0
    while s > 0.0:
        s = dyn.update_satisfaction(s, False, 0.0)
        steps += 1
    assert s == 0.0
    assert steps == round(0.5 / C.no_click_cost)  # 25: float residue does not add a step


def test_normalized_entropy_is_one_for_uniform_and_zero_for_a_single_topic():
    assert dyn.normalized_entropy(np.full(8, 1 / 8)) == pytest.approx(1.0)
    assert dyn.normalized_entropy(np.array([1.0, 0.0, 0.0])) == 0.0
    assert 0.0 < dyn.normalized_entropy(np.array([0.7, 0.2, 0.1])) < 1.0


def test_new_users_have_no_history_and_returning_users_have_the_declared_length():
    rng = np.random.default_rng(0)
    assert len(dyn.sample_user(rng, "new", 10, 1.0, 20).history) == 0
    assert len(dyn.sample_user(rng, "mainstream", 10, 1.0, 20).history) == 20


def test_niche_users_lean_toward_unpopular_topics_and_mainstream_toward_popular_ones():
    rng = np.random.default_rng(1)
    niche = np.mean([dyn.sample_user(rng, "niche", 10, 1.0, 0).interests for _ in range(200)], axis=0)
    main = np.mean([dyn.sample_user(rng, "mainstream", 10, 1.0, 0).interests for _ in range(200)], axis=0)
    assert niche[-3:].sum() > niche[:3].sum()
    assert main[:3].sum() > main[-3:].sum()


def test_catalogue_popularity_is_in_unit_interval_and_quality_spread_scales_quality():
    rng = np.random.default_rng(2)
    cat = dyn.sample_catalogue(rng, 500, 8, quality_spread=0.0)
    assert np.all(cat.quality == 0.0)
    assert np.all((cat.popularity > 0) & (cat.popularity < 1))
    assert np.bincount(cat.topic, minlength=8)[0] > np.bincount(cat.topic, minlength=8)[7]  # Zipf topics


# --------------------------------------------------------------------------- params


def test_declared_params_include_the_issue_knobs_with_defaults_in_range():
    for name in ("cohort", "n_topics", "catalogue_size", "interest_concentration", "drift_rate", "quality_spread",
                 "popularity_bias", "slate_size", "max_steps"):
        assert name in PARAMS
    for name, spec in PARAMS.items():
        if spec["type"] != "str":
            assert spec["min"] <= spec["default"] <= spec["max"], name
    assert resolve_params({}) == defaults()


def test_resolve_params_reports_every_problem_with_a_suggestion():
    with pytest.raises(ValueError) as err:
        resolve_params({"slate_sise": 3, "cohort": "mainstrem", "n_topics": 1.5, "drift_rate": 2.0})
    text = str(err.value)
    assert 'params.slate_sise: unknown parameter of simtest/RecsysSession-v0; did you mean "slate_size"?' in text
    assert "params.cohort: 'mainstrem' is not one of ['new', 'niche', 'mainstream'] (did you mean \"mainstream\"?)" in text
    assert "params.n_topics: expected an integer, got 1.5" in text
    assert "params.drift_rate: 2.0 is outside [0.0, 1.0] per click" in text


def test_resolve_params_accepts_integral_floats_for_int_params():
    assert resolve_params({"n_topics": 12.0})["n_topics"] == 12


# --------------------------------------------------------------------------- metrics


def _info(step, *, slate=(), topics=(), choice=-1, engagement=0.0, churned=False, satisfaction=0.5,
          entropy=0.8, catalogue_size=10):
    return {"step": step, "slate": np.asarray(slate, np.int64), "slate_topics": np.asarray(topics, np.int64),
            "choice": choice, "clicked": choice >= 0, "engagement": engagement, "churned": churned,
            "satisfaction": satisfaction, "interest_entropy": entropy, "catalogue_size": catalogue_size}


def test_episode_metrics_on_a_hand_built_three_step_trace():
    infos = [
        _info(0, entropy=0.9),
        _info(1, slate=[0, 1, 2], topics=[0, 0, 1], choice=1, engagement=0.6),  # pairs: 2/6 same topic
        _info(2, slate=[3, 4, 5], topics=[0, 1, 2], choice=-1),  # all different
        _info(3, slate=[0, 6, 7], topics=[0, 1, 1], choice=7, engagement=0.3, satisfaction=0.4, entropy=0.7),
    ]
    m = episode_metrics(infos, {})
    assert m["click_through_rate"] == pytest.approx(2 / 3)
    assert m["total_engagement"] == pytest.approx(0.9)
    assert m["session_length"] == 3.0
    assert m["retained"] == 1.0
    assert m["intra_slate_diversity"] == pytest.approx((4 / 6 + 1.0 + 4 / 6) / 3)
    assert m["catalogue_coverage"] == pytest.approx(8 / 10)
    assert m["interest_entropy_change"] == pytest.approx(-0.2)
    assert m["final_satisfaction"] == pytest.approx(0.4)
    assert set(m) == set(METRICS)


def test_retained_is_zero_when_the_user_churned():
    infos = [_info(0), _info(1, slate=[1], topics=[0], satisfaction=0.0, churned=True)]
    m = episode_metrics(infos, {})
    assert m["retained"] == 0.0 and m["final_satisfaction"] == 0.0
    assert m["intra_slate_diversity"] == 0.0  # a slate of one has no pairs


def test_metric_declarations_follow_the_contract():
    for name, decl in METRICS.items():
        assert decl["kind"] in ("binary", "continuous") and decl["better"] in ("higher", "lower"), name
        assert isinstance(decl["time_like"], bool) and decl["doc"], name
    assert METRICS["retained"]["kind"] == "binary"
