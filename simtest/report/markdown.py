"""Summary.md, sized for a pull-request comment: the verdict and why, the blocking checks
that did not pass, the key metric per slice, then new failures with their replay commands."""

from __future__ import annotations

import re

from simtest.report._data import (
    DECISION_ORDER, CheckView, ReportData, fmt_delta, fmt_interval, fmt_margin, fmt_params, fmt_value,
)

__all__ = ["render_summary", "verdict_line", "why_line", "md_text", "md_code", "region_text"]

ICON = {"pass": "✅", "fail": "❌", "invalid": "⚠️", "undecided": "❔", "warn": "⚠️", "too_small": "·"}
MAX_PROBLEMS = 8
MAX_SLICES = 6  # the regions above say where; report.html has every slice
MAX_FAILURES = 6
MAX_REGIONS = 3
MAX_IMPROVEMENTS = 3
MAX_EMPTY = 3

# --------------------------------------------------------------------------- untrusted text
# Scenario ids, tags, parameter values, metric names and reasons come from files of a pull
# request. In a PR comment they must stay text: no link, image, raw HTML, mention, table break
# or new block (docs/security.md). GitHub's renderer (cmark-gfm) is the reference; the tests in
# tests/security/test_report_injection.py render summary.md with it.

# Control characters (a newline would start a new block: `<script>`, `# heading`, a table row),
# Unicode line separators and bidirectional overrides ("trojan source") become a space.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Punctuation that opens Markdown inline syntax anywhere in a line (CommonMark backslash escapes).
_INLINE = re.compile(r"([\\`*<>&|~$])")
# Brackets form a link, image or reference only as `](`, `][` or `]:`, and a task-list box only
# as a leading `[`; other brackets (the bucket slices `fog_density=[0.1,0.2)`) stay as written.
_CLOSE = re.compile(r"\](?=[(\[:])")
# `_` opens emphasis only next to a non-alphanumeric character (GFM: never inside a word).
_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
# Words that GitHub turns into links or notifications even when escaped: e-mail autolinks and
# @mentions (a@b.c, @team), URLs (x://, www.), issue and commit references (#12, org/repo#12).
_LINKISH = re.compile(r"@|://|www\.|#", re.IGNORECASE)


