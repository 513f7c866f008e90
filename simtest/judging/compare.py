"""The gate's judgement. `compare(candidate, baseline, reference, policy, metrics)` pairs
result rows by case_id and decides, per (comparison, metric, slice), pass / fail / undecided /
warn / too_small, then pass / fail / invalid overall. Pure: no simulation, no I/O.

Assumptions (each is a choice the statistics depend on):
- A case_id appearing more than once in one run (retries) counts once: the row with the highest
  `attempt` (the last one written).
- Rows whose outcome is env_error or timeout (infrastructure) are left out of every metric pair but
  counted per run; a run whose share of them exceeds `policy.max_infra_error_rate` makes the verdict
  `invalid`. The built-in `errors` check (agent_error or timeout) pairs every row that is not an
  env_error on either side, so a candidate that times out or raises more often is a regression.
- A metric value that is NaN (time-like metric of a failed episode, or any metric of an
  agent_error episode) ranks worst: binary -> the bad value; continuous -> the worst finite value
  seen for that metric in the two runs compared (a tie at the worst rank, bounded, so means and
  bootstrap bounds stay finite).
- Slices are computed once on the candidate's rows (a case has the same params and tags in every
  run because case_id hashes them) and reused for both comparisons.
- Fixed-n mode (`policy.adaptive.enabled: false`): Tango score bounds and exact McNemar (binary),
  BCa bootstrap bounds and sign-flip permutation p (continuous). Sequential mode (the default,
  because the orchestrator may add seeds and look again): anytime-valid bounds (betting mixture for
  binary, normal mixture for continuous); the lower bound uses alpha, the upper bound
  1 - adaptive.pass_confidence, matching a fixed design of that power.
- `p_value` is the p-value of the fail hypothesis: regression >= margin, or > 0 for safety
  metrics (exact McNemar for binary safety checks in fixed-n mode). Blocking checks are Holm
  adjusted; a blocking check fails when its adjusted p <= alpha and its lower bound clears the
  margin (> 0 for safety). Non-blocking checks warn when their BH-adjusted p <= policy.bh_q.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats as sps

from simtest.judging import sequential as gs
from simtest.judging import slicing, stats
from simtest.judging.decisions import BlockingDecisions
from simtest.judging.power import SlicePower, slice_power
from simtest.judging.sequential import SequentialDesign
from simtest.core.errors import ComparisonError
from simtest.contract.policy import BUILTIN_METRICS, GatePolicy, metric_declarations
from simtest.contract.results import CHECK_PREFIX, MARGIN_PREFIX, METRIC_PREFIX
from simtest.core.jsonsafe import json_safe as _clean

__all__ = [
    "CheckResult", "BlockingDecisions", "RunStats", "NewFailure", "ScenarioChange", "Verdict", "compare",
    "undecided_slices", "cases_in_slices", "DECISIONS",
]

DECISIONS = ("pass", "fail", "undecided", "warn", "too_small")
INFRA = ("env_error", "timeout")
_REQUIRED = ("case_id", "scenario", "scenario_hash", "outcome", "passed")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class CheckResult:
    """One (comparison, metric, slice) judgement. delta/lower/upper are regression-oriented:
    positive = the candidate is worse. candidate_value / baseline_value are the two runs' means in
    the slice (baseline_value is the comparator's: the reference's for comparison="reference")."""

    comparison: str  # "baseline" | "reference"
    metric: str
    slice: str
    n: int
    delta: float
    lower: float
    upper: float
    p_value: float
    decision: str  # pass | fail | undecided | warn | too_small
    margin: float
    blocking: bool
    candidate_value: float
    baseline_value: float
    needed_n: int | None = None
    note: str = ""
    p_adjusted: float | None = None
    safety: bool = False
    kind: str = "binary"  # binary | continuous | gap
    holds: bool = True  # a blocking check that is undecided holds the gate (prove_within_margin)
    p_nominal: float | None = None  # one-look p-value at the latest look (group-sequential designs)

    def to_json(self) -> dict:
        return {k: _clean(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RunStats:
    rows: int
    completed: int
    agent_error: int
    timeout: int
    env_error: int

    @property
    def infra_rate(self) -> float:
        return (self.env_error + self.timeout) / self.rows if self.rows else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "infra_rate": _clean(self.infra_rate)}


@dataclass(frozen=True)
class NewFailure:
    """A case that passed under the baseline and fails under the candidate."""

    case_id: str
    scenario: str
    params: dict
    seed: int | None
    sample: int | None
    seed_index: int | None
    outcome: str
    failed_checks: tuple[str, ...]
    error: str = ""

    def to_json(self) -> dict:
        d = asdict(self)
        d["failed_checks"] = list(self.failed_checks)
        return {k: _clean(v) for k, v in d.items()}


@dataclass(frozen=True)
class ScenarioChange:
    """A scenario whose hash differs between the candidate run and a comparator run: its cases are
    not compared (their case_ids differ), and it is reported instead."""

    comparison: str
    scenario: str
    candidate_hashes: tuple[str, ...]
    other_hashes: tuple[str, ...]

    def to_json(self) -> dict:
        return {"comparison": self.comparison, "scenario": self.scenario,
                "candidate_hashes": list(self.candidate_hashes), "other_hashes": list(self.other_hashes)}


@dataclass(frozen=True)
class Verdict:
    verdict: str  # pass | fail | invalid
    checks: tuple[CheckResult, ...]
    reasons: tuple[str, ...]
    infra: dict  # run name -> RunStats
    new_failures: tuple[NewFailure, ...] = ()
    scenario_changes: tuple[ScenarioChange, ...] = ()
    undecided_blocking: tuple[str, ...] = ()  # slice names with an undecided blocking check
    missing: dict = field(default_factory=dict)  # comparison -> {"only_candidate": n, "only_other": n}
    alpha: float = 0.05
    sequential: bool = True
    design: str = "anytime"  # fixed | group_sequential | anytime
    design_note: str = ""  # how the bounds were built, in one line, for the report
    extend: tuple[str, ...] = ()  # slices whose strata should get more seeds (the open blocking decisions)
    power: tuple[SlicePower, ...] = ()  # blocking slices vs the baseline: power at the cap for policy.power.detect
    findings: Any = None  # simtest.judging.findings.Findings (regions, coverage, report facts), set by attach()

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "fail": 1, "invalid": 3}[self.verdict]

    def failing(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if c.decision == "fail")

    @property
    def blocking(self) -> BlockingDecisions:
        """The blocking checks grouped by decision (computed from `checks`, so never stale)."""
        return BlockingDecisions.of(self.checks)

    def to_json(self) -> dict:
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "alpha": _clean(self.alpha),
            "sequential": self.sequential,
            "design": self.design,
            "design_note": self.design_note,
            "extend": list(self.extend),
            "power": [p.to_json() for p in self.power],
            "checks": [c.to_json() for c in self.checks],
            "infra": {k: v.to_json() for k, v in self.infra.items()},
            "new_failures": [f.to_json() for f in self.new_failures],
            "scenario_changes": [s.to_json() for s in self.scenario_changes],
            "undecided_blocking": list(self.undecided_blocking),
            "missing": {k: dict(v) for k, v in self.missing.items()},
        }

    def to_json_text(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False, allow_nan=False) + "\n"




# --------------------------------------------------------------------------- preparation


def _check_frame(frame: pd.DataFrame, name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ComparisonError(f"{name} results must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ComparisonError(f"{name} results lack the column(s) {', '.join(missing)}; "
                              "they are not simtest result rows (see simtest.contract.results.BASE_COLUMNS)")


def _dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    if not frame["case_id"].duplicated().any():
        return frame.reset_index(drop=True)
    if "attempt" in frame.columns:
        frame = frame.sort_values(["case_id", "attempt"], kind="stable")
    return frame.drop_duplicates("case_id", keep="last").reset_index(drop=True)


def _run_stats(frame: pd.DataFrame) -> RunStats:
    counts = frame["outcome"].astype(str).value_counts()
    return RunStats(rows=int(len(frame)), completed=int(counts.get("completed", 0)),
                    agent_error=int(counts.get("agent_error", 0)), timeout=int(counts.get("timeout", 0)),
                    env_error=int(counts.get("env_error", 0)))


def _scenario_changes(cand: pd.DataFrame, other: pd.DataFrame, comparison: str) -> list[ScenarioChange]:
    def hashes(frame: pd.DataFrame) -> dict[str, tuple[str, ...]]:
        pairs = frame[["scenario", "scenario_hash"]].drop_duplicates()
        out: dict[str, set] = {}
        for scen, h in zip(pairs["scenario"], pairs["scenario_hash"]):
            out.setdefault(str(scen), set()).add(str(h))
        return {k: tuple(sorted(v)) for k, v in out.items()}

    ch, oh = hashes(cand), hashes(other)
    return [ScenarioChange(comparison, scen, ch[scen], oh[scen])
            for scen in sorted(set(ch) & set(oh)) if ch[scen] != oh[scen]]


@dataclass(frozen=True)
class _Pairs:
    """Row positions of paired cases: cand_idx into the candidate frame, other_idx into the other."""

    cand_idx: np.ndarray
    other_idx: np.ndarray
    ok: np.ndarray  # neither side is infrastructure (metric pairs)
    no_env_error: np.ndarray  # neither side is env_error (the errors check)


def _pair(cand: pd.DataFrame, other: pd.DataFrame, changed: set[str]) -> tuple[_Pairs, dict]:
    cpos = pd.Series(np.arange(len(cand)), index=cand["case_id"].to_numpy())
    opos = pd.Series(np.arange(len(other)), index=other["case_id"].to_numpy())
    common = cpos.index.intersection(opos.index, sort=False)
    ci = cpos.loc[common].to_numpy()
    oi = opos.loc[common].to_numpy()
    # Same case_id, different scenario hash: cannot happen for honest ids (the id hashes it), but if
    # it does, never compare it silently.
    same_hash = cand["scenario_hash"].to_numpy()[ci].astype(str) == other["scenario_hash"].to_numpy()[oi].astype(str)
    not_changed = ~np.isin(cand["scenario"].to_numpy()[ci].astype(str), list(changed)) if changed else np.ones(ci.size, bool)
    keep = same_hash & not_changed
    ci, oi = ci[keep], oi[keep]
    order = np.argsort(cand["case_id"].to_numpy()[ci].astype(str), kind="stable")  # deterministic order
    ci, oi = ci[order], oi[order]
    co = cand["outcome"].to_numpy().astype(str)
    oo = other["outcome"].to_numpy().astype(str)
    ok = ~np.isin(co[ci], INFRA) & ~np.isin(oo[oi], INFRA)
    no_env = (co[ci] != "env_error") & (oo[oi] != "env_error")
    missing = {
        "only_candidate": int(len(cpos) - len(common)),
        "only_other": int(len(opos) - len(common)),
        "hash_mismatch": int((~same_hash).sum()),
    }
    return _Pairs(ci, oi, ok, no_env), missing


def _metric_values(frame: pd.DataFrame, metric: str) -> np.ndarray | None:
    if metric == "passed":
        return frame["passed"].to_numpy().astype(float)
    if metric == "errors":
        return np.isin(frame["outcome"].to_numpy().astype(str), ("agent_error", "timeout")).astype(float)
    col = metric if metric.startswith(MARGIN_PREFIX) else METRIC_PREFIX + metric  # margin_<check>: robustness
    if col not in frame.columns:
        return None
    return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)


# --------------------------------------------------------------------------- per-check statistics


# --------------------------------------------------------------------------- compare


def compare(candidate: pd.DataFrame, baseline: pd.DataFrame, reference: pd.DataFrame | None,
            policy: GatePolicy | None = None, metrics: Mapping[str, Mapping] | None = None,
            design: SequentialDesign | None = None) -> Verdict:
    """Judge the candidate against the baseline (previous version) and, when given, the pinned
    reference. `metrics`: the env's metric declarations (name -> {kind, better, time_like});
    `passed` and `errors` are built in. `design`: the gate's group-sequential design (how many
    looks at most and how seed indices map to looks); without one, the data are one final look.
    Raises ComparisonError when the runs share no case."""
    policy = policy or GatePolicy.default()
    decls = metric_declarations(metrics)
    _check_frame(candidate, "candidate")
    _check_frame(baseline, "baseline")
    if reference is not None:
        _check_frame(reference, "reference")
    cand = _dedupe(candidate)
    runs: dict[str, pd.DataFrame] = {"baseline": _dedupe(baseline)}
    if reference is not None:
        runs["reference"] = _dedupe(reference)

    alpha = policy.alpha
    mode = "fixed" if not policy.adaptive.enabled else policy.adaptive.design
    sequential = mode != "fixed"
    anytime = mode == "anytime"
    alpha_pass = 1.0 - policy.adaptive.pass_confidence if sequential else alpha
    if design is None:
        design = SequentialDesign(looks=1, spending=policy.adaptive.spending)
    design = SequentialDesign(looks=design.looks, base_seeds=design.base_seeds,
                              seeds_per_round=design.seeds_per_round, spending=policy.adaptive.spending,
                              pass_spending=policy.adaptive.pass_spending)
    reasons: list[str] = []
    infra = {"candidate": _run_stats(cand), **{k: _run_stats(v) for k, v in runs.items()}}

    masks = slicing.slice_masks(cand, policy)
    blocking_slices = {"overall", *policy.blocking_slices}
    # group-sequential bookkeeping: the look of every candidate row, and its parameter sample
    look_all = design.look_of(cand["seed_index"].to_numpy()) if "seed_index" in cand.columns else np.ones(len(cand), int)
    unit_all = _units(cand)
    look_now = int(look_all.max()) if look_all.size else 1
    final = look_now >= design.looks

    parts = _partition(policy, masks) if sequential else []
    judged = [m for m in policy.judged_metrics()]
    raw_checks: list[tuple[dict, dict]] = []  # (what the check is, its paired arrays)
    scenario_changes: list[ScenarioChange] = []
    missing: dict[str, dict] = {}
    pairs_by_comp: dict[str, _Pairs] = {}
    for comp, other in runs.items():
        changes = _scenario_changes(cand, other, comp)
        scenario_changes.extend(changes)
        pairs, miss = _pair(cand, other, {c.scenario for c in changes})
        missing[comp] = miss
        pairs_by_comp[comp] = pairs
        if pairs.cand_idx.size == 0:
            raise ComparisonError(
                f"the candidate and the {comp} runs share no comparable case (candidate {len(cand)} rows, "
                f"{comp} {len(other)} rows, {len(changes)} changed scenario(s)); run both on the same suite")
        for metric in judged:
            if metric not in decls:
                reasons.append(f'policy metric "{metric}" is not declared by the environment; not judged')
                continue
            decl = decls[metric]
            mp = policy.metric(metric)
            better = mp.direction or decl.get("better", "higher")
            binary = decl.get("kind", "continuous") == "binary"
            vc_all = _metric_values(cand, metric)
            vo_all = _metric_values(other, metric)
            if vc_all is None or vo_all is None:
                if metric not in BUILTIN_METRICS:
                    reasons.append(f'metric "{metric}" is missing from the {"candidate" if vc_all is None else comp} '
                                   "results; not judged")
                continue
            use = pairs.no_env_error if metric == "errors" else pairs.ok
            ci, oi = pairs.cand_idx[use], pairs.other_idx[use]
            vc, vo = vc_all[ci], vo_all[oi]
            look, unit = look_all[ci], unit_all[ci]
            # pairs per parameter sample: the design weight of a pair is 1 / that count
            unit_n = np.bincount(unit, minlength=int(unit_all.max()) + 1 if unit_all.size else 1)[unit]
            if binary:
                good_c = _goodness_binary(vc, better)
                good_o = _goodness_binary(vo, better)
            else:
                worst = _worst(np.concatenate([vc, vo]), better)
                xc = np.where(np.isfinite(vc), vc, worst)
                xo = np.where(np.isfinite(vo), vo, worst)
                d_all = (xc - xo) if better == "lower" else (xo - xc)
            for sname, mask in masks.items():
                in_slice = mask[ci]
                overall = sname == "overall"
                is_blocking = mp.blocking and (overall or (mp.blocking_in_slices and sname in blocking_slices))
                margin = mp.margin(comp, overall)
                if not binary and mp.relative:
                    base_mean = float(np.mean(xo[in_slice])) if in_slice.any() else math.nan
                    margin = margin * abs(base_mean) if math.isfinite(base_mean) else margin
                meta = {"comparison": comp, "metric": metric, "slice": sname, "margin": margin,
                        "blocking": is_blocking, "safety": mp.safety, "kind": "binary" if binary else "continuous",
                        "holds": mp.prove_within_margin}
                seq = dict(look=look[in_slice], unit=unit[in_slice], unit_n=unit_n[in_slice])
                if overall and parts:
                    seq["member"] = {name: masks[name][ci] for name in parts}
                if binary:
                    raw = (meta, dict(g_cand=good_c[in_slice], g_other=good_o[in_slice], raw_cand=vc[in_slice],
                                      raw_other=vo[in_slice], **seq))
                else:
                    raw = (meta, dict(d=d_all[in_slice], raw_cand=vc[in_slice], raw_other=vo[in_slice], **seq))
                raw_checks.append(raw)

    n_blocking = max(1, sum(1 for meta, _ in raw_checks if meta["blocking"]) + sum(
        1 for g in policy.slice_gaps if g.blocking))
    computed: list[tuple[dict, stats.CheckStats]] = []
    for meta, data in raw_checks:
        a_eff = alpha / n_blocking if meta["blocking"] else alpha
        if mode == "group_sequential":
            r = _gs_check(meta, data, design, look_now, final, alpha, a_eff, alpha_pass)
        elif meta["kind"] == "binary":
            r = stats.binary_check(data["g_cand"], data["g_other"], meta["margin"], meta["safety"], alpha, a_eff,
                                   anytime, alpha_pass, data["raw_cand"], data["raw_other"])
        else:
            seed = stats.check_seed(policy.seed, meta["comparison"], meta["metric"], meta["slice"])
            r = stats.continuous_check(data["d"], meta["margin"], meta["safety"], alpha, a_eff, anytime,
                                       alpha_pass, seed, data["raw_cand"], data["raw_other"])
        computed.append((meta, r))

    computed.extend(_gap_checks(cand, runs, pairs_by_comp, masks, policy, decls, alpha, alpha_pass, sequential, reasons))

    checks = _decide(computed, policy, alpha)
    open_ = BlockingDecisions.of(checks).open
    undecided = sorted({c.slice for c in open_ if c.kind != "gap"}
                       | {s for c in open_ if c.kind == "gap" for s in _gap_slices(c.slice, policy)})
    extend = _extension(checks, computed, raw_checks, masks, policy, alpha_pass) if sequential and not final else ()
    power = _power_notes(checks, raw_checks, policy, design, n_blocking) if raw_checks else []
    verdict = _overall(checks, infra, policy, reasons, scenario_changes, missing)
    reasons = list(dict.fromkeys(reasons))  # one line per distinct reason, first-seen order
    new_failures = _new_failures(cand, runs["baseline"], pairs_by_comp["baseline"])
    note = _design_note(mode, design, look_now, alpha, policy)
    return Verdict(verdict=verdict, checks=tuple(checks), reasons=tuple(reasons), infra=infra,
                   new_failures=tuple(new_failures), scenario_changes=tuple(scenario_changes),
                   undecided_blocking=tuple(undecided), missing=missing, alpha=alpha, sequential=sequential,
                   design=mode, design_note=note, extend=tuple(extend), power=tuple(power))


def _units(frame: pd.DataFrame) -> np.ndarray:
    """An integer per row naming its parameter sample (scenario, sample): the stratum of the base plan."""
    if "sample" not in frame.columns:
        return np.arange(len(frame))
    keys = frame["scenario"].astype(str) + "\x00" + frame["sample"].astype(str)
    return pd.factorize(keys, sort=True)[0].astype(np.int64)


def _design_note(mode: str, design: SequentialDesign, look: int, alpha: float, policy: GatePolicy) -> str:
    if mode == "fixed":
        return f"one-sided bounds at α={alpha:g} (fixed design)"
    if mode == "anytime":
        return f"one-sided bounds at α={alpha:g} (anytime-valid)"
    names = {"obrien_fleming": "O'Brien-Fleming", "pocock": "Pocock"}
    return (f"one-sided bounds at α={alpha:g}, group-sequential ({names[design.spending]}-like spending for "
            f"regressions, {names[design.pass_spending]}-like for passing early), look {look} of "
            f"{design.looks}; estimates after unequal extension are design-weighted (each parameter sample weighs "
            "the same as in the base plan)")


def _weights(data: dict) -> np.ndarray:
    n = np.asarray(data["unit_n"], dtype=float)
    return 1.0 / np.maximum(n, 1.0)


def _strata(data: dict) -> tuple[np.ndarray, dict]:
    """Strata = parameter samples grouped by how many pairs they have (how often they were extended);
    a stratum weighs its share of the slice's samples."""
    label = np.asarray(data["unit_n"], dtype=np.int64)
    unit = np.asarray(data["unit"], dtype=np.int64)
    if label.size == 0:
        return label, {}
    first = np.unique(unit, return_index=True)[1]
    lab_u = label[first]
    counts = {int(k): int(v) for k, v in zip(*np.unique(lab_u, return_counts=True))}
    return label, counts


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    if not ok.any():
        return math.nan
    return float(np.sum(x[ok] * w[ok]) / np.sum(w[ok]))


