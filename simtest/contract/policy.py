"""The gate policy: what the gate judges and how strictly (per-metric non-inferiority
margins against the baseline and the pinned reference, safety metrics, slices, blocking family,
infrastructure-error limit, confidence, adaptive seeding). Loaded from YAML with positioned errors.

Assumptions (documented here because the statistics depend on them):
- Margins are on the regression scale: positive = the candidate is worse. Binary metrics: absolute
  rate difference (0.05 = 5 points). Continuous metrics: metric units, or, with `relative: true`,
  a fraction of the comparator's mean in that slice (0.05 = 5 % worse).
- `margin_*` applies to the `overall` slice; `slice_margin_*` (default: the same) to every other
  slice, because slices are smaller and a tight margin there could never be shown.
- `blocking: true` on a metric puts (overall + every `blocking_slices` entry) x that metric x
  (baseline, reference) into the Holm family (overall only with `blocking_in_slices: false`).
  Everything else is diagnostic (BH warnings). Keep the family short: Holm divides alpha by its size.
- `prove_within_margin: false` (the default for `errors`): an undecided blocking check is reported
  but does not hold the gate; only a confident regression blocks. Rare events cannot be shown to
  be within a small margin on a CI-sized suite.
- Two built-in metrics exist for every env: `passed` (binary, higher is better: the episode
  completed and every scenario check held) and `errors` (binary, lower is better: the episode
  ended in agent_error or timeout; a safety check by default).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simtest.core import yamlio
from simtest.core.errors import PolicyError, Problem, did_you_mean

__all__ = [
    "GatePolicy", "MetricPolicy", "ParamSlicing", "SliceSpec", "SliceGap", "AdaptiveSettings", "PowerSettings",
    "RegionSettings", "CoverageSettings",
    "BUILTIN_METRICS", "load_policy", "policy_from_dict", "metric_declarations",
]

_FROZEN = ConfigDict(extra="forbid", frozen=True)

# Metrics every run has, whatever the env declares. `errors` is derived from `outcome`.
BUILTIN_METRICS: dict[str, dict] = {
    "passed": {"kind": "binary", "better": "higher", "time_like": False,
               "doc": "the episode completed and every scenario check held"},
    "errors": {"kind": "binary", "better": "lower", "time_like": False,
               "doc": "the episode ended in agent_error or timeout (counts against the model)"},
}


def metric_declarations(declared: Mapping[str, Mapping] | None) -> dict[str, dict]:
    """The env's metric declarations plus the built-in `passed` and `errors`."""
    return {**{k: dict(v) for k, v in (declared or {}).items()}, **BUILTIN_METRICS}



_SLICE_NAME = re.compile(r"^(overall|tag:.+|[A-Za-z_][A-Za-z0-9_.]*=.+)$")


def _slice_name(name: str) -> str:
    if not _SLICE_NAME.match(name):
        raise ValueError(f'"{name}" is not a slice name; write overall, tag:<tag>, <param>=<value> or '
                         "<param>=[a,b) as in the slice list of a report")
    return name


class MetricPolicy(BaseModel):
    """How one metric is judged."""

    model_config = _FROZEN
    direction: Literal["higher", "lower"] | None = Field(
        None, description="which way is better; default: the metric's declaration")
    margin_baseline: float = Field(0.0, ge=0, description="non-inferiority margin vs the previous version")
    margin_reference: float = Field(0.0, ge=0, description="cumulative margin vs the pinned reference")
    slice_margin_baseline: float | None = Field(None, ge=0, description="margin vs baseline in slices (default margin_baseline)")
    slice_margin_reference: float | None = Field(None, ge=0, description="margin vs reference in slices (default margin_reference)")
    relative: bool = Field(False, description="margins are fractions of the comparator's mean (continuous metrics)")
    safety: bool = Field(False, description="fail on any confident increase (lower bound > 0)")
    blocking: bool = Field(False, description="part of the blocking family (overall + blocking slices)")
    blocking_in_slices: bool = Field(True, description="false: blocking in the overall slice only")
    prove_within_margin: bool = Field(True, description=(
        "blocking checks must show the regression is within the margin (pass) or the gate fails at the "
        "budget cap; false: they block only on a confident regression (rare events such as errors)"))

    def margin(self, comparison: str, overall: bool) -> float:
        if comparison == "baseline":
            return self.margin_baseline if overall or self.slice_margin_baseline is None else self.slice_margin_baseline
        return self.margin_reference if overall or self.slice_margin_reference is None else self.slice_margin_reference


