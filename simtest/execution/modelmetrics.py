"""In-the-loop model metrics, computed in the worker (docs/contracts.md section 1.4): the agent's
declared predictions (`agent.diagnostics()` after each `act`) scored against the ground-truth
labels the env puts in each step's info, on the frames the model actually met in closed loop.
Pure numpy; the results are ordinary continuous metrics (`metric_model_mae`, ...)."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["mae", "calibration_error", "ndcg", "episode_model_metrics"]


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute error over every element."""
    p, t = np.asarray(pred, np.float64).ravel(), np.asarray(true, np.float64).ravel()
    return float(np.mean(np.abs(p - t))) if p.size else math.nan


def calibration_error(pred: np.ndarray, true: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of predictions in [0, 1]: predictions fall into `bins` equal-width
    bins (the last one closed); sum over bins of (share of predictions) x |mean prediction - mean
    label|. 0 when, in every bin, the predictions average what they predict."""
    p = np.clip(np.asarray(pred, np.float64).ravel(), 0.0, 1.0)
    t = np.asarray(true, np.float64).ravel()
    if not p.size:
        return math.nan
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    n = np.bincount(idx, minlength=bins)
    sum_p = np.bincount(idx, weights=p, minlength=bins)
    sum_t = np.bincount(idx, weights=t, minlength=bins)
    used = n > 0
    return float(np.sum(np.abs(sum_p[used] - sum_t[used])) / p.size)


def ndcg(scores: np.ndarray, gains: np.ndarray, k: int | None = None) -> float:
    """NDCG@k of the ranking by `scores` (highest first, ties by index) against true, non-negative
    `gains`: DCG = sum_i gain_(i) / log2(i + 2) over the first k ranks, divided by the DCG of the
    ideal order. NaN when every gain is 0 (no ranking is better than another)."""
    s, g = np.asarray(scores, np.float64).ravel(), np.asarray(gains, np.float64).ravel()
    if s.shape != g.shape:
        raise ValueError(f"ndcg: {s.size} scores but {g.size} gains")
    k = len(s) if k is None else min(int(k), len(s))
    if k == 0:
        return math.nan
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = float(np.sort(g)[::-1][:k] @ discount)
    if ideal <= 0.0:
        return math.nan
    order = np.argsort(-s, kind="stable")[:k]
    return float(g[order] @ discount / ideal)


def _score(decl: Any, preds: list[np.ndarray], labels: list[np.ndarray]) -> float:
    if decl.score == "ndcg":
        values = [ndcg(p, t, decl.k) for p, t in zip(preds, labels)]
        values = [v for v in values if not math.isnan(v)]
        return float(np.mean(values)) if values else math.nan
    p, t = np.concatenate([x.ravel() for x in preds]), np.concatenate([x.ravel() for x in labels])
    return mae(p, t) if decl.score == "mae" else calibration_error(p, t, decl.bins)


def episode_model_metrics(decls: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]],
                          infos: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """{model metric: value} of one episode. `predictions[i]` is the agent's diagnostics after its
    i-th act, which saw the observation that came with `infos[i]` (reset's info for i = 0), so
    prediction i is scored against `infos[i][label]`. A metric whose prediction the agent never
    reports is left out (an agent without that diagnostic); a label missing from the info or a
    shape that does not match the prediction raises ValueError (a broken env or agent contract)."""
    out: dict[str, float] = {}
    n = min(len(predictions), len(infos))
    if n == 0:
        return out
    for name, decl in decls.items():
        if decl.prediction not in predictions[0]:
            continue
        preds, labels = [], []
        for i in range(n):
            if decl.prediction not in predictions[i]:
                raise ValueError(f'model metric "{name}": the agent reported "{decl.prediction}" in its diagnostics '
                                 f"at step 0 but not at step {i}; report it after every act")
            if decl.label not in infos[i]:
                raise ValueError(f'model metric "{name}": label "{decl.label}" is not in the info of step {i}; '
                                 "fix the env's model_metrics declaration or put the label in every info")
            p = np.asarray(predictions[i][decl.prediction], np.float64)
            t = np.asarray(infos[i][decl.label], np.float64)
            if p.shape != t.shape:
                raise ValueError(f'model metric "{name}": prediction "{decl.prediction}" has shape {p.shape} but '
                                 f'label "{decl.label}" has shape {t.shape} at step {i}')
            preds.append(p)
            labels.append(t)
        out[name] = _score(decl, preds, labels)
    return out
