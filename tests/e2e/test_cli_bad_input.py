"""Bad input: exit 2, one message naming the file, the place and the fix, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def simtest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simtest.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


SCENARIO = """\
id: driving/broken-v1
env: {env}
horizon: 20
params:
  {param}: {value}
"""


def suite_with(tmp_path: Path, **fields) -> Path:
    fields = {"env": "simtest/Driving-v0", "param": "n_obstacles", "value": 2, **fields}
    write(tmp_path / "s.yaml", SCENARIO.format(**fields))
    return write(tmp_path / "suite.yaml", "name: broken\nscenarios: [s.yaml]\nsamples: 1\n")


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    "fields,needles",
    [
        ({"env": "simtest/Drivin-v0"}, ['s.yaml:2:6 $.env: unknown env id "simtest/Drivin-v0"', 'did you mean "simtest/Driving-v0"']),
        ({"param": "n_obstacle"}, ['s.yaml:5:3 $.params.n_obstacle: unknown parameter "n_obstacle"', 'did you mean "n_obstacles"']),
        ({"value": "many"}, ['s.yaml:5:16 $.params.n_obstacles: "n_obstacles" must be an integer']),
        ({"value": 99}, ["$.params.n_obstacles", "above the maximum 12"]),
    ],
    ids=["unknown-env", "misspelt-param", "wrong-type", "out-of-range"],
)
def test_bad_scenario_is_exit_2_with_file_line_and_fix(tmp_path, fields, needles):
    suite = suite_with(tmp_path, **fields)
    proc = simtest("run", "--suite", str(suite), "--model", "driving-perception@1.1", "--executor", "local", cwd=tmp_path)
    assert_clean_error(proc, *needles)


def test_unknown_model_reference_suggests_the_closest(tmp_path):
    suite = suite_with(tmp_path)
    proc = simtest("run", "--suite", str(suite), "--model", "driving-perceptio@1.1", "--executor", "local", cwd=tmp_path)
    assert_clean_error(proc, 'unknown model "driving-perceptio@1.1"', 'did you mean "driving-perception@1.1"', "simtest models")


def test_missing_checkpoint_names_the_manifest_and_the_file(tmp_path):
    manifest = write(tmp_path / "m.yaml", """\
        name: mine
        version: "1"
        entry_point: simtest_models.driving.agent:make_agent
        weights: gone.pt
        """)
    suite = suite_with(tmp_path)
    proc = simtest("run", "--suite", str(suite), "--model", str(manifest), "--executor", "local", cwd=tmp_path)
    assert_clean_error(proc, "m.yaml: weights file gone.pt not found")


def test_checkpoint_for_another_architecture_is_a_clean_error(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("simtest_models.driving.agent")
    torch.save({"conv.weight": torch.zeros(3, 3)}, tmp_path / "other.pt")
    manifest = write(tmp_path / "m.yaml", """\
        name: mine
        version: "1"
        entry_point: simtest_models.driving.agent:make_agent
        weights: other.pt
        """)
    suite = suite_with(tmp_path)
    proc = simtest("run", "--suite", str(suite), "--model", str(manifest), "--executor", "local", cwd=tmp_path)
    assert_clean_error(proc, "m.yaml", "other.pt")


def test_yaml_syntax_error_points_at_the_line(tmp_path):
    write(tmp_path / "s.yaml", "id: driving/x-v1\nenv: simtest/Driving-v0\nparams: [unclosed\nhorizon: 3\n")
    proc = simtest("validate", str(tmp_path / "s.yaml"), cwd=tmp_path)
    assert_clean_error(proc, "s.yaml:4", "YAML syntax error")


def test_usage_error_exits_2(tmp_path):
    proc = simtest("gate", "--suite", "x.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "required" in proc.stderr