def _fractions(data: dict, design: SequentialDesign, look_now: int, final: bool) -> tuple[float, ...]:
    look = np.asarray(data["look"])
    n_by_look = [int(np.sum(look <= j)) for j in range(1, look_now + 1)]
    n_max = n_by_look[0] * design.max_seeds / max(1, design.base_seeds) if n_by_look and n_by_look[0] else 1.0
    return gs.information_fractions(n_by_look, n_max, final)


def _gs_check(meta: dict, data: dict, design: SequentialDesign, look_now: int, final: bool, alpha: float,
              alpha_eff: float, alpha_pass: float) -> stats.CheckStats:
    """One check under the group-sequential design: the design-weighted estimate at the latest
    look, tested against the boundary that the spending function allows at its information
    fraction. p_fail is the repeated p-value (valid for Holm); the lower bound uses the
    boundary at alpha, the upper one the boundary at the pass level."""
    margin, safety = meta["margin"], meta["safety"]
    m_fail = 0.0 if safety else margin
    w = _weights(data)
    label, counts = _strata(data)
    n = int(label.size)
    binary = meta["kind"] == "binary"
    if binary:
        raw_c, raw_o = data["raw_cand"], data["raw_other"]
        d = (data["g_other"].astype(float) - data["g_cand"].astype(float))
    else:
        raw_c, raw_o = data["raw_cand"], data["raw_other"]
        d = np.asarray(data["d"], dtype=float)
    cv, ov = (_wmean(raw_c, w), _wmean(raw_o, w)) if n else (math.nan, math.nan)
    if n == 0:
        return stats.CheckStats(0, math.nan, math.nan, math.nan, 1.0, cv, ov, None, True, "no paired episodes")
    st = gs.stratified(d, label, counts)
    fr = _fractions(data, design, look_now, final)
    b_fail = gs.boundary_at(alpha, fr, design.spending)
    b_pass = gs.boundary_at(alpha_pass, fr, design.pass_spending)
    strata_note = ""
    if st.unequal:
        strata_note = "; design-weighted over " + ", ".join(
            f"{k}-pair samples (weight {wt:.2f}, n={sz})" for k, wt, sz in
            zip(sorted(counts), st.weights, st.sizes))
    look_note = f"look {look_now}/{design.looks}, information {fr[-1]:.2f}"
    if binary:
        b = float(np.sum(w * (d > 0)) / np.sum(w)) * st.n_eff  # effective discordant counts
        c = float(np.sum(w * (d < 0)) / np.sum(w)) * st.n_eff
        ne = st.n_eff
        lower = stats.tango_bounds(b, c, ne, float(stats_sf(b_fail)))[0]
        upper = stats.tango_bounds(b, c, ne, float(stats_sf(b_pass)))[1]
        if m_fail == 0:
            p_nom = stats.mcnemar_p(round(b), round(c))
            z = float(-sps.norm.ppf(p_nom)) if p_nom < 1 else -math.inf
        else:
            z = float(stats.tango_stat(b, c, ne, m_fail))
        delta = (b - c) / ne
        rb, rc = int(np.sum(d > 0)), int(np.sum(d < 0))
        k_min = stats.min_discordant(alpha_eff)
        psi = (rb + rc) / n
        effect = margin if margin > 0 else 0.05
        needed = max(stats.connor_n(psi, effect, alpha_eff), math.ceil(k_min / max(psi, effect)))
        small = (rb + rc) < k_min
        note = f"{rb} worse / {rc} better of {n} pairs; {look_note}{strata_note}"
    else:
        delta, se = st.mean, st.se
        if n < 2 or not math.isfinite(se):
            lower, upper, z = -math.inf, math.inf, -math.inf
        elif se == 0:
            lower = upper = delta if n >= 30 else math.nan
            if not math.isfinite(lower):
                lower, upper = -math.inf, math.inf
            z = math.inf if delta > m_fail and n >= 30 else -math.inf
        else:
            lower, upper = delta - b_fail * se, delta + b_pass * se
            z = (delta - m_fail) / se
        sd = float(np.std(d, ddof=1)) if n > 1 else math.nan
        eff = margin if margin > 0 else (0.5 * sd if math.isfinite(sd) and sd > 0 else 0.0)
        needed = stats.continuous_needed_n(sd, eff, alpha_eff) if math.isfinite(sd) else None
        small = n < 10
        note = f"normal approximation; {look_note}{strata_note}"
    p = gs.repeated_p(z, fr, design.spending)
    p_nom = float(sps.norm.sf(z)) if not math.isnan(z) else 1.0
    return stats.CheckStats(n, float(delta), float(lower), float(upper), float(p), cv, ov,
                            int(needed) if needed is not None else None, bool(small), note, p_nom)


