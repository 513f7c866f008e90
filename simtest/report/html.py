"""Report.html, one self-contained file (figures as base64 PNG, GIFs inline, CSS inline,
no external URL) that a reviewer can open from a CI artifact or attach anywhere."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from html import escape
from typing import Mapping, Sequence

from simtest.report._data import (
    DECISION_ORDER, CheckView, ReportData, fmt_delta, fmt_interval, fmt_margin, fmt_params, fmt_value,
)
from simtest.report.markdown import region_text, why_line

__all__ = ["Figure", "render_html"]


@dataclass(frozen=True)
class Figure:
    anchor: str
    title: str
    caption: str
    png: bytes | None
    missing: str = ""  # why there is no figure (shown instead of it)


CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;color:#1d2329;margin:0;background:#f6f7f9}
main{max-width:1080px;margin:0 auto;padding:24px 28px 48px;background:#fff;min-height:100vh}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:30px 0 8px;padding-bottom:4px;border-bottom:1px solid #e3e6ea}
.badge{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:700;letter-spacing:.04em;margin-right:8px}
.pass{background:#2e7d32}.fail{background:#c62828}.invalid{background:#6d4c41}
.why{font-size:15px;margin:8px 0 4px}.muted{color:#5f6b76}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:12.5px}
th,td{padding:4px 8px;border-bottom:1px solid #eceff2;text-align:left;vertical-align:top}
th{background:#f3f5f7;font-weight:600;white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.d-fail td{background:#fdecea}tr.d-undecided td{background:#fff8e1}tr.d-warn td{background:#fff3e0}tr.d-too_small td{color:#777}
.dec{font-weight:600}.dec-fail{color:#c62828}.dec-undecided{color:#8d6e00}.dec-warn{color:#e65100}.dec-pass{color:#2e7d32}.dec-too_small{color:#777}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f5f7;padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}
code.id{white-space:nowrap}
figure{margin:12px 0 20px}figure img{max-width:100%;height:auto;display:block}figcaption{font-size:12px;color:#5f6b76;margin-top:4px}
.gifs{display:flex;flex-wrap:wrap;gap:16px}.gifs figure{margin:0;max-width:100%}
nav a{margin-right:12px;color:#1565c0;text-decoration:none;font-size:13px}
details summary{cursor:pointer;color:#1565c0;margin:6px 0}
ul.reasons{margin:6px 0 0 0;padding-left:20px}
"""

# Runs after load: a headless browser (and the e2e test) reads whether every figure decoded.
CHECK_SCRIPT = """
window.addEventListener("load",function(){var imgs=Array.prototype.slice.call(document.images);
var bad=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0);});
document.body.setAttribute("data-figures",imgs.length+" images, "+bad.length+" broken");});
"""


def _img(data: bytes, mime: str, alt: str, width: int | None = None) -> str:
    w = f' width="{width}"' if width else ""
    return f'<img alt="{escape(alt)}"{w} src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}">'


def _dec(decision: str) -> str:
    return f'<span class="dec dec-{escape(decision)}">{escape(decision.replace("_", " "))}</span>'


def _check_row(d: ReportData, c: CheckView, full: bool) -> str:
    b, u = d.is_binary(c.metric), d.units.get(c.metric, "")
    cells = [escape(f"vs {c.comparison}"), escape(c.metric), escape(c.slice), f'<td class="num">{c.n}']
    row = f'<tr class="d-{escape(c.decision)}"><td>' + "</td><td>".join(cells[:3]) + "</td>" + cells[3] + "</td>"
    if full:
        row += f'<td class="num">{escape(fmt_value(c.candidate_value, b, u))}</td><td class="num">{escape(fmt_value(c.baseline_value, b, u))}</td>'
    row += (f'<td class="num">{escape(fmt_delta(c.delta, b, u))}</td><td class="num">{escape(fmt_interval(c.lower, c.upper, b))}</td>'
            f'<td class="num">{escape(fmt_margin(c.margin, b, u))}</td>')
    if full:
        p = f"{c.p_value:.3g}" if math.isfinite(c.p_value) else "n/a"
        row += f'<td class="num">{p}</td><td>{"yes" if c.blocking else ""}</td>'
    note = c.note
    if c.decision == "too_small" and c.needed_n:
        note = (note + "; " if note else "") + f"needs n≈{c.needed_n}"
    row += f"<td>{_dec(c.decision)}</td><td>{escape(note)}</td></tr>"
    return row


def _checks_table(d: ReportData, checks: Sequence[CheckView], full: bool) -> str:
    head = ["comparison", "metric", "slice", "n"] + (["candidate", "other"] if full else []) + ["Δ", "bounds", "margin"]
    head += (["p", "blocking"] if full else []) + ["decision", "note"]
    rows = "".join(_check_row(d, c, full) for c in checks)
    return "<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr></thead><tbody>{rows}</tbody></table>"


