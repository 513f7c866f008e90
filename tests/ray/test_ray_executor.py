"""The Ray executor against a real local Ray: every case comes back exactly once, whatever the
workers do (die, hang, raise), and each failure is recorded with the right outcome and attempt."""

from __future__ import annotations

import collections
import json
import os
import signal
from pathlib import Path

import pytest

import simtest_toyenv as toy
from simtest_toyenv import RUNTIME_ENV
from simtest.errors import ModelError
from simtest.executors.local import LocalExecutor
from simtest.executors.ray import RayExecutor
from simtest.results import EpisodeResult, Outcome

pytestmark = pytest.mark.ray


def executor(**kw) -> RayExecutor:
    kw.setdefault("workers", 2)
    kw.setdefault("wall_timeout_s", 10.0)
    return RayExecutor(runtime_env=RUNTIME_ENV, **kw)


def by_case(results) -> dict[str, EpisodeResult]:
    out: dict[str, EpisodeResult] = {}
    for r in results:
        assert r.case.case_id not in out, f"case {r.case.case_id} reported twice"
        out[r.case.case_id] = r
    return out


def starts(log: Path) -> list[int]:
    """pids of the processes that started an episode with this log file, in order."""
    if not log.exists():
        return []
    return [json.loads(line)["pid"] for line in log.read_text().splitlines()]


def test_two_workers_return_exactly_one_row_per_case(local_ray, tmp_path):
    log = tmp_path / "starts.log"
    cases = toy.cases(24, steps=4, step_s=0.005, log=str(log))
    with executor() as ex:
        got = by_case(ex.run(cases + cases[:3], toy.MODEL))  # repeated cases run once
        assert len(ex.worker_pids()) == 2
    assert set(got) == {c.case_id for c in cases}
    assert {r.outcome for r in got.values()} == {Outcome.COMPLETED}
    assert {r.attempt for r in got.values()} == {1}
    pids = collections.Counter(starts(log))
    assert len(pids) == 2 and sum(pids.values()) == 24  # both actors worked, nothing ran twice


def test_sigkill_of_a_worker_mid_sweep_loses_and_duplicates_nothing(local_ray, tmp_path):
    log = tmp_path / "starts.log"
    cases = toy.cases(40, steps=5, step_s=0.01, log=str(log))
    results, killed = [], None
    with executor() as ex:
        for r in ex.run(cases, toy.MODEL):
            results.append(r)
            if len(results) == 4:
                killed = next(iter(ex.worker_pids(busy_only=True)))
                os.kill(killed, signal.SIGKILL)
        stats = dict(ex.stats)
    got = by_case(results)
    assert set(got) == {c.case_id for c in cases}
    assert {r.outcome for r in got.values()} == {Outcome.COMPLETED}
    assert {r.attempt for r in got.values()} == {1}  # the crash is not attributed to any case
    assert stats["actor_failures"] == 1 and stats["requeued"] >= 1
    ran = starts(log)
    assert killed in ran and len(set(ran)) == 3  # the killed worker, the survivor, the replacement


def test_env_hanging_in_python_is_stopped_by_the_worker_watchdog(local_ray):
    fine = toy.cases(6, steps=3, step_s=0.01)
    hung = toy.cases(1, start=100, steps=50, hang_at=2)[0]
    with executor(wall_timeout_s=1.0, chunk_deadline_s=30) as ex:
        got = by_case(ex.run(fine + [hung], toy.MODEL))
        stats = dict(ex.stats)
    assert set(got) == {c.case_id for c in fine + [hung]}
    r = got[hung.case_id]
    assert r.outcome is Outcome.TIMEOUT and r.attempt == 1 and r.steps == 1
    assert "wall-clock watchdog: episode exceeded 1 s" in r.error and "time.sleep" in r.error
    assert all(got[c.case_id].outcome is Outcome.COMPLETED for c in fine)
    assert stats["recycled"] >= 1 and stats["deadline_kills"] == 0  # replaced by a fresh process


def test_env_hanging_with_signals_blocked_is_killed_at_the_chunk_deadline(local_ray):
    fine = toy.cases(6, steps=3, step_s=0.01)
    hung = toy.cases(1, start=100, steps=50, hang_at=2, hang="blocked")[0]
    with executor(wall_timeout_s=0.5, chunk_deadline_s=2.5) as ex:
        got = by_case(ex.run([hung] + fine, toy.MODEL))
        stats = dict(ex.stats)
    assert set(got) == {c.case_id for c in fine + [hung]}
    r = got[hung.case_id]
    assert r.outcome is Outcome.TIMEOUT and r.attempt == 1
    assert r.error.startswith("chunk deadline: no result after") and "killed and replaced" in r.error
    assert all(got[c.case_id].outcome is Outcome.COMPLETED for c in fine)
    assert stats["deadline_kills"] >= 1 and stats["actor_failures"] == stats["deadline_kills"]


