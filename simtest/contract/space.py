"""The parameter space as cells: what authoring fills (the `fill_coverage` sampler) and what
judging measures (pairwise coverage). A shared value, so the two stages agree on what a cell is
without importing each other.

An `Axis` cuts one scenario parameter into bins: a categorical axis has one bin per value
(choices, grid values, small int ranges, booleans); a numeric axis has `edges` e0 < e1 < ... < ek
and bins [e0,e1), ..., [e_{k-1},e_k] (the last one closed). A value outside every bin (or a
parameter a case does not have) belongs to no bin: `bin_of` returns -1.

Assumption: constraints are ignored when cells are counted, so a cell that the constraints make
infeasible is reported as empty (the coverage share is then a lower bound).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["Axis", "ScenarioSpace", "cell_label"]


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


@dataclass(frozen=True)
class Axis:
    """One parameter cut into bins (see the module docstring)."""

    name: str
    values: tuple[Any, ...] | None = None  # categorical
    edges: tuple[float, ...] | None = None  # numeric

    def __post_init__(self) -> None:
        if (self.values is None) == (self.edges is None):
            raise ValueError(f"axis {self.name}: give either values or edges")
        if self.edges is not None and (len(self.edges) < 2 or any(b <= a for a, b in zip(self.edges, self.edges[1:]))):
            raise ValueError(f"axis {self.name}: edges {list(self.edges)} must be at least two, strictly increasing")

    @property
    def size(self) -> int:
        return len(self.values) if self.values is not None else len(self.edges) - 1

    def bin_of(self, v: Any) -> int:
        if v is None:
            return -1
        if self.values is not None:
            for i, x in enumerate(self.values):
                if x == v and type(x) is type(v) or (_num(x) and _num(v) and float(x) == float(v)):
                    return i
            return -1
        if not _num(v):
            return -1
        x = float(v)
        e = self.edges
        if x < e[0] or x > e[-1] or not math.isfinite(x):
            return -1
        if x == e[-1]:
            return len(e) - 2
        return bisect.bisect_right(e, x) - 1

    def label(self, i: int) -> str:
        if self.values is not None:
            return _fmt(self.values[i])
        close = "]" if i == len(self.edges) - 2 else ")"
        return f"[{self.edges[i]:g},{self.edges[i + 1]:g}{close}"

    def to_json(self) -> dict:
        if self.values is not None:
            return {"name": self.name, "values": list(self.values)}
        return {"name": self.name, "edges": list(self.edges)}


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class ScenarioSpace:
    """The axes of one scenario (its parameters that vary; fixed ones have no axis)."""

    scenario: str
    axes: tuple[Axis, ...]

    def axis(self, name: str) -> Axis | None:
        return next((a for a in self.axes if a.name == name), None)

    def pairs(self) -> list[tuple[Axis, Axis]]:
        return [(a, b) for i, a in enumerate(self.axes) for b in self.axes[i + 1:]]

    def n_pairwise_cells(self) -> int:
        return sum(a.size * b.size for a, b in self.pairs())

    def cells_of(self, params: Mapping[str, Any]) -> list[tuple[int, int, int, int]]:
        """The pairwise cells (axis index i, bin of i, axis index j, bin of j) that one case visits."""
        bins = [a.bin_of(params.get(a.name)) for a in self.axes]
        return [(i, bins[i], j, bins[j]) for i in range(len(bins)) for j in range(i + 1, len(bins))
                if bins[i] >= 0 and bins[j] >= 0]

    def to_json(self) -> dict:
        return {"scenario": self.scenario, "axes": [a.to_json() for a in self.axes]}


def cell_label(a: Axis, i: int, b: Axis, j: int) -> str:
    return f"{a.name}={a.label(i)} & {b.name}={b.label(j)}"