def _slice_table(d: ReportData) -> str:
    m = d.key_metric
    if m is None or not any(c.metric == m for c in d.checks):
        return ""
    b, u = d.is_binary(m), d.units.get(m, "")
    rows = []
    for s in d.slices(m):
        cb, cr = d.check("baseline", m, s), d.check("reference", m, s)
        any_c = cb or cr
        decisions = [c.decision for c in (cb, cr) if c]
        worst = min(decisions, key=lambda x: DECISION_ORDER.get(x, 9)) if decisions else ""

        def cell(c: CheckView | None) -> str:
            if c is None:
                return '<td class="num"></td>'
            if c.decision == "too_small":
                return f'<td class="num">too small{f" (n≈{c.needed_n})" if c.needed_n else ""}</td>'
            return f'<td class="num">{escape(fmt_delta(c.delta, b, u))} {escape(fmt_interval(c.lower, c.upper, b))}</td>'

        rows.append(
            f'<tr class="d-{escape(worst)}"><td>{escape(s)}</td><td class="num">{any_c.n if any_c else ""}</td>'
            f'<td class="num">{escape(fmt_value(cr.baseline_value, b, u)) if cr else ""}</td>'
            f'<td class="num">{escape(fmt_value(cb.baseline_value, b, u)) if cb else ""}</td>'
            f'<td class="num">{escape(fmt_value(any_c.candidate_value, b, u)) if any_c else ""}</td>'
            f"{cell(cb)}{cell(cr)}<td>{_dec(worst) if worst else ''}</td></tr>"
        )
    head = ("<tr><th>slice</th><th>n</th><th>reference</th><th>baseline</th><th>candidate</th>"
            "<th>Δ vs baseline [bounds]</th><th>Δ vs reference [bounds]</th><th>decision</th></tr>")
    return (f"<h2 id='slices'>{escape(m)} per slice</h2><p class='muted'>Δ &gt; 0 means the candidate is worse"
            f"{'; rates in %, Δ in percentage points' if b else ''}.</p>"
            f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>")


def _failures(d: ReportData, gifs: Mapping[str, bytes], limit: int = 50) -> str:
    if not d.failures:
        return "<h2 id='failures'>New failures</h2><p>None: no case that passed under the baseline fails under the candidate.</p>"
    rows = []
    for f in d.failures[:limit]:
        rows.append(
            f"<tr><td><code class='id'>{escape(f.case_id)}</code></td><td>{escape(f.scenario)}</td>"
            f"<td>{escape(fmt_params(f.params, d.varying_params, limit=6))}</td><td class='num'>{'' if f.seed is None else f.seed}</td>"
            f"<td>{escape(f.outcome)}</td><td>{escape(', '.join(f.failed))}</td><td><code>{escape(f.replay)}</code></td></tr>"
        )
    more = f"<p class='muted'>{len(d.failures) - limit} more not shown; see verdict.json.</p>" if len(d.failures) > limit else ""
    out = (f"<h2 id='failures'>New failures ({len(d.failures)})</h2><p class='muted'>Cases that passed under the baseline "
           "and fail under the candidate, worst first. Each line's command replays the episode.</p>"
           "<table><thead><tr><th>case</th><th>scenario</th><th>params</th><th>seed</th><th>outcome</th>"
           f"<th>failed</th><th>replay</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{more}")
    shown = [f for f in d.failures if f.case_id in gifs]
    if shown:
        items = "".join(
            f"<figure>{_img(gifs[f.case_id], 'image/gif', f'replay of {f.case_id}')}<figcaption><code>{escape(f.case_id)}</code> "
            f"{escape(f.scenario)}: {escape(', '.join(f.failed) or f.outcome)}</figcaption></figure>"
            for f in shown
        )
        out += f"<h2 id='videos'>Worst new failures, replayed</h2><p class='muted'>Candidate {escape(d.models.get('candidate', ''))}; on-board camera and top-down view.</p><div class='gifs'>{items}</div>"
    return out


def _models_table(d: ReportData) -> str:
    rows = []
    for role in ("candidate", "baseline", "reference"):
        if role not in d.models and role not in d.runs:
            continue
        counts = d.outcome_counts.get(role, {})
        n = sum(v for k, v in counts.items() if k != "passed")
        outcome = ", ".join(f"{k} {v}" for k, v in counts.items() if k not in ("passed",)) or ""
        infra = d.infra.get(role)
        infra_s = ", ".join(f"{k}={_short(v)}" for k, v in infra.items()) if isinstance(infra, dict) else (str(infra) if infra else "")
        rows.append(f"<tr><td>{role}</td><td style='white-space:nowrap'><b>{escape(d.models.get(role, ''))}</b></td><td><code>{escape(d.runs.get(role, ''))}</code></td>"
                    f"<td class='num'>{n or ''}</td><td class='num'>{counts.get('passed', '')}</td><td>{escape(outcome)}</td><td>{escape(infra_s)}</td></tr>")
    return ("<table><thead><tr><th>role</th><th>model</th><th>run</th><th>episodes</th><th>passed</th><th>outcomes</th>"
            f"<th>infrastructure</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _short(v: object) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def render_html(d: ReportData, figures: Sequence[Figure], gifs: Mapping[str, bytes] | None = None,
                notes: Sequence[str] = (), title: str = "simtest gate report") -> str:
    gifs = gifs or {}
    bad = d.problems()
    warn = [c for c in d.checks if c.decision in ("warn", "fail", "undecided") and not c.blocking]
    sections = [
        f"<h1><span class='badge {escape(d.verdict)}'>{escape(d.verdict.upper())}</span>{escape(title)}</h1>",
        f"<p class='why'>{escape(why_line(d))}</p>",
    ]
    vs = " vs ".join(f"{r} <b>{escape(d.models[r])}</b>" for r in ("candidate", "baseline", "reference") if r in d.models)
    sections.append(f"<p class='muted'>{vs}; {d.n_cases} cases; {escape(d.bounds_note)}. Δ is the regression: "
                    "positive means the candidate is worse.</p>")
    if len(d.reasons) > 1 or (d.reasons and d.verdict == "invalid"):
        items = "<ul class='reasons'>" + "".join(f"<li>{escape(r)}</li>" for r in d.reasons) + "</ul>"
        # the blocking table below repeats a regression's reasons; other reasons are shown open
        sections.append(f"<details><summary>all {len(d.reasons)} reasons</summary>{items}</details>" if bad else items)
    links = [("blocking", "blocking checks"), ("regions", "regions"), ("figures", "figures"), ("slices", "slices"),
             ("coverage", "coverage"), ("failures", "new failures"),
             ("checks", "all checks"), ("runs", "runs")]
    sections.append("<nav>" + "".join(f"<a href='#{a}'>{t}</a>" for a, t in links) + "</nav>")
    sections.append(f"<h2 id='blocking'>Blocking checks not passed ({len(bad)})</h2>")
    sections.append(_checks_table(d, bad, full=False) if bad else "<p>None: every blocking check passed.</p>")
    top = [r for s in d.regions for r in s.regressions()[:1]]
    if top:
        sections.append("<p><b>Top regression region:</b> " + "; ".join(
            f"vs {escape(r.comparison)}: <code>{escape(region_text(d, r))}</code>" for r in top)
            + " (<a href='#regions'>all regions</a>)</p>")
    if warn:
        sections.append(f"<details><summary>{len(warn)} non-blocking warnings (Benjamini-Hochberg, investigate)</summary>"
                        + _checks_table(d, sorted(warn, key=lambda c: DECISION_ORDER.get(c.decision, 9)), full=False) + "</details>")
    if d.scenario_changes:
        items = "".join(f"<li>{escape(str(x))}</li>" for x in d.scenario_changes)
        sections.append(f"<h2>Changed scenarios (not compared)</h2><ul>{items}</ul>")
    sections.append("<h2 id='figures'>Figures</h2>")
    for fig in figures:
        if fig.png:
            sections.append(f"<figure id='{escape(fig.anchor)}'>{_img(fig.png, 'image/png', fig.title)}"
                            f"<figcaption><b>{escape(fig.title)}.</b> {escape(fig.caption)}</figcaption></figure>")
        else:
            sections.append(f"<p class='muted' id='{escape(fig.anchor)}'><b>{escape(fig.title)}:</b> {escape(fig.missing or 'no data')}</p>")
    sections.append(_slice_table(d))
    sections.append(_regions(d))
    sections.append(_coverage(d))
    sections.append(_failures(d, gifs))
    from simtest.report.behaviour import html_section  # the behaviour section, when the gate has one

    sections.append(html_section(d))
    from simtest.report import modelmetrics  # model metric vs system metric, when the env declares one

    sections.append(modelmetrics.html_section(d))
    sorted_checks = sorted(d.checks, key=lambda c: (DECISION_ORDER.get(c.decision, 9), c.comparison, c.metric))
    sections.append(f"<h2 id='checks'>All checks ({len(d.checks)})</h2><details><summary>show the table</summary>"
                    + _checks_table(d, sorted_checks, full=True) + "</details>")
    sections.append("<h2 id='runs'>Runs</h2>" + _models_table(d))
    if notes:
        sections.append("<ul class='muted'>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    sections.append("<p class='muted'>Files: <a href='summary.md'>summary.md</a> · <a href='verdict.json'>verdict.json</a> · "
                    "<a href='junit.xml'>junit.xml</a></p>")
    body = "\n".join(s for s in sections if s)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{escape(title)}: {escape(d.verdict)}</title>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{CSS}</style></head>"
            f"<body><main>\n{body}\n</main><script>{CHECK_SCRIPT}</script></body></html>\n")