def stats_sf(z: float) -> float:
    """One-sided level whose normal quantile is z (the bounds' alpha for a boundary z)."""
    return float(min(0.5, max(1e-15, sps.norm.sf(z)))) if math.isfinite(z) else 1e-15


def _partition(policy: GatePolicy, masks: Mapping[str, np.ndarray]) -> list[str]:
    """Disjoint slices covering every row, to extend an overall check by parts: the parameter of
    the first blocking slice (e.g. lighting=day/dusk/night), else the first categorical parameter."""
    params = [s.split("=", 1)[0] for s in policy.blocking_slices if "=" in s and not s.startswith("tag:")]
    params += [p for p, sl in policy.slices.params.items() if sl.categorical]
    for param in params:
        names = [k for k in masks if k.startswith(param + "=")]
        if len(names) >= 2:
            cover = np.zeros_like(masks["overall"])
            disjoint = True
            for k in names:
                disjoint &= not bool((cover & masks[k]).any())
                cover |= masks[k]
            if disjoint and bool(cover.all()):
                return names
    return []


def _extension(checks: list[CheckResult], computed: list, raw_checks: list, masks: Mapping[str, np.ndarray],
               policy: GatePolicy, alpha_pass: float) -> list[str]:
    """Which slices' parameter samples get more seeds: every open blocking decision, and nothing
    else. A slice check extends its own slice; a gap check its two slices; a safety guardrail that
    need not prove its margin is extended while its estimate leans toward a regression
    (its one-look p <= adaptive.guardrail_p). An open overall check waits while any slice decision is open (those
    strata inform it too); alone, it extends the fewest parts of a partition (largest variance
    contribution first) that could decide it at the next look, or everything when no fewer could."""
    out: list[str] = []
    overall_open: list[int] = []
    for i, c in enumerate(checks):
        if not c.blocking or c.decision in ("pass", "fail"):
            continue
        if c.holds and c.decision in ("undecided", "too_small"):
            pass
        elif (not c.holds and c.decision in ("undecided", "too_small") and math.isfinite(c.delta) and c.delta > 0
              and (c.p_nominal if c.p_nominal is not None else c.p_value) <= policy.adaptive.guardrail_p):
            pass  # a guardrail trending toward regression: power, not alpha, is what it spends
        else:
            continue
        if c.kind == "gap":
            out.extend(_gap_slices(c.slice, policy))
        elif c.slice == "overall":
            overall_open.append(i)
        else:
            out.append(c.slice)
    if out:
        # open slice decisions come first: their strata also inform the overall estimate, and they
        # usually decide the gate; the overall check waits for them instead of pulling every case
        return list(dict.fromkeys(out))
    parts = _partition(policy, masks)
    for i in overall_open:
        c = checks[i]
        if i >= len(raw_checks) or not parts:
            out.append("overall")
            continue
        meta, data = raw_checks[i]
        out.extend(_parts_to_decide(c, data, parts, masks, out, alpha_pass, policy.alpha))
    return list(dict.fromkeys(out))


