"""Local executor: serial, in-process, debuggable (pdb works inside your agent). Also home of the
hard wall-clock watchdog both executors wrap around EpisodeWorker.run."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import traceback
from typing import Iterator, Sequence

from simtest.contract.registry import ModelRef
from simtest.contract.results import EpisodeResult, Outcome
from simtest.execution.runner import EpisodeWorker, episode_result
from simtest.contract.cases import Case

__all__ = ["LocalExecutor", "run_guarded", "HARD_TIMEOUT_GRACE_S"]

# The runner checks its wall clock between steps; the hard watchdog fires a little later so that
# the cooperative check wins whenever the episode is still stepping.
HARD_TIMEOUT_GRACE_S = 1.0


class _WallClockExpired(BaseException):
    """Raised by SIGALRM inside a hung step. A BaseException, so that the runner's
    `except Exception` (which classifies env/agent errors) lets it through."""


@contextlib.contextmanager
def _alarm(seconds: float | None) -> Iterator[bool]:
    """Arm SIGALRM for `seconds`; yields whether it could be armed (main thread, POSIX only)."""
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield False
        return

    pending, _ = signal.getitimer(signal.ITIMER_REAL)
    if 0 < pending <= seconds:  # someone else's alarm (e.g. pytest-timeout) fires first: leave it be
        yield False
        return

    def fire(signum, frame):  # noqa: ARG001
        raise _WallClockExpired()

    previous = signal.signal(signal.SIGALRM, fire)
    t0 = time.monotonic()
    _, interval = signal.setitimer(signal.ITIMER_REAL, float(seconds))
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)
        if pending > 0:  # put back the outer alarm, minus the time this episode took
            signal.setitimer(signal.ITIMER_REAL, max(1e-3, pending - (time.monotonic() - t0)), interval)


def run_guarded(worker: EpisodeWorker, case: Case, attempt: int) -> tuple[EpisodeResult, bool]:
    """Run one episode under a hard wall-clock watchdog. Returns (result, hard_expired). A step
    that never returns (a Python-level hang: sleep, loop, blocking read) is interrupted and the
    case recorded `timeout`; the worker's envs are then rebuilt, their state being unknown.
    A hang that blocks signals (C code holding the GIL) is left to the driver's chunk deadline."""
    limit = worker.wall_timeout_s
    t0 = time.perf_counter()
    try:
        with _alarm(None if limit is None else limit + HARD_TIMEOUT_GRACE_S):
            return worker.run(case, attempt=attempt), False
    except _WallClockExpired as exc:
        where = "".join(traceback.format_tb(exc.__traceback__)[-3:])
        steps = len(worker.last_step_digests)
        worker.close()
        return episode_result(
            case, worker.model, Outcome.TIMEOUT, steps=steps, wall_s=time.perf_counter() - t0, attempt=attempt,
            error=(f"wall-clock watchdog: episode exceeded {limit:g} s inside a step after {steps} steps "
                   f"(interrupted; the env was rebuilt)\n{where}")[-4000:],
        ), True


class LocalExecutor:
    def __init__(self, *, max_env_retries: int = 2, wall_timeout_s: float | None = None,
                 episode_wall_timeout_s: float | None = None, **_ignored):
        self.max_env_retries = max_env_retries
        self.wall_timeout_s = episode_wall_timeout_s if episode_wall_timeout_s is not None else wall_timeout_s
        self._workers: dict[str, EpisodeWorker] = {}

    def run(self, cases: Sequence[Case], model: ModelRef) -> Iterator[EpisodeResult]:
        worker = self._workers.get(model.digest)
        if worker is None:
            worker = self._workers[model.digest] = EpisodeWorker(model, wall_timeout_s=self.wall_timeout_s)
        seen: set[str] = set()
        for case in cases:
            if case.case_id in seen:  # one final result per distinct case
                continue
            seen.add(case.case_id)
            attempt = 1
            result, _ = run_guarded(worker, case, attempt)
            # Only transient infrastructure failures are retried, and boundedly; a model error never
            # is, nor a configuration error (making or configuring the env: it would fail again).
            while result.outcome is Outcome.ENV_ERROR and not result.error_kind and attempt <= self.max_env_retries:
                attempt += 1
                result, _ = run_guarded(worker, case, attempt)
            yield result

    def close(self) -> None:
        for w in self._workers.values():
            w.close()
        self._workers.clear()
