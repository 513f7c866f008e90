"""The hard wall-clock watchdog both executors wrap around an episode (no Ray needed): a step
that never returns becomes a `timeout` row, the env is rebuilt, and an outer alarm survives."""

from __future__ import annotations

import signal
import time

import simtest_toyenv as toy
from simtest.execution.executors.local import LocalExecutor
from simtest.contract.results import Outcome


def test_local_executor_turns_a_hung_step_into_a_timeout_and_goes_on():
    cases = toy.cases(1, steps=3) + toy.cases(1, start=9, steps=50, hang_at=2) + toy.cases(1, start=20, steps=3)
    ex = LocalExecutor(wall_timeout_s=0.3)
    t0 = time.monotonic()
    results = list(ex.run(cases, toy.MODEL))
    ex.close()
    assert [r.outcome for r in results] == [Outcome.COMPLETED, Outcome.TIMEOUT, Outcome.COMPLETED]
    hung = results[1]
    assert hung.steps == 1 and hung.attempt == 1 and "inside a step after 1 steps" in hung.error
    assert time.monotonic() - t0 < 5


def test_an_outer_alarm_is_kept_and_fires_on_time():
    fired: list[float] = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(time.monotonic()))
    try:
        t0 = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 1.5)
        ex = LocalExecutor(wall_timeout_s=5.0)
        list(ex.run(toy.cases(3, steps=3), toy.MODEL))
        ex.close()
        time.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))
        assert len(fired) == 1 and 1.3 < fired[0] - t0 < 1.8
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
