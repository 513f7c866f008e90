"""run_cases stops early only when its first cases all fail with one configuration error; otherwise
every result is stored, and each distinct error is printed once."""

from __future__ import annotations

import io

import pytest

import fakes
from simtest.authoring.sampling import plan
from simtest.authoring.spec import load_suite
from simtest.contract.registry import ModelRef
from simtest.contract.results import CONFIGURATION, Outcome
from simtest.core.errors import ConfigurationError
from simtest.execution.runner import episode_result
from simtest.orchestrate import ExecutionOptions, run_cases

MODEL = ModelRef(name="fake", version="1", entry_point="fakes:make_agent", digest="d" * 16)
TB = 'Traceback (most recent call last):\n  File "/x/env.py", line {line}, in make\n    ...\nTypeError: bad kwarg\n'


class Scripted:
    """An executor that returns a scripted outcome per case, in order."""

    def __init__(self, script):
        self.script = script

    def run(self, cases, model):
        for case, kind in zip(cases, self.script):
            if kind == "ok":
                yield episode_result(case, model, Outcome.COMPLETED, steps=3)
            else:
                yield episode_result(case, model, Outcome.ENV_ERROR, error=TB.format(line=kind),
                                     error_kind=CONFIGURATION)


@pytest.fixture()
def suite(tmp_path):
    (tmp_path / "s.yaml").write_text(f"id: t/s-v1\nenv: {fakes.ENV_ID}\nhorizon: 3\n")
    (tmp_path / "suite.yaml").write_text("name: t\nscenarios: [s.yaml]\nsamples: 1\nseeds: 8\n")
    return load_suite(tmp_path / "suite.yaml")


def _run(suite, tmp_path, script):
    log = io.StringIO()
    options = ExecutionOptions(executor="local", results=str(tmp_path / "results"), quiet=True)
    cases = plan(suite)
    try:
        run = run_cases(suite, MODEL, cases, options, executor=Scripted(script), log=log)
    except ConfigurationError as exc:
        return None, log.getvalue(), str(exc)
    return run, log.getvalue(), ""


def test_first_cases_failing_alike_stop_the_run_and_store_nothing(suite, tmp_path):
    run, log, error = _run(suite, tmp_path, [1] * 8)
    assert run is None and "the first 5 cases all failed the same way" in error
    assert "without running the other 3 and stored none of them" in error
    assert "env_error in 5 cases (configuration: not retried): TypeError at /x/env.py:1 in make" in log


def test_a_success_among_them_means_the_run_goes_on_and_stores_everything(suite, tmp_path):
    run, log, error = _run(suite, tmp_path, [1, 1, "ok", 1, 1, 1, 1, 1])
    assert error == "" and len(run.read()) == 8
    assert log.count("env_error in 7 cases") == 1 and "see the rest: simtest replay " in log


def test_two_kinds_of_error_are_not_one_mistake(suite, tmp_path):
    run, log, error = _run(suite, tmp_path, [1, 2, 1, 2, 1, 2, 1, 2])
    assert error == "" and len(run.read()) == 8
    assert "TypeError at /x/env.py:1 in make" in log and "TypeError at /x/env.py:2 in make" in log
