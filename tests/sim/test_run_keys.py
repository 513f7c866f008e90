"""Run keys follow the code: editing one env invalidates only that env's runs. The shipped envs
are copied to a tmp dir that shadows the installed simtest_envs (PYTHONPATH), as a developer's
checkout would, and real pybullet episodes run through the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from plugin_fakes import simtest_cli, write_suite

pytestmark = [pytest.mark.sim, pytest.mark.e2e]
REPO = Path(__file__).resolve().parents[2]

AGENT = '''
import numpy as np


class Still:
    def reset(self, seed):
        pass

    def act(self, observation):
        return np.zeros(2, np.float32)


def make_agent(weights=None):
    return Still()
'''


def test_editing_the_recsys_env_reuses_the_driving_runs_and_editing_driving_does_not(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(REPO / "envs", site / "simtest_envs", ignore=shutil.ignore_patterns("__pycache__"))
    (site / "stillagent.py").write_text(AGENT)
    (tmp_path / "still-1.0.yaml").write_text("name: still\nversion: '1.0'\nentry_point: stillagent:make_agent\n")
    suite = write_suite(tmp_path, "simtest/Driving-v0", {"n_obstacles": 1}, seeds=2, horizon=5, name="drive")
    args = ("run", "--suite", str(suite), "--model", str(tmp_path / "still-1.0.yaml"), "--executor", "local")

    first = simtest_cli(*args, cwd=tmp_path, site=site)
    assert first.returncode == 0, first.stderr
    assert "still@1.0: running 2 cases" in first.stderr

    recsys = site / "simtest_envs" / "recsys" / "env.py"
    recsys.write_text(recsys.read_text() + "\n# a change to the recommender only\n")
    after_recsys = simtest_cli(*args, cwd=tmp_path, site=site)
    assert after_recsys.returncode == 0, after_recsys.stderr
    assert "all 2 cases already stored" in after_recsys.stderr and "(reused)" in after_recsys.stderr

    scene = site / "simtest_envs" / "driving" / "scene.py"
    scene.write_text(scene.read_text() + "\n# a change to the driving scene\n")
    after_driving = simtest_cli(*args, cwd=tmp_path, site=site)
    assert after_driving.returncode == 0, after_driving.stderr
    assert "still@1.0: running 2 cases" in after_driving.stderr