def md_code(text: object, *, table: bool = False) -> str:
    """`text` as one inline code span: rendered literally (no emphasis, link, HTML or mention).
    The fence is one backtick longer than the longest run of backticks inside."""
    t = _CONTROL.sub(" ", str(text))
    if table:  # GFM splits table cells on | before it sees code spans; \| keeps it in the cell
        t = t.replace("|", "\\|")
    runs = [len(m) for m in re.findall("`+", t)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if t.startswith("`") or t.endswith("`") or (t.startswith(" ") and t.endswith(" ") and t.strip()) else ""
    return f"{fence}{pad}{t}{pad}{fence}" if t else ""


def md_text(text: object, *, table: bool = False) -> str:
    """Untrusted `text` as inert Markdown prose on one line: inline syntax is backslash-escaped
    and words that GitHub would link (URLs, e-mail addresses, @mentions, #refs) become code.
    Assumes the caller puts no `(`, `[` or `:` right after it (every call here is followed by a
    space, ` |`, `)` or the end of the line), so a `]` at its end cannot close a link."""
    out = []
    for word in re.split(r"( +)", _CONTROL.sub(" ", str(text))):
        if not word.strip():
            out.append(word)
        elif _LINKISH.search(word):
            out.append(md_code(word, table=table))
        else:
            word = _UNDERSCORE.sub(r"\\_", _INLINE.sub(r"\\\1", word))
            word = _CLOSE.sub(r"\\]", word)
            out.append("\\" + word if word.startswith("[") and not "".join(out).strip() else word)
    return "".join(out)


def verdict_line(d: ReportData) -> str:
    return f"{ICON.get(d.verdict, '')} **{d.verdict.upper()}**".strip()


def why_line(d: ReportData) -> str:
    """One line that says why the verdict is what it is. Its counts come from judging's
    BlockingDecisions (`d.blocking`), the same list as the "Blocking checks not passed" table, and
    it names only the comparators that were judged."""
    g = d.blocking
    bad = d.problems()  # = g.not_passed, worst first
    holding = [c for c in bad if c.decision == "fail" or c.holds]
    n_bad = len(bad)
    if d.verdict == "invalid" or (d.verdict == "fail" and not holding):
        first = next((r for r in d.reasons if "invalid" in r), d.reasons[0] if d.reasons else f"verdict {d.verdict}")
        more = f" (+{len(d.reasons) - 1} more)" if len(d.reasons) > 1 else ""
        return first + more + (f"; {_checks(n_bad)} not passed" if n_bad else "")
    if d.verdict == "fail":
        c = holding[0]
        more = f"; {_checks(n_bad - 1, 'more blocking check')} not passed" if n_bad > 1 else ""
        return f"{c.metric} on {c.slice} vs {c.comparison}: {_effect(d, c)}{more}"
    if not g.total:
        return "no blocking check was judged"
    if not bad:
        return f"all {_checks(g.total)} passed non-inferiority against {g.against}"
    c = bad[0]
    return (f"{len(g.passed)} of {_checks(g.total)} passed non-inferiority against {g.against}; {n_bad} not passed "
            f"and not holding the gate ({c.metric} on {c.slice} vs {c.comparison}: {_effect(d, c)}"
            f"{f'; +{n_bad - 1} more' if n_bad > 1 else ''})")


def _checks(n: int, noun: str = "blocking check") -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _effect(d: ReportData, c: CheckView) -> str:
    b = d.is_binary(c.metric)
    u = d.units.get(c.metric, "")
    if c.decision == "too_small":
        need = f", needs about {c.needed_n} pairs" if c.needed_n else ""
        return f"too small to judge (n={c.n}{need})"
    margin = f", margin {fmt_margin(c.margin, b, u)}" if c.margin == c.margin else ""
    return f"Δ {fmt_delta(c.delta, b, u)}, bounds {fmt_interval(c.lower, c.upper, b)}{margin} ({c.decision})"


def _role_label(d: ReportData, role: str) -> str:
    return md_code(d.models[role]) if role in d.models else role


def render_summary(d: ReportData, links: dict[str, str] | None = None) -> str:
    lines: list[str] = []
    lines.append(f"### simtest gate: {verdict_line(d)}: {md_text(why_line(d))}")
    lines.append("")
    vs = [f"candidate {_role_label(d, 'candidate')}", f"baseline {_role_label(d, 'baseline')}"]
    if "reference" in d.models:
        vs.append(f"reference {_role_label(d, 'reference')}")
    lines.append(" vs ".join(vs[:2]) + (f" and {vs[2]}" if len(vs) > 2 else "")
                 + f"; {d.n_cases} cases, {d.bounds_note}. Δ > 0 means the candidate is worse.")
    for role, where in sorted(d.stored.items()):  # a baseline read from main's stored run, not run here
        lines.append(f"- {role} results read from {md_text(where)} (none re-run)")
    bad = d.problems()
    if not bad:  # otherwise the table below says the same as the comparator's reasons
        for r in d.reasons[1:4]:
            lines.append(f"- {md_text(r)}")
    if d.scenario_changes:
        lines.append(f"- {len(d.scenario_changes)} scenario(s) changed since the baseline run: not compared (see report.html)")

    if bad:
        lines += ["", f"**Blocking checks not passed ({len(bad)})**", "",
                  "| comparison | metric | slice | n | Δ | interval | margin | decision |", "|---|---|---|--:|--:|---|--:|---|"]
        for c in bad[:MAX_PROBLEMS]:
            b, u = d.is_binary(c.metric), d.units.get(c.metric, "")
            lines.append(f"| vs {md_text(c.comparison, table=True)} | {md_text(c.metric, table=True)} | "
                         f"{md_text(c.slice, table=True)} | {c.n} | {fmt_delta(c.delta, b, u)} | "
                         f"{fmt_interval(c.lower, c.upper, b)} | {fmt_margin(c.margin, b, u)} | {ICON.get(c.decision, '')} {c.decision}"
                         f"{'' if c.holds or c.decision == 'fail' else ' (not holding)'} |")
        if len(bad) > MAX_PROBLEMS:
            lines.append(f"| ... | {len(bad) - MAX_PROBLEMS} more in report.html | | | | | | |")

    if d.underpowered:  # judging's own lines: which blocking slices cannot catch the policy's drop
        shown = "; ".join(d.underpowered[:2]) + (f"; +{len(d.underpowered) - 2} more in verdict.json"
                                                 if len(d.underpowered) > 2 else "")
        lines += ["", f"Underpowered blocking slices: {md_text(shown)}"]
    regions = _regions(d)
    cov = _coverage(d)
    if regions and cov:  # one more item of the regions' list: the summary stays short
        cov = ["- " + cov[-1]]
    lines += regions + cov
    lines += _overall_table(d)
    lines += _slice_table(d)
    lines += _failures(d)
    from simtest.report.behaviour import markdown_lines  # the behaviour section, when the gate has one

    lines += markdown_lines(d)
    from simtest.report import modelmetrics  # model metric vs system metric, when the env declares one

    lines += modelmetrics.markdown_lines(d)
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
        row = f"| {md_text(m, table=True)}{' (blocking)' if any_c and any_c.blocking else ''} |"
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
    out = ["", f"**{md_text(m)} per slice**" + (" (rates; Δ in percentage points)" if b else ""), "", head, sep]
    for s in shown:
        cb = d.check("baseline", m, s)
        cr = d.check("reference", m, s)
        any_c = cb or cr
        row = f"| {md_text(s, table=True)} | {any_c.n if any_c else ''} |"
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
        out.append(f"- {md_code(f.case_id)} {md_text(f.scenario)} ({md_text(params)}) failed {md_text(what)}: "
                   f"{md_code(f.replay)}")
    if len(d.failures) > MAX_FAILURES:
        out.append(f"- ... {len(d.failures) - MAX_FAILURES} more in report.html")
    return out


def region_text(d: ReportData, r) -> str:
    """`lighting=night & tag:fog: +88.9 pp [+59.9, +96.6], n=36`: a Region of the Verdict, formatted."""
    b, u = d.is_binary(r.metric), d.units.get(r.metric, "")
    return f"{r.rule}: {fmt_delta(r.delta, b, u)} {fmt_interval(r.lower, r.upper, b)}, n={r.n}"


def _regions(d: ReportData) -> list[str]:
    out: list[str] = []
    for s in d.regions:
        reg, imp = s.regressions(), s.improvements()
        head = (f"**Regression regions vs {s.comparison}** ({s.metric}; {s.fdr.upper()} q={s.q:g} over "
                f"{s.examined} regions up to {s.max_depth} conditions; bounds at {100 * s.bounds_level:.2f}% per side, "
                f"{'blocking' if s.blocking else 'diagnostic'})")
        out += ["", head]  # a list may follow its paragraph directly (CommonMark)
        if not reg:
            out.append(f"- no regression region ({s.note or 'none passed the false-discovery control and pruning'})")
        for r in reg[:MAX_REGIONS]:
            flag = " ❌ blocking" if r.decision == "fail" else ""
            more = f" (also explains {len(r.similar)} similar)" if r.similar else ""
            out.append(f"- {region_text(d, r)}, adjusted p {r.p_adjusted:.2g}{flag}{more}")
        if len(reg) > MAX_REGIONS:
            out.append(f"- ... {len(reg) - MAX_REGIONS} more in report.html")
        if imp:
            out.append("- improvements: " + "; ".join(region_text(d, r) for r in imp[:MAX_IMPROVEMENTS]))
    return out


def _coverage(d: ReportData) -> list[str]:
    c = d.coverage
    if c is None:
        return []
    need = f", policy minimum {100 * c.min_pairwise:.0f}%{' (NOT MET: run invalid)' if not c.sufficient else ''}" \
        if c.min_pairwise else ""
    line = (f"**Pairwise coverage:** {100 * c.share:.1f}% ({c.visited} of {c.cells} cells of parameter pairs, "
            f"{c.n_empty} empty{need})")
    if c.n_empty:
        shown = "; ".join(f"`{e}`" for e in c.empty[:MAX_EMPTY])
        line += f"; empty: {shown}" + (f" and {c.n_empty - MAX_EMPTY} more (report.html)" if c.n_empty > MAX_EMPTY else "")
    return ["", line + "."]