def _parts_to_decide(c: CheckResult, data: dict, parts: list[str], masks: Mapping[str, np.ndarray],
                     already: list[str], alpha_pass: float, alpha: float) -> list[str]:
    if c.kind == "binary":
        d = data["g_other"].astype(float) - data["g_cand"].astype(float)
    else:
        d = np.asarray(data["d"], dtype=float)
    # the overall check's rows, mapped back to partition membership through the slice masks of its pairs
    member = data.get("member")
    if member is None:
        return ["overall"]
    w = _weights(data)
    tot = float(np.sum(w))
    stats_g = []
    for name in parts:
        m = member[name]
        if not m.any():
            continue
        wg = float(np.sum(w[m])) / tot
        var = float(np.var(d[m], ddof=1)) if m.sum() > 1 else 0.0
        stats_g.append((name, wg, var, int(m.sum())))
    if not stats_g:
        return ["overall"]
    m_fail = 0.0 if c.safety else c.margin
    leaning_fail = c.delta >= c.margin or (c.safety and c.delta > 0)
    need = float(sps.norm.isf(alpha)) if leaning_fail else float(sps.norm.isf(alpha_pass))
    gap = abs(c.delta - (m_fail if leaning_fail else c.margin))

    def se(extended: set[str]) -> float:
        # one more round roughly doubles a once-extended part's pairs; count already-extended parts too
        return math.sqrt(sum(wg**2 * var / (n * (2 if name in extended else 1)) for name, wg, var, n in stats_g))

    chosen: set[str] = {s for s in already if s in parts}
    order = sorted(stats_g, key=lambda g: -(g[1] ** 2 * g[2] / g[3]))
    for name, *_ in order:
        if gap / max(se(chosen), 1e-12) >= need:
            break
        chosen.add(name)
    if gap / max(se(chosen), 1e-12) < need and len(chosen) == len(stats_g):
        return ["overall"]
    return [n for n in parts if n in chosen and n not in already]


