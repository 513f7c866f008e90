"""Regression regions: where in the parameter space the candidate got worse (or better) than a
comparator, found without anyone declaring the slice. Pure: paired result frames in, a frozen
`RegionSearch` out; no simulation, no I/O.

What it does (docs/regions.md has the why):
1. Conditions. Every categorical parameter value (`lighting=night`), every tag (`tag:fog`) and,
   for numeric parameters, `x<c` and `x>=c` at data-driven cut points c (quantiles of the
   distinct parameter samples, like judging.slicing, so adaptive seeds do not move them).
2. Regions: conjunctions of conditions on distinct features, up to `max_depth` (3). Counting is
   histogram based: each feature is binned once, and for every feature tuple one weighted bincount
   gives the counts of every conjunction over it (conditions are unions of bins), so 100k pairs x 8
   parameters cost seconds, not an enumeration of masks.
3. Every region with at least `min_support` pairs is examined, in both directions: regression
   (H0: delta <= margin) and improvement (H0: delta >= 0). Binary metrics: exact one-sided
   McNemar (margin 0) or the Tango score test (margin > 0) on the discordant pairs; continuous
   metrics: one-sided t on the paired differences. The false-discovery rate over all 2m tests is
   controlled with Benjamini-Hochberg at `q` (valid under positive dependence, which overlapping
   one-sided region tests approximately have) or Benjamini-Yekutieli (`fdr: by`, any dependence).
4. Pruning: a discovered region is reported only when it is significantly worse (better, for an
   improvement) than each of its immediate parents (the regions with one condition fewer, `overall`
   for a single condition, and the region with one threshold relaxed to the next looser cut), i.e.
   than the rest of the parent: one-sided Welch z at alpha / R (Bonferroni over the R discoveries).
   A region that equals its parent (the same pairs) is never reported.
5. Bounds are false-coverage-rate adjusted (Benjamini & Yekutieli 2005): the interval of each
   of the R selected regions is at level 1 - q R / (2m) per side (Tango score bounds for binary
   metrics, the gate's paired bootstrap/t bounds `stats.mean_bounds` for continuous ones).
6. Folding: a region explained by a reported sub-region (its rest shows no effect at alpha / R) is
   folded into it; then, in rank order (regressions by their lower bound, the regression one can be
   sure of; improvements by their upper bound), a region is kept only when its pairs outside the
   regions kept before it still show an effect at alpha / R; otherwise it is folded (`similar`)
   into the kept region it overlaps most: near-duplicates, supersets and proxies are not reported
   twice.

Assumptions: delta is regression-oriented (positive = the candidate is worse), as everywhere in
judging. The regions are diagnostic unless the policy makes them blocking; then any reported
regression region (tested against the policy's region margin) fails the gate, which controls the
probability of a false failure at q when no region regresses by more than the margin (BH controls
the family-wise error under the global null).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from simtest.judging import stats
from simtest.core.jsonsafe import json_safe as _clean

__all__ = ["Condition", "Region", "RegionSearch", "PairedData", "search", "search_frames", "paired_data"]

MAX_BINS = 64


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Condition:
    """One condition: `feature=value`, `feature<value`, `feature>=value` or `tag:value`."""

    feature: str
    op: str  # "=" | "<" | ">=" | "tag"
    value: Any

    @property
    def label(self) -> str:
        if self.op == "tag":
            return f"tag:{self.value}"
        v = self.value
        text = f"{v:g}" if isinstance(v, float) else ("true" if v is True else "false" if v is False else str(v))
        return f"{self.feature}{self.op}{text}"

    def to_json(self) -> dict:
        return {"feature": self.feature, "op": self.op, "value": self.value}


@dataclass(frozen=True)
class Region:
    """A reported region. delta/lower/upper: regression-oriented mean paired difference in the region
    (for binary metrics, the difference of failure rates: +0.41 = 41 points more failures)."""

    rule: str
    conditions: tuple[Condition, ...]
    direction: str  # "regression" | "improvement"
    metric: str
    comparison: str
    n: int
    delta: float
    lower: float
    upper: float
    p_value: float
    p_adjusted: float
    candidate_value: float  # the metric's mean in the region (binary: the good-outcome rate)
    baseline_value: float
    parent_p: float  # the largest one-sided p of the child-vs-parent tests (pruning)
    decision: str = "diagnostic"  # diagnostic | fail (blocking region search)
    similar: tuple[str, ...] = ()  # regions folded into this one (explained by it)

    @property
    def depth(self) -> int:
        return len(self.conditions)

    def to_json(self) -> dict:
        d = asdict(self)
        d["conditions"] = [c.to_json() for c in self.conditions]
        d["similar"] = list(self.similar)
        d["depth"] = self.depth
        return _clean(d)


@dataclass(frozen=True)
class RegionSearch:
    """The outcome of one region search (one metric, one comparison)."""

    metric: str
    comparison: str
    kind: str  # binary | continuous
    n_pairs: int
    examined: int  # regions with >= min_support pairs (each tested in both directions)
    discoveries: int  # BH (or BY) discoveries before pruning, both directions
    q: float
    fdr: str
    alpha: float
    bounds_level: float  # per-side confidence of the reported bounds (FCR-adjusted)
    max_depth: int
    min_support: int
    margin: float
    blocking: bool
    regions: tuple[Region, ...] = ()
    note: str = ""

    def regressions(self) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.direction == "regression")

    def improvements(self) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.direction == "improvement")

    def failing(self) -> tuple[Region, ...]:
        return tuple(r for r in self.regions if r.decision == "fail")

    def to_json(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "regions"}
        d["regions"] = [r.to_json() for r in self.regions]
        return _clean(d)




# --------------------------------------------------------------------------- paired data


@dataclass(frozen=True)
class PairedData:
    """Paired cases: per pair its parameters (dict), tags and the metric on both sides.
    Binary: `cand`/`base` are 1 for the good outcome. Continuous: `d` is the regression-oriented
    paired difference (NaNs already ranked worst by the caller)."""

    params: tuple[Mapping[str, Any], ...]
    tags: tuple[tuple[str, ...], ...]
    kind: str
    cand: np.ndarray
    base: np.ndarray
    d: np.ndarray

    @property
    def n(self) -> int:
        return int(self.d.size)


def paired_data(candidate: pd.DataFrame, other: pd.DataFrame, metric: str = "passed",
                metrics: Mapping[str, Mapping] | None = None, better: str | None = None) -> PairedData:
    """Pair two result frames on case_id the way the gate does (judging.compare: one row per case,
    infrastructure outcomes left out, changed scenarios never compared) and read `metric`."""
    from simtest.judging import compare
    from simtest.contract.policy import metric_declarations

    decl = metric_declarations(metrics).get(metric)
    if decl is None:
        raise ValueError(f'metric "{metric}" is not declared')
    cand, oth = compare._dedupe(candidate), compare._dedupe(other)
    changed = {c.scenario for c in compare._scenario_changes(cand, oth, "other")}
    pairs, _ = compare._pair(cand, oth, changed)
    use = pairs.no_env_error if metric == "errors" else pairs.ok
    ci, oi = pairs.cand_idx[use], pairs.other_idx[use]
    vc_all, vo_all = compare._metric_values(cand, metric), compare._metric_values(oth, metric)
    if vc_all is None or vo_all is None:
        raise ValueError(f'metric "{metric}" is missing from the results')
    vc, vo = vc_all[ci], vo_all[oi]
    better = better or decl.get("better", "higher")
    if decl.get("kind") == "binary":
        gc = compare._goodness_binary(vc, better).astype(float)
        go = compare._goodness_binary(vo, better).astype(float)
        kind, d = "binary", go - gc
    else:
        worst = compare._worst(np.concatenate([vc, vo]), better)
        gc = np.where(np.isfinite(vc), vc, worst)
        go = np.where(np.isfinite(vo), vo, worst)
        kind, d = "continuous", (gc - go) if better == "lower" else (go - gc)
    pstr = cand["params"].to_numpy()[ci] if "params" in cand.columns else np.array(["{}"] * ci.size, dtype=object)
    parsed: dict[str, dict] = {}
    import json

    params = []
    for s in pstr:
        if s not in parsed:
            try:
                parsed[s] = json.loads(s) if isinstance(s, str) else dict(s or {})
            except ValueError:
                parsed[s] = {}
        params.append(parsed[s])
    tags_col = cand["tags"].to_numpy()[ci] if "tags" in cand.columns else [()] * ci.size
    tags = tuple(tuple(str(t) for t in (x if x is not None else ())) for x in tags_col)
    return PairedData(tuple(params), tags, kind, gc, go, np.asarray(d, dtype=float))


# --------------------------------------------------------------------------- features


@dataclass(frozen=True)
class _Feature:
    name: str
    codes: np.ndarray  # bin per pair (int); the last bin is "missing / not in any condition"
    n_bins: int
    conditions: tuple[Condition, ...]
    matrix: np.ndarray  # (len(conditions), n_bins) 0/1: which bins each condition covers


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def _cut_points(distinct: np.ndarray, cuts: int) -> list[float]:
    """Interior cut points at the quantiles j/(cuts+1) of the distinct values, rounded to 3
    significant digits, strictly inside (min, max]."""
    if distinct.size < 2:
        return []
    qs = np.quantile(distinct, np.linspace(0, 1, cuts + 2)[1:-1])
    out: list[float] = []
    lo = float(distinct.min())
    for q in qs:
        r = float(f"{q:.3g}")
        if r <= lo:
            # the smallest value above lo: `x>=r` must exclude something
            above = distinct[distinct > lo]
            r = float(f"{above.min():.3g}") if above.size else r
        if r > lo and (not out or r > out[-1]):
            out.append(r)
    return out


def _param_table(data: PairedData) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct parameter dicts as a table (one row per distinct sample: seeds of one sample share
    their dict) and, per pair, its row in that table."""
    index: dict[int, int] = {}
    uniq: list[Mapping[str, Any]] = []
    rows = np.empty(data.n, dtype=np.int64)
    for i, p in enumerate(data.params):
        k = index.get(id(p))
        if k is None:
            k = index[id(p)] = len(uniq)
            uniq.append(p)
        rows[i] = k
    return pd.DataFrame.from_records(uniq) if uniq else pd.DataFrame(), rows


