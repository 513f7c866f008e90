"""Coverage of the parameter space: which pairwise cells a suite's cases visited, with the
outcome per cell. Pure: the suite's cell space (simtest.contract.space, built by authoring from the
scenario domains) and result frames in, a frozen `Coverage` out.

A pairwise cell is (scenario, parameter a in bin i, parameter b in bin j) for every pair of varying
parameters of a scenario (categorical values and numeric buckets). The coverage share is visited
cells / all cells. Assumptions: constraints are ignored (an infeasible cell counts as empty, so the
share is a lower bound); a case is counted once per case_id (the last attempt); episodes that
ended in env_error are visits too (the case was planned there) but carry no outcome.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from simtest.contract.space import Axis, ScenarioSpace, cell_label

__all__ = ["PairGrid", "Coverage", "coverage", "cell_counts"]

MAX_EMPTY_LISTED = 200
HIGHLIGHTS = 3


@dataclass(frozen=True)
class PairGrid:
    """One parameter pair of one scenario: counts[i][j] = cases with a in bin i and b in bin j;
    rates[role][i][j] = the metric's mean there (None where no outcome)."""

    scenario: str
    x: str
    y: str
    x_labels: tuple[str, ...]
    y_labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]
    rates: Mapping[str, tuple[tuple[float | None, ...], ...]]

    @property
    def visited(self) -> int:
        return sum(1 for row in self.counts for v in row if v > 0)

    @property
    def cells(self) -> int:
        return len(self.x_labels) * len(self.y_labels)

    def to_json(self) -> dict:
        return {"scenario": self.scenario, "x": self.x, "y": self.y, "x_labels": list(self.x_labels),
                "y_labels": list(self.y_labels), "counts": [list(r) for r in self.counts],
                "rates": {k: [[_clean(v) for v in r] for r in g] for k, g in self.rates.items()}}


def _clean(v: Any) -> Any:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


@dataclass(frozen=True)
class Coverage:
    """Pairwise coverage of a suite (or of several stored runs of it)."""

    metric: str
    cells: int
    visited: int
    per_scenario: Mapping[str, tuple[int, int]]  # scenario -> (visited, cells)
    empty: tuple[str, ...]  # "scenario: a=.. & b=.." (at most MAX_EMPTY_LISTED)
    n_empty: int
    grids: tuple[PairGrid, ...]
    highlights: tuple[int, ...]  # indices into grids worth drawing, most telling first
    cases: int
    min_pairwise: float = 0.0

    @property
    def share(self) -> float:
        return self.visited / self.cells if self.cells else 1.0

    @property
    def sufficient(self) -> bool:
        return self.share + 1e-12 >= self.min_pairwise

    def to_json(self) -> dict:
        return {"metric": self.metric, "cells": self.cells, "visited": self.visited, "share": _clean(self.share),
                "min_pairwise": self.min_pairwise, "sufficient": self.sufficient, "cases": self.cases,
                "per_scenario": {k: list(v) for k, v in self.per_scenario.items()},
                "n_empty": self.n_empty, "empty": list(self.empty), "highlights": list(self.highlights),
                "grids": [g.to_json() for g in self.grids]}


def _dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    if "attempt" in frame.columns:
        frame = frame.sort_values(["case_id", "attempt"], kind="stable")
    return frame.drop_duplicates("case_id", keep="last").reset_index(drop=True)


def _values(frame: pd.DataFrame, metric: str) -> np.ndarray:
    if metric == "passed":
        v = frame["passed"].to_numpy().astype(float) if "passed" in frame.columns else np.full(len(frame), np.nan)
    elif metric == "errors" and "outcome" in frame.columns:
        v = frame["outcome"].astype(str).isin(["agent_error", "timeout"]).to_numpy().astype(float)
    else:
        col = "metric_" + metric
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float) if col in frame.columns else \
            np.full(len(frame), np.nan)
    if "outcome" in frame.columns:
        v = np.where(frame["outcome"].astype(str).to_numpy() == "env_error", np.nan, v)
    return v


def cell_counts(space: ScenarioSpace, params: Sequence[Mapping[str, Any]]) -> set[tuple[int, int, int, int]]:
    """The set of pairwise cells the given parameter dicts visit (used by the coverage sampler's tests)."""
    out: set[tuple[int, int, int, int]] = set()
    for p in params:
        out.update(space.cells_of(p))
    return out


