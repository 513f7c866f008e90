"""Episode metrics and pass checks. The environment computes its domain metrics from
the in-memory trace (its `episode_metrics`); the harness adds generic ones and evaluates the
scenario's checks with the safe expression language."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

from simtest.core import expr as expr_lang
from simtest.core import stl

__all__ = ["generic_metrics", "evaluate_checks", "evaluate_requirements"]


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


def evaluate_requirements(
    checks: Sequence[tuple[str, str]],
    metrics: Mapping[str, float],
    infos: Sequence[Mapping],
    declared: Mapping[str, Mapping] | None = None,
) -> tuple[tuple[tuple[str, bool], ...], tuple[tuple[str, float], ...]]:
    """(verdicts, margins) of every check: one Boolean and one robustness margin per check.

    - An STL requirement (`always(clearance > 0.3)`) is evaluated over the per-step infos
      (simtest.core.stl); its margin is its robustness at step 0.
    - A plain check over episode metrics keeps its verdict from `evaluate_checks`; its margin is the
      quantitative semantics of the same comparison over the metrics (`min_clearance >= 0.3` ->
      min_clearance - 0.3). Where every metric it reads is one the env declares a `margin` for
      (`collision: {margin: min_clearance}`), the margin is that metric's value, signed by the verdict.
    - A requirement that cannot be evaluated (a missing signal, NaN) fails with a NaN margin."""
    plain = [(n, t) for n, t in checks if not stl.is_temporal(t)]
    verdicts = dict(evaluate_checks(plain, metrics))
    margins: dict[str, float] = {}
    declared = declared or {}
    for name, text in checks:
        if stl.is_temporal(text):
            try:
                f = stl.parse(text)
                rob, sat = f.evaluate(stl.trace_from_infos(infos, f.names))
                verdicts[name], margins[name] = bool(sat[0]), float(rob[0])
            except (stl.STLError, TypeError, ValueError):
                verdicts[name], margins[name] = False, math.nan
            continue
        margins[name] = _plain_margin(text, metrics, declared, verdicts[name])
    return tuple((n, verdicts[n]) for n, _ in checks), tuple((n, margins[n]) for n, _ in checks)


def _plain_margin(text: str, metrics: Mapping[str, float], declared: Mapping[str, Mapping], ok: bool) -> float:
    try:
        f = stl.parse(text)
    except stl.STLError:  # e.g. string comparisons: no quantitative semantics
        return math.nan
    proxies = {declared.get(n, {}).get("margin") for n in f.names}
    if f.names and None not in proxies and len(proxies) == 1:
        value = metrics.get(proxies.pop(), math.nan)
        if value is None or math.isnan(value):
            return math.nan
        return abs(float(value)) if ok else -abs(float(value))
    try:
        value = f.robustness({n: [metrics[n]] for n in f.names} or {"_": [0.0]})
    except (stl.STLError, KeyError, TypeError):
        return math.nan
    return value if math.isfinite(value) else (math.nan if math.isnan(value) else value)