def _features(data: PairedData, cuts: int, exclude: Sequence[str] = ()) -> list[_Feature]:
    table, rows = _param_table(data)
    feats: list[_Feature] = []
    for name in sorted(set(table.columns) - set(exclude)):
        col = table[name]
        present = col.notna().to_numpy()
        if not present.any():
            continue
        vals = col[present]
        numeric = (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)) or (
            col.dtype == object and all(_is_num(v) for v in vals))
        distinct = pd.unique(vals.astype(float) if numeric else vals.map(repr))
        if distinct.size < 2 and present.all():
            continue  # constant everywhere: no condition can split it
        if numeric and distinct.size > 2:
            x_u = np.where(present, pd.to_numeric(col, errors="coerce").to_numpy(dtype=float), np.nan)
            # cut points over the distinct parameter samples, not pairs: extra seeds do not move them
            edges = _cut_points(np.unique(x_u[np.isfinite(x_u)]), cuts)
            if not edges:
                continue
            codes_u = np.where(np.isnan(x_u), len(edges) + 1, np.searchsorted(edges, np.nan_to_num(x_u), side="right"))
            n_bins = len(edges) + 2  # len(edges)+1 intervals + missing
            conds, mat = [], []
            for j, c in enumerate(edges):
                below = np.zeros(n_bins)
                below[: j + 1] = 1
                above = np.zeros(n_bins)
                above[j + 1: len(edges) + 1] = 1
                conds += [Condition(name, "<", c), Condition(name, ">=", c)]
                mat += [below, above]
            feats.append(_Feature(name, codes_u.astype(np.int64)[rows], n_bins, tuple(conds), np.array(mat)))
        else:
            try:
                first, uniq = pd.factorize(vals)
            except TypeError:  # unhashable values (lists): by their text
                first, uniq = pd.factorize(vals.map(repr))
            if len(uniq) > MAX_BINS:
                continue  # an id-like parameter: every value its own region is noise, not a finding
            keys = [_key(v) for v in uniq]
            order = sorted(range(len(keys)), key=lambda i: (keys[i][0], str(keys[i][1])))
            labels = [keys[i] for i in order]
            rank = np.empty(len(order), dtype=np.int64)
            rank[order] = np.arange(len(order))
            codes_u = np.full(len(table), len(labels), dtype=np.int64)
            codes_u[present] = rank[first]
            n_bins = len(labels) + 1
            conds = tuple(Condition(name, "=", lab[1]) for lab in labels)
            feats.append(_Feature(name, codes_u[rows], n_bins, conds, np.eye(len(labels), n_bins)))
    tag_names = sorted({t for ts in data.tags for t in ts})
    for t in tag_names:
        has = np.array([t in ts for ts in data.tags])
        if has.all():
            continue  # every pair has it: the same region as its parent
        feats.append(_Feature(f"tag:{t}", has.astype(np.int64), 2, (Condition("tag", "tag", t),), np.array([[0.0, 1.0]])))
    return feats