class ParamSlicing(BaseModel):
    """How a scenario parameter becomes slices: categorical (every value, the default), fixed
    `bins` [e0, e1, ...] -> buckets [e0,e1), ..., [e_{k-1},e_k]; or `quantiles: k` equal-count
    buckets over the distinct parameter samples."""

    model_config = _FROZEN
    bins: tuple[float, ...] | None = Field(None, min_length=2)
    quantiles: int | None = Field(None, ge=2, le=20)

    @model_validator(mode="after")
    def _one_kind(self) -> "ParamSlicing":
        if self.bins is not None and self.quantiles is not None:
            raise ValueError("give either bins or quantiles, not both")
        if self.bins is not None and any(b >= a for a, b in zip(self.bins[1:], self.bins)):
            raise ValueError(f"bins {list(self.bins)} must be strictly increasing")
        return self

    @property
    def categorical(self) -> bool:
        return self.bins is None and self.quantiles is None


class SliceSpec(BaseModel):
    """Which slices exist besides `overall`."""

    model_config = _FROZEN
    tags: bool | tuple[str, ...] = Field(True, description="true: one slice per tag; or a list of tags")
    params: dict[str, ParamSlicing] = Field(default_factory=dict)

    @field_validator("params", mode="before")
    @classmethod
    def _empty_is_categorical(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: ({} if x is None or x == "categorical" else x) for k, x in v.items()}
        if isinstance(v, list):  # [lighting, weather] shorthand: categorical
            return {str(k): {} for k in v}
        return v


class SliceGap(BaseModel):
    """The gap between two slices (`better` minus `worse`, oriented so positive = `worse` is
    worse off) in the candidate must not exceed the comparator's gap by `margin` or more."""

    model_config = _FROZEN
    name: str | None = None
    better: str = Field(description="the slice expected to do better, e.g. lighting=day")
    worse: str = Field(description="the slice expected to do worse, e.g. lighting=night")
    metric: str
    margin: float = Field(ge=0)
    against: Literal["reference", "baseline"] = "reference"
    blocking: bool = True

    @property
    def label(self) -> str:
        return self.name or f"gap:{self.better}-vs-{self.worse}"


class AdaptiveSettings(BaseModel):
    """More seeds only where a blocking decision is open. The gate knows its maximal number of looks
    (1 + the suite's max_extra_rounds, capped by cap_factor), so by default it spends alpha across
    them (group-sequential, O'Brien-Fleming-like); `design: anytime` keeps anytime-valid bounds for
    open-ended monitoring."""

    model_config = _FROZEN
    enabled: bool = Field(True, description="add seeds where a blocking decision is open (false: one fixed look)")
    design: Literal["group_sequential", "anytime"] = Field("group_sequential", description=(
        "group_sequential: alpha spent over the known looks (the most power at the cap); anytime: "
        "anytime-valid confidence sequences, for monitoring with no fixed number of looks"))
    spending: Literal["obrien_fleming", "pocock"] = Field("obrien_fleming", description=(
        "Lan-DeMets spending function of the group-sequential design: obrien_fleming spends little "
        "early and keeps the fixed design's power at the cap; pocock stops earlier on large effects"))
    pass_spending: Literal["obrien_fleming", "pocock"] = Field("pocock", description=(
        "spending function of the pass-early boundary (non-inferiority shown before the cap). It spends "
        "1 - pass_confidence, the chance of passing a regression at the margin; pocock passes clear "
        "cases at the first look, which is where an unchanged candidate saves its episodes"))
    cap_factor: float = Field(3.0, ge=1.0, description="stop at this multiple of the base allocation")
    seeds_per_round: int = Field(1, ge=1, description="extra seeds per undecided parameter sample per round")
    pass_confidence: float = Field(0.8, gt=0.5, lt=1.0, description=(
        "confidence needed to pass (non-inferiority shown); 0.8 matches a fixed design with 80 % power"))
    guardrail_p: float = Field(0.25, gt=0, le=1, description=(
        "a safety check that does not have to prove its margin (prove_within_margin: false) still gets "
        "more seeds while its estimate points to a regression with one-sided p at most this"))