def _power_notes(checks: list[CheckResult], raw_checks: list, policy: GatePolicy, design: SequentialDesign,
                 n_blocking: int) -> list[SlicePower]:
    """Power at the cap of every blocking binary check vs the baseline for a true drop of
    policy.power.detect, with the background discordance seen now (judging.power)."""
    out = []
    alpha_eff = policy.alpha / max(1, n_blocking)
    looks = tuple(np.arange(1, design.looks + 1) / design.looks)
    z_final = gs.boundary_at(alpha_eff, looks, design.spending)
    for i, c in enumerate(checks):
        if not c.blocking or c.kind != "binary" or c.comparison != "baseline" or i >= len(raw_checks) or c.n == 0:
            continue
        meta, data = raw_checks[i]
        d = data["g_other"].astype(float) - data["g_cand"].astype(float)
        look = np.asarray(data["look"])
        n1 = int(np.sum(look <= 1)) or int(c.n)
        n_cap = int(round(n1 * design.max_seeds / max(1, design.base_seeds)))
        psi0 = float(np.mean(d != 0))
        out.append(slice_power(c.slice, c.metric, n_base=n1, n_cap=n_cap, psi0=psi0, margin=c.margin,
                               safety=c.safety, detect=policy.power.detect, target=policy.power.target,
                               alpha_eff=alpha_eff, z_final=z_final, psi_source="paired runs"))
    return out