def _key(v: Any) -> tuple:
    if isinstance(v, bool):
        return (0, v)
    if _is_num(v):
        return (1, v)
    return (2, v if isinstance(v, str) else repr(v))


# --------------------------------------------------------------------------- counting


def _count(feats: list[_Feature], weights: np.ndarray, max_depth: int):
    """Yield (feature index tuple, counts array of shape (K_f1, ..., K_fd, W)) for every feature
    tuple up to max_depth. weights: (n, W)."""
    W = weights.shape[1]
    for depth in range(1, max_depth + 1):
        for combo in itertools.combinations(range(len(feats)), depth):
            fs = [feats[i] for i in combo]
            sizes = [f.n_bins for f in fs]
            code = np.zeros(weights.shape[0], dtype=np.int64)
            for f in fs:
                code = code * f.n_bins + f.codes
            total = int(np.prod(sizes))
            hist = np.stack([np.bincount(code, weights=weights[:, w], minlength=total) for w in range(W)], axis=-1)
            hist = hist.reshape(*sizes, W)
            for j, f in enumerate(fs):  # bins -> conditions, axis by axis, keeping the axis order
                hist = np.moveaxis(np.tensordot(f.matrix, hist, axes=([1], [j])), 0, j)
            yield combo, hist


# --------------------------------------------------------------------------- search