class PowerSettings(BaseModel):
    """The drop the gate should be able to catch: the summary names blocking slices whose power at
    the cap is below `target` for a regression of `detect` beyond their margin."""

    model_config = _FROZEN
    detect: float = Field(0.10, gt=0, le=1, description="regression size (rate points for binary metrics)")
    target: float = Field(0.8, gt=0, lt=1, description="power below which a blocking slice is named underpowered")


class RegionSettings(BaseModel):
    """Regression-region discovery after the gate (simtest.judging.regions; docs/regions.md).
    Diagnostic by default; `blocking: true` fails the gate on any reported regression region whose
    regression exceeds `margin` (tested against the margin, FDR-controlled at q)."""

    model_config = _FROZEN
    enabled: bool = Field(True, description="search regions after every gate and compare")
    metric: str = Field("passed", description="the metric compared per region (binary or continuous)")
    comparisons: tuple[Literal["baseline", "reference"], ...] = Field(
        ("baseline",), description="which comparisons to search (each its own FDR family)")
    max_depth: int = Field(3, ge=1, le=3, description="most conditions per region")
    min_support: int = Field(10, ge=2, description="fewest pairs a region needs to be examined")
    cuts: int = Field(3, ge=1, le=9, description="cut points per numeric parameter (quantiles of its samples)")
    q: float = Field(0.10, gt=0, lt=1, description="false-discovery rate over every region examined")
    fdr: Literal["bh", "by"] = Field("bh", description="bh (positive dependence) or by (any dependence)")
    blocking: bool = Field(False, description="a reported regression region fails the gate")
    margin: float = Field(0.0, ge=0, description="regression a blocking region must exceed")
    top: int = Field(10, ge=1, le=100, description="regions reported per direction")


class CoverageSettings(BaseModel):
    """Pairwise coverage of the suite's parameter space (simtest.judging.coverage)."""

    model_config = _FROZEN
    min_pairwise: float = Field(0.0, ge=0, le=1, description=(
        "fewest share of pairwise cells the candidate's cases must visit; below it the run is invalid "
        "(exit 3), not a regression"))


class GatePolicy(BaseModel):
    """How the gate decides. See the module docstring for the conventions."""

    model_config = _FROZEN
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="one-sided confidence (alpha = 1 - confidence)")
    bh_q: float = Field(0.10, gt=0, lt=1, description="false-discovery rate for diagnostic warnings")
    max_infra_error_rate: float = Field(0.05, ge=0, le=1, description="env_error + timeout share above which a run is invalid")
    on_undecided: Literal["fail", "pass"] = Field("fail", description="blocking checks still undecided at the end")
    seed: int = Field(0, ge=0, description="seed of the bootstrap and permutation resampling")
    metrics: dict[str, MetricPolicy] = Field(default_factory=dict)
    slices: SliceSpec = Field(default_factory=SliceSpec)
    blocking_slices: tuple[Annotated[str, AfterValidator(_slice_name)], ...] = ()
    slice_gaps: tuple[SliceGap, ...] = ()
    adaptive: AdaptiveSettings = Field(default_factory=AdaptiveSettings)
    power: PowerSettings = Field(default_factory=PowerSettings)
    regions: RegionSettings = Field(default_factory=RegionSettings)
    coverage: CoverageSettings = Field(default_factory=CoverageSettings)

    @property
    def alpha(self) -> float:
        return 1.0 - self.confidence

    @classmethod
    def default(cls) -> "GatePolicy":
        """Used when no policy file is given: `passed` blocking overall (5 points vs baseline, 10 vs
        reference), `errors` a blocking safety check, tags as slices."""
        return cls(metrics={
            "passed": MetricPolicy(margin_baseline=0.05, margin_reference=0.10, slice_margin_baseline=0.10,
                                   slice_margin_reference=0.15, blocking=True),
            "errors": _ERRORS_DEFAULT,
        })

    def metric(self, name: str) -> MetricPolicy:
        """The policy of a metric; `errors` is judged even when not listed."""
        if name in self.metrics:
            return self.metrics[name]
        if name == "errors":
            return _ERRORS_DEFAULT
        return MetricPolicy()

    def judged_metrics(self) -> tuple[str, ...]:
        names = list(self.metrics)
        if "errors" not in names:
            names.append("errors")
        return tuple(names)

    def problems(self, declared: Mapping[str, Mapping], doc: yamlio.Located | None = None,
                 file: str = "<policy>") -> list[Problem]:
        """Metric names checked against the declarations (plus the built-ins)."""
        known = metric_declarations(declared)

        def problem(loc: tuple, message: str, key: bool = False) -> Problem:
            if doc is None:
                return Problem(file, yamlio.jsonpath(loc), message)
            return doc.problem(loc, message, key=key)

        out: list[Problem] = []
        names = ", ".join(sorted(known))
        for name, mp in self.metrics.items():
            if name not in known:
                out.append(problem(("metrics", name), f'unknown metric "{name}"{did_you_mean(name, known)}; '
                                   f"known metrics: {names}", key=True))
                continue
            decl = known[name]
            if mp.relative and decl.get("kind") == "binary":
                out.append(problem(("metrics", name, "relative"),
                                   f'"{name}" is binary; its margins are absolute rate differences, remove relative'))
        if self.regions.metric not in known:
            out.append(problem(("regions", "metric"), f'unknown metric "{self.regions.metric}"'
                               f"{did_you_mean(self.regions.metric, known)}; known metrics: {names}"))
        for i, gap in enumerate(self.slice_gaps):
            if gap.metric not in known:
                out.append(problem(("slice_gaps", i, "metric"), f'unknown metric "{gap.metric}"'
                                   f"{did_you_mean(gap.metric, known)}; known metrics: {names}"))
        return out