def _goodness_binary(v: np.ndarray, better: str) -> np.ndarray:
    """1 = the good outcome; NaN (an errored episode) = the bad one."""
    good = (v >= 0.5) if better == "higher" else (v < 0.5)
    return np.where(np.isfinite(v), good, False).astype(np.int8)


def _worst(values: np.ndarray, better: str) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    return float(finite.max() if better == "lower" else finite.min())


def _gap_slices(label: str, policy: GatePolicy) -> list[str]:
    for g in policy.slice_gaps:
        if g.label == label:
            return [g.better, g.worse]
    return []


def _gap_checks(cand, runs, pairs_by_comp, masks, policy, decls, alpha, alpha_pass, sequential, reasons):
    """Gap(worse vs better slice) growth vs the comparator = delta(worse) - delta(better), each a
    paired regression; normal approximation with the two slices' variances (disjoint slices; an
    overlap only makes it conservative to ignore when both move together)."""
    out = []
    for gap in policy.slice_gaps:
        meta = {"comparison": gap.against, "metric": gap.metric, "slice": gap.label, "margin": gap.margin,
                "blocking": gap.blocking, "safety": False, "kind": "gap", "holds": True}
        comp = gap.against if gap.against in runs else "baseline"
        if comp != gap.against:
            meta["comparison"] = comp
        if gap.better not in masks or gap.worse not in masks or gap.metric not in decls:
            missing = [s for s in (gap.better, gap.worse) if s not in masks]
            out.append((meta, stats.CheckStats(0, math.nan, math.nan, math.nan, 1.0, math.nan, math.nan, None, True,
                                   f"slice(s) {', '.join(missing) or gap.metric} not present")))
            continue
        pairs = pairs_by_comp[comp]
        decl = decls[gap.metric]
        better = policy.metric(gap.metric).direction or decl.get("better", "higher")
        vc_all, vo_all = _metric_values(cand, gap.metric), _metric_values(runs[comp], gap.metric)
        if vc_all is None or vo_all is None:
            out.append((meta, stats.CheckStats(0, math.nan, math.nan, math.nan, 1.0, math.nan, math.nan, None, True,
                                   f'metric "{gap.metric}" missing from the results')))
            continue
        ci, oi = pairs.cand_idx[pairs.ok], pairs.other_idx[pairs.ok]
        vc, vo = vc_all[ci], vo_all[oi]
        if decl.get("kind") == "binary":
            gc, go = _goodness_binary(vc, better).astype(float), _goodness_binary(vo, better).astype(float)
            d = go - gc
            gap_c = lambda m: gc[m].mean()
            gap_o = lambda m: go[m].mean()
        else:
            worst = _worst(np.concatenate([vc, vo]), better)
            xc, xo = np.where(np.isfinite(vc), vc, worst), np.where(np.isfinite(vo), vo, worst)
            d = (xc - xo) if better == "lower" else (xo - xc)
            sign = 1.0 if better == "higher" else -1.0
            gap_c = lambda m: sign * xc[m].mean()
            gap_o = lambda m: sign * xo[m].mean()
        mb, mw = masks[gap.better][ci], masks[gap.worse][ci]
        nb, nw = int(mb.sum()), int(mw.sum())
        if nb < 2 or nw < 2:
            out.append((meta, stats.CheckStats(nb + nw, math.nan, math.nan, math.nan, 1.0, math.nan, math.nan, None, True,
                                   f"{nw} pairs in {gap.worse}, {nb} in {gap.better}")))
            continue
        delta = float(d[mw].mean() - d[mb].mean())
        se = math.sqrt(d[mw].var(ddof=1) / nw + d[mb].var(ddof=1) / nb)
        if sequential:
            # anytime-valid in the same asymptotic sense as the continuous checks
            n_eff = nb + nw
            sd_eff = se * math.sqrt(n_eff)
            lower = delta - stats.normal_mixture_radius(n_eff, sd_eff, alpha)
            upper = delta + stats.normal_mixture_radius(n_eff, sd_eff, alpha_pass)
            p = stats.normal_mixture_p_from(delta - gap.margin, n_eff, sd_eff)
        else:
            z = sps.norm.ppf(1 - alpha)
            lower, upper = delta - z * se, delta + z * se
            p = float(sps.norm.sf((delta - gap.margin) / se)) if se > 0 else float(delta - gap.margin <= 0)
        cg = float(gap_c(mb) - gap_c(mw))
        og = float(gap_o(mb) - gap_o(mw))
        out.append((meta, stats.CheckStats(nb + nw, delta, float(lower), float(upper), float(p), cg, og, None,
                               False, f"gap {gap.better} minus {gap.worse}: candidate {cg:+.3f}, {comp} {og:+.3f}")))
    return out


