"""The report's matplotlib figures, each returned as PNG bytes (Agg backend; matplotlib
is imported here only, lazily). Inputs are the plain values of simtest.report._data."""

from __future__ import annotations

import io
import math
from typing import Any, Mapping, Sequence

from simtest.report._data import ROLES, ReportData

__all__ = ["forest_plot", "slice_rates_plot", "coverage_heatmap", "history_plot", "history_points"]

COLORS = {"baseline": "#1f77b4", "reference": "#ff7f0e", "candidate": "#d62728"}
ROLE_SHADES = {"reference": "#bdbdbd", "baseline": "#6baed6", "candidate": "#de2d26"}
DECISION_EDGE = {"fail": "#b2182b", "undecided": "#8c6d31", "warn": "#e08214", "too_small": "#999999", "pass": None}
OUTCOME_COLORS = {
    "passed": "#4daf4a", "failed checks": "#fdae61", "timeout": "#984ea3", "agent_error": "#e41a1c", "env_error": "#777777",
}
DPI = 96


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    # No Software/date metadata: the same inputs give the same bytes.
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    _plt().close(fig)
    return buf.getvalue()


def _scale(d: ReportData, metric: str) -> float:
    return 100.0 if d.is_binary(metric) else 1.0


def _label(d: ReportData, metric: str) -> str:
    if d.is_binary(metric):
        return f"{metric}: regression Δ (pp, > 0 = candidate worse)"
    unit = d.units.get(metric, "")
    return f"{metric}: regression Δ{f' ({unit})' if unit else ''} (> 0 = candidate worse)"


def forest_metrics(d: ReportData, limit: int = 3) -> list[str]:
    """The key metric plus the metrics with blocking problems, at most `limit`."""
    out: list[str] = []
    if d.key_metric and any(c.metric == d.key_metric for c in d.checks):
        out.append(d.key_metric)
    for c in d.problems() + d.problems(blocking=False):
        if c.metric not in out:
            out.append(c.metric)
    for m in d.metrics():
        if m not in out:
            out.append(m)
    return out[:limit]


def forest_plot(d: ReportData, metric: str, max_slices: int = 24) -> bytes | None:
    """Per-slice regression deltas with their [L, U] bounds, one row per slice, both comparisons,
    the non-inferiority margins as dashed lines in each comparison's colour."""
    slices = d.slices(metric)[:max_slices]
    comps = [c for c in ("baseline", "reference") if any(x.comparison == c and x.metric == metric for x in d.checks)]
    if not slices or not comps:
        return None
    plt = _plt()
    k = _scale(d, metric)
    fig, ax = plt.subplots(figsize=(7.2, 0.9 + 0.36 * len(slices) * max(1, len(comps)) / 1.5))
    offsets = {c: (0.17 if i == 0 else -0.17) * (len(comps) > 1) for i, c in enumerate(comps)}
    xs: list[float] = []
    for comp in comps:
        for i, s in enumerate(slices):
            c = d.check(comp, metric, s)
            if c is None:
                continue
            y = len(slices) - 1 - i + offsets[comp]
            lo, hi, dl = c.lower * k, c.upper * k, c.delta * k
            if math.isfinite(lo) and math.isfinite(hi):
                ax.plot([lo, hi], [y, y], color=COLORS[comp], lw=2.2, alpha=0.85, solid_capstyle="butt")
                xs += [lo, hi]
            if math.isfinite(c.margin):  # margins differ between overall and slices: one tick per row
                ax.plot([c.margin * k], [y], marker="|", ms=13, mew=2.2, color=COLORS[comp], alpha=0.9, zorder=2)
                xs.append(c.margin * k)
            if math.isfinite(dl):
                edge = DECISION_EDGE.get(c.decision)
                hollow = c.decision == "too_small"
                ax.plot([dl], [y], marker="D" if c.decision == "fail" else "o", ms=7 if edge else 5.5,
                        color=COLORS[comp], mfc="white" if hollow else COLORS[comp],
                        mec=edge or COLORS[comp], mew=1.8 if edge else 1, zorder=3)
                xs.append(dl)
                if c.decision in ("fail", "undecided"):
                    ax.annotate(c.decision.replace("_", " "), (dl, y), xytext=(6, 3), textcoords="offset points",
                                fontsize=7, color=edge or "#444")
        ax.plot([], [], color=COLORS[comp], lw=2.2, marker="o", label=f"vs {comp} ({d.models.get(comp, comp)})")
        ax.plot([], [], color=COLORS[comp], ls="none", marker="|", ms=11, mew=2.2, label=f"margin vs {comp}")
    ax.plot([], [], ls="none", marker="D", ms=6, color="#888", mec=DECISION_EDGE["fail"], mew=1.8, label="fail")
    ax.plot([], [], ls="none", marker="o", ms=6, mfc="white", mec="#999", label="too small to judge")
    ax.axvline(0, color="#555", lw=0.8)
    ax.set_yticks(range(len(slices)))
    ax.set_yticklabels(list(reversed(slices)), fontsize=8)
    ax.set_ylim(-0.6, len(slices) - 0.4)
    if xs:
        lo, hi = min(xs + [0.0]), max(xs + [0.0])
        pad = 0.08 * (hi - lo or 1.0)
        ax.set_xlim(lo - pad, hi + pad * 3)
    ax.set_xlabel(_label(d, metric), fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="#eee")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.12 if len(slices) > 4 else -0.3),
              ncol=3, frameon=False)
    ax.set_title(f"{metric}: candidate {d.models.get('candidate', '')} per slice", fontsize=10, loc="left")
    return _png(fig)


