"""Gate policy files: the shipped driving policy loads; mistakes are reported with file:line,
$.path and a fix, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from simtest.core.errors import PolicyError
from simtest.contract.policy import GatePolicy, MetricPolicy, load_policy, policy_from_dict
from simtest_envs.driving.metrics import METRICS as DRIVING_METRICS

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(text)
    return p


def test_driving_policy_loads_against_the_driving_metrics():
    from simtest.contract.registry import suite_metrics_of

    # the env's metrics as a suite sees them: declared, generic and in-the-loop model metrics
    policy = load_policy(ROOT / "scenarios/driving/policy.yaml", suite_metrics_of({"simtest/Driving-v0"}))
    assert not policy.metric("model_mae").blocking and policy.metric("model_mae").margin_baseline == 0.01
    assert policy.metric("passed").blocking and policy.metric("passed").margin_baseline == 0.05
    assert policy.metric("collision").safety and policy.metric("collision").blocking
    assert "lighting=night" in policy.blocking_slices
    assert policy.alpha == pytest.approx(0.05)
    assert policy.slice_gaps[0].worse == "lighting=night"
    assert policy.adaptive.cap_factor == 3


def test_unknown_metric_is_reported_with_line_and_suggestion(tmp_path):
    path = _write(tmp_path, "metrics:\n  passed: {blocking: true}\n  sucess: {margin_baseline: 0.05}\n")
    with pytest.raises(PolicyError) as exc:
        load_policy(path, DRIVING_METRICS)
    text = str(exc.value)
    assert f"{path}:3:3 $.metrics.sucess: unknown metric \"sucess\" (did you mean \"success\"?)" in text
    assert "known metrics: collision, errors," in text


def test_every_problem_is_reported_at_once_in_file_order(tmp_path):
    path = _write(tmp_path, (
        "metrics:\n"
        "  sucess: {margin_baseline: 0.05}\n"
        "  passed: {margin_baseline: -1, blockng: true}\n"
        "slices:\n"
        "  params:\n"
        "    fog_density: {bins: [0.3, 0.1]}\n"
        "blocking_slices: [nightt]\n"
    ))
    with pytest.raises(PolicyError) as exc:
        load_policy(path, DRIVING_METRICS)
    lines = str(exc.value).splitlines()
    assert len(lines) == 5
    assert lines[0].startswith(f"{path}:2:3 $.metrics.sucess: unknown metric")
    assert lines[1].startswith(f"{path}:3:29 $.metrics.passed.margin_baseline: ")
    assert "greater than or equal to 0" in lines[1]
    assert lines[2] == f'{path}:3:33 $.metrics.passed.blockng: unknown key "blockng"; remove it or check its spelling'
    assert lines[3] == f"{path}:6:18 $.slices.params.fog_density: bins [0.3, 0.1] must be strictly increasing"
    assert lines[4].startswith(f'{path}:7:19 $.blocking_slices[0]: "nightt" is not a slice name')


def test_bins_and_quantiles_together_are_refused():
    with pytest.raises(PolicyError, match="give either bins or quantiles, not both"):
        policy_from_dict({"slices": {"params": {"fog_density": {"bins": [0, 1], "quantiles": 3}}}})


def test_relative_margin_on_a_binary_metric_is_refused():
    with pytest.raises(PolicyError, match='"success" is binary; its margins are absolute'):
        policy_from_dict({"metrics": {"success": {"relative": True, "margin_baseline": 0.05}}}, DRIVING_METRICS)


def test_slice_gap_metric_is_checked(tmp_path):
    path = _write(tmp_path, "slice_gaps:\n  - {better: lighting=day, worse: lighting=night, metric: sucess, margin: 0.1}\n")
    with pytest.raises(PolicyError, match=r':2:\d+ \$\.slice_gaps\[0\]\.metric: unknown metric "sucess" \(did you mean "success"\?\)'):
        load_policy(path, DRIVING_METRICS)


def test_yaml_syntax_error_is_a_policy_error(tmp_path):
    path = _write(tmp_path, "metrics: {passed: [\n")
    with pytest.raises(PolicyError, match="YAML syntax error"):
        load_policy(path)


def test_missing_file_says_so(tmp_path):
    with pytest.raises(PolicyError, match="file not found"):
        load_policy(tmp_path / "nope.yaml")


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(PolicyError, match="expected a mapping at the top level"):
        load_policy(_write(tmp_path, "- passed\n"))


def test_slice_margins_default_to_the_overall_margins():
    mp = MetricPolicy(margin_baseline=0.02, margin_reference=0.05, slice_margin_baseline=0.1)
    assert mp.margin("baseline", overall=True) == 0.02
    assert mp.margin("baseline", overall=False) == 0.1
    assert mp.margin("reference", overall=False) == 0.05


def test_policy_is_frozen_and_the_errors_check_is_always_judged():
    policy = GatePolicy()
    with pytest.raises(Exception):
        policy.confidence = 0.9  # type: ignore[misc]
    assert "errors" in policy.judged_metrics()
    assert policy.metric("errors").safety and policy.metric("errors").blocking
    assert not policy.metric("errors").blocking_in_slices


def test_categorical_param_shorthand():
    policy = policy_from_dict({"slices": {"params": ["lighting"]}})
    assert policy.slices.params["lighting"].categorical
    policy = policy_from_dict({"slices": {"params": {"lighting": None}}})
    assert policy.slices.params["lighting"].categorical


def test_default_policy_judges_passed_and_errors():
    policy = GatePolicy.default()
    assert policy.judged_metrics() == ("passed", "errors")
    assert policy.metric("passed").blocking
