"""Soak (make test-all): a longer sweep with a worker SIGKILLed every few dozen results and a
sprinkling of failing cases still returns exactly one row per case with the expected outcome."""

from __future__ import annotations

import os
import signal

import pytest

import simtest_toyenv as toy
from simtest_toyenv import RUNTIME_ENV
from simtest.execution.executors.ray import RayExecutor
from simtest.contract.results import Outcome

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
    # Each kill can be pinned on at most one case: the one its worker was running alone. Such a
    # case is rerun (attempt + 1), and recorded env_error only after three such deaths.
    charged = sum(got[c.case_id].attempt - 1 for c in fine + agent_bad + hung)
    assert charged <= len(killed)
    died = {c.case_id for c in fine + agent_bad + hung if got[c.case_id].outcome is Outcome.ENV_ERROR}
    assert all(got[cid].error.startswith("worker process died") for cid in died)
    assert len(died) <= len(killed) // 3
    expected = {c.case_id: Outcome.COMPLETED for c in fine} | {c.case_id: Outcome.AGENT_ERROR for c in agent_bad} \
        | {c.case_id: Outcome.TIMEOUT for c in hung} | {c.case_id: Outcome.ENV_ERROR for c in env_bad}
    assert {cid: o for cid, o in expected.items() if cid not in died} == \
        {cid: got[cid].outcome for cid in expected if cid not in died}
    assert all(got[c.case_id].attempt == 3 for c in env_bad)  # 1 + max_env_retries, whatever failed last
    assert len(killed) >= 5 and stats["actor_failures"] >= len(killed)