def slice_rates_plot(d: ReportData, metric: str | None = None, max_slices: int = 24) -> bytes | None:
    """Left: the metric per slice for reference, baseline and candidate. Right: episode outcomes
    per version (passed, failed checks, timeout, agent and env errors)."""
    metric = metric or d.key_metric
    if metric is None:
        return None
    slices = d.slices(metric)[:max_slices]
    values: dict[str, list[float]] = {r: [] for r in ROLES}
    for s in slices:
        cb, cr = d.check("baseline", metric, s), d.check("reference", metric, s)
        values["candidate"].append((cb or cr).candidate_value if (cb or cr) else math.nan)
        values["baseline"].append(cb.baseline_value if cb else math.nan)
        values["reference"].append(cr.baseline_value if cr else math.nan)
    roles = [r for r in ROLES if any(math.isfinite(v) for v in values[r])]
    if not slices or not roles:
        return None
    plt = _plt()
    k = _scale(d, metric)
    outcome_roles = [r for r in ROLES if d.outcome_counts.get(r)]
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 1.0 + 0.34 * len(slices) * len(roles) / 2.2),
                             gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    h = 0.8 / len(roles)
    for j, role in enumerate(roles):
        ys = [len(slices) - 1 - i + (len(roles) / 2 - j - 0.5) * h for i in range(len(slices))]
        vals = [v * k if math.isfinite(v) else 0.0 for v in values[role]]
        ax.barh(ys, vals, height=h * 0.92, color=ROLE_SHADES[role], label=f"{role} {d.models.get(role, '')}".strip())
    ax.set_yticks(range(len(slices)))
    ax.set_yticklabels(list(reversed(slices)), fontsize=8)
    ax.set_xlabel(f"{metric} ({'%' if k == 100 else d.units.get(metric, 'mean')})", fontsize=9)
    if k == 100:
        ax.set_xlim(0, 100)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="#eee")
    ax.set_axisbelow(True)
    ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16 if len(slices) > 4 else -0.4), ncol=3, frameon=False)
    ax.set_title(f"{metric} per slice", fontsize=10, loc="left")
    ax2 = axes[1]
    if outcome_roles:
        cats = list(OUTCOME_COLORS)
        for i, role in enumerate(outcome_roles):
            counts = _outcome_bars(d.outcome_counts[role])
            total = sum(counts.values()) or 1
            left = 0.0
            for cat in cats:
                share = 100.0 * counts.get(cat, 0) / total
                if share > 0:
                    ax2.barh([i], [share], left=left, color=OUTCOME_COLORS[cat], height=0.6, label=cat)
                    if share >= 8:
                        ax2.text(left + share / 2, i, f"{share:.0f}%", ha="center", va="center", fontsize=7.5,
                                 color="white" if cat != "failed checks" else "#333")
                    left += share
        ax2.set_yticks(range(len(outcome_roles)))
        ax2.set_yticklabels([f"{r}\n{d.models.get(r, '')}" for r in outcome_roles], fontsize=8)
        ax2.set_xlim(0, 100)
        ax2.invert_yaxis()
        ax2.set_xlabel("episodes (%)", fontsize=9)
        ax2.tick_params(axis="x", labelsize=8)
        handles, labels = ax2.get_legend_handles_labels()
        uniq = dict(zip(labels, handles))
        ax2.legend(uniq.values(), uniq.keys(), fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.18),
                   ncol=3, frameon=False)
        ax2.set_title("episode outcomes", fontsize=10, loc="left")
    else:
        ax2.axis("off")
    for a in axes:
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
    fig.tight_layout()
    return _png(fig)


