"""Model metric vs system metric (issue 17): per slice, the in-the-loop model metric (what the
model got right on the frames it met in closed loop), the closed-loop outcome and, where the
model manifests carry them, the models' own offline validation figures (`training.<offline>_<value>`),
for the candidate and its comparator side by side; the rank agreement of model-metric deltas and
outcome deltas across slices; and one plain sentence per disagreement. Pure: frames and
declarations in, frozen values out. `attach` puts the panels in the Verdict's findings; the report
only formats them, and the gate's decision is left as it is (a policy gates a model metric like any
metric)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd

from simtest.contract.policy import GatePolicy
from simtest.contract.results import METRIC_PREFIX
from simtest.judging import slicing

__all__ = ["PanelRow", "ModelMetricPanel", "model_metric_panels", "attach", "SCORE_NAMES", "OfflineRow",
           "OfflineEvaluation", "offline_evaluation",
           "MIN_PAIRS", "BINARY_GAP", "RELATIVE_GAP"]

SCORE_NAMES = {"mae": "MAE", "calibration_error": "calibration error", "ndcg": "NDCG"}
MIN_PAIRS = 10  # a slice needs this many paired episodes before a sentence is said about it
BINARY_GAP = 0.05  # a binary outcome "is worse" from 5 rate points on
RELATIVE_GAP = 0.05  # a continuous outcome from 5 % of the comparator's mean on


@dataclass(frozen=True)
class PanelRow:
    """One slice: (candidate, comparator) means over the paired episodes."""

    slice: str
    n: int
    model: tuple[float, float]
    outcome: tuple[float, float]
    objective: tuple[float, float] | None = None
    offline: tuple[float, float] | None = None  # the manifests' figures, when both carry one for this slice
    model_worse: float = math.nan  # regression-oriented deltas: positive = the candidate is worse
    outcome_worse: float = math.nan
    offline_worse: float = math.nan

    def to_json(self) -> dict:
        return {"slice": self.slice, "n": self.n, "model": _j(self.model), "outcome": _j(self.outcome),
                "objective": _j(self.objective), "offline": _j(self.offline), "model_worse": _f(self.model_worse),
                "outcome_worse": _f(self.outcome_worse), "offline_worse": _f(self.offline_worse)}


@dataclass(frozen=True)
class ModelMetricPanel:
    """One model metric for one pair of models (candidate vs baseline, or baseline vs reference)."""

    metric: str  # e.g. model_mae
    score: str  # mae | calibration_error | ndcg
    better: str  # lower | higher
    outcome: str  # the closed-loop metric it is set beside (driving: success)
    outcome_kind: str  # binary | continuous
    candidate: str  # model labels
    comparator: str
    comparison: str  # "baseline" (candidate vs baseline) or "reference" (baseline vs reference)
    rows: tuple[PanelRow, ...] = ()
    objective: str | None = None  # recsys: click_through_rate, the metric the model is trained for
    offline: str | None = None  # manifest key prefix, e.g. val_mae
    k: int | None = None
    rank_agreement: float | None = None  # Spearman rho over slices of model_worse vs outcome_worse
    rank_slices: int = 0
    sentences: tuple[str, ...] = ()

    @property
    def score_name(self) -> str:
        name = SCORE_NAMES.get(self.score, self.score)
        return f"{name}@{self.k}" if self.k else name

    @property
    def agree(self) -> bool | None:
        return None if self.rank_agreement is None else self.rank_agreement > 0

    def to_json(self) -> dict:
        return {"metric": self.metric, "score": self.score, "better": self.better, "outcome": self.outcome,
                "outcome_kind": self.outcome_kind, "candidate": self.candidate, "comparator": self.comparator,
                "comparison": self.comparison, "objective": self.objective, "offline": self.offline, "k": self.k,
                "rank_agreement": _f(self.rank_agreement), "rank_slices": self.rank_slices, "agree": self.agree,
                "sentences": list(self.sentences), "rows": [r.to_json() for r in self.rows]}


def _f(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _j(t: tuple | None) -> list | None:
    return None if t is None else [_f(v) for v in t]


def _dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    if "attempt" in frame.columns:
        frame = frame.sort_values(["case_id", "attempt"], kind="stable")
    return frame.drop_duplicates("case_id", keep="last")


def _worse(cand: float, other: float, better: str) -> float:
    return (other - cand) if better == "higher" else (cand - other)


def _mean(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    return float(v.mean()) if v.size else math.nan


def _slice_value(name: str) -> str | None:
    return name.split("=", 1)[1] if "=" in name and not name.startswith("tag:") else None


def _offline(training: Mapping[str, Any], key: str | None, slice_name: str) -> float | None:
    if not key:
        return None
    value = _slice_value(slice_name)
    name = key if slice_name == "overall" else (f"{key}_{value}" if value is not None else None)
    v = training.get(name) if name else None
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _panel(metric: str, decl: Any, kinds: Mapping[str, str], better_of: Mapping[str, str], cand: pd.DataFrame, other: pd.DataFrame,
           policy: GatePolicy, labels: tuple[str, str], trainings: tuple[Mapping, Mapping],
           comparison: str) -> ModelMetricPanel | None:
    col = METRIC_PREFIX + metric
    out_col = METRIC_PREFIX + decl.outcome
    if col not in cand.columns or col not in other.columns or out_col not in cand.columns:
        return None
    ids = pd.Index(cand["case_id"]).intersection(pd.Index(other["case_id"]))
    if ids.empty:
        return None
    c = cand.set_index("case_id").loc[ids].reset_index()
    o = other.set_index("case_id").loc[ids].reset_index()
    masks = slicing.slice_masks(c, policy)
    outcome_better = better_of.get(decl.outcome, "higher")
    rows = []
    for name, m in masks.items():
        if not m.any():
            continue

        def pair(column: str) -> tuple[float, float]:
            return (_mean(c.loc[m, column].to_numpy(np.float64)), _mean(o.loc[m, column].to_numpy(np.float64)))

        model, outcome = pair(col), pair(out_col)
        objective = pair(METRIC_PREFIX + decl.objective) if decl.objective and \
            METRIC_PREFIX + decl.objective in c.columns else None
        off_c, off_o = _offline(trainings[0], decl.offline, name), _offline(trainings[1], decl.offline, name)
        offline = (off_c, off_o) if off_c is not None and off_o is not None else None
        rows.append(PanelRow(
            slice=name, n=int(m.sum()), model=model, outcome=outcome, objective=objective, offline=offline,
            model_worse=_worse(*model, decl.better), outcome_worse=_worse(*outcome, outcome_better),
            offline_worse=_worse(*offline, decl.better) if offline else math.nan))
    rho, used = _rank_agreement(rows)
    panel = ModelMetricPanel(
        metric=metric, score=decl.score, better=decl.better, outcome=decl.outcome,
        outcome_kind=kinds.get(decl.outcome, "continuous"), candidate=labels[0], comparator=labels[1],
        comparison=comparison, rows=tuple(rows), objective=decl.objective, offline=decl.offline, k=decl.k,
        rank_agreement=rho, rank_slices=used)
    return dataclasses.replace(panel, sentences=tuple(_sentences(panel)))


def _rank_agreement(rows: list[PanelRow]) -> tuple[float | None, int]:
    """Spearman rho over the slices (overall left out) of the model metric's regression against the
    outcome's: positive = the slices where the model got worse are the ones where the system did."""
    pts = [(r.model_worse, r.outcome_worse) for r in rows if r.slice != "overall"
           and math.isfinite(r.model_worse) and math.isfinite(r.outcome_worse)]
    if len(pts) < 3:
        return None, len(pts)
    x, y = np.array(pts).T
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, len(pts)
    from scipy.stats import spearmanr

    rho = float(spearmanr(x, y).statistic)
    return (rho if math.isfinite(rho) else None), len(pts)