def search(data: PairedData, *, metric: str = "passed", comparison: str = "baseline", max_depth: int = 3,
           min_support: int = 10, cuts: int = 3, q: float = 0.10, fdr: str = "bh", alpha: float = 0.05,
           margin: float = 0.0, blocking: bool = False, top: int = 10, exclude: Sequence[str] = ()) -> RegionSearch:
    """Find regression and improvement regions in paired data (see the module docstring)."""
    if fdr not in ("bh", "by"):
        raise ValueError("fdr must be bh or by")
    n = data.n
    base = dict(metric=metric, comparison=comparison, kind=data.kind, n_pairs=n, q=q, fdr=fdr, alpha=alpha,
                max_depth=max_depth, min_support=min_support, margin=margin, blocking=blocking)
    if n < max(2, min_support):
        return RegionSearch(examined=0, discoveries=0, bounds_level=math.nan,
                            note=f"{n} pairs: fewer than min_support={min_support}", **base)
    feats = _features(data, cuts, exclude)
    binary = data.kind == "binary"
    if binary:
        b_ind = ((data.base > 0.5) & (data.cand < 0.5)).astype(float)  # got worse
        c_ind = ((data.cand > 0.5) & (data.base < 0.5)).astype(float)  # got better
        weights = np.column_stack([np.ones(n), b_ind, c_ind])
    else:
        weights = np.column_stack([np.ones(n), data.d, data.d * data.d])

    keys: list[tuple[tuple[int, int], ...]] = []
    rows: list[np.ndarray] = []
    for combo, hist in _count(feats, weights, max(1, min(max_depth, 3))):
        counts = hist.reshape(-1, weights.shape[1])
        keep = np.flatnonzero(counts[:, 0] >= min_support)
        if keep.size == 0:
            continue
        shape = hist.shape[:-1]
        for flat in keep:
            idx = np.unravel_index(flat, shape)
            keys.append(tuple((fi, int(ci)) for fi, ci in zip(combo, idx)))
        rows.append(counts[keep])
    totals = weights.sum(axis=0)
    if not keys:
        return RegionSearch(examined=0, discoveries=0, bounds_level=math.nan,
                            note=f"no region has {min_support} or more pairs", **base)
    C = np.concatenate(rows)
    m = len(keys)
    nn = C[:, 0]
    if binary:
        b, c = C[:, 1], C[:, 2]
        delta = (b - c) / nn
        p_reg = stats.mcnemar_p(b, c) if margin <= 0 else stats.tango_p(b, c, nn, margin, side="greater")
        p_imp = stats.mcnemar_p(c, b)
    else:
        s1, s2 = C[:, 1], C[:, 2]
        delta = s1 / nn
        var = np.maximum(s2 / nn - delta**2, 0.0) * nn / np.maximum(nn - 1, 1)
        se = np.sqrt(var / nn)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_reg = np.where(se > 0, (delta - margin) / se, np.sign(delta - margin) * np.inf)
            t_imp = np.where(se > 0, delta / se, np.sign(delta) * np.inf)
        p_reg = sps.t.sf(t_reg, np.maximum(nn - 1, 1))
        p_imp = sps.t.cdf(t_imp, np.maximum(nn - 1, 1))
    p_all = np.concatenate([np.asarray(p_reg, float), np.asarray(p_imp, float)])
    adj = _fdr(p_all, fdr)
    disc = np.flatnonzero(adj <= q)
    R = int(disc.size)
    level_alpha = q * max(R, 1) / (2 * m) if fdr == "bh" else q * max(R, 1) / (2 * m * _harmonic(2 * m))
    base.update(examined=m, discoveries=R, bounds_level=1 - level_alpha)
    if R == 0:
        return RegionSearch(note="no region passed the false-discovery control", **base)

    index = {k: i for i, k in enumerate(keys)}
    found: list[dict] = []
    for h in disc:
        i, direction = (h, "regression") if h < m else (h - m, "improvement")
        key = keys[i]
        worst_parent_p = 0.0
        for parent in _parents(key, feats):
            pc = totals if not parent else C[index[parent]] if parent in index else None
            if pc is None:
                worst_parent_p = 1.0
                break
            p = _vs_rest(C[i], pc, binary, direction)
            worst_parent_p = max(worst_parent_p, p)
        if worst_parent_p > alpha / R:  # Bonferroni over the R discoveries
            continue
        found.append(dict(i=i, key=key, direction=direction, p=float(p_all[h]), p_adj=float(adj[h]),
                          parent_p=worst_parent_p))
    found, explained = _explained(found, C, binary, alpha / R)  # Bonferroni over the R discoveries
    regions = _describe(found, keys, C, feats, data, binary, level_alpha, metric, comparison, blocking)
    regions = _fold_similar(regions, found, feats, top, explained, binary, data, alpha / R)
    return RegionSearch(regions=tuple(regions), **base)