def test_env_raising_is_env_error_after_bounded_retries(local_ray, tmp_path):
    log = tmp_path / "bad.log"
    fine = toy.cases(4, steps=3)
    bad = toy.cases(1, start=100, steps=5, raise_at=2, log=str(log))[0]
    with executor(max_env_retries=2) as ex:
        got = by_case(ex.run(fine + [bad], toy.MODEL))
        assert ex.stats["env_retries"] == 2
    r = got[bad.case_id]
    assert r.outcome is Outcome.ENV_ERROR and r.attempt == 3
    assert "RuntimeError: toy env: simulated simulator failure" in r.error
    assert len(starts(log)) == 3
    assert all(got[c.case_id].outcome is Outcome.COMPLETED for c in fine)


def test_agent_raising_is_agent_error_and_never_retried(local_ray, tmp_path):
    log = tmp_path / "agent.log"
    bad = toy.cases(1, start=100, steps=5, agent_raise=True, log=str(log))[0]
    with executor(max_env_retries=2) as ex:
        got = by_case(ex.run(toy.cases(3, steps=3) + [bad], toy.MODEL))
        assert ex.stats["env_retries"] == 0 and ex.stats["actor_failures"] == 0
    r = got[bad.case_id]
    assert r.outcome is Outcome.AGENT_ERROR and r.attempt == 1
    assert "ValueError: toy agent: simulated model failure" in r.error
    assert len(starts(log)) == 1


def test_case_that_kills_its_worker_is_env_error_after_bounded_retries(local_ray, tmp_path):
    """A deterministic simulator crash (or an OOM kill) must not loop forever."""
    log = tmp_path / "crash.log"
    fine = toy.cases(5, steps=3, step_s=0.01)
    crash = toy.cases(1, start=100, steps=5, crash_at=2, log=str(log))[0]
    with executor(max_env_retries=1) as ex:
        got = by_case(ex.run(fine + [crash], toy.MODEL))
    assert set(got) == {c.case_id for c in fine + [crash]}
    r = got[crash.case_id]
    assert r.outcome is Outcome.ENV_ERROR and r.attempt == 2
    assert r.error.startswith("worker process died while running this case (2 attempts)")
    assert all(got[c.case_id].outcome is Outcome.COMPLETED and got[c.case_id].attempt == 1 for c in fine)
    assert 2 <= len(starts(log)) <= 3  # at most once in a shared chunk, then alone per attempt


def test_model_that_cannot_load_fails_the_run_with_one_model_error(local_ray):
    with executor() as ex:
        with pytest.raises(ModelError, match=r"toy@broken: the model cannot be loaded in a Ray worker on .*"
                                             r"toy checkpoint has the wrong shape"):
            list(ex.run(toy.cases(2), toy.BROKEN_MODEL))


def test_actors_are_recycled_after_n_episodes_without_losing_rows(local_ray, tmp_path):
    log = tmp_path / "starts.log"
    cases = toy.cases(20, steps=2, log=str(log))
    with executor(recycle_after=4, max_chunk_cases=2) as ex:
        got = by_case(ex.run(cases, toy.MODEL))
        assert ex.stats["recycled"] >= 2 and ex.stats["actor_failures"] == 0
    assert set(got) == {c.case_id for c in cases} and len(starts(log)) == 20
    per_process = collections.Counter(starts(log))
    # A retiring actor still finishes what it holds: < 4 before, plus 2 chunks of 2 in flight.
    assert max(per_process.values()) <= 3 + 2 * 2 and len(per_process) >= 3


def test_ray_and_local_executors_give_identical_results(local_ray):
    cases = toy.cases(8, steps=6, step_s=0.002)
    with executor() as ex:
        remote = by_case(ex.run(cases, toy.MODEL))
    local = LocalExecutor()
    here = by_case(local.run(cases, toy.MODEL))
    local.close()
    for cid, r in here.items():
        assert remote[cid].metrics == r.metrics and remote[cid].trace_digest == r.trace_digest != ""
