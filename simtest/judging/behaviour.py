"""Judging of behavioural tests: metamorphic groups (simtest.contract.behaviour) and one model
version's result rows -> frozen decisions. Pure: no simulation, no I/O.

Every difference is a paired one: a group's members share the seed and every parameter but the
varied one, so the difference of their metric is the effect of that parameter alone.

- invariance (TOST): for each value j after the first, d = x_j - x_0 per group. The test passes
  (equivalence shown) when both one-sided tests H0: mean d <= -margin and H0: mean d >= margin
  reject at alpha for every j (intersection-union: no adjustment needed across j, the test's
  p-value is the largest TOST p). It fails (a violation shown) when |mean d| > margin is shown
  for some j: p = min(1, 2 k min_j min(p_up_j, p_down_j)) (Bonferroni over the 2 k one-sided
  tests). Otherwise undecided.
- directional: v = x_to - x_from, signed so that positive is the forbidden direction (higher for
  `not_higher`, lower for `not_lower`). It fails when H0: mean v <= margin is rejected and the
  lower bound clears the margin (> 0 when the margin is 0); it passes when the upper bound is below
  the margin; else undecided.
- minimum functionality: k good of n cases; exact binomial (Clopper-Pearson) lower bound on the
  rate; fails when H0: rate >= at_least is rejected by the exact binomial test (at_least = 1: any
  failure, p = 0); passes when every case is good (at_least = 1) or the lower bound reaches
  at_least; else undecided. Failing cases are listed by case_id.

Binary metrics (passed, errors, binary env metrics): exact McNemar for a zero margin, else the
Tango score test and bounds of `stats` (the gate's fixed-n statistics). Continuous metrics: the
sign-flip permutation p-values and bootstrap/t bounds of `stats`. Bounds are one-sided (1 - alpha).

Multiplicity is shared with the gate: the p-values of the candidate's blocking behaviour tests
(overall and per `by` value) join the p-values of the gate's blocking checks in one Holm family;
a blocking test fails when its Holm-adjusted p <= alpha. (The gate's own checks were decided by
compare over the gate's family alone and are not re-adjusted here.) Diagnostic tests are Benjamini-Hochberg
adjusted among themselves and `warn` instead of fail. Versions other than the candidate are judged
with Holm over their own blocking tests (no gate checks of theirs exist).

Rows: a case_id stored more than once counts once (the last attempt). Groups with an env_error or
timeout member are infrastructure and left out (counted in `dropped`). A binary value that is
NaN (agent_error) counts as 0; continuous pairs with a non-finite member are left out."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from simtest.contract.behaviour import PlannedTest
from simtest.contract.results import METRIC_PREFIX
from simtest.judging import stats

__all__ = ["Comparison", "BehaviourResult", "BehaviourVerdict", "GateVerdict", "with_behaviour", "judge_behaviour", "judge_model",
           "tost_binary", "tost_continuous", "directional_binary", "directional_continuous", "minimum_rate"]

INFRA = ("env_error", "timeout")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Comparison:
    """One variant value against the base value within a test and slice. delta = mean(variant -
    base) on the metric's own scale (invariance) or in the forbidden direction (directional)."""

    value: Any
    n: int
    delta: float
    lower: float
    upper: float
    p_pass: float  # TOST p (invariance); NaN for directional
    p_fail: float  # p of the violation hypothesis


@dataclass(frozen=True)
class BehaviourResult:
    """One (model, test, slice) judgement. For minimum tests delta is the observed rate and
    lower/upper its exact one-sided bounds; `failures` are the failing case_ids."""

    model: str
    role: str  # candidate | baseline | reference
    test: str
    kind: str
    param: str
    metric: str
    slice: str
    n: int
    delta: float
    lower: float
    upper: float
    margin: float
    p_value: float
    p_adjusted: float
    decision: str  # pass | fail | warn | undecided | too_small
    blocking: bool
    statement: str
    comparisons: tuple[Comparison, ...] = ()
    worst: tuple[str, ...] = ()  # case_ids of the worst violating group (base first)
    failures: tuple[str, ...] = ()
    dropped: int = 0
    expect: str = ""
    at_least: float | None = None
    binary: bool = True  # the metric is a rate (estimates in rate points)

    def to_json(self) -> dict:
        d = {k: _clean(getattr(self, k)) for k in self.__dataclass_fields__ if k != "comparisons"}
        d["comparisons"] = [{k: _clean(getattr(c, k)) for k in c.__dataclass_fields__} for c in self.comparisons]
        return d