def _explained(found: list[dict], C: np.ndarray, binary: bool, alpha: float) -> tuple[list[dict], dict]:
    """Fold a region into a reported sub-region (a descendant: its conditions plus more) of the
    same direction when the rest of the region, without the descendant, shows no effect of its own
    at `alpha` (one-sided): `fog>=0.15` is explained by `fog>=0.15 & lighting=night` when fog
    without night did not regress. Returns the kept regions and {descendant index: [folded keys]}."""
    keep, folded = [], {}
    for f in found:
        own = set(f["key"])
        home = None
        for g in found:
            if g is f or g["direction"] != f["direction"] or not own < set(g["key"]):
                continue
            rest = C[f["i"]] - C[g["i"]]
            if rest[0] < 1 or _effect_p(rest, binary, f["direction"]) > alpha:
                home = g["i"]
                break
        if home is None:
            keep.append(f)
        else:
            folded.setdefault(home, []).append(f["key"])
    # a folded region's own folds move to its new home
    kept_idx = {f["i"] for f in keep}
    return keep, {i: v for i, v in folded.items() if i in kept_idx} | {
        "_all": [k for v in folded.values() for k in v]}


def _effect_p(counts: np.ndarray, binary: bool, direction: str) -> float:
    n = counts[0]
    if binary:
        b, c = counts[1], counts[2]
        return float(stats.mcnemar_p(b, c) if direction == "regression" else stats.mcnemar_p(c, b))
    mean = counts[1] / n
    var = max(counts[2] / n - mean * mean, 0.0) * n / max(n - 1, 1)
    if var == 0:
        return 0.0 if (mean > 0) == (direction == "regression") and mean != 0 else 1.0
    t = mean / math.sqrt(var / n)
    return float(sps.t.sf(t, n - 1) if direction == "regression" else sps.t.cdf(t, n - 1))


