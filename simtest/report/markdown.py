"""Summary.md, sized for a pull-request comment: the verdict and why, the blocking checks
that did not pass, the key metric per slice, then new failures with their replay commands."""

from __future__ import annotations

from simtest.report._data import (
    DECISION_ORDER, CheckView, ReportData, fmt_delta, fmt_interval, fmt_margin, fmt_params, fmt_value,
)

__all__ = ["render_summary", "verdict_line", "why_line"]

ICON = {"pass": "✅", "fail": "❌", "invalid": "⚠️", "undecided": "❔", "warn": "⚠️", "too_small": "·"}
MAX_PROBLEMS = 8
MAX_SLICES = 10
MAX_FAILURES = 6


def verdict_line(d: ReportData) -> str:
    return f"{ICON.get(d.verdict, '')} **{d.verdict.upper()}**".strip()


def why_line(d: ReportData) -> str:
    """One line that says why the verdict is what it is."""
    bad = d.problems()
    if d.verdict == "invalid" or (d.verdict == "fail" and not bad):
        first = next((r for r in d.reasons if "invalid" in r), d.reasons[0] if d.reasons else f"verdict {d.verdict}")
        more = f" (+{len(d.reasons) - 1} more)" if len(d.reasons) > 1 else ""
        return first + more
    if bad and d.verdict == "fail":
        c = bad[0]
        more = f"; {len(bad) - 1} more blocking checks not passed" if len(bad) > 1 else ""
        return f"{c.metric} on {c.slice} vs {c.comparison}: {_effect(d, c)}{more}"
    blocking = [c for c in d.checks if c.blocking]
    if blocking:
        return f"all {len(blocking)} blocking checks passed non-inferiority against the baseline and reference"
    return "no blocking check regressed"


def _effect(d: ReportData, c: CheckView) -> str:
    b = d.is_binary(c.metric)
    u = d.units.get(c.metric, "")
    if c.decision == "too_small":
        need = f", needs about {c.needed_n} pairs" if c.needed_n else ""
        return f"too small to judge (n={c.n}{need})"
    margin = f", margin {fmt_margin(c.margin, b, u)}" if c.margin == c.margin else ""
    return f"Δ {fmt_delta(c.delta, b, u)}, bounds {fmt_interval(c.lower, c.upper, b)}{margin} ({c.decision})"


def _role_label(d: ReportData, role: str) -> str:
    return f"`{d.models[role]}`" if role in d.models else role


def render_summary(d: ReportData, links: dict[str, str] | None = None) -> str:
    lines: list[str] = []
    lines.append(f"### simtest gate: {verdict_line(d)}: {why_line(d)}")
    lines.append("")
    vs = [f"candidate {_role_label(d, 'candidate')}", f"baseline {_role_label(d, 'baseline')}"]
    if "reference" in d.models:
        vs.append(f"reference {_role_label(d, 'reference')}")
    lines.append(" vs ".join(vs[:2]) + (f" and {vs[2]}" if len(vs) > 2 else "")
                 + f"; {d.n_cases} cases, {d.bounds_note}. Δ > 0 means the candidate is worse.")
    bad = d.problems()
    if not bad:  # otherwise the table below says the same as the comparator's reasons
        for r in d.reasons[1:4]:
            lines.append(f"- {r}")
    if d.scenario_changes:
        lines.append(f"- {len(d.scenario_changes)} scenario(s) changed since the baseline run: not compared (see report.html)")

    if bad:
        lines += ["", f"**Blocking checks not passed ({len(bad)})**", "",
                  "| comparison | metric | slice | n | Δ | interval | margin | decision |", "|---|---|---|--:|--:|---|--:|---|"]
        for c in bad[:MAX_PROBLEMS]:
            b, u = d.is_binary(c.metric), d.units.get(c.metric, "")
            lines.append(f"| vs {c.comparison} | {c.metric} | {c.slice} | {c.n} | {fmt_delta(c.delta, b, u)} | "
                         f"{fmt_interval(c.lower, c.upper, b)} | {fmt_margin(c.margin, b, u)} | {ICON.get(c.decision, '')} {c.decision} |")
        if len(bad) > MAX_PROBLEMS:
            lines.append(f"| ... | {len(bad) - MAX_PROBLEMS} more in report.html | | | | | | |")

    lines += _overall_table(d)
    lines += _slice_table(d)
    lines += _failures(d)
    from simtest.report.behaviour import markdown_lines  # the behaviour section, when the gate has one

    lines += markdown_lines(d)
    if links:
        lines += ["", "Files: " + " · ".join(f"[{name}]({path})" for name, path in links.items())]
    return "\n".join(lines) + "\n"