@dataclass(frozen=True)
class BehaviourVerdict:
    """All versions' results, the tests the candidate newly violates (the baseline met them), and
    whether a blocking violation fails the gate."""

    results: tuple[BehaviourResult, ...]
    newly_violated: tuple[str, ...] = ()  # "test in slice"
    failed: bool = False
    family: int = 0  # size of the shared Holm family (gate blocking checks + blocking behaviour results)
    alpha: float = 0.05
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def for_role(self, role: str) -> tuple[BehaviourResult, ...]:
        return tuple(r for r in self.results if r.role == role)

    def to_json(self) -> dict:
        return {"failed": self.failed, "alpha": self.alpha, "family": self.family,
                "newly_violated": list(self.newly_violated), "reasons": list(self.reasons),
                "notes": list(self.notes), "results": [r.to_json() for r in self.results]}




# --------------------------------------------------------------------------- decisions (pure numbers)


def tost_binary(up: int, down: int, n: int, margin: float, alpha: float = 0.05) -> dict:
    """Paired binary equivalence: up = pairs where the variant is 1 and the base 0, down the reverse.
    Returns delta, one-sided (1 - alpha) Tango bounds, the TOST p (max of the two one-sided score
    p-values) and the violation p (2 x the smaller of the tests of |delta| > margin)."""
    if n == 0:
        return dict(delta=math.nan, lower=math.nan, upper=math.nan, p_pass=1.0, p_fail=1.0)
    lower, upper = stats.tango_bounds(up, down, n, alpha)
    p_low = stats.tango_p(up, down, n, -margin, "greater")  # H0: delta <= -margin
    p_high = stats.tango_p(up, down, n, margin, "less")  # H0: delta >= margin
    p_up = stats.tango_p(up, down, n, margin, "greater")  # H0: delta <= margin (violation upward)
    p_down = stats.tango_p(up, down, n, -margin, "less")  # H0: delta >= -margin (violation downward)
    return dict(delta=(up - down) / n, lower=float(lower), upper=float(upper), p_pass=float(max(p_low, p_high)),
                p_fail=float(min(1.0, 2 * min(p_up, p_down))))


def tost_continuous(d: np.ndarray, margin: float, alpha: float = 0.05, *, seed: Any = 0) -> dict:
    """Paired continuous equivalence on differences d (sign-flip permutation p-values, bootstrap/t bounds)."""
    d = np.asarray(d, dtype=float)
    if d.size == 0:
        return dict(delta=math.nan, lower=math.nan, upper=math.nan, p_pass=1.0, p_fail=1.0)
    ss = np.random.SeedSequence(seed) if isinstance(seed, int) else seed
    s = ss.spawn(5)
    lower, upper = stats.mean_bounds(d, alpha, seed=s[0])
    p_low = stats.mean_p(d, -margin, "greater", seed=s[1])
    p_high = stats.mean_p(d, margin, "less", seed=s[2])
    p_up = stats.mean_p(d, margin, "greater", seed=s[3])
    p_down = stats.mean_p(d, -margin, "less", seed=s[4])
    return dict(delta=float(d.mean()), lower=float(lower), upper=float(upper), p_pass=float(max(p_low, p_high)),
                p_fail=float(min(1.0, 2 * min(p_up, p_down))))