def _parents(key: tuple[tuple[int, int], ...], feats: list[_Feature]) -> list[tuple[tuple[int, int], ...]]:
    """The immediate parents of a region: each condition dropped, and each threshold relaxed to the
    next looser cut of the same parameter (`x>=0.75` has the parent `x>=0.5`), so a region with a
    tighter cut is reported only when it is worse than the looser one."""
    out = [key[:k] + key[k + 1:] for k in range(len(key))]
    for k, (fi, ci) in enumerate(key):
        cond = feats[fi].conditions[ci]
        if cond.op == ">=" and ci >= 3:  # numeric conditions: [<c0, >=c0, <c1, >=c1, ...]
            out.append(key[:k] + ((fi, ci - 2),) + key[k + 1:])
        elif cond.op == "<" and ci + 2 < len(feats[fi].conditions):
            out.append(key[:k] + ((fi, ci + 2),) + key[k + 1:])
    return out


def _harmonic(m: int) -> float:
    return float(np.sum(1.0 / np.arange(1, m + 1)))


def _fdr(p: np.ndarray, method: str) -> np.ndarray:
    adj = stats.bh(p)
    if method == "by":
        adj = np.minimum(adj * _harmonic(p.size), 1.0)
    return adj


def _vs_rest(child: np.ndarray, parent: np.ndarray, binary: bool, direction: str) -> float:
    """One-sided p that the child is worse (regression) / better (improvement) than parent minus
    child: Welch z on the paired differences of the two disjoint sets."""
    rest = parent - child
    n1, n2 = child[0], rest[0]
    if n2 < 1 or n1 < 1:
        return 1.0
    if binary:
        m1, m2 = (child[1] - child[2]) / n1, (rest[1] - rest[2]) / n2
        v1 = (child[1] + child[2]) / n1 - m1 * m1
        v2 = (rest[1] + rest[2]) / n2 - m2 * m2
    else:
        m1, m2 = child[1] / n1, rest[1] / n2
        v1, v2 = max(child[2] / n1 - m1 * m1, 0.0), max(rest[2] / n2 - m2 * m2, 0.0)
    se = math.sqrt(max(v1, 0.0) / n1 + max(v2, 0.0) / n2)
    diff = (m1 - m2) if direction == "regression" else (m2 - m1)
    if se == 0:
        return 0.0 if diff > 0 else 1.0
    return 0.5 * math.erfc(diff / se / math.sqrt(2.0))  # the normal upper tail, without scipy's per-call cost


def _rule(key, feats) -> str:
    conds = sorted((feats[fi].conditions[ci] for fi, ci in key), key=lambda c: (c.op == "tag", c.feature, str(c.value)))
    return " & ".join(c.label for c in conds)


def _mask(key: tuple[tuple[int, int], ...], feats: list[_Feature]) -> np.ndarray:
    m = None
    for fi, ci in key:
        f = feats[fi]
        covered = f.matrix[ci][f.codes] > 0
        m = covered if m is None else (m & covered)
    return m


