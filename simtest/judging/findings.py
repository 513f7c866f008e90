"""What the reports show beside the gate's checks, computed once, here: regression regions,
pairwise coverage, metric kinds and units, invalid runs and outcome counts. `attach` returns the
Verdict with a frozen `Findings` in its `findings` field; the report modules only format it.

Decisions made here (and nowhere else):
- a blocking region search (policy.regions.blocking) with a reported regression region makes the
  verdict `fail` (unless it is already `invalid`);
- pairwise coverage below policy.coverage.min_pairwise makes the verdict `invalid` (exit 3): the
  suite did not test what it claims to, which is not a regression.
Pure: frames in, values out; no simulation, no I/O.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pandas as pd

from simtest.contract.policy import GatePolicy, metric_declarations
from simtest.contract.space import ScenarioSpace
from simtest.judging.coverage import Coverage, coverage
from simtest.judging.regions import RegionSearch, search_frames

__all__ = ["Findings", "findings", "attach", "region_line"]


@dataclass(frozen=True)
class Findings:
    regions: tuple[RegionSearch, ...] = ()
    coverage: Coverage | None = None
    metric_kinds: Mapping[str, str] = field(default_factory=dict)  # metric -> binary | continuous
    units: Mapping[str, str] = field(default_factory=dict)
    invalid_runs: tuple[str, ...] = ()  # roles whose infrastructure-error share exceeds the policy's limit
    outcome_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # role -> outcome -> n (+ passed)
    notes: tuple[str, ...] = ()  # searches that could not run, and why
    model_metrics: tuple[Any, ...] = ()  # simtest.judging.modelmetrics.ModelMetricPanel, set by its attach()

    def region_search(self, comparison: str = "baseline") -> RegionSearch | None:
        return next((r for r in self.regions if r.comparison == comparison), None)

    def to_json(self) -> dict:
        return {
            "regions": [r.to_json() for r in self.regions],
            "coverage": self.coverage.to_json() if self.coverage is not None else None,
            "metric_kinds": dict(self.metric_kinds), "units": dict(self.units),
            "invalid_runs": list(self.invalid_runs),
            "outcome_counts": {k: dict(v) for k, v in self.outcome_counts.items()},
            "notes": list(self.notes),
            "model_metrics": [p.to_json() for p in self.model_metrics],
        }


def _dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    if "attempt" in frame.columns:
        frame = frame.sort_values(["case_id", "attempt"], kind="stable")
    return frame.drop_duplicates("case_id", keep="last")


def _outcomes(frame: pd.DataFrame) -> dict[str, int]:
    f = _dedupe(frame)
    out = {str(k): int(v) for k, v in f["outcome"].astype(str).value_counts().items()} if "outcome" in f else {}
    if "passed" in f.columns:
        out["passed"] = int(f["passed"].astype(bool).sum())
    return dict(sorted(out.items()))


def region_line(r: Any) -> str:
    """The plain-text form used in reasons (the report formats its own, with units)."""
    return (f"{r.rule}: delta {r.delta:+.3f} [{r.lower:+.3f}, {r.upper:+.3f}], n={r.n}, "
            f"adjusted p {r.p_adjusted:.2g}")


def findings(verdict: Any, frames: Mapping[str, pd.DataFrame], policy: GatePolicy | None,
             metrics: Mapping[str, Mapping] | None, spaces: Sequence[ScenarioSpace] | None = None) -> Findings:
    policy = policy or GatePolicy.default()
    decls = metric_declarations(metrics)
    kinds = {k: str(v.get("kind", "continuous")) for k, v in decls.items()}
    units = {k: str(v["unit"]) for k, v in decls.items() if v.get("unit")}
    infra = dict(getattr(verdict, "infra", {}) or {})
    invalid = tuple(role for role, st in infra.items() if st.infra_rate > policy.max_infra_error_rate)
    frames = {k: v for k, v in frames.items() if v is not None}
    notes: list[str] = []
    searches: list[RegionSearch] = []
    rs = policy.regions
    if rs.enabled and "candidate" in frames:
        better = policy.metric(rs.metric).direction if rs.metric in policy.metrics else None
        for comp in rs.comparisons:
            if comp not in frames:
                continue
            try:
                searches.append(search_frames(
                    frames["candidate"], frames[comp], metric=rs.metric, metrics=metrics, comparison=comp,
                    better=better, max_depth=rs.max_depth, min_support=rs.min_support, cuts=rs.cuts, q=rs.q,
                    fdr=rs.fdr, alpha=policy.alpha, margin=rs.margin, blocking=rs.blocking, top=rs.top))
            except ValueError as exc:
                notes.append(f"regions vs {comp} not searched: {exc}")
    cov = None
    if spaces:
        cov = coverage(spaces, frames, metric=rs.metric if rs.metric in ("passed", "errors") or
                       kinds.get(rs.metric) == "binary" else "passed",
                       min_pairwise=policy.coverage.min_pairwise)
    return Findings(regions=tuple(searches), coverage=cov, metric_kinds=kinds, units=units, invalid_runs=invalid,
                    outcome_counts={role: _outcomes(f) for role, f in frames.items()}, notes=tuple(notes))


def attach(verdict: Any, frames: Mapping[str, pd.DataFrame], policy: GatePolicy | None,
           metrics: Mapping[str, Mapping] | None, spaces: Sequence[ScenarioSpace] | None = None) -> Any:
    """The verdict with its Findings, its decision updated by a blocking region search or by
    insufficient coverage, and one reason line per such decision (plus the top diagnostic region)."""
    f = findings(verdict, frames, policy, metrics, spaces)
    decision = verdict.verdict
    reasons = list(verdict.reasons)
    if f.coverage is not None and not f.coverage.sufficient:
        decision = "invalid"
        reasons.append(f"pairwise coverage {f.coverage.share:.1%} ({f.coverage.visited} of {f.coverage.cells} cells) "
                       f"is below the policy's min_pairwise {f.coverage.min_pairwise:.0%}; the run is invalid, not a "
                       "regression: add samples or use `fill_coverage: true` (see `simtest coverage`)")
    for s in f.regions:
        failing = s.failing()
        for r in failing:
            reasons.append(f"{s.metric} regressed vs {s.comparison} in region {region_line(r)} "
                           f"(blocking region search, margin {s.margin:g}, FDR q={s.q:g})")
        if failing and decision != "invalid":
            decision = "fail"
        top = s.regressions()
        if top and not failing:
            reasons.append(f"diagnostic: top regression region vs {s.comparison}: {region_line(top[0])} "
                           f"({s.fdr.upper()} q={s.q:g} over {s.examined} regions)")
    return dataclasses.replace(verdict, verdict=decision, reasons=tuple(dict.fromkeys(reasons)), findings=f)