def directional_binary(worse: int, better: int, n: int, margin: float, alpha: float = 0.05) -> dict:
    """Paired binary one-sided test in the forbidden direction: worse = pairs that moved the
    forbidden way. p: exact McNemar (margin 0) or Tango score test of H0: mean <= margin."""
    if n == 0:
        return dict(delta=math.nan, lower=math.nan, upper=math.nan, p_fail=1.0)
    lower, upper = stats.tango_bounds(worse, better, n, alpha)
    p = stats.mcnemar_p(worse, better) if margin == 0 else stats.tango_p(worse, better, n, margin, "greater")
    return dict(delta=(worse - better) / n, lower=float(lower), upper=float(upper), p_fail=float(p))


def directional_continuous(v: np.ndarray, margin: float, alpha: float = 0.05, *, seed: Any = 0) -> dict:
    v = np.asarray(v, dtype=float)
    if v.size == 0:
        return dict(delta=math.nan, lower=math.nan, upper=math.nan, p_fail=1.0)
    ss = np.random.SeedSequence(seed) if isinstance(seed, int) else seed
    s1, s2 = ss.spawn(2)
    lower, upper = stats.mean_bounds(v, alpha, seed=s1)
    return dict(delta=float(v.mean()), lower=float(lower), upper=float(upper),
                p_fail=float(stats.mean_p(v, margin, "greater", seed=s2)))


def minimum_rate(good: int, n: int, at_least: float, alpha: float = 0.05) -> dict:
    """Exact binomial: rate, one-sided (1 - alpha) Clopper-Pearson bounds, and the p-value of
    H0: rate >= at_least (P(X <= good) under Bin(n, at_least); 0 when at_least = 1 and a case failed)."""
    if n == 0:
        return dict(delta=math.nan, lower=math.nan, upper=math.nan, p_fail=1.0)
    lower = float(sps.beta.ppf(alpha, good, n - good + 1)) if good > 0 else 0.0
    upper = float(sps.beta.ppf(1 - alpha, good + 1, n - good)) if good < n else 1.0
    p = float(sps.binom.cdf(good, n, at_least)) if good < n else 1.0
    return dict(delta=good / n, lower=lower, upper=upper, p_fail=p)


# --------------------------------------------------------------------------- rows -> results


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    if "attempt" in frame.columns:
        frame = frame.sort_values("attempt", kind="stable")
    return frame.drop_duplicates("case_id", keep="last").set_index("case_id")


def _values(rows: pd.DataFrame, metric: str) -> tuple[pd.Series, bool]:
    """Metric values per case_id and whether the metric is binary."""
    if metric == "passed":
        return rows["passed"].astype(float), True
    if metric == "errors":
        return rows["outcome"].isin(("agent_error", "timeout")).astype(float), True
    col = METRIC_PREFIX + metric
    if col not in rows.columns:
        return pd.Series(np.nan, index=rows.index), True
    return pd.to_numeric(rows[col], errors="coerce"), None  # kind decided by the caller


def _slices(test: PlannedTest) -> list[tuple[str, list]]:
    out = [("overall", list(test.groups))]
    if test.by:
        for value in sorted({g.stratum for g in test.groups}, key=repr):
            out.append((f"{test.by}={value}", [g for g in test.groups if g.stratum == value]))
    return out


def judge_model(test: PlannedTest, frame: pd.DataFrame, model: str, role: str, *, alpha: float = 0.05,
                binary: bool | None = None, seed: int = 0) -> list[dict]:
    """Raw (pre-multiplicity) results of one test for one model's rows: one dict per slice."""
    rows = _rows(frame[frame["case_id"].isin(test.case_ids)])
    vals, is_bin = _values(rows, test.metric)
    is_bin = binary if is_bin is None else is_bin
    if is_bin is None:
        is_bin = bool(vals.dropna().isin((0.0, 1.0)).all())
    outcome = rows["outcome"].astype(str).to_dict()
    vals = vals.to_dict()
    out = []
    for sname, groups in _slices(test):
        usable, dropped = [], 0
        for g in groups:
            if any(c not in outcome or outcome[c] in INFRA for c in g.case_ids):
                dropped += 1
            else:
                usable.append(g)
        x = np.array([[vals[c] for c in g.case_ids] for g in usable], dtype=float).reshape(len(usable), -1)
        if is_bin:
            x = np.where(np.isfinite(x), (x >= 0.5).astype(float), 0.0)
        res = dict(test=test, slice=sname, model=model, role=role, dropped=dropped, groups=usable, x=x,
                   seed=stats.check_seed(seed, model, test.name, sname))
        out.append(dict(_judge_slice(res, is_bin, alpha), binary=bool(is_bin)))
    return out


