"""The behaviour section of summary.md and report.html: each behavioural test per model version
with its decision and bounds, the tests the candidate newly violates, the failing cases of minimum
functionality tests with their replay commands, and, in the HTML, the GIFs of both members of the
worst violating pair side by side.

The renderers receive the gate's ReportData only, so the behaviour results reach them through
`attached(...)`, a context manager the wiring puts around write_reports (a ContextVar: nothing
leaks into a later report). Formatting only: every number here was computed by judging."""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Iterator, Mapping

__all__ = ["attached", "markdown_lines", "html_section", "MAX_LISTED"]

MAX_LISTED = 10  # failing cases listed per test in summary.md
MAX_PAIRS = 2  # tests whose worst violating pair gets GIFs


@dataclass(frozen=True)
class _Section:
    behaviour: Any
    verdict: Any
    gifs: dict = field(default_factory=dict)  # (test, slice) -> [(caption, gif bytes), ...]
    notes: tuple = ()


_CURRENT: contextvars.ContextVar[_Section | None] = contextvars.ContextVar("simtest_behaviour_section", default=None)


@contextlib.contextmanager
def attached(behaviour: Any, verdict: Any, out: Path, models: Mapping[str, Any], *, videos: int = 0) -> Iterator[None]:
    """Make `behaviour` (a judging.behaviour.BehaviourVerdict, or None) the section the renderers
    draw while the block runs. With `videos` > 0, re-run both members of the worst violating
    pair of up to MAX_PAIRS candidate violations and write their GIFs into `out`."""
    if behaviour is None:
        token = _CURRENT.set(None)
    else:
        gifs, notes = _pair_gifs(behaviour, verdict, Path(out), models) if videos > 0 else ({}, ())
        token = _CURRENT.set(_Section(behaviour, verdict, gifs, notes))
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _pair_gifs(behaviour: Any, verdict: Any, out: Path, models: Mapping[str, Any]) -> tuple[dict, tuple]:
    cases = getattr(verdict, "behaviour_cases", {}) or {}
    model = models.get("candidate")
    out_gifs: dict = {}
    notes: list[str] = []
    bad = [r for r in behaviour.for_role("candidate") if r.decision in ("fail", "warn") and r.worst][:MAX_PAIRS]
    for r in bad:
        shown = []
        for j, cid in enumerate(r.worst):
            case = cases.get(cid)
            if case is None or model is None:
                continue
            try:
                from simtest.report.videos import render_failure_gif

                path = out / f"behaviour-{r.test}-{j}-{cid}.gif"
                render_failure_gif(case, model, path, size=128, max_frames=30)
                shown.append((_member_caption(r, case), path.read_bytes()))
            except Exception as exc:  # noqa: BLE001 - a picture must never break the report
                notes.append(f"no GIF for {r.test} case {cid}: {type(exc).__name__}: {exc}")
        if shown:
            out_gifs[(r.test, r.slice)] = shown
    return out_gifs, tuple(notes)


def _member_caption(r: Any, case: Any) -> str:
    if r.kind == "minimum":
        return f"{case.case_id}: {case.scenario}"
    return f"{r.param}={case.params.get(r.param)!r} (case {case.case_id})"


def _num(x: Any, pct: bool) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    if not math.isfinite(v):
        return "-"
    return f"{v * 100:+.1f} pt" if pct else f"{v:+.3f}"


