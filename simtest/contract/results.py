"""What one episode produced. Outcome is kept apart from metrics: an env_error or a
timeout is infrastructure and never counts as a model regression; an agent_error does."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from typing import Any

from simtest.contract.cases import Case

__all__ = ["Outcome", "EpisodeResult", "BASE_COLUMNS", "METRIC_PREFIX", "CHECK_PREFIX", "CONFIGURATION",
           "error_signature", "MARGIN_PREFIX", "failed_checks"]

# EpisodeResult.error_kind of an env_error raised while making or configuring the env, or by a
# broken env contract (undeclared / missing metrics): deterministic, so never retried.
CONFIGURATION = "configuration"

METRIC_PREFIX = "metric_"
CHECK_PREFIX = "check_"
MARGIN_PREFIX = "margin_"  # robustness of each check: > 0 held by that much, < 0 failed by that much


class Outcome(str, enum.Enum):
    COMPLETED = "completed"  # the episode ran to its end (success or not is a metric)
    TIMEOUT = "timeout"  # the harness stopped it: step budget, wall-clock watchdog, chunk deadline
    AGENT_ERROR = "agent_error"  # the model or controller raised: counts against the model
    ENV_ERROR = "env_error"  # the simulator failed: infrastructure, retried, never a regression

    @property
    def is_infrastructure(self) -> bool:
        return self in (Outcome.TIMEOUT, Outcome.ENV_ERROR)


# Columns of one result row, in order; then one `metric_<name>` column per metric and one
# `check_<name>` and one `margin_<name>` column per check.
BASE_COLUMNS = (
    "case_id", "scenario", "scenario_hash", "env", "seed", "sample", "seed_index", "params", "tags",
    "model", "model_version", "model_digest", "env_build", "outcome", "passed", "steps", "wall_s",
    "error", "attempt", "trace_path", "trace_digest", "horizon", "checks",
)


@dataclass(frozen=True)
class EpisodeResult:
    case: Case
    model: str  # name
    model_version: str
    model_digest: str
    outcome: Outcome
    metrics: tuple[tuple[str, float], ...] = ()
    checks: tuple[tuple[str, bool], ...] = ()
    steps: int = 0
    wall_s: float = 0.0
    error: str = ""
    env_build: str = ""
    attempt: int = 1
    trace_path: str | None = None
    trace_digest: str = ""  # hash of every action, observation and reward: equal digests = same trajectory
    error_kind: str = ""  # CONFIGURATION, or "" (transient: an env_error is retried). Not a stored column
    margins: tuple[tuple[str, float], ...] = ()  # robustness margin of each check (NaN: none)

    @property
    def passed(self) -> bool:
        """Completed and every check held. Errors and timeouts never pass."""
        return self.outcome is Outcome.COMPLETED and all(ok for _, ok in self.checks)

    @property
    def metric_dict(self) -> dict[str, float]:
        return dict(self.metrics)

    def to_row(self) -> dict[str, Any]:
        c = self.case
        row: dict[str, Any] = {
            "case_id": c.case_id, "scenario": c.scenario, "scenario_hash": c.scenario_hash, "env": c.env,
            "seed": int(c.seed), "sample": c.sample, "seed_index": c.seed_index, "params": c.params_json,
            "tags": list(c.tags), "model": self.model, "model_version": self.model_version,
            "model_digest": self.model_digest, "env_build": self.env_build, "outcome": self.outcome.value,
            "passed": self.passed, "steps": int(self.steps), "wall_s": float(self.wall_s), "error": self.error,
            "attempt": int(self.attempt), "trace_path": self.trace_path,
            "trace_digest": self.trace_digest, "horizon": int(c.horizon),
            "checks": json.dumps([list(x) for x in c.checks]),  # replay re-evaluates them exactly
        }
        for name, value in self.metrics:
            row[METRIC_PREFIX + name] = float(value) if value is not None else math.nan
        for name, ok in self.checks:
            row[CHECK_PREFIX + name] = bool(ok)
        for name, margin in self.margins:
            row[MARGIN_PREFIX + name] = float(margin) if margin is not None else math.nan
        return row


def failed_checks(frame: Any) -> tuple[tuple[str, int], ...]:
    """(check, episodes in which it failed) for every check that failed at least once, most
    failures first. A check is shown by its expression (the `checks` column holds each case's
    [name, expr] pairs), or by its name where cases give one name different expressions. Missing
    values (an errored episode, another scenario's check) are not failures."""
    exprs: dict[str, set[str]] = {}
    if "checks" in frame.columns:
        for text in frame["checks"].dropna().unique():
            try:
                pairs = json.loads(text)
            except (TypeError, ValueError):
                continue
            for pair in pairs if isinstance(pairs, list) else ():
                if isinstance(pair, list) and len(pair) == 2:
                    exprs.setdefault(str(pair[0]), set()).add(str(pair[1]))
    out = []
    for col in frame.columns:
        if not str(col).startswith(CHECK_PREFIX):
            continue
        values = frame[col]
        failed = int((values == False).fillna(False).sum())  # noqa: E712 (elementwise; NA is no failure)
        if failed:
            name = str(col)[len(CHECK_PREFIX):]
            seen = exprs.get(name, set())
            out.append((next(iter(seen)) if len(seen) == 1 else name, failed))
    return tuple(sorted(out, key=lambda x: (-x[1], x[0])))


def error_signature(error: str) -> str:
    """'ExcType at file:line in func' from a formatted traceback (the exception type plus the last
    frame): errors with one signature are one kind. Text without a traceback is its first line."""
    lines = [ln for ln in (error or "").strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    frames = [ln.strip() for ln in lines if ln.strip().startswith('File "')]
    last = lines[-1].strip()
    exc_type = last.split(":", 1)[0] if frames else last
    if not frames:
        return exc_type[:200]
    import re

    m = re.match(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>.+)', frames[-1])
    where = f'{m["file"]}:{m["line"]} in {m["func"]}' if m else frames[-1]
    return f"{exc_type} at {where}"


def case_from_row(row: dict[str, Any], horizon: int = 0, checks: tuple = ()) -> Case:
    """Rebuild the Case of a stored row (for replay). The row's own horizon/checks columns, when
    present, are used by simtest.replay; these arguments are the fallback."""
    return Case(
        scenario=row["scenario"], scenario_hash=row["scenario_hash"], env=row["env"],
        params_json=row["params"], seed=int(row["seed"]), tags=tuple(row["tags"]),
        horizon=horizon, checks=checks, sample=int(row["sample"]), seed_index=int(row["seed_index"]),
    )