def _judge_slice(r: dict, binary: bool, alpha: float) -> dict:
    test: PlannedTest = r["test"]
    x, groups = r["x"], r["groups"]
    n = len(groups)
    comps: list[Comparison] = []
    worst: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()
    if test.kind == "invariance":
        ps_pass, ps_fail = [], []
        k = max(1, len(test.values) - 1)
        seeds = r["seed"].spawn(k)
        for j in range(1, len(test.values)):
            if n:
                d = x[:, j] - x[:, 0]
            else:
                d = np.zeros(0)
            if binary:
                s = tost_binary(int((d > 0).sum()), int((d < 0).sum()), int(d.size), test.margin, alpha)
            else:
                d = d[np.isfinite(d)]
                s = tost_continuous(d, test.margin, alpha, seed=seeds[j - 1])
            comps.append(Comparison(test.values[j], int(d.size), s["delta"], s["lower"], s["upper"], s["p_pass"],
                                    s["p_fail"]))
            ps_pass.append(s["p_pass"])
            ps_fail.append(s["p_fail"])
        p_pass = max(ps_pass) if ps_pass else 1.0
        p_fail = min(1.0, k * min(ps_fail)) if ps_fail else 1.0
        w = max(range(len(comps)), key=lambda i: abs(comps[i].delta) if math.isfinite(comps[i].delta) else -1)
        head = comps[w]
        if n and math.isfinite(head.delta) and head.delta != 0:
            j = w + 1
            diff = (x[:, j] - x[:, 0]) * np.sign(head.delta)
            g = int(np.nanargmax(diff))
            if diff[g] > 0:
                worst = (groups[g].case_ids[0], groups[g].case_ids[j])
        delta, lower, upper = head.delta, head.lower, head.upper
    elif test.kind == "directional":
        sign = 1.0 if test.expect == "not_higher" else -1.0
        v = (x[:, 1] - x[:, 0]) * sign if n else np.zeros(0)
        if binary:
            s = directional_binary(int((v > 0).sum()), int((v < 0).sum()), int(v.size), test.margin, alpha)
        else:
            keep = np.isfinite(v)
            s = directional_continuous(v[keep], test.margin, alpha, seed=r["seed"])
        p_pass, p_fail = math.nan, s["p_fail"]
        delta, lower, upper = s["delta"], s["lower"], s["upper"]
        comps.append(Comparison(test.values[1], int(v.size), delta, lower, upper, math.nan, p_fail))
        if v.size and np.nanmax(v) > 0:
            g = int(np.nanargmax(v))
            worst = groups[g].case_ids
    else:  # minimum
        good = x[:, 0] >= 0.5 if n else np.zeros(0, bool)
        if test.metric == "errors":
            good = ~good
        s = minimum_rate(int(good.sum()), n, test.at_least, alpha)
        p_pass, p_fail = math.nan, s["p_fail"]
        delta, lower, upper = s["delta"], s["lower"], s["upper"]
        failures = tuple(groups[i].case_ids[0] for i in np.flatnonzero(~good))
        worst = failures[:1]
    return dict(r, n=n, delta=delta, lower=lower, upper=upper, p_pass=p_pass, p_fail=p_fail, comparisons=tuple(comps),
                worst=worst, failures=failures)