def coverage(spaces: Sequence[ScenarioSpace], frames: Mapping[str, pd.DataFrame], *, metric: str = "passed",
             visits: str = "candidate", min_pairwise: float = 0.0) -> Coverage:
    """Pairwise coverage of `spaces` by the cases of `frames[visits]` (or of every frame, deduplicated by
    case_id, with visits="all"), with the mean of `metric` per cell for every role in `frames`."""
    frames = {k: _dedupe(v) for k, v in frames.items() if v is not None and len(v)}
    if visits == "all":
        visit_frame = _dedupe(pd.concat(list(frames.values()), ignore_index=True)) if frames else None
    else:
        visit_frame = frames.get(visits)
    grids: list[PairGrid] = []
    per: dict[str, tuple[int, int]] = {}
    empty: list[str] = []
    n_empty = 0
    cases = 0
    for space in spaces:
        pairs = space.pairs()
        total = sum(a.size * b.size for a, b in pairs)
        if visit_frame is None or "scenario" not in visit_frame.columns:
            sub = None
        else:
            sub = visit_frame[visit_frame["scenario"].astype(str) == space.scenario]
        bins = _bins(space.axes, sub)
        cases += 0 if sub is None else len(sub)
        role_bins = {}
        for role, f in frames.items():
            fs = f[f["scenario"].astype(str) == space.scenario] if "scenario" in f.columns else f.iloc[:0]
            role_bins[role] = (_bins(space.axes, fs), _values(fs, metric))
        visited = 0
        for ia, ib in ((i, j) for i in range(len(space.axes)) for j in range(i + 1, len(space.axes))):
            a, b = space.axes[ia], space.axes[ib]
            counts = np.zeros((a.size, b.size), dtype=int)
            if bins is not None:
                ok = (bins[ia] >= 0) & (bins[ib] >= 0)
                np.add.at(counts, (bins[ia][ok], bins[ib][ok]), 1)
            rates = {}
            for role, (rb, v) in role_bins.items():
                s = np.zeros((a.size, b.size))
                n = np.zeros((a.size, b.size))
                if rb is not None:
                    ok = (rb[ia] >= 0) & (rb[ib] >= 0) & np.isfinite(v)
                    np.add.at(s, (rb[ia][ok], rb[ib][ok]), v[ok])
                    np.add.at(n, (rb[ia][ok], rb[ib][ok]), 1)
                rates[role] = tuple(tuple(float(s[i, j] / n[i, j]) if n[i, j] else None for j in range(b.size))
                                    for i in range(a.size))
            visited += int((counts > 0).sum())
            for i, j in zip(*np.nonzero(counts == 0)):
                n_empty += 1
                if len(empty) < MAX_EMPTY_LISTED:
                    empty.append(f"{space.scenario}: {cell_label(a, int(i), b, int(j))}")
            grids.append(PairGrid(space.scenario, a.name, b.name, tuple(a.label(i) for i in range(a.size)),
                                  tuple(b.label(j) for j in range(b.size)),
                                  tuple(tuple(int(x) for x in row) for row in counts), rates))
        per[space.scenario] = (visited, total)
    cells = sum(t for _, t in per.values())
    return Coverage(metric=metric, cells=cells, visited=sum(v for v, _ in per.values()), per_scenario=per,
                    empty=tuple(empty), n_empty=n_empty, grids=tuple(grids), highlights=_highlights(grids),
                    cases=cases, min_pairwise=min_pairwise)


def _bins(axes: Sequence[Axis], frame: pd.DataFrame | None) -> list[np.ndarray] | None:
    if frame is None or not len(frame) or "params" not in frame.columns:
        return None
    parsed = {s: (json.loads(s) if isinstance(s, str) else dict(s or {})) for s in pd.unique(frame["params"])}
    rows = [parsed[s] for s in frame["params"]]
    return [np.array([a.bin_of(r.get(a.name)) for r in rows], dtype=int) for a in axes]


def _highlights(grids: Sequence[PairGrid]) -> tuple[int, ...]:
    """The grids where the candidate's change against the baseline varies most between cells
    (sum over cells of n x (cell change - mean change)^2), then the ones with the most empty cells:
    the report draws where something happened."""
    scored = []
    for k, g in enumerate(grids):
        cand, base = g.rates.get("candidate"), g.rates.get("baseline")
        score = 0.0
        if cand is not None and base is not None:
            cells = [(n, base[i][j] - cand[i][j]) for i, row in enumerate(g.counts) for j, n in enumerate(row)
                     if n and cand[i][j] is not None and base[i][j] is not None]
            total = sum(n for n, _ in cells)
            if total:
                mean = sum(n * d for n, d in cells) / total
                score = sum(n * (d - mean) ** 2 for n, d in cells)
        scored.append((-round(score, 9), -(g.cells - g.visited), k))
    scored.sort()
    return tuple(k for _, _, k in scored[:HIGHLIGHTS])
