"""Soak (make test-all): a longer sweep with a worker SIGKILLed every few dozen results and a
sprinkling of failing cases still returns exactly one row per case with the expected outcome."""

from __future__ import annotations

import collections
import os
import signal

import pytest

import simtest_toyenv as toy
from simtest_toyenv import RUNTIME_ENV
from simtest.executors.ray import RayExecutor
from simtest.results import Outcome

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_soak_with_repeated_worker_kills_keeps_exactly_one_row_per_case(local_ray):
    fine = toy.cases(400, steps=4, step_s=0.002)
    env_bad = toy.cases(5, start=1000, steps=4, raise_at=2)
    agent_bad = toy.cases(5, start=2000, steps=4, agent_raise=True)
    hung = toy.cases(2, start=3000, steps=40, hang_at=3)
    cases = fine + env_bad + agent_bad + hung
    got: dict[str, object] = {}
    killed: set[int] = set()
    with RayExecutor(workers=2, wall_timeout_s=1.0, runtime_env=RUNTIME_ENV, max_actor_restarts=100) as ex:
        for r in ex.run(cases, toy.MODEL):
            assert r.case.case_id not in got
            got[r.case.case_id] = r
            if len(got) % 40 == 0 and len(killed) < 8:
                busy = set(ex.worker_pids(busy_only=True)) - killed  # its death may not be seen yet
                if busy:
                    pid = min(busy)
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
        stats = dict(ex.stats)
    assert set(got) == {c.case_id for c in cases}
    outcomes = collections.Counter(r.outcome for r in got.values())
    assert outcomes == {Outcome.COMPLETED: 400, Outcome.ENV_ERROR: 5, Outcome.AGENT_ERROR: 5, Outcome.TIMEOUT: 2}
    assert all(got[c.case_id].attempt == 3 for c in env_bad)  # 1 + max_env_retries, whatever failed last
    # A case keeps attempt 1 unless its worker died while running it alone (it cannot be cleared).
    attempts = collections.Counter(got[c.case_id].attempt for c in fine + agent_bad + hung)
    assert set(attempts) <= {1, 2} and attempts[2] <= len(killed), attempts
    assert len(killed) >= 5 and stats["actor_failures"] >= len(killed)