def _decide(computed: list[tuple[dict, stats.CheckStats]], policy: GatePolicy, alpha: float) -> list[CheckResult]:
    blocking_idx = [i for i, (m, _) in enumerate(computed) if m["blocking"]]
    other_idx = [i for i, (m, _) in enumerate(computed) if not m["blocking"]]
    adj = [math.nan] * len(computed)
    if blocking_idx:
        for i, a in zip(blocking_idx, stats.holm([computed[i][1].p_fail for i in blocking_idx])):
            adj[i] = float(a)
    if other_idx:
        for i, a in zip(other_idx, stats.bh([computed[i][1].p_fail for i in other_idx])):
            adj[i] = float(a)
    out = []
    for i, (meta, r) in enumerate(computed):
        margin = meta["margin"]
        safety = meta["safety"]
        clears = (r.lower > 0) if safety else (r.lower >= margin)
        if r.n == 0 or not math.isfinite(r.delta):
            decision = "too_small"
        elif meta["blocking"] and adj[i] <= alpha and clears:
            decision = "fail"
        elif not meta["blocking"] and adj[i] <= policy.bh_q and r.delta > (0 if safety else margin):
            decision = "warn"
        elif r.upper < margin:
            decision = "pass"
        elif r.small:
            decision = "too_small"
        else:
            decision = "undecided"
        out.append(CheckResult(
            comparison=meta["comparison"], metric=meta["metric"], slice=meta["slice"], n=r.n, delta=r.delta,
            lower=r.lower, upper=r.upper, p_value=r.p_fail, decision=decision, margin=margin,
            blocking=meta["blocking"], candidate_value=r.cand_value, baseline_value=r.other_value,
            needed_n=r.needed_n if decision in ("too_small", "undecided") else None, note=r.note,
            p_adjusted=adj[i], safety=safety, kind=meta["kind"], holds=meta["holds"],
            p_nominal=r.p_nominal if r.p_nominal is not None else r.p_fail))
    return out