def _short(label: str, other: str) -> str:
    """`1.2` when both labels name versions of one model, else the label."""
    a, b = label.rpartition("@"), other.rpartition("@")
    return a[2] if a[0] and a[0] == b[0] else label


def _outcome_gap(p: ModelMetricPanel, r: PanelRow) -> bool:
    if r.n < MIN_PAIRS or not math.isfinite(r.outcome_worse):
        return False
    if p.outcome_kind == "binary":
        return r.outcome_worse >= BINARY_GAP - 1e-12
    ref = abs(r.outcome[1])
    return ref > 0 and r.outcome_worse >= RELATIVE_GAP * ref


def _where(slice_name: str) -> str:
    value = _slice_value(slice_name)
    return "overall" if slice_name == "overall" else (f"at {value}" if value is not None else f"in {slice_name}")


def _num(v: float) -> str:
    """Two significant digits below 1 (MAE 0.048, 0.11), three above (engagement 14.3)."""
    return f"{v:.2g}" if abs(v) < 1 else f"{v:.3g}"


def _outcome_words(p: ModelMetricPanel, r: PanelRow) -> str:
    if p.outcome_kind == "binary":
        return f"{round(100 * r.outcome_worse):d} pp worse in closed loop ({p.outcome} {r.outcome[0]:.0%} vs " \
               f"{r.outcome[1]:.0%})"
    return f"{p.outcome} falls ({_num(r.outcome[0])} vs {_num(r.outcome[1])})"


def _sentences(p: ModelMetricPanel) -> list[str]:
    """One sentence per slice where the offline figures say the candidate is better while its
    closed-loop outcome is clearly worse (at least MIN_PAIRS pairs and BINARY_GAP points, or
    RELATIVE_GAP of the comparator's mean); where the model's training objective rises while the
    outcome falls, one sentence overall and one for the slice with the largest relative drop."""
    who = _short(p.candidate, p.comparator)
    offline, objective = [], []
    for r in p.rows:
        if not _outcome_gap(p, r):
            continue
        inloop = f"in-the-loop {p.score_name} {_where(r.slice)} is {_num(r.model[0])} vs {_num(r.model[1])}"
        if r.offline is not None and r.offline_worse < 0:
            offline.append(f"{who} looks better offline {_where(r.slice)} ({p.score_name} {_num(r.offline[0])} vs "
                           f"{_num(r.offline[1])}) but is {_outcome_words(p, r)}; {inloop}")
        elif r.objective is not None and p.objective and r.objective[0] > r.objective[1]:
            drop = r.outcome_worse / max(abs(r.outcome[1]), 1e-12)
            objective.append((r.slice != "overall", -drop, f"{who} raises {p.objective} {_where(r.slice)} "
                              f"({_num(r.objective[0])} vs {_num(r.objective[1])}) but {_outcome_words(p, r)}; "
                              f"{inloop}"))
    objective.sort()
    picked = [t for t in objective if not t[0]][:1] + [t for t in objective if t[0]][:1]
    return offline + [t[2] for t in picked]