def _rate(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return "-"
    return f"{v:.1%}" if math.isfinite(v) else "-"


def _estimate(r: Any) -> tuple[str, str, str]:
    """estimate, bounds and margin of one result, in words a reader of the table expects."""
    binary = bool(getattr(r, "binary", True))
    if r.kind == "minimum":
        return _rate(r.delta), f"[{_rate(r.lower)}, {_rate(r.upper)}]", f">= {_rate(r.at_least)}"
    bounds = f"[{_num(r.lower, binary)}, {_num(r.upper, binary)}]"
    if r.kind == "invariance":
        return _num(r.delta, binary), bounds, f"±{r.margin:g}"
    return _num(r.delta, binary), bounds, f"{r.expect.replace('_', ' ')}, tol {r.margin:g}"


ICON = {"pass": "✅", "fail": "❌", "warn": "⚠️", "undecided": "❔", "too_small": "·"}


def markdown_lines(d: Any = None) -> list[str]:
    """Lines for summary.md ([] when the gate has no behaviour section)."""
    sec = _CURRENT.get()
    if sec is None:
        return []
    b = sec.behaviour
    cand = b.for_role("candidate")
    bad = [r for r in cand if r.decision == "fail"]
    lines = ["", f"**Behavioural tests: {len(bad)} violated by the candidate** ({b.notes[0] if b.notes else ''})", "",
             "| version | test | slice | n | estimate | bounds | margin | decision | blocking |",
             "|---|---|---|--:|--:|---|---|---|---|"]
    order = {"fail": 0, "warn": 1, "undecided": 2, "too_small": 3, "pass": 4}
    rows = sorted(b.results, key=lambda r: (r.role != "candidate", order.get(r.decision, 9), r.test, r.slice != "overall"))
    for r in rows:
        est, bounds, margin = _estimate(r)
        lines.append(f"| {r.model} | {r.test} ({r.kind}) | {r.slice} | {r.n} | {est} | {bounds} | {margin} | "
                     f"{ICON.get(r.decision, '')} {r.decision} | {'yes' if r.blocking else 'diagnostic'} |")
    if b.newly_violated:
        lines += ["", "Newly violated (the baseline met them): " + "; ".join(b.newly_violated)]
    for r in cand:
        if r.decision in ("fail", "warn"):
            lines.append(f"- {r.statement}")
        if r.failures:
            lines.append(f"  - {len(r.failures)} failing case(s) of {r.test}; replay:")
            for cid in r.failures[:MAX_LISTED]:
                lines.append(f"    - `{_replay(sec, cid)}`")
            if len(r.failures) > MAX_LISTED:
                lines.append(f"    - ... {len(r.failures) - MAX_LISTED} more in verdict.json")
        elif r.decision in ("fail", "warn") and r.worst:
            lines.append("  - worst pair: " + " vs ".join(f"`{_replay(sec, cid)}`" for cid in r.worst))
    return lines


def _replay(sec: _Section, case_id: str) -> str:
    rc = getattr(sec.verdict, "replay_command", None)
    return rc("candidate", case_id) if rc else f"simtest replay {case_id}"


def html_section(d: Any = None) -> str:
    """The HTML section ('' when the gate has no behaviour section)."""
    sec = _CURRENT.get()
    if sec is None:
        return ""
    b = sec.behaviour
    head = ("<tr><th>version</th><th>test</th><th>kind</th><th>slice</th><th>n</th><th>estimate</th><th>bounds</th>"
            "<th>margin</th><th>p (adj.)</th><th>decision</th><th>blocking</th></tr>")
    body = []
    for r in b.results:
        est, bounds, margin = _estimate(r)
        padj = f"{r.p_adjusted:.3g}" if isinstance(r.p_adjusted, float) and math.isfinite(r.p_adjusted) else "-"
        body.append(f"<tr title='{escape(r.statement)}'><td>{escape(r.model)}</td><td>{escape(r.test)}</td>"
                    f"<td>{escape(r.kind)}</td><td>{escape(r.slice)}</td><td>{r.n}</td><td>{escape(est)}</td>"
                    f"<td>{escape(bounds)}</td><td>{escape(margin)}</td><td>{padj}</td>"
                    f"<td><span class='dec {escape(r.decision)}'>{escape(r.decision)}</span></td>"
                    f"<td>{'yes' if r.blocking else 'diagnostic'}</td></tr>")
    parts = [f"<h2 id='behaviour'>Behavioural tests</h2><p class='muted'>{escape(' '.join(b.notes))}. Invariance: "
             "paired difference variant minus base, TOST within ±margin; directional: move in the forbidden direction, "
             "one-sided; minimum: pass rate with exact binomial bounds.</p>",
             f"<table>{head}{''.join(body)}</table>"]
    if b.newly_violated:
        parts.append("<p><b>Newly violated</b> (the baseline met them): " + escape("; ".join(b.newly_violated)) + "</p>")
    items = []
    for r in b.for_role("candidate"):
        if r.decision not in ("fail", "warn"):
            continue
        txt = f"<li>{escape(r.statement)}"
        if r.failures:
            txt += "<ul>" + "".join(f"<li><code>{escape(_replay(sec, c))}</code></li>" for c in r.failures[:50]) + "</ul>"
        elif r.worst:
            txt += "<ul>" + "".join(f"<li><code>{escape(_replay(sec, c))}</code></li>" for c in r.worst) + "</ul>"
        pics = sec.gifs.get((r.test, r.slice))
        if pics:
            import base64

            cells = "".join(f"<figure style='display:inline-block;margin:4px'><img alt='{escape(cap)}' "
                            f"src='data:image/gif;base64,{base64.b64encode(data).decode()}'>"
                            f"<figcaption>{escape(cap)}</figcaption></figure>" for cap, data in pics)
            txt += f"<div class='pair'>{cells}</div>"
        items.append(txt + "</li>")
    if items:
        parts.append("<ul>" + "".join(items) + "</ul>")
    if sec.notes:
        parts.append("<ul class='muted'>" + "".join(f"<li>{escape(n)}</li>" for n in sec.notes) + "</ul>")
    return "\n".join(parts)
