"""Local executor: serial, in-process, debuggable (pdb works inside your agent)."""

from __future__ import annotations

from typing import Iterator, Sequence

from simtest.registry import ModelRef
from simtest.results import EpisodeResult, Outcome
from simtest.runner import EpisodeWorker
from simtest.sampling import Case


class LocalExecutor:
    def __init__(self, *, max_env_retries: int = 2, wall_timeout_s: float | None = None, **_ignored):
        self.max_env_retries = max_env_retries
        self.wall_timeout_s = wall_timeout_s
        self._workers: dict[str, EpisodeWorker] = {}

    def run(self, cases: Sequence[Case], model: ModelRef) -> Iterator[EpisodeResult]:
        worker = self._workers.get(model.digest)
        if worker is None:
            worker = self._workers[model.digest] = EpisodeWorker(model, wall_timeout_s=self.wall_timeout_s)
        for case in cases:
            attempt = 1
            result = worker.run(case, attempt=attempt)
            while result.outcome is Outcome.ENV_ERROR and attempt <= self.max_env_retries:
                attempt += 1
                result = worker.run(case, attempt=attempt)
            yield result

    def close(self) -> None:
        for w in self._workers.values():
            w.close()
        self._workers.clear()
