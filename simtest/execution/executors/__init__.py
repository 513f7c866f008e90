"""Where episodes run. An executor maps cases to results for one model and streams
them back as they finish; it never decides what to run or what the results mean."""

from __future__ import annotations

from typing import Iterator, Protocol, Sequence

from simtest.contract.registry import ModelRef
from simtest.contract.results import EpisodeResult
from simtest.contract.cases import Case

__all__ = ["Executor", "make_executor"]


class Executor(Protocol):
    def run(self, cases: Sequence[Case], model: ModelRef) -> Iterator[EpisodeResult]:
        """Yield exactly one final result per case (in any order)."""
        ...

    def close(self) -> None: ...


def make_executor(kind: str = "ray", **options) -> Executor:
    if kind == "local":
        from simtest.execution.executors.local import LocalExecutor

        return LocalExecutor(**options)
    if kind == "ray":
        from simtest.execution.executors.ray import RayExecutor

        return RayExecutor(**options)
    from simtest.core.errors import UsageError

    raise UsageError(f'unknown executor "{kind}"; use "ray" or "local"')