def _regions(d: ReportData) -> str:
    if not d.regions:
        return ""
    parts = ["<h2 id='regions'>Regression regions</h2><p class='muted'>Conjunctions of parameter conditions "
             "(categorical values, numeric cut points, tags) where the candidate differs from the comparator, "
             "found without being declared: every region with enough pairs is tested (paired), the false-discovery "
             "rate is controlled over all of them, a region is shown only when it differs significantly from each "
             "of its parents, and near-duplicates are folded into the region that explains them. "
             "Δ &gt; 0: candidate worse. See docs/regions.md.</p>"]
    for s in d.regions:
        b = d.is_binary(s.metric)
        u = d.units.get(s.metric, "")
        rows = []
        for r in s.regions:
            cls = "d-fail" if r.decision == "fail" else ("d-warn" if r.direction == "regression" else "d-pass")
            rows.append(
                f"<tr class='{cls}'><td>{escape(r.direction)}</td><td><code>{escape(r.rule)}</code></td>"
                f"<td class='num'>{r.n}</td><td class='num'>{escape(fmt_value(r.candidate_value, b, u))}</td>"
                f"<td class='num'>{escape(fmt_value(r.baseline_value, b, u))}</td>"
                f"<td class='num'>{escape(fmt_delta(r.delta, b, u))}</td><td class='num'>{escape(fmt_interval(r.lower, r.upper, b))}</td>"
                f"<td class='num'>{r.p_adjusted:.2g}</td><td>{escape(r.decision)}</td>"
                f"<td>{escape('; '.join(r.similar[:6]) + (' ...' if len(r.similar) > 6 else ''))}</td></tr>")
        body = "".join(rows) or f"<tr><td colspan='10'>none ({escape(s.note or 'no region passed')})</td></tr>"
        parts.append(
            f"<p>vs <b>{escape(s.comparison)}</b>, {escape(s.metric)}: {s.n_pairs} pairs, {s.examined} regions "
            f"examined (up to {s.max_depth} conditions, at least {s.min_support} pairs), {s.discoveries} discoveries "
            f"at {escape(s.fdr.upper())} q={s.q:g}; bounds at {100 * s.bounds_level:.2f}% per side (false-coverage "
            f"adjusted); {'blocking, margin ' + escape(fmt_margin(s.margin, b, u)) if s.blocking else 'diagnostic'}.</p>"
            "<table><thead><tr><th>direction</th><th>region</th><th>n</th><th>candidate</th><th>other</th><th>Δ</th>"
            "<th>bounds</th><th>adj. p</th><th>decision</th><th>also explains</th></tr></thead>"
            f"<tbody>{body}</tbody></table>")
    return "".join(parts)