def _overall_table(d: ReportData) -> list[str]:
    """Every judged metric overall, passes and improvements included: a trade (more clicks, less
    engagement) must be visible at a glance, not only the checks that failed."""
    metrics = list(dict.fromkeys(c.metric for c in d.checks if c.slice == "overall"))
    if not metrics:
        return []
    has_ref = any(c.comparison == "reference" for c in d.checks)
    head = "| metric |" + (" ref |" if has_ref else "") + " base | cand | Δ vs base | decision |"
    sep = "|---|" + ("--:|" if has_ref else "") + "--:|--:|--:|---|"
    out = ["", "**Overall, every judged metric** (Δ > 0: candidate worse)", "", head, sep]
    for m in metrics:
        cb, cr = d.check("baseline", m, "overall"), d.check("reference", m, "overall")
        any_c = cb or cr
        b, u = d.is_binary(m), d.units.get(m, "")
        row = f"| {m}{' (blocking)' if any_c and any_c.blocking else ''} |"
        if has_ref:
            row += f" {fmt_value(cr.baseline_value, b, u) if cr else ''} |"
        row += (f" {fmt_value(cb.baseline_value, b, u) if cb else ''} | {fmt_value(any_c.candidate_value, b, u) if any_c else ''} |"
                f" {fmt_delta(cb.delta, b, u) if cb else ''} |")
        decisions = [c.decision for c in (cb, cr) if c is not None]
        worst = min(decisions, key=lambda x: DECISION_ORDER.get(x, 9)) if decisions else ""
        row += f" {ICON.get(worst, '')} {worst} |"
        out.append(row)
    return out


def _slice_table(d: ReportData) -> list[str]:
    m = d.key_metric
    if m is None or not any(c.metric == m for c in d.checks):
        return []
    b, u = d.is_binary(m), d.units.get(m, "")
    has_ref = any(c.comparison == "reference" and c.metric == m for c in d.checks)
    slices = d.slices(m)

    def rank(s: str) -> tuple:
        cs = [c for c in d.checks if c.metric == m and c.slice == s]
        worst = min((DECISION_ORDER.get(c.decision, 9) for c in cs), default=9)
        return (s != "overall", worst, slices.index(s))

    shown = sorted(slices, key=rank)[:MAX_SLICES]
    shown.sort(key=slices.index)  # keep the comparator's order among the shown rows
    head = "| slice | n |" + (" ref |" if has_ref else "") + " base | cand | Δ vs base [bounds] |" + (" Δ vs ref [bounds] |" if has_ref else "") + " decision |"
    sep = "|---|--:|" + ("--:|" if has_ref else "") + "--:|--:|---|" + ("---|" if has_ref else "") + "---|"
    out = ["", f"**{m} per slice**" + (" (rates; Δ in percentage points)" if b else ""), "", head, sep]
    for s in shown:
        cb = d.check("baseline", m, s)
        cr = d.check("reference", m, s)
        any_c = cb or cr
        row = f"| {s} | {any_c.n if any_c else ''} |"
        if has_ref:
            row += f" {fmt_value(cr.baseline_value, b, u) if cr else ''} |"
        row += f" {fmt_value(cb.baseline_value, b, u) if cb else ''} | {fmt_value(any_c.candidate_value, b, u) if any_c else ''} |"
        row += f" {_cell(cb, b, u)} |"
        if has_ref:
            row += f" {_cell(cr, b, u)} |"
        decisions = [c.decision for c in (cb, cr) if c is not None]
        worst = min(decisions, key=lambda x: DECISION_ORDER.get(x, 9)) if decisions else ""
        row += f" {ICON.get(worst, '')} {worst} |"
        out.append(row)
    if len(slices) > len(shown):
        out.append(f"\n{len(slices) - len(shown)} more slices in report.html.")
    return out


def _cell(c: CheckView | None, b: bool, u: str) -> str:
    if c is None:
        return ""
    if c.decision == "too_small":
        return "too small" + (f" (needs n≈{c.needed_n})" if c.needed_n else "")
    return f"{fmt_delta(c.delta, b, u)} {fmt_interval(c.lower, c.upper, b)}"


def _failures(d: ReportData) -> list[str]:
    if not d.failures:
        return ["", "**New failures:** none (no case that passed under the baseline fails now)."]
    out = ["", f"**New failures ({len(d.failures)}): passed under the baseline, fail now**", ""]
    for f in d.failures[:MAX_FAILURES]:
        what = ", ".join(f.failed) if f.failed else f.outcome
        params = fmt_params(f.params, d.varying_params)
        out.append(f"- `{f.case_id}` {f.scenario} ({params}) failed {what}: `{f.replay}`")
    if len(d.failures) > MAX_FAILURES:
        out.append(f"- ... {len(d.failures) - MAX_FAILURES} more in report.html")
    return out
