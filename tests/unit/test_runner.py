"""EpisodeWorker on a numpy fake env: seed streams, outcome classification, checks."""

from __future__ import annotations

import json

import fakes  # noqa: F401 - registers the fake env
from simtest.execution.executors.local import LocalExecutor
from simtest.contract.registry import ModelRef
from simtest.contract.results import Outcome
from simtest.execution.runner import EpisodeWorker
from simtest.contract.cases import Case


def _model(**options) -> ModelRef:
    return ModelRef(name="fake", version="1", entry_point="fakes:make_agent",
                    digest=json.dumps(options, sort_keys=True), options_json=json.dumps(options))


def _case(seed: int = 1, horizon: int = 30, checks=(("long", "episode_length >= 30"),), **params) -> Case:
    return Case(scenario="test/counter-v1", scenario_hash="h", env=fakes.ENV_ID,
                params_json=json.dumps(params, sort_keys=True), seed=seed, horizon=horizon, checks=checks)


def test_agent_randomness_does_not_shift_the_scene():
    quiet = EpisodeWorker(_model(draws=0)).run(_case(seed=7))
    noisy = EpisodeWorker(_model(draws=50)).run(_case(seed=7))
    assert quiet.outcome is Outcome.COMPLETED
    assert quiet.trace_digest == noisy.trace_digest
    assert quiet.metrics == noisy.metrics


def test_same_case_gives_the_same_trajectory_and_other_seeds_differ():
    worker = EpisodeWorker(_model())
    a1, b, a2 = worker.run(_case(seed=1)), worker.run(_case(seed=2)), worker.run(_case(seed=1))
    assert a1.trace_digest == a2.trace_digest and a1.metrics == a2.metrics
    assert a1.trace_digest != b.trace_digest


def test_env_exception_is_env_error_and_retried_then_recorded():
    results = list(LocalExecutor(max_env_retries=2).run([_case(fail_at_step=3)], _model()))
    assert len(results) == 1
    r = results[0]
    assert r.outcome is Outcome.ENV_ERROR and r.attempt == 3
    assert "simulator exploded" in r.error
    assert not r.passed and r.outcome.is_infrastructure


def test_agent_exception_is_agent_error_and_not_retried():
    r = list(LocalExecutor(max_env_retries=2).run([_case()], _model(fail=True)))[0]
    assert r.outcome is Outcome.AGENT_ERROR and r.attempt == 1
    assert "model exploded" in r.error
    assert not r.outcome.is_infrastructure and not r.passed


def test_checks_are_evaluated_on_metrics_and_horizon_bounds_the_episode():
    r = EpisodeWorker(_model(gain=1.0)).run(_case(horizon=12, checks=(("long", "episode_length >= 30"), ("any", "episode_length > 0"))))
    assert r.steps <= 12
    assert dict(r.checks) == {"long": False, "any": True}
    assert not r.passed


def test_wall_clock_watchdog_records_timeout():
    r = EpisodeWorker(_model(), wall_timeout_s=0.0).run(_case())
    assert r.outcome is Outcome.TIMEOUT and "watchdog" in r.error


def test_result_row_has_design_columns():
    row = EpisodeWorker(_model()).run(_case()).to_row()
    for col in ("case_id", "scenario", "scenario_hash", "seed", "params", "tags", "model", "model_version",
                "model_digest", "outcome", "steps", "wall_s", "error", "metric_episode_length", "check_long"):
        assert col in row


def test_a_make_error_is_a_configuration_error_and_never_retried():
    r, = LocalExecutor(max_env_retries=2).run([_case(no_such_kwarg=1)], _model())
    assert r.outcome is Outcome.ENV_ERROR and r.error_kind == "configuration" and r.attempt == 1
    assert r.error.startswith("configuration error: making or configuring simtest-test/Counter-v0")
    assert "no_such_kwarg" in r.error
    stepping, = LocalExecutor(max_env_retries=2).run([_case(fail_at_step=3)], _model())
    assert stepping.error_kind == "" and stepping.attempt == 3  # a transient error is still retried
