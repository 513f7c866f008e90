"""The pytest plugin, tested with pytester: scenario YAML files become one test item per case
with --simtest-model, and pytest's selection (-k, -m from tags, -x) and reporting (failure text,
JUnit) apply. A fast env (CartPole-v1) and a tiny agent keep every run to a fraction of a second."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True, scope="module")
def _import_once():
    """pytester's in-process runs drop modules first imported inside them; numpy and pyarrow
    cannot be imported twice in one process, so import what the plugin uses here, once."""
    import gymnasium.envs.classic_control.cartpole  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import simtest.replay  # noqa: F401
    import simtest.execution.runner  # noqa: F401
    import simtest.execution.store  # noqa: F401

AGENT = '''\
"""Balances by pushing toward the side the pole falls to; `lazy` always pushes left."""


class Balancer:
    def __init__(self, lazy):
        self.lazy = lazy

    def reset(self, seed):
        pass

    def act(self, obs):
        if self.lazy:
            return 0
        return int(obs[2] + 0.5 * obs[3] > 0)


def make_agent(weights=None, lazy=False):
    return Balancer(lazy)
'''

FILES = {
    "balance_agent.py": AGENT,
    "agent.yaml": 'name: balancer\nversion: "1"\nentry_point: balance_agent:make_agent\n',
    "lazy.yaml": 'name: balancer\nversion: lazy\nentry_point: balance_agent:make_agent\noptions: {lazy: true}\n',
    "scenarios/easy.yaml": (
        "id: cartpole/easy-v1\nenv: CartPole-v1\nhorizon: 40\ntags: [easy]\n"
        "params:\n  sutton_barto_reward: {choice: [true, false]}\nchecks:\n  - episode_length >= 40\n"),
    "scenarios/hard.yaml": (
        "id: cartpole/hard-v1\nenv: CartPole-v1\nhorizon: 30\ntags: [hard, night-shift]\n"
        "checks:\n  - episode_length >= 30\n  - {name: impossible, expr: episode_return > 1000}\n"),
    "scenarios/suite.yaml": "name: s\nscenarios: [easy.yaml, hard.yaml]\n",
    "scenarios/data.yaml": "rows: [1, 2, 3]\n",
    "test_plain.py": "def test_plain():\n    assert True\n",
}


@pytest.fixture
def project(pytester):
    for name, text in FILES.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pytester.syspathinsert()
    return pytester


def _ids(result) -> list[str]:
    return [line for line in result.outlines if "::" in line and not line.startswith(("FAILED", "ERROR"))]


def test_without_simtest_model_no_yaml_is_collected(project):
    result = project.runpytest("--co", "-q")
    assert _ids(result) == ["test_plain.py::test_plain"]


def test_each_case_of_each_scenario_file_is_one_item(project):
    result = project.runpytest("--simtest-model", "agent.yaml", "--simtest-samples", "2", "--simtest-seeds", "2",
                               "--co", "-q", "scenarios")
    ids = _ids(result)
    assert len([i for i in ids if i.startswith("scenarios/easy.yaml::cartpole/easy-v1[")]) == 4
    # hard.yaml has no parameters: one sample, two seeds
    assert len([i for i in ids if i.startswith("scenarios/hard.yaml::cartpole/hard-v1[")]) == 2
    assert len(ids) == 6 and all(re.search(r"\[[0-9a-f]{16}\]$", i) for i in ids)
    again = project.runpytest("--simtest-model", "agent.yaml", "--simtest-samples", "2", "--simtest-seeds", "2",
                              "--co", "-q", "scenarios")
    assert _ids(again) == ids  # case ids are stable


def test_tags_become_markers_for_selection(project):
    hard = project.runpytest("--simtest-model", "agent.yaml", "-m", "hard", "--co", "-q", "--strict-markers")
    assert _ids(hard) and all("hard-v1" in i for i in _ids(hard))
    assert all("hard-v1" in i for i in _ids(project.runpytest("--simtest-model", "agent.yaml", "-m", "night_shift",
                                                               "--co", "-q")))
    easy = project.runpytest("--simtest-model", "agent.yaml", "-m", "not hard", "--co", "-q")
    assert {i.split("::")[0] for i in _ids(easy)} == {"scenarios/easy.yaml", "test_plain.py"}


def test_k_selects_by_scenario_id_case_id_and_parameter_value(project):
    ids = _ids(project.runpytest("--simtest-model", "agent.yaml", "--co", "-q", "scenarios"))
    case_id = ids[0].rsplit("[", 1)[1].rstrip("]")
    one = project.runpytest("--simtest-model", "agent.yaml", "-k", case_id, "--co", "-q")
    assert _ids(one) == [ids[0]]
    by_scenario = project.runpytest("--simtest-model", "agent.yaml", "-k", "easy-v1", "--co", "-q")
    assert _ids(by_scenario) == [i for i in ids if "easy-v1" in i]
    true_ones = project.runpytest("--simtest-model", "agent.yaml", "-k", "True", "--co", "-q", "scenarios")
    assert 0 < len(_ids(true_ones)) < len(ids)


def test_passing_and_failing_cases_report_like_tests(project):
    result = project.runpytest("--simtest-model", "agent.yaml", "scenarios")
    result.assert_outcomes(passed=3, failed=1)


def test_failure_shows_failed_checks_metric_values_and_a_working_replay_command(project):
    from simtest.replay import replay_case

    result = project.runpytest("--simtest-model", "lazy.yaml", "-m", "hard")
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "scenario cartpole/hard-v1  case " in text
    assert re.search(r"failed checks:\n  episode_length: episode_length >= 30    \(episode_length = \d+\)\n"
                     r"  impossible: episode_return > 1000    \(episode_return = \d+\)", text), text
    assert re.search(r"metrics: episode_length=\d+, episode_return=\d+, terminated=1", text)
    match = re.search(r"replay: simtest replay ([0-9a-f]{16}) --model lazy.yaml --run (\S+)", text)
    assert match, text
    report = replay_case(match.group(1), "lazy.yaml", run=match.group(2))
    assert report.identical, "\n".join(report.lines)


def test_x_stops_at_the_first_failing_case(project):
    result = project.runpytest("--simtest-model", "lazy.yaml", "-x", "-p", "no:randomly", "scenarios")
    result.assert_outcomes(failed=1)
    assert "stopping after 1 failures" in result.stdout.str()


def test_junit_xml_has_one_testcase_per_case_with_its_failure_and_properties(project):
    result = project.runpytest("--simtest-model", "lazy.yaml", "--junitxml=out.xml", "scenarios")
    result.assert_outcomes(failed=4)
    suite = ET.parse(project.path / "out.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 4 and suite.get("failures") == "4"
    failure = cases[0].find("failure")
    assert failure is not None and "failed checks:" in failure.text and "replay: simtest replay" in failure.text
    props = {p.get("name"): p.get("value") for p in cases[0].find("properties")}
    assert {"case_id", "scenario", "seed", "params", "replay"} <= set(props)
    assert cases[0].get("name").endswith(f"[{props['case_id']}]")


def test_invalid_scenario_is_a_clean_collection_error(project):
    (project.path / "scenarios" / "broken.yaml").write_text(
        "id: cartpole/broken-v1\nenv: CartPole-v1\nhorizn: 3\n")
    result = project.runpytest("--simtest-model", "agent.yaml", "scenarios/broken.yaml")
    text = result.stdout.str()
    assert 'broken.yaml:3:1 $.horizn: unknown key "horizn" (did you mean "horizon"?)' in text
    assert "Traceback" not in text and "simtest/spec.py" not in text


def test_unknown_model_is_a_usage_error(project):
    result = project.runpytest("--simtest-model", "nope@1", "scenarios")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert 'unknown model "nope@1"' in result.stderr.str()