def _decide(raw: dict, adjusted: float, alpha: float, bh_q: float) -> str:
    test: PlannedTest = raw["test"]
    if raw["n"] == 0 or not math.isfinite(raw["delta"]):
        return "too_small"
    if test.blocking and adjusted <= alpha and _clears(raw):
        return "fail"
    if not test.blocking and adjusted <= bh_q and _clears(raw):
        return "warn"
    if test.kind == "invariance":
        return "pass" if raw["p_pass"] <= alpha else "undecided"
    if test.kind == "directional":
        return "pass" if raw["upper"] < test.margin else "undecided"
    if test.at_least >= 1.0:
        return "pass" if not raw["failures"] else "undecided"
    return "pass" if raw["lower"] >= test.at_least else "undecided"


def _clears(raw: dict) -> bool:
    """The estimate is on the violating side (the gate's 'lower bound clears the margin' rule)."""
    test: PlannedTest = raw["test"]
    if test.kind == "invariance":
        return any(c.lower > test.margin or c.upper < -test.margin for c in raw["comparisons"])
    if test.kind == "directional":
        return raw["lower"] > 0 if test.margin == 0 else raw["lower"] >= test.margin
    return raw["delta"] < test.at_least


def _statement(raw: dict, decision: str) -> str:
    test: PlannedTest = raw["test"]
    where = "" if raw["slice"] == "overall" else f" in {raw['slice']}"
    verb = {"fail": "violates", "warn": "may violate (diagnostic)", "pass": "meets",
            "undecided": "is undecided on", "too_small": "has too few cases for"}[decision]
    if test.kind == "invariance":
        c = max(raw["comparisons"], key=lambda c: abs(c.delta) if math.isfinite(c.delta) else -1)
        detail = (f"{test.metric} {test.param}={c.value} vs {test.values[0]}: {c.delta:+.3f} "
                  f"[{c.lower:+.3f}, {c.upper:+.3f}], margin +-{test.margin:g}, n={raw['n']}")
    elif test.kind == "directional":
        detail = (f"{test.param} {test.values[0]} -> {test.values[1]}, {test.metric} must not be {test.expect[4:]}: "
                  f"move the forbidden way {raw['delta']:+.3f} [{raw['lower']:+.3f}, {raw['upper']:+.3f}], "
                  f"tolerance {test.margin:g}, n={raw['n']}")
    else:
        detail = (f"{test.metric} in {int(round(raw['delta'] * raw['n'])) if raw['n'] else 0}/{raw['n']} cases, rate >= "
                  f"{raw['lower']:.3f} (exact {1 - 0.05:.0%} bound), required {test.at_least:g}")
        if raw["failures"]:
            detail += f"; {len(raw['failures'])} failing"
    return f"{raw['model']} {verb} {test.name}{where}: {detail}"


def _results(raws: list[dict], adjusted: Sequence[float], alpha: float, bh_q: float) -> list[BehaviourResult]:
    out = []
    for raw, adj in zip(raws, adjusted):
        decision = _decide(raw, adj, alpha, bh_q)
        t: PlannedTest = raw["test"]
        out.append(BehaviourResult(
            model=raw["model"], role=raw["role"], test=t.name, kind=t.kind, param=t.param, metric=t.metric,
            slice=raw["slice"], n=raw["n"], delta=raw["delta"], lower=raw["lower"], upper=raw["upper"],
            margin=t.at_least if t.kind == "minimum" else t.margin, p_value=raw["p_fail"], p_adjusted=float(adj),
            decision=decision, blocking=t.blocking, statement=_statement(raw, decision),
            comparisons=raw["comparisons"], worst=tuple(raw["worst"]), failures=tuple(raw["failures"]),
            dropped=raw["dropped"], expect=t.expect, at_least=t.at_least if t.kind == "minimum" else None,
            binary=raw["binary"]))
    return out


