"""Planned behavioural tests as plain values: what exploration plans (metamorphic groups of case
ids) and judging reads, so that neither imports the other. A group is one base case and its
variants; members share the seed and every parameter but the varied one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Group", "PlannedTest", "TAG_TEST", "TAG_GROUP", "TAG_ROLE"]

# Tags every behaviour case carries in the store (the relation between members survives in the rows).
TAG_TEST = "behaviour="  # + test name
TAG_GROUP = "pair_of="  # + case_id of the group's base member
TAG_ROLE = "member="  # + index of the member in its group (0 = base)


@dataclass(frozen=True)
class Group:
    """One metamorphic tuple: case_ids[0] is the base member (the first value), the others its
    variants, in the order of `values`. `stratum` is the value of the test's `by` parameter
    (None without one). A minimum-functionality group has a single member."""

    group_id: str
    case_ids: tuple[str, ...]
    values: tuple[Any, ...]
    stratum: Any = None
    scenario: str = ""


@dataclass(frozen=True)
class PlannedTest:
    """One behavioural test of a suite, with its groups. kind: invariance | directional | minimum.
    margin: equivalence margin (invariance) or tolerated move (directional); expect: not_higher |
    not_lower (directional); at_least: required pass rate (minimum)."""

    name: str
    kind: str
    param: str
    metric: str
    blocking: bool
    groups: tuple[Group, ...]
    margin: float = 0.0
    expect: str = ""
    at_least: float = 1.0
    by: str | None = None
    values: tuple[Any, ...] = ()

    @property
    def case_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for g in self.groups for c in g.case_ids))
