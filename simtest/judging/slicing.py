"""Slice membership of result rows. Pure: a results frame + a policy -> named boolean
masks. Names: `overall`, `tag:<tag>`, `<param>=<value>` (categorical) and `<param>=[a,b)` buckets
(numeric, from policy bins or quantiles; the last bucket is closed, `[a,b]`).

Quantile edges are computed over the distinct parameter samples (distinct `params` strings), not
over episodes, so that adding seeds to some samples (adaptive rounds) does not move the edges and
slice names stay stable between rounds. Values outside the bins belong to no bucket of that param.
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from simtest.contract.policy import GatePolicy, ParamSlicing

__all__ = ["slice_masks", "slice_names", "format_value", "bucket_edges", "parse_params"]

OVERALL = "overall"


def format_value(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return json.dumps(v, separators=(",", ":"))


def parse_params(frame: pd.DataFrame) -> dict[str, dict]:
    """params JSON string -> dict, parsing each distinct string once (many seeds share one)."""
    if "params" not in frame.columns or frame.empty:
        return {}
    return {s: json.loads(s) for s in pd.unique(frame["params"])}


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def bucket_edges(values: Iterable[float], spec: ParamSlicing) -> list[float]:
    """Bucket edges for one numeric parameter. `values`: one value per distinct parameter sample."""
    if spec.bins is not None:
        return [float(b) for b in spec.bins]
    vals = np.asarray(sorted(values), dtype=float)
    if vals.size == 0:
        return []
    qs = np.quantile(vals, np.linspace(0.0, 1.0, int(spec.quantiles) + 1))
    # Round so that names stay short and stable; keep the edges strictly increasing.
    edges: list[float] = []
    for q in qs:
        r = float(f"{q:.3g}")
        if not edges or r > edges[-1]:
            edges.append(r)
    if len(edges) == 1:
        edges.append(edges[0])
    edges[0] = min(edges[0], float(vals[0]))
    edges[-1] = max(edges[-1], float(vals[-1]))
    return edges


def _bucket_names(edges: list[float]) -> list[str]:
    names = []
    for i in range(len(edges) - 1):
        close = "]" if i == len(edges) - 2 else ")"
        names.append(f"[{edges[i]:g},{edges[i + 1]:g}{close}")
    return names


def slice_masks(frame: pd.DataFrame, policy: GatePolicy, *, parsed: dict[str, dict] | None = None) -> dict[str, np.ndarray]:
    """Ordered {slice name: boolean mask over frame rows}. `overall` first, then tags (sorted),
    then parameters in policy order (categorical values sorted, buckets in edge order). Slices
    with no rows are left out, except blocking slices, which are always present (possibly empty)
    so that a missing critical slice is reported rather than silently skipped."""
    n = len(frame)
    out: dict[str, np.ndarray] = {OVERALL: np.ones(n, dtype=bool)}
    spec = policy.slices
    if n and spec.tags is not False and "tags" in frame.columns:
        tag_lists = frame["tags"].tolist()
        wanted = None if spec.tags is True else set(spec.tags)
        found: dict[str, list[int]] = {}
        for i, tags in enumerate(tag_lists):
            for t in (tags if tags is not None else ()):
                if wanted is None or t in wanted:
                    found.setdefault(str(t), []).append(i)
        for t in sorted(found):
            m = np.zeros(n, dtype=bool)
            m[found[t]] = True
            out[f"tag:{t}"] = m
    if n and spec.params:
        parsed = parse_params(frame) if parsed is None else parsed
        codes, uniques = pd.factorize(frame["params"])
        for name, pspec in spec.params.items():
            per_unique = [parsed[u].get(name, None) for u in uniques]
            if pspec.categorical:
                labels = np.array([format_value(v) if v is not None else "" for v in per_unique], dtype=object)
                row_labels = labels[codes]
                for label in sorted({lab for lab in labels if lab != ""}, key=_natural):
                    out[f"{name}={label}"] = row_labels == label
            else:
                vals = np.array([float(v) if _numeric(v) else np.nan for v in per_unique], dtype=float)
                edges = bucket_edges(vals[np.isfinite(vals)], pspec)
                if len(edges) < 2:
                    continue
                idx = np.searchsorted(edges, vals, side="right") - 1
                idx[vals == edges[-1]] = len(edges) - 2  # last bucket is closed
                idx[~np.isfinite(vals) | (vals < edges[0]) | (vals > edges[-1])] = -1
                row_idx = idx[codes]
                for b, label in enumerate(_bucket_names(edges)):
                    m = row_idx == b
                    if m.any():
                        out[f"{name}={label}"] = m
    for name in policy.blocking_slices:
        if name not in out:
            out[name] = np.zeros(n, dtype=bool)
    return out


def slice_names(frame: pd.DataFrame, policy: GatePolicy) -> list[str]:
    return list(slice_masks(frame, policy))


def _natural(label: str) -> tuple:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
