"""The error hierarchy. Every user-facing failure is a SimtestError with a message that
says what is wrong, where, and how to fix it. Subclasses also subclass the matching built-in."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable, Sequence


class SimtestError(Exception):
    """Root of all simtest errors. The CLI prints these without a traceback."""

    exit_code = 2


@dataclass(frozen=True)
class Problem:
    """One problem in one input file: `file:line:col $.path: message`."""

    file: str
    path: str  # JSONPath-like location, e.g. "$.params.lighting"
    message: str
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where} {self.path}: {self.message}"


class ValidationError(SimtestError, ValueError):
    """One or more problems in input files; all of them, collected in one pass."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ScenarioError(ValidationError):
    """A scenario, suite or policy file is invalid."""


class PolicyError(ValidationError):
    """A gate policy file is invalid."""


class UnknownEnvError(SimtestError, KeyError):
    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class EnvSpecError(SimtestError, ValueError):
    """A `simtest.envs` entry (or the plugin that provides it) is unusable. One line per problem,
    each naming the env, the entry point and the distribution that declared it."""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class ConfigurationError(SimtestError, ValueError):
    """Every case of a run failed the same way while making or configuring its env: a
    deterministic mistake in the scenario, the env entry or its adapter, not infrastructure."""


class ModelError(SimtestError, ValueError):
    """A model reference, manifest or checkpoint is unusable."""


class UnknownModelError(ModelError, LookupError):
    pass


class ManifestError(ValidationError, ModelError):
    """A model manifest file is invalid."""


class StoreError(SimtestError, OSError):
    """A results directory is missing, corrupt or incompatible."""


class StoreUnavailableError(StoreError):
    """The results store could not be reached or refused a request (network, endpoint,
    credentials, permissions, a missing bucket): an infrastructure failure, not bad input."""

    exit_code = 3


class ComparisonError(SimtestError, ValueError):
    """Runs cannot be compared (no common cases, changed scenarios, ...)."""


class InfrastructureError(SimtestError, RuntimeError):
    """The harness could not produce a valid run (workers died, too many env errors)."""

    exit_code = 3


class UsageError(SimtestError, ValueError):
    """Bad command-line usage."""


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean "x"?)' or '' - appended to unknown-name messages."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{matches[0]}"?)' if matches else ""
