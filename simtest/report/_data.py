"""Reads a Verdict into small plain values that every writer shares, so markdown, JUnit and
HTML agree on what a check, a slice, a region or a new failure is. It formats; it never decides:
everything it shows was computed in simtest.judging (tests/unit/test_report_from_verdict.py)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from simtest.judging.decisions import BlockingDecisions

__all__ = [
    "CheckView", "FailureView", "ReportData", "build", "fmt_value", "fmt_delta", "fmt_interval",
    "fmt_margin", "DECISION_ORDER",
]

# How alarming a decision is; used to sort tables so the problems come first.
DECISION_ORDER = {"fail": 0, "undecided": 1, "warn": 2, "too_small": 3, "pass": 4}
ROLES = ("reference", "baseline", "candidate")


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class CheckView:
    """One (comparison, metric, slice) decision, with missing fields as NaN / empty."""

    comparison: str
    metric: str
    slice: str
    n: int
    delta: float
    lower: float
    upper: float
    p_value: float
    decision: str
    margin: float = math.nan
    blocking: bool = False
    candidate_value: float = math.nan
    baseline_value: float = math.nan  # the other side of this comparison (baseline or reference)
    needed_n: int | None = None
    note: str = ""
    kind: str = ""  # binary | continuous | gap ("" when the comparator does not say)
    safety: bool = False
    p_adjusted: float = math.nan
    holds: bool = True  # an undecided blocking check holds the gate (false: it blocks only on a confident regression)

    @staticmethod
    def of(obj: Any) -> "CheckView":
        needed = _get(obj, "needed_n")
        return CheckView(
            comparison=str(_get(obj, "comparison", "")), metric=str(_get(obj, "metric", "")),
            slice=str(_get(obj, "slice", "overall")), n=int(_get(obj, "n", 0) or 0),
            delta=_float(_get(obj, "delta")), lower=_float(_get(obj, "lower")), upper=_float(_get(obj, "upper")),
            p_value=_float(_get(obj, "p_value")), decision=str(_get(obj, "decision", "")),
            margin=_float(_get(obj, "margin")), blocking=bool(_get(obj, "blocking", False)),
            candidate_value=_float(_get(obj, "candidate_value")),
            baseline_value=_float(_get(obj, "baseline_value")),
            needed_n=int(needed) if needed is not None and not _isnan(needed) else None,
            note=str(_get(obj, "note", "") or ""),
            kind=str(_get(obj, "kind", "") or ""), safety=bool(_get(obj, "safety", False)),
            p_adjusted=_float(_get(obj, "p_adjusted")), holds=bool(_get(obj, "holds", True)),
        )

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.comparison, self.metric, self.slice)


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


@dataclass(frozen=True)
class FailureView:
    """A case that passed under the baseline and fails under the candidate."""

    case_id: str
    scenario: str
    params: dict
    seed: int | None
    failed: tuple[str, ...]
    outcome: str
    replay: str
    severity: tuple = ()  # sort key: worst first


@dataclass(frozen=True)
class ReportData:
    verdict: str
    reasons: tuple[str, ...]
    checks: tuple[CheckView, ...]
    failures: tuple[FailureView, ...]  # worst first
    scenario_changes: tuple[dict, ...]
    infra: dict[str, dict]  # role -> counts (rows, completed, agent_error, timeout, env_error, infra_rate)
    invalid_runs: tuple[str, ...]  # roles whose infrastructure made the verdict invalid
    models: dict[str, str]  # role -> label
    runs: dict[str, str]  # role -> run dir
    key_metric: str | None
    binary: frozenset[str]  # metrics whose values are rates (shown in percent / percentage points)
    units: dict[str, str]
    varying_params: tuple[str, ...]  # scenario parameters that differ between cases
    bounds_note: str  # how the [L, U] bounds were made, for captions
    n_cases: int
    outcome_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # role -> outcome -> count
    regions: tuple = ()  # simtest.judging.regions.RegionSearch per comparison searched
    underpowered: tuple[str, ...] = ()  # judging's lines for blocking slices below the policy's power target
    coverage: Any = None  # simtest.judging.coverage.Coverage, or None when no suite space was given
    blocking: BlockingDecisions = BlockingDecisions()  # judging's grouping of the blocking checks (of these views)
    stored: dict[str, str] = field(default_factory=dict)  # role -> where its results were read from (not run)
    model_metrics: tuple = ()  # simtest.judging.modelmetrics.ModelMetricPanel per (model metric, pair of models)

    def region_search(self, comparison: str = "baseline") -> Any:
        return next((r for r in self.regions if r.comparison == comparison), None)

    def metrics(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.checks:
            seen.setdefault(c.metric, None)
        return list(seen)

    def slices(self, metric: str | None = None) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.checks:
            if metric is None or c.metric == metric:
                seen.setdefault(c.slice, None)
        out = list(seen)
        if "overall" in out:  # the whole suite first, then slices in the comparator's order
            out.remove("overall")
            out.insert(0, "overall")
        return out

    def check(self, comparison: str, metric: str, slice_: str) -> CheckView | None:
        for c in self.checks:
            if c.key == (comparison, metric, slice_):
                return c
        return None

    def is_binary(self, metric: str) -> bool:
        return metric in self.binary

    def problems(self, blocking: bool = True) -> list[CheckView]:
        """Checks that did not pass, worst first: by default the blocking ones, exactly the
        `not_passed` of judging's BlockingDecisions (what the headline counts); with
        blocking=False also the diagnostic ones that failed or are undecided."""
        bad = list(self.blocking.not_passed)
        if not blocking:
            bad += [c for c in self.checks if not c.blocking and c.decision in ("fail", "undecided")]
        return sorted(bad, key=lambda c: (DECISION_ORDER.get(c.decision, 9), -_nz(c.lower)))


def _nz(v: float) -> float:
    return v if math.isfinite(v) else -math.inf


# --------------------------------------------------------------------------- building


def build(verdict: Any, frames: Mapping[str, Any] | None, context: Mapping[str, Any]) -> ReportData:
    """Plain views of the Verdict. Every decision, rule, region, coverage figure, metric kind and
    invalid run comes from the Verdict (its checks and its `findings`, computed by
    simtest.judging.findings); the frames serve only to look up stored rows (parameters of a new
    failure, the episode to replay). Nothing here computes a statistic."""
    frames = {k: v for k, v in dict(frames or {}).items() if v is not None}
    checks = tuple(CheckView.of(c) for c in (_get(verdict, "checks", ()) or ()))
    findings = _get(verdict, "findings", None)
    metric_decl: Mapping[str, Mapping] = context.get("metrics") or {}
    kinds: Mapping[str, str] = dict(_get(findings, "metric_kinds", {}) or {})
    binary = {m for m, k in kinds.items() if k == "binary"}
    binary |= {c.metric for c in checks if c.kind == "binary"}
    units: dict[str, str] = dict(_get(findings, "units", {}) or {})
    for name, decl in metric_decl.items():  # declarations given by the caller (no findings)
        if name not in kinds and decl.get("kind") == "binary":
            binary.add(name)
        if decl.get("unit") and name not in units:
            units[name] = str(decl["unit"])
    names = {c.metric for c in checks}
    key = context.get("key_metric") or _pick_key_metric(checks, names, binary)
    replay: Callable[[str], str] = context.get("replay_command") or (lambda cid: f"simtest replay {cid}")
    varying = _varying_params(frames)
    failures = _failures(verdict, frames, replay)
    reasons = tuple(str(r) for r in (_get(verdict, "reasons", ()) or ()))
    infra = {str(k): _plain(v) for k, v in dict(_get(verdict, "infra", {}) or {}).items()}
    rows = infra.get("candidate", {}).get("rows")
    return ReportData(
        verdict=str(_get(verdict, "verdict", "invalid")),
        reasons=reasons,
        checks=checks,
        failures=failures,
        scenario_changes=tuple(_plain(x) for x in (_get(verdict, "scenario_changes", ()) or ())),
        infra=infra,
        invalid_runs=tuple(_get(findings, "invalid_runs", ()) or ()),
        models=dict(context.get("models") or {}),
        runs={k: str(v) for k, v in dict(context.get("runs") or {}).items()},
        stored={str(k): str(v) for k, v in dict(context.get("stored") or {}).items()},
        key_metric=key,
        binary=frozenset(binary),
        units=units,
        varying_params=varying,
        bounds_note=_bounds_note(verdict),
        n_cases=int(rows) if rows is not None else max((c.n for c in checks), default=0),
        outcome_counts={str(k): dict(v) for k, v in dict(_get(findings, "outcome_counts", {}) or {}).items()},
        regions=tuple(_get(findings, "regions", ()) or ()),
        coverage=_get(findings, "coverage", None),
        model_metrics=tuple(_get(findings, "model_metrics", ()) or ()),
        underpowered=tuple(_power_line(p) for p in (_get(verdict, "power", ()) or ()) if _get(p, "underpowered")),
        blocking=BlockingDecisions.of(checks),
    )


def _power_line(p: Any) -> str:
    return p.line() if hasattr(p, "line") else str(_get(p, "slice", ""))


def _plain(v: Any) -> dict:
    """A comparator value (dataclass with to_json, mapping, or anything) as a plain dict."""
    if hasattr(v, "to_json"):
        v = v.to_json()
    if isinstance(v, Mapping):
        return dict(v)
    return {"value": v}


def _bounds_note(verdict: Any) -> str:
    note = _get(verdict, "design_note")
    if note:  # judging says how it built the bounds
        return str(note)
    alpha = _get(verdict, "alpha")
    conf = _get(verdict, "confidence")
    if alpha is None and conf is not None:
        alpha = 1.0 - float(conf)
    if alpha is None:
        return "one-sided bounds"
    seq = _get(verdict, "sequential")
    return f"one-sided bounds at α={float(alpha):g}" + (" (anytime-valid)" if seq else "")


def _pick_key_metric(checks: Sequence[CheckView], names: set[str], binary: set[str]) -> str | None:
    """The gate's primary metric: the first blocking binary non-safety metric (e.g. `passed`),
    else `success`, else the first blocking metric, else the first metric."""
    for c in checks:
        if c.blocking and c.metric in binary and not c.safety and c.kind != "gap":
            return c.metric
    if "success" in names:
        return "success"
    for c in checks:
        if c.blocking:
            return c.metric
    return checks[0].metric if checks else (sorted(names)[0] if names else None)


def params_of(value: Any) -> dict:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str) and value:
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _varying_params(frames: Mapping[str, Any]) -> tuple[str, ...]:
    f = frames.get("candidate")
    if f is None or "params" not in f.columns or not len(f):
        return ()
    values: dict[str, set] = {}
    for p in f["params"].drop_duplicates():
        for k, v in params_of(p).items():
            values.setdefault(k, set()).add(json.dumps(v, sort_keys=True))
    return tuple(sorted(k for k, v in values.items() if len(v) > 1))


def _failures(verdict: Any, frames: Mapping[str, Any], replay: Callable[[str], str]) -> tuple[FailureView, ...]:
    cand = frames.get("candidate")
    raw = list(_get(verdict, "new_failures", None) or ())
    by_id: dict[str, dict] = {}
    if cand is not None and "case_id" in cand.columns and raw:
        wanted = {str(_get(item, "case_id", "")) for item in raw}
        sub = cand[cand["case_id"].astype(str).isin(wanted)]
        for row in sub.to_dict("records"):
            by_id[str(row["case_id"])] = row
    out = []
    for item in raw:
        cid = str(_get(item, "case_id", ""))
        row = by_id.get(cid, {})
        failed = _get(item, "failed_checks", None) or _get(item, "failed", None)
        if failed is None:
            failed = [k[len("check_"):] for k, v in row.items() if k.startswith("check_") and v is False]
        outcome = str(_get(item, "outcome", None) or row.get("outcome", "") or "")
        out.append(FailureView(
            case_id=cid,
            scenario=str(_get(item, "scenario", None) or row.get("scenario", "")),
            params=params_of(_get(item, "params", None) or row.get("params")),
            seed=_seed(_get(item, "seed", None), row.get("seed")),
            failed=tuple(str(x) for x in (failed if not isinstance(failed, str) else [failed])),
            outcome=outcome,
            replay=replay(cid),
            severity=(outcome == "completed", -len(failed or ()), cid),
        ))
    return tuple(sorted(out, key=lambda f: f.severity))


def _seed(a: Any, b: Any) -> int | None:
    for v in (a, b):
        if v is not None and not _isnan(v):
            return int(v)
    return None


def fmt_value(v: float, binary: bool, unit: str = "") -> str:
    if not math.isfinite(v):
        return "n/a"
    if binary:
        return f"{100 * v:.1f}%"
    return _sig(v) + (f" {unit}" if unit else "")


def fmt_delta(v: float, binary: bool, unit: str = "") -> str:
    """A regression effect (positive = candidate worse), in percentage points for rates."""
    if not math.isfinite(v):
        return "n/a"
    if binary:
        return f"{100 * v:+.1f} pp"
    s = _sig(v)
    return ("+" + s if v > 0 else s) + (f" {unit}" if unit else "")


def fmt_margin(v: float, binary: bool, unit: str = "") -> str:
    if not math.isfinite(v):
        return "n/a"
    return (f"{100 * v:.1f} pp" if binary else _sig(v) + (f" {unit}" if unit else ""))


def fmt_interval(lo: float, hi: float, binary: bool) -> str:
    def one(v: float) -> str:
        if math.isnan(v):
            return "?"
        if math.isinf(v):
            return "-inf" if v < 0 else "+inf"
        return f"{100 * v:+.1f}" if binary else ("+" if v > 0 else "") + _sig(v)

    return f"[{one(lo)}, {one(hi)}]"


def _sig(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.2f}".rstrip("0").rstrip(".")
    return f"{v:.3g}"


def fmt_params(params: Mapping[str, Any], names: Sequence[str], limit: int = 4) -> str:
    keys = [k for k in names if k in params] or sorted(params)
    parts = []
    for k in keys[:limit]:
        v = params[k]
        parts.append(f"{k}={_sig(v) if isinstance(v, float) else v}")
    if len(keys) > limit:
        parts.append("...")
    return ", ".join(parts)