def _outcome_bars(counts: Mapping[str, int]) -> dict[str, int]:
    passed = counts.get("passed", 0)
    completed = counts.get("completed", 0)
    return {
        "passed": passed, "failed checks": max(completed - passed, 0), "timeout": counts.get("timeout", 0),
        "agent_error": counts.get("agent_error", 0), "env_error": counts.get("env_error", 0),
    }


# --------------------------------------------------------------------------- coverage heatmaps


def coverage_heatmap(d: ReportData, grid: Any) -> bytes | None:
    """One pairwise coverage grid (simtest.judging.coverage.PairGrid, computed in judging): the
    metric's rate per cell for baseline and candidate and their difference, n per cell, and the
    cells no case visited marked `empty`. The report draws what the Verdict carries; it counts nothing."""
    import numpy as np

    roles = [r for r in ("baseline", "candidate") if r in grid.rates]
    if not roles:
        return None
    counts = np.array(grid.counts, dtype=float)

    def arr(role: str) -> Any:
        return np.array([[np.nan if v is None else float(v) for v in row] for row in grid.rates[role]], dtype=float)

    panels = [(r, arr(r)) for r in roles]
    if len(roles) == 2:
        panels.append(("difference", panels[1][1] - panels[0][1]))
    plt = _plt()
    nx, ny = len(grid.x_labels), len(grid.y_labels)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels) + 0.6, 1.2 + 0.42 * nx), squeeze=False)
    metric = d.coverage.metric if d.coverage is not None else "passed"
    for ax, (name, g) in zip(axes[0], panels):
        if name == "difference":
            im = ax.imshow(g * 100, origin="lower", cmap="RdBu", vmin=-60, vmax=60, aspect="auto")
            title = "candidate − baseline (pp)"
        else:
            im = ax.imshow(g * 100, origin="lower", cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
            title = f"{name} {d.models.get(name, '')}".strip()
        for (i, j), n in np.ndenumerate(counts):
            val = g[i, j]
            if n == 0:
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", color="#999", lw=0))
                ax.text(j, i, "empty", ha="center", va="center", fontsize=6.5, color="#555")
            elif np.isfinite(val):
                txt = f"{val * 100:+.0f}" if name == "difference" else f"{val * 100:.0f}"
                dark = abs(val) > 0.4 if name == "difference" else (val < 0.18 or val > 0.85)
                ax.text(j, i, f"{txt}\nn={int(n)}", ha="center", va="center", fontsize=6.5,
                        color="white" if dark else "#111")
        ax.set_xticks(range(ny))
        ax.set_xticklabels(grid.y_labels, fontsize=7, rotation=30 if max(map(len, grid.y_labels)) > 5 else 0)
        ax.set_yticks(range(nx))
        ax.set_yticklabels(grid.x_labels, fontsize=7)
        ax.set_xlabel(grid.y, fontsize=8.5)
        ax.set_ylabel(grid.x, fontsize=8.5)
        ax.set_title(title, fontsize=9, loc="left")
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.ax.tick_params(labelsize=7)
    fig.suptitle(f"{metric} rate (%) over {grid.x} × {grid.y} in {grid.scenario}: {grid.visited} of {grid.cells} "
                 "cells visited", fontsize=10, x=0.01, ha="left")
    fig.subplots_adjust(wspace=0.45, top=0.78)
    return _png(fig)


# --------------------------------------------------------------------------- history


def history_points(d: ReportData, metrics: Sequence[str],
                   history: Sequence[Mapping[str, Any]] = ()) -> list[tuple[str, dict[str, float]]]:
    """(model label, {metric: mean}) oldest first: given history entries, then reference,
    baseline, candidate (each at most once), their means being the overall checks' values
    (candidate_value; the comparator's baseline_value)."""
    points: list[tuple[str, dict[str, float]]] = []
    for h in history:
        label = str(h.get("model", "?"))
        vals = {m: float(h.get("metrics", {}).get(m, math.nan)) for m in metrics}
        points.append((label, vals))
    seen = {p[0] for p in points}
    for role in ROLES:
        if role not in d.models:
            continue
        label = d.models[role]
        if label in seen:
            continue
        vals = {}
        for m in metrics:
            if role == "candidate":
                c = d.check("baseline", m, "overall") or d.check("reference", m, "overall")
                vals[m] = c.candidate_value if c else math.nan
            else:
                c = d.check(role, m, "overall")
                vals[m] = c.baseline_value if c else math.nan
        if not any(math.isfinite(v) for v in vals.values()):
            continue
        seen.add(label)
        points.append((label, vals))
    return points


def history_plot(d: ReportData, points: Sequence[tuple[str, Mapping[str, float]]], metrics: Sequence[str]) -> bytes | None:
    if len(points) < 2 or not metrics:
        return None
    plt = _plt()
    n = len(metrics)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 0.4, 2.3 * rows), squeeze=False)
    labels = [p[0] for p in points]
    for ax, m in zip(axes.flat, metrics):
        k = _scale(d, m)
        ys = [p[1].get(m, math.nan) * k for p in points]
        ax.plot(range(len(points)), ys, marker="o", color="#444", lw=1.5)
        ax.plot([len(points) - 1], [ys[-1]], marker="o", ms=8, color=COLORS["candidate"])
        for i, y in enumerate(ys):
            if math.isfinite(y):
                ax.annotate(f"{y:.1f}" if k == 100 or abs(y) >= 10 else f"{y:.3g}", (i, y), xytext=(0, 6),
                            textcoords="offset points", ha="center", fontsize=7)
        ax.set_xticks(range(len(points)))
        ax.set_xticklabels([lb.split("@")[-1] if "@" in lb else lb for lb in labels], fontsize=7.5)
        ax.set_title(m + (" (%)" if k == 100 else f" ({d.units[m]})" if m in d.units else ""), fontsize=9, loc="left")
        ax.tick_params(axis="y", labelsize=7.5)
        ax.margins(x=0.15, y=0.25)
        ax.grid(axis="y", color="#eee")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    name = labels[-1].split("@")[0] if "@" in labels[-1] else ""
    fig.suptitle(f"headline metrics across versions{f' of {name}' if name else ''} (mean over the suite)",
                 fontsize=10, x=0.01, ha="left")
    fig.tight_layout()
    return _png(fig)


def headline_metrics(d: ReportData, wanted: Sequence[str] | None = None, limit: int = 4) -> list[str]:
    if wanted:
        return list(wanted)[:limit]
    blocking = []
    for c in d.checks:
        if c.blocking and c.metric not in blocking:
            blocking.append(c.metric)
    out = ([d.key_metric] if d.key_metric else []) + [m for m in blocking if m != d.key_metric]
    for m in d.metrics():
        if m not in out:
            out.append(m)
    return out[:limit]