# More agent_errors or timeouts under the candidate is a regression (safety: any confident
# increase fails); the pass margins only say when "no more errors" counts as shown.
_ERRORS_DEFAULT = MetricPolicy(margin_baseline=0.02, margin_reference=0.05, slice_margin_baseline=0.05,
                               slice_margin_reference=0.08, safety=True, blocking=True,
                               blocking_in_slices=False, prove_within_margin=False)



def policy_from_dict(data: Any, declared: Mapping[str, Mapping] | None = None, *,
                     doc: yamlio.Located | None = None, file: str = "<policy>") -> GatePolicy:
    """Validate a policy mapping. With `declared` metric declarations, unknown metric names are
    problems too. Raises PolicyError with every problem."""
    if doc is None:
        doc = yamlio.Located(file=file, data=data)
    if not isinstance(data, dict):
        raise PolicyError([doc.problem((), f"expected a mapping at the top level, got {type(data).__name__}")])
    problems: list[Problem] = []
    if declared is not None:
        problems.extend(_raw_name_problems(data, declared, doc))
    try:
        policy = GatePolicy.model_validate(data)
    except ValidationError as exc:
        problems.extend(yamlio.pydantic_problems(exc, doc))
        raise PolicyError(_sorted(problems)) from None
    if declared is not None:
        problems = policy.problems(declared, doc)
    if problems:
        raise PolicyError(_sorted(problems))
    return policy


def _sorted(problems: list[Problem]) -> list[Problem]:
    seen: dict[str, Problem] = {}
    for p in problems:
        seen.setdefault(str(p), p)
    return sorted(seen.values(), key=lambda p: (p.line or 0, p.col or 0, p.path))


def _raw_name_problems(data: dict, declared: Mapping[str, Mapping], doc: yamlio.Located) -> list[Problem]:
    """Unknown metric names, found before schema validation so that they are reported together
    with every other problem of the file."""
    known = metric_declarations(declared)
    names = ", ".join(sorted(known))
    out = []
    metrics = data.get("metrics")
    if isinstance(metrics, dict):
        for name in metrics:
            if name not in known:
                out.append(doc.problem(("metrics", name), f'unknown metric "{name}"{did_you_mean(name, known)}; '
                                       f"known metrics: {names}", key=True))
    gaps = data.get("slice_gaps")
    if isinstance(gaps, list):
        for i, gap in enumerate(gaps):
            if isinstance(gap, dict) and isinstance(gap.get("metric"), str) and gap["metric"] not in known:
                out.append(doc.problem(("slice_gaps", i, "metric"), f'unknown metric "{gap["metric"]}"'
                                       f"{did_you_mean(gap['metric'], known)}; known metrics: {names}"))
    return out


def load_policy(path: str | Path, declared: Mapping[str, Mapping] | None = None) -> GatePolicy:
    """Load and validate a policy file; every problem is reported as `file:line:col $.path: msg`."""
    doc = yamlio.load(path, error_cls=PolicyError)
    return policy_from_dict(doc.data, declared, doc=doc, file=str(path))
