"""Episode metrics and pass checks. The environment computes its domain metrics from
the in-memory trace (its `episode_metrics`); the harness adds generic ones and evaluates the
scenario's checks with the safe expression language."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from simtest.core import expr as expr_lang

__all__ = ["generic_metrics", "evaluate_checks"]


def generic_metrics(rewards: Sequence[float], terminated: bool) -> dict[str, float]:
    return {
        "episode_return": float(sum(rewards)),
        "episode_length": float(len(rewards)),
        "terminated": 1.0 if terminated else 0.0,
    }


def evaluate_checks(checks: Sequence[tuple[str, str]], metrics: Mapping[str, float]) -> tuple[tuple[str, bool], ...]:
    """A check whose expression reads a NaN metric (e.g. time_to_goal of a failed episode) or
    cannot be evaluated fails; it never passes by accident."""
    out = []
    for name, text in checks:
        e = expr_lang.parse(text)
        if any(isinstance(metrics.get(n), float) and math.isnan(metrics[n]) for n in e.names):
            out.append((name, False))
            continue
        try:
            out.append((name, bool(e(metrics))))
        except (expr_lang.ExprError, TypeError, ZeroDivisionError, ValueError):
            out.append((name, False))
    return tuple(out)
