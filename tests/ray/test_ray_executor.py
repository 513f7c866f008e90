"""The Ray executor against a real local Ray: every case comes back exactly once, whatever the
workers do (die, hang, raise), and each failure is recorded with the right outcome and attempt."""

from __future__ import annotations

import collections
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

import simtest_toyenv as toy
from simtest_toyenv import RUNTIME_ENV
from simtest.core.errors import ModelError
from simtest.execution.executors.local import LocalExecutor
from simtest.execution.executors.ray import RayExecutor
from simtest.contract.results import EpisodeResult, Outcome
from simtest.contract.cases import Case

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


@dataclass(frozen=True)
class Sweep:
    results: dict[str, EpisodeResult]
    stats: dict
    fine: list
    env_bad: Case
    agent_bad: Case
    hung: Case
    crash: Case
    logs: Path


@pytest.fixture(scope="module")
def sweep(local_ray, tmp_path_factory) -> Sweep:
    """One 2-worker sweep with a case of every kind of failure among healthy ones (one Ray pool
    start instead of five); the tests below each check one behaviour of it."""
    logs = tmp_path_factory.mktemp("logs")
    fine = toy.cases(24, steps=4, step_s=0.005, log=str(logs / "fine.log"))
    env_bad = toy.cases(1, start=100, steps=5, raise_at=2, log=str(logs / "env_bad.log"))[0]
    agent_bad = toy.cases(1, start=200, steps=5, agent_raise=True, log=str(logs / "agent_bad.log"))[0]
    hung = toy.cases(1, start=300, steps=50, hang_at=2, log=str(logs / "hung.log"))[0]
    crash = toy.cases(1, start=400, steps=5, crash_at=2, log=str(logs / "crash.log"))[0]
    cases = fine[:12] + [env_bad, agent_bad, hung, crash] + fine[12:]
    with executor(wall_timeout_s=1.0, chunk_deadline_s=30, max_env_retries=2) as ex:
        results = by_case(ex.run(cases + fine[:3], toy.MODEL))  # repeated cases run once
        stats = dict(ex.stats)
    return Sweep(results, stats, fine, env_bad, agent_bad, hung, crash, logs)


def test_two_workers_return_exactly_one_row_per_case(sweep):
    expected = {c.case_id for c in sweep.fine} | {sweep.env_bad.case_id, sweep.agent_bad.case_id,
                                                  sweep.hung.case_id, sweep.crash.case_id}
    assert set(sweep.results) == expected
    fine = [sweep.results[c.case_id] for c in sweep.fine]
    assert {r.outcome for r in fine} == {Outcome.COMPLETED} and {r.attempt for r in fine} == {1}
    # Several actors worked. (A healthy case may *start* twice: the crash case's worker dies
    # with finished results of its chunk not yet returned; those rerun, and still give one row.)
    assert len(set(starts(sweep.logs / "fine.log"))) >= 2 and len(starts(sweep.logs / "fine.log")) >= 24


def test_env_raising_is_env_error_after_bounded_retries(sweep):
    r = sweep.results[sweep.env_bad.case_id]
    assert r.outcome is Outcome.ENV_ERROR and r.attempt == 3
    assert "RuntimeError: toy env: simulated simulator failure" in r.error
    assert len(starts(sweep.logs / "env_bad.log")) == 3 and sweep.stats["env_retries"] == 2


def test_agent_raising_is_agent_error_and_never_retried(sweep):
    r = sweep.results[sweep.agent_bad.case_id]
    assert r.outcome is Outcome.AGENT_ERROR and r.attempt == 1
    assert "ValueError: toy agent: simulated model failure" in r.error
    assert len(starts(sweep.logs / "agent_bad.log")) == 1


def test_env_hanging_in_python_is_stopped_by_the_worker_watchdog(sweep):
    r = sweep.results[sweep.hung.case_id]
    assert r.outcome is Outcome.TIMEOUT and r.attempt == 1 and r.steps == 1
    assert "wall-clock watchdog: episode exceeded 1 s" in r.error and "time.sleep" in r.error
    assert sweep.stats["deadline_kills"] == 0
    # The interrupted process is retired: it starts no episode after the hung one.
    [hung_start] = [json.loads(ln) for ln in (sweep.logs / "hung.log").read_text().splitlines()]
    later = [json.loads(ln) for f in sweep.logs.glob("*.log") for ln in f.read_text().splitlines()]
    assert not [e for e in later if e["pid"] == hung_start["pid"] and e["t"] > hung_start["t"]]


def test_case_that_kills_its_worker_is_env_error_after_bounded_retries(sweep):
    """A deterministic simulator crash (or an OOM kill) must not loop forever."""
    r = sweep.results[sweep.crash.case_id]
    assert r.outcome is Outcome.ENV_ERROR and r.attempt == 3
    assert r.error.startswith("worker process died while running this case (3 attempts)")
    assert 3 <= len(starts(sweep.logs / "crash.log")) <= 4  # at most once in a shared chunk, then alone
    assert sweep.stats["actor_failures"] == len(starts(sweep.logs / "crash.log"))


def test_ray_and_local_executors_give_identical_results(sweep):
    local = LocalExecutor()
    here = by_case(local.run(sweep.fine[:8], toy.MODEL))
    local.close()
    for cid, r in here.items():
        assert sweep.results[cid].metrics == r.metrics and sweep.results[cid].trace_digest == r.trace_digest != ""


def test_sigkill_of_a_worker_mid_sweep_loses_and_duplicates_nothing(local_ray, tmp_path):
    log = tmp_path / "starts.log"
    # enough work left after the kill (~4 s) for the replacement actor to start on 2 loaded cores
    cases = toy.cases(80, steps=5, step_s=0.01, log=str(log))
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


def test_model_that_cannot_load_fails_the_run_with_one_model_error(local_ray):
    with executor() as ex:
        with pytest.raises(ModelError, match=r"toy@broken: the model cannot be loaded in a Ray worker on .*"
                                             r"toy checkpoint has the wrong shape"):
            list(ex.run(toy.cases(2), toy.BROKEN_MODEL))


@pytest.mark.slow
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