def _overall(checks: list[CheckResult], infra: dict, policy: GatePolicy, reasons: list[str],
             changes: list[ScenarioChange], missing: dict) -> str:
    invalid = False
    for run, st in infra.items():
        if st.infra_rate > policy.max_infra_error_rate:
            invalid = True
            reasons.append(f"{run} run: {st.env_error} env_error + {st.timeout} timeout of {st.rows} episodes "
                           f"({st.infra_rate:.1%}) exceeds the policy limit {policy.max_infra_error_rate:.1%}; "
                           "the run is invalid (infrastructure), rerun it")
    for ch in changes:
        reasons.append(f"scenario {ch.scenario} changed between the candidate and the {ch.comparison} run "
                       f"(hash {','.join(ch.candidate_hashes)} vs {','.join(ch.other_hashes)}); its cases were "
                       f"not compared; rerun the {ch.comparison} on the current scenario")
    for comp, miss in missing.items():
        if miss.get("only_candidate") or miss.get("only_other"):
            reasons.append(f"{miss['only_candidate']} candidate case(s) have no {comp} row and {miss['only_other']} "
                           f"{comp} case(s) have no candidate row; only paired cases are compared")
        if miss.get("hash_mismatch"):
            reasons.append(f"{miss['hash_mismatch']} case(s) have the same id but a different scenario hash in the "
                           f"{comp} run; not compared")
    if invalid:
        return "invalid"
    groups = BlockingDecisions.of(checks)
    failed, open_ = groups.failed, groups.open
    for c in failed:
        reasons.append(f"{c.metric} regressed vs {c.comparison} in {c.slice}: delta {c.delta:+.3f} "
                       f"[{c.lower:+.3f}, {c.upper:+.3f}], margin {c.margin:g}")
    for c in open_:
        need = f"; about {c.needed_n} pairs needed" if c.needed_n else ""
        reasons.append(f"{c.metric} vs {c.comparison} in {c.slice} is {c.decision.replace('_', ' ')} "
                       f"(n={c.n}, delta {_fmt(c.delta)}, upper bound {_fmt(c.upper)} vs margin {c.margin:g}{need})")
    if failed:
        return "fail"
    if open_ and policy.on_undecided == "fail":
        return "fail"
    return "pass"


def _fmt(x: float) -> str:
    return f"{x:+.3f}" if x is not None and math.isfinite(x) else "n/a"


def _new_failures(cand: pd.DataFrame, base: pd.DataFrame, pairs: _Pairs) -> list[NewFailure]:
    ci, oi = pairs.cand_idx, pairs.other_idx
    c_out = cand["outcome"].to_numpy().astype(str)[ci]
    hit = base["passed"].to_numpy().astype(bool)[oi] & ~cand["passed"].to_numpy().astype(bool)[ci] & ~np.isin(c_out, INFRA)
    rows = cand.iloc[ci[hit]]
    check_cols = [c for c in cand.columns if c.startswith(CHECK_PREFIX)]
    out = []
    for _, row in rows.iterrows():
        # a check a scenario does not have is missing (None / NaN / pd.NA) in other scenarios' rows
        failed = tuple(c[len(CHECK_PREFIX):] for c in check_cols if not pd.isna(row[c]) and not bool(row[c]))
        if row["outcome"] != "completed":
            failed = (f"outcome={row['outcome']}",) + failed
        out.append(NewFailure(
            case_id=str(row["case_id"]), scenario=str(row["scenario"]), params=_params(row.get("params")),
            seed=_int(row.get("seed")), sample=_int(row.get("sample")), seed_index=_int(row.get("seed_index")),
            outcome=str(row["outcome"]), failed_checks=failed, error=str(row.get("error") or "")))
    out.sort(key=lambda f: (f.scenario, f.sample if f.sample is not None else -1, f.case_id))
    return out


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _int(v: Any) -> int | None:
    try:
        return None if v is None or _isnan(v) else int(v)
    except (TypeError, ValueError):
        return None


def _params(v: Any) -> dict:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return {"raw": v}
    return dict(v) if isinstance(v, Mapping) else {}


# --------------------------------------------------------------------------- adaptive helpers


def undecided_slices(verdict: Verdict) -> list[str]:
    """Slices with a blocking check still undecided (or too small): where more seeds help."""
    return list(verdict.undecided_blocking)


def cases_in_slices(frame: pd.DataFrame, slices: Iterable[str], policy: GatePolicy) -> set[tuple[str, int]]:
    """(scenario, sample) of every row in any of `slices` (slice names as in a Verdict), so the
    orchestrator can add seeds to exactly those parameter samples."""
    wanted = list(slices)
    if not wanted or frame.empty:
        return set()
    masks = slicing.slice_masks(_dedupe(frame) if "case_id" in frame.columns else frame, policy)
    base = _dedupe(frame) if "case_id" in frame.columns else frame.reset_index(drop=True)
    sel = np.zeros(len(base), dtype=bool)
    for name in wanted:
        if name in masks:
            sel |= masks[name]
    sub = base.loc[sel, ["scenario", "sample"]]
    return {(str(s), int(k)) for s, k in zip(sub["scenario"], sub["sample"])}