def _describe(found, keys, C, feats, data, binary, level_alpha, metric, comparison, blocking) -> list[Region]:
    out = []
    for f in found:
        i, key = f["i"], f["key"]
        conds = tuple(feats[fi].conditions[ci] for fi, ci in key)
        conds = tuple(sorted(conds, key=lambda c: (c.op == "tag", c.feature, str(c.value))))
        nn = int(C[i, 0])
        if binary:
            b, c = C[i, 1], C[i, 2]
            delta = float((b - c) / nn)
            lo, hi = stats.tango_bounds(b, c, nn, level_alpha)
        else:
            mask = _mask(key, feats)
            d = data.d[mask]
            delta = float(d.mean())
            rule = " & ".join(c.label for c in conds)
            # the gate's paired bounds: BCa bootstrap hulled with t (t alone above stats.BOOT_MAX_N)
            lo, hi = stats.mean_bounds(d, level_alpha, seed=stats.check_seed(0, comparison, metric, rule))
        mask = _mask(key, feats)
        decision = "fail" if blocking and f["direction"] == "regression" else "diagnostic"
        out.append(Region(
            rule=" & ".join(c.label for c in conds), conditions=conds, direction=f["direction"], metric=metric,
            comparison=comparison, n=nn, delta=delta, lower=float(lo), upper=float(hi), p_value=f["p"],
            p_adjusted=f["p_adj"], candidate_value=float(data.cand[mask].mean()),
            baseline_value=float(data.base[mask].mean()), parent_p=f["parent_p"], decision=decision))
    return out


def _fold_similar(regions: list[Region], found: list[dict], feats, top: int, explained: dict,
                  binary: bool, data: PairedData, alpha: float) -> list[Region]:
    """Rank (regressions by lower bound, improvements by upper bound, strongest first), then keep a
    region only when its residual (its pairs outside every kept region of the same direction) still
    shows an effect at `alpha` (one-sided); otherwise it is folded into the kept region it overlaps
    most (`similar`). This removes near-duplicates (`fog>=0.1 & night` beside `night & tag:fog`) and
    proxies (a parameter range that happens to hold only night cases)."""
    masks = {r.rule: _mask(f["key"], feats) for r, f in zip(regions, found)}
    folds = {r.rule: [_rule(k, feats) for k in explained.get(f["i"], [])] for r, f in zip(regions, found)}
    if binary:
        b_ind = (data.base > 0.5) & (data.cand < 0.5)
        c_ind = (data.cand > 0.5) & (data.base < 0.5)

    def rank(r: Region) -> tuple:
        strength = r.lower if r.direction == "regression" else -r.upper
        return (r.direction != "regression", -strength, -r.n, r.depth, r.rule)

    kept: list[Region] = []
    union = {"regression": np.zeros(data.n, bool), "improvement": np.zeros(data.n, bool)}
    similar: dict[str, list[str]] = {}
    for r in sorted(regions, key=rank):
        m = masks[r.rule]
        rest = m & ~union[r.direction]
        if binary:
            counts = np.array([rest.sum(), (rest & b_ind).sum(), (rest & c_ind).sum()], float)
        else:
            d = data.d[rest]
            counts = np.array([d.size, d.sum(), (d * d).sum()], float)
        if counts[0] >= 1 and _effect_p(counts, binary, r.direction) <= alpha:
            kept.append(r)
            similar[r.rule] = list(folds.get(r.rule, []))
            union[r.direction] |= m
            continue
        same = [k for k in kept if k.direction == r.direction]
        if same:
            home = max(same, key=lambda k: np.count_nonzero(masks[k.rule] & m))
            similar[home.rule].append(r.rule)
    out = [Region(**{**r.__dict__, "similar": tuple(similar[r.rule])}) for r in kept]
    reg = [r for r in out if r.direction == "regression"][:top]
    imp = [r for r in out if r.direction == "improvement"][:top]
    return reg + imp


def search_frames(candidate: pd.DataFrame, other: pd.DataFrame, *, metric: str = "passed",
                  metrics: Mapping[str, Mapping] | None = None, comparison: str = "baseline",
                  better: str | None = None, **kwargs: Any) -> RegionSearch:
    """`search` on two result frames paired as the gate pairs them."""
    return search(paired_data(candidate, other, metric, metrics, better), metric=metric, comparison=comparison,
                  **kwargs)