def model_metric_panels(frames: Mapping[str, pd.DataFrame], policy: GatePolicy | None,
                        metrics: Mapping[str, Mapping] | None, decls: Mapping[str, Any],
                        labels: Mapping[str, str], trainings: Mapping[str, Mapping]) -> tuple[ModelMetricPanel, ...]:
    """Panels for candidate vs baseline and, with a reference, baseline vs reference (how the
    previous release's model metric and outcome moved together). `decls`: the envs' model metric
    declarations (EnvSpec.model_metric_decls); `trainings`: role -> the manifest's `training`."""
    policy = policy or GatePolicy.default()
    frames = {k: _dedupe(v) for k, v in frames.items() if v is not None}
    kinds = {k: str(v.get("kind", "continuous")) for k, v in (metrics or {}).items()}
    better_of = {k: str(v.get("better", "higher")) for k, v in (metrics or {}).items()}
    out = []
    for cand, other in (("candidate", "baseline"), ("baseline", "reference")):
        if cand not in frames or other not in frames:
            continue
        for metric, decl in decls.items():
            panel = _panel(metric, decl, kinds, better_of, frames[cand], frames[other], policy,
                           (labels.get(cand, cand), labels.get(other, other)),
                           (trainings.get(cand, {}), trainings.get(other, {})), other)
            if panel is not None:
                out.append(panel)
    return tuple(out)


def attach(verdict: Any, panels: tuple[ModelMetricPanel, ...]) -> Any:
    """The verdict with the panels in its findings (decision unchanged)."""
    from simtest.judging.findings import Findings

    if not panels:
        return verdict
    f = verdict.findings if verdict.findings is not None else Findings()
    return dataclasses.replace(verdict, findings=dataclasses.replace(f, model_metrics=panels))


# --------------------------------------------------------------------------- simtest evaluate-offline


@dataclass(frozen=True)
class OfflineRow:
    slice: str
    n: int
    values: tuple[float, ...]  # per model, in OfflineEvaluation.models order
    offline: tuple[float | None, ...]  # the manifests' figure for this slice, per model

    def to_json(self) -> dict:
        return {"slice": self.slice, "n": self.n, "values": [_f(v) for v in self.values],
                "offline": [None if v is None else _f(v) for v in self.offline]}


@dataclass(frozen=True)
class OfflineEvaluation:
    """One model metric of several models scored on the same frames (one driver drove every episode)."""

    metric: str
    score_name: str
    better: str
    driver: str
    models: tuple[str, ...]
    rows: tuple[OfflineRow, ...] = ()

    def to_json(self) -> dict:
        return {"metric": self.metric, "score": self.score_name, "better": self.better, "driver": self.driver,
                "models": list(self.models), "rows": [r.to_json() for r in self.rows]}


def offline_evaluation(frames: Mapping[str, pd.DataFrame], policy: GatePolicy | None, decls: Mapping[str, Any],
                       trainings: Mapping[str, Mapping], driver: str) -> tuple[OfflineEvaluation, ...]:
    """Per model metric and slice, each model's mean over the episodes every frame holds (`frames`:
    model label -> rows of that model shadowing `driver`, so the same cases saw the same frames)."""
    policy = policy or GatePolicy.default()
    frames = {k: _dedupe(v) for k, v in frames.items()}
    labels = tuple(frames)
    if not labels:
        return ()
    ids = pd.Index(frames[labels[0]]["case_id"])
    for f in frames.values():
        ids = ids.intersection(pd.Index(f["case_id"]))
    aligned = {k: f.set_index("case_id").loc[ids].reset_index() for k, f in frames.items()}
    masks = slicing.slice_masks(aligned[labels[0]], policy)
    out = []
    for metric, decl in decls.items():
        col = METRIC_PREFIX + metric
        if not any(col in f.columns for f in aligned.values()):
            continue
        rows = []
        for name, m in masks.items():
            if not m.any():
                continue
            values = tuple(_mean(f.loc[m, col].to_numpy(np.float64)) if col in f.columns else math.nan
                           for f in aligned.values())
            rows.append(OfflineRow(name, int(m.sum()), values,
                                   tuple(_offline(trainings.get(k, {}), decl.offline, name) for k in labels)))
        name = SCORE_NAMES.get(decl.score, decl.score)
        out.append(OfflineEvaluation(metric, f"{name}@{decl.k}" if decl.k else name, decl.better, driver, labels,
                                     tuple(rows)))
    return tuple(out)
