"""The "model metric vs system metric" panel: formats the panels simtest.judging.modelmetrics put in
the Verdict's findings (in-the-loop model metric, closed-loop outcome and the manifests' offline
figures per slice, the rank agreement, the disagreement sentences). Computes nothing."""

from __future__ import annotations

import math
from html import escape
from typing import Any

__all__ = ["markdown_lines", "html_section", "offline_lines", "MAX_ROWS"]

MAX_ROWS = 6  # summary.md: overall, the slices with offline figures or a sentence, then the largest outcome drops
# summary.md shows the table of the first panel per pair of models (the env's first model metric)


def _num(v: float | None, binary: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    if binary:
        return f"{100 * v:.1f}%"
    return f"{v:.3g}" if abs(v) >= 1 else f"{v:.3f}"


def _pair(t: tuple | None, binary: bool = False) -> str:
    return "" if t is None else f"{_num(t[0], binary)} vs {_num(t[1], binary)}"


def _agreement(p: Any) -> str:
    if p.rank_agreement is None:
        return f"rank agreement: not computable ({p.rank_slices} slices with both deltas, at least 3 that vary needed)"
    word = "agree" if p.agree else "disagree"
    return (f"rank agreement of {p.metric} and {p.outcome} deltas across {p.rank_slices} slices: Spearman "
            f"rho {p.rank_agreement:+.2f} ({word})")


def _rows(p: Any, limit: int | None) -> list:
    rows = list(p.rows)
    if limit is None or len(rows) <= limit:
        return rows
    said = {r.slice for r in rows if any(f" {_where(r.slice)} " in s for s in p.sentences)}
    first = [r for r in rows if r.slice == "overall" or r.offline is not None or r.slice in said]
    rest = sorted((r for r in rows if r not in first), key=lambda r: -abs(r.outcome_worse)
                  if math.isfinite(r.outcome_worse) else 0.0)
    keep = {id(r) for r in (first + rest)[:limit]}
    return [r for r in rows if id(r) in keep]


def _where(slice_name: str) -> str:
    value = slice_name.split("=", 1)[1] if "=" in slice_name and not slice_name.startswith("tag:") else None
    return "overall" if slice_name == "overall" else (f"at {value}" if value is not None else f"in {slice_name}")


def _headers(p: Any) -> list[str]:
    h = ["slice", "n"]
    if any(r.offline is not None for r in p.rows):
        h.append(f"offline {p.score_name} (cand vs comp)")
    h.append(f"in-the-loop {p.score_name}")
    if p.objective:
        h.append(p.objective)
    h.append(p.outcome)
    return h


def _cells(p: Any, r: Any) -> list[str]:
    binary = p.outcome_kind == "binary"
    c = [r.slice, str(r.n)]
    if any(x.offline is not None for x in p.rows):
        c.append(_pair(r.offline) or "-")
    c.append(_pair(r.model))
    if p.objective:
        c.append(_pair(r.objective) or "-")
    c.append(_pair(r.outcome, binary))
    return c


def markdown_lines(d: Any) -> list[str]:
    """Lines for summary.md ([] when the verdict carries no model-metric panel)."""
    panels = tuple(getattr(d, "model_metrics", ()) or ())
    if not panels:
        return []
    from simtest.report.markdown import md_text

    lines = ["", "**Model metric vs system metric** (in-the-loop: the frames the model met in closed loop; "
             "each cell candidate vs comparator)"]
    tabled: set[tuple[str, str]] = set()
    for p in panels:
        better = "lower" if p.better == "lower" else "higher"
        lines += ["", f"*{md_text(p.metric)}* ({md_text(p.score_name)}, {better} is better): "
                  f"{md_text(p.candidate)} vs {md_text(p.comparator)}; {md_text(_agreement(p))}"]
        for s in p.sentences:
            lines.append(f"- **{md_text(s)}**")
        if not p.sentences:
            lines.append("- no slice where the offline figures or the training objective disagree with the outcome")
        pair = (p.candidate, p.comparator)
        if pair in tabled:  # one table per pair of models keeps the comment short; report.html has them all
            continue
        tabled.add(pair)
        head = _headers(p)
        lines += ["", "| " + " | ".join(md_text(h, table=True) for h in head) + " |",
                  "|" + "|".join("---" if i == 0 else "--:" for i in range(len(head))) + "|"]
        for r in _rows(p, MAX_ROWS):
            lines.append("| " + " | ".join(md_text(c, table=True) for c in _cells(p, r)) + " |")
        if len(p.rows) > MAX_ROWS:
            lines.append(f"| ... {len(p.rows) - MAX_ROWS} more slices in report.html |" + " |" * (len(head) - 1))
    return lines


def html_section(d: Any) -> str:
    """The HTML section ('' when the verdict carries no model-metric panel)."""
    panels = tuple(getattr(d, "model_metrics", ()) or ())
    if not panels:
        return ""
    parts = ["<h2 id='model-metrics'>Model metric vs system metric</h2><p class='muted'>In-the-loop model "
             "metrics score the model's own predictions (the agent's diagnostics) against the env's ground truth "
             "on the frames it met in closed loop; offline figures are the manifests' <code>training.val_*</code>. "
             "Each cell: candidate vs comparator.</p>"]
    for p in panels:
        better = "lower" if p.better == "lower" else "higher"
        parts.append(f"<h3>{escape(p.metric)}: {escape(p.candidate)} vs {escape(p.comparator)}</h3>"
                     f"<p>{escape(p.score_name)}, {better} is better. {escape(_agreement(p).capitalize())}.</p>")
        if p.sentences:
            parts.append("<ul class='reasons'>" + "".join(f"<li><b>{escape(s)}</b></li>" for s in p.sentences)
                         + "</ul>")
        head = "".join(f"<th>{escape(h)}</th>" for h in _headers(p))
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in _cells(p, r)) + "</tr>" for r in p.rows)
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    return "\n".join(parts)


def offline_lines(evaluations: Any) -> list[str]:
    """`simtest evaluate-offline`'s table (markdown): per model metric, each model's value per slice on
    the same frames, beside the manifests' own offline figure where they carry one."""
    from simtest.report.markdown import md_text

    lines: list[str] = []
    for e in evaluations:
        better = "lower" if e.better == "lower" else "higher"
        lines += [f"**{md_text(e.metric)}** ({md_text(e.score_name)}, {better} is better) on the same frames for every "
                  f"model: every episode driven by {md_text(e.driver)}", ""]
        head = ["slice", "n"] + [f"{m}" for m in e.models]
        has_offline = any(v is not None for r in e.rows for v in r.offline)
        if has_offline:
            head += [f"{m} manifest" for m in e.models]
        lines += ["| " + " | ".join(md_text(h, table=True) for h in head) + " |",
                  "|---|" + "--:|" * (len(head) - 1)]
        for r in e.rows:
            cells = [r.slice, str(r.n)] + [_num(v) for v in r.values]
            if has_offline:
                cells += ["-" if v is None else _num(v) for v in r.offline]
            lines.append("| " + " | ".join(md_text(c, table=True) for c in cells) + " |")
        lines.append("")
    return lines
