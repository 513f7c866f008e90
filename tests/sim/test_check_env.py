"""`simtest check-env` passes for every registered env: the shipped envs keep their contract."""

from __future__ import annotations

import pytest

from simtest.contract.registry import env_ids
from simtest.execution.checkenv import check_env

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("env_id", env_ids())
def test_every_registered_env_passes_check_env(env_id):
    findings = check_env(env_id, episodes=2, horizon=20)
    assert [f for f in findings if not f.ok] == []
    assert [f.check for f in findings] == ["spec", "gymnasium check_env", "episodes and metrics",
                                           "params change the env", "views render", "replay bit for bit"]