def judge_behaviour(tests: Sequence[PlannedTest], frames: Mapping[str, pd.DataFrame], models: Mapping[str, str], *,
                    gate_p_values: Sequence[float] = (), alpha: float = 0.05, bh_q: float = 0.1,
                    binary: Mapping[str, bool] | None = None, seed: int = 0) -> BehaviourVerdict:
    """Judge every test for every version. frames: role -> result rows (candidate, baseline, ...);
    models: role -> label; gate_p_values: the p-values of the gate's blocking checks, which share
    the candidate's Holm family; binary: metric -> whether it is binary (env declarations)."""
    binary = dict(binary or {})
    results: list[BehaviourResult] = []
    family = 0
    for role, frame in frames.items():
        raws: list[dict] = []
        for t in tests:
            raws.extend(judge_model(t, frame, models.get(role, role), role, alpha=alpha,
                                    binary=binary.get(t.metric), seed=seed))
        blocking = [i for i, r in enumerate(raws) if r["test"].blocking]
        diagnostic = [i for i, r in enumerate(raws) if not r["test"].blocking]
        adj = [1.0] * len(raws)
        shared = list(gate_p_values) if role == "candidate" else []
        if blocking:
            p = stats.holm(np.array(shared + [raws[i]["p_fail"] for i in blocking], dtype=float))[len(shared):]
            for i, a in zip(blocking, p):
                adj[i] = float(a)
        if diagnostic:
            for i, a in zip(diagnostic, stats.bh([raws[i]["p_fail"] for i in diagnostic])):
                adj[i] = float(a)
        if role == "candidate":
            family = len(shared) + len(blocking)
        results.extend(_results(raws, adj, alpha, bh_q))
    cand = {(r.test, r.slice): r for r in results if r.role == "candidate"}
    base = {(r.test, r.slice): r for r in results if r.role == "baseline"}
    newly = tuple(f"{t} in {s}" for (t, s), r in cand.items()
                  if r.decision in ("fail", "warn") and (t, s) in base and base[(t, s)].decision not in ("fail", "warn"))
    failed_r = [r for r in cand.values() if r.decision == "fail"]
    reasons = tuple(f"behaviour: {r.statement}" for r in failed_r)
    notes = (f"Holm over {family} blocking hypotheses shared with the gate (alpha {alpha:g}); diagnostic tests: "
             f"Benjamini-Hochberg at q {bh_q:g}",)
    return BehaviourVerdict(results=tuple(results), newly_violated=newly, failed=bool(failed_r), family=family,
                            alpha=alpha, reasons=reasons, notes=notes)


# --------------------------------------------------------------------------- the gate's verdict with behaviour


from simtest.judging.compare import Verdict  # noqa: E402  (the gate's value type, extended below)
from simtest.core.jsonsafe import json_safe as _clean


@dataclass(frozen=True)
class GateVerdict(Verdict):
    """The gate's Verdict plus its behavioural tests. `behaviour_runs`: role -> (model argument for
    `simtest replay`, behaviour run directory). verdict.json gains a "behaviour" object."""

    behaviour: BehaviourVerdict | None = None
    behaviour_runs: dict = field(default_factory=dict)
    behaviour_cases: dict = field(default_factory=dict)  # case_id -> Case, for the cases reports re-run

    def to_json(self) -> dict:
        d = super().to_json()
        if self.behaviour is not None:
            d["behaviour"] = {**self.behaviour.to_json(),
                              "runs": {role: run for role, (_, run) in self.behaviour_runs.items()}}
        return d

    def replay_command(self, role: str, case_id: str) -> str:
        model, run = self.behaviour_runs.get(role, ("MODEL", None))
        return f"simtest replay {case_id} --model {model}" + (f" --run {run}" if run else "")


def with_behaviour(verdict: Verdict, behaviour: BehaviourVerdict, runs: Mapping[str, tuple[str, str]],
                   cases: Mapping[str, Any] | None = None) -> GateVerdict:
    """The verdict with the behaviour results attached: a blocking violation by the candidate
    turns a pass into a fail (an invalid verdict stays invalid); its reasons are appended."""
    fields_ = {f: getattr(verdict, f) for f in Verdict.__dataclass_fields__}
    if behaviour.failed and fields_["verdict"] == "pass":
        fields_["verdict"] = "fail"
    fields_["reasons"] = tuple(fields_["reasons"]) + behaviour.reasons
    return GateVerdict(**fields_, behaviour=behaviour, behaviour_runs=dict(runs), behaviour_cases=dict(cases or {}))