def _coverage(d: ReportData) -> str:
    c = d.coverage
    if c is None:
        return ""
    rows = "".join(f"<tr><td>{escape(s)}</td><td class='num'>{v}</td><td class='num'>{t}</td>"
                   f"<td class='num'>{(100 * v / t if t else 100):.1f}%</td></tr>" for s, (v, t) in c.per_scenario.items())
    need = ""
    if c.min_pairwise:
        need = (f" Policy minimum {100 * c.min_pairwise:.0f}%: "
                + ("met." if c.sufficient else "<b>not met: the run is invalid (not a regression).</b>"))
    empty = "".join(f"<li><code>{escape(e)}</code></li>" for e in c.empty)
    more = f"<li>... {c.n_empty - len(c.empty)} more</li>" if c.n_empty > len(c.empty) else ""
    return (f"<h2 id='coverage'>Pairwise coverage</h2><p>{100 * c.share:.1f}% of the {c.cells} cells of parameter "
            f"pairs (values and buckets, per scenario) were visited by {c.cases} cases.{need} Heatmaps: "
            "<a href='#figures'>figures</a>.</p><table><thead><tr><th>scenario</th><th>visited</th><th>cells</th>"
            f"<th>share</th></tr></thead><tbody>{rows}</tbody></table>"
            + (f"<details><summary>{c.n_empty} empty cells</summary><ul>{empty}{more}</ul></details>" if c.n_empty else ""))
