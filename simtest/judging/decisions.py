"""The blocking decisions of a verdict, grouped: a small value with no statistics and no heavy
import, so the report can hold it (report/_data.py) without loading judging's computations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

__all__ = ["BlockingDecisions"]


@dataclass(frozen=True)
class BlockingDecisions:
    """The blocking family grouped by decision: the one list from which the verdict's reasons, the
    headline of summary.md and report.html, their "Blocking checks not passed" tables and the
    console are all made, so none of them can count differently from another.

    Members are whatever check values the caller holds (judging's CheckResult, the report's CheckView
    there): anything with `blocking`, `decision`, `comparison` and `holds` (default true).
    - `passed`: decision pass;
    - `failed`: decision fail (a confident regression);
    - `open`: not decided (undecided, too_small) and holding the gate: fails it unless the policy
      says `on_undecided: pass`;
    - `unproven`: not decided, of a check that blocks only on a confident regression
      (`prove_within_margin: false`, as the built-in `errors`): shown, never holding the gate.
    `comparisons`: the comparators the blocking checks were judged against, baseline first; a role
    that was not given has no check, so it is never named."""

    passed: tuple = ()
    failed: tuple = ()
    open: tuple = ()
    unproven: tuple = ()
    comparisons: tuple[str, ...] = ()

    @classmethod
    def of(cls, checks: Iterable[Any]) -> "BlockingDecisions":
        groups: dict[str, list] = {"passed": [], "failed": [], "open": [], "unproven": []}
        comps: list[str] = []
        for c in checks:
            if not getattr(c, "blocking", False):
                continue
            comps.append(str(c.comparison))
            if c.decision == "pass":
                groups["passed"].append(c)
            elif c.decision == "fail":
                groups["failed"].append(c)
            elif getattr(c, "holds", True):
                groups["open"].append(c)
            else:
                groups["unproven"].append(c)
        order = {"baseline": 0, "reference": 1}
        comparisons = tuple(sorted(dict.fromkeys(comps), key=lambda x: (order.get(x, 2), x)))
        return cls(**{k: tuple(v) for k, v in groups.items()}, comparisons=comparisons)

    @property
    def not_passed(self) -> tuple:
        """Every blocking check that did not pass: failed, then open, then unproven."""
        return self.failed + self.open + self.unproven

    @property
    def total(self) -> int:
        return len(self.passed) + len(self.not_passed)

    @property
    def against(self) -> str:
        """"the baseline", "the baseline and reference": the comparators actually judged."""
        return "the " + " and ".join(self.comparisons) if self.comparisons else "no comparator"
