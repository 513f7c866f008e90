"""Junit.xml for CI dashboards. One test case per check (classname `comparison.metric`,
name = slice): a regression is a <failure>, an invalid run an <error>, a slice too small to judge
is <skipped> with the count it would need; warnings pass with a note in <system-out>."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from simtest.report._data import CheckView, ReportData, fmt_delta, fmt_interval, fmt_margin, fmt_value

__all__ = ["render_junit"]

# ElementTree escapes < > & and quotes, but writes characters that XML 1.0 forbids (most C0
# controls, lone surrogates, U+FFFE/U+FFFF) as they are: one such character in a scenario id or
# tag would make the whole junit.xml unreadable to CI. They can only occur inside text and
# attribute values, so replacing them in the serialised document is safe.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _describe(d: ReportData, c: CheckView) -> str:
    b, u = d.is_binary(c.metric), d.units.get(c.metric, "")
    parts = [
        f"{c.metric} on slice {c.slice}, candidate vs {c.comparison}: n={c.n}",
        f"candidate {fmt_value(c.candidate_value, b, u)}, {c.comparison} {fmt_value(c.baseline_value, b, u)}",
        f"regression effect {fmt_delta(c.delta, b, u)} (positive = candidate worse), "
        f"bounds {fmt_interval(c.lower, c.upper, b)}{' pp' if b else ''}",
        f"margin {fmt_margin(c.margin, b, u)}, p-value {c.p_value:.4g}, decision {c.decision}"
        + (" (blocking)" if c.blocking else ""),
    ]
    if c.note:
        parts.append(c.note)
    return "\n".join(parts)


def _testcase(d: ReportData, c: CheckView, invalid: bool) -> tuple[ET.Element, str]:
    tc = ET.Element("testcase", {"classname": f"{c.comparison}.{c.metric}", "name": c.slice, "time": "0"})
    text = _describe(d, c)
    b = d.is_binary(c.metric)
    status = "passed"
    if invalid:  # an invalid run is neither a pass nor a regression: its checks are not judged
        ET.SubElement(tc, "skipped", {"message": "not judged: the run is invalid (see infrastructure)"})
        status = "skipped"
    elif c.decision == "undecided" and c.blocking and not c.holds:  # as the summary: listed, not holding the gate
        ET.SubElement(tc, "skipped", {"message": "undecided at the seed budget; not holding the gate (this check "
                                                 "blocks only on a confident regression)"})
        status = "skipped"
    elif c.decision == "fail" or (c.decision == "undecided" and c.blocking):
        msg = (f"{c.metric} regressed on {c.slice} vs {c.comparison}: {fmt_delta(c.delta, b)} "
               f"{fmt_interval(c.lower, c.upper, b)}, margin {fmt_margin(c.margin, b)}")
        if c.decision == "undecided":
            msg = f"undecided at the seed budget: {msg}"
        el = ET.SubElement(tc, "failure", {"message": msg, "type": "regression" if c.decision == "fail" else "undecided"})
        el.text = text
        status = "failure"
    elif c.decision == "too_small":
        need = f"; about {c.needed_n} paired cases would be needed" if c.needed_n else ""
        ET.SubElement(tc, "skipped", {"message": f"slice too small to judge (n={c.n}){need}"})
        status = "skipped"
    if status != "failure":  # a failure already carries the text
        out = ET.SubElement(tc, "system-out")
        out.text = ("WARNING (Benjamini-Hochberg): investigate this slice\n" if c.decision == "warn" else "") + text
    return tc, status


def render_junit(d: ReportData) -> str:
    invalid = d.verdict == "invalid"
    root = ET.Element("testsuites", {"name": "simtest gate"})
    comparisons: dict[str, list[CheckView]] = {}
    for c in d.checks:
        comparisons.setdefault(c.comparison, []).append(c)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    suites: list[tuple[str, list[tuple[ET.Element, str]]]] = []
    if invalid or d.infra:
        suites.append(("infrastructure", _infra_cases(d, invalid)))
    if d.scenario_changes:
        cases = []
        for i, change in enumerate(d.scenario_changes):
            name = f"{change.get('scenario', i)} vs {change.get('comparison', '?')}"
            tc = ET.Element("testcase", {"classname": "scenario_changes", "name": name, "time": "0"})
            ET.SubElement(tc, "skipped", {"message": "scenario changed since the baseline run (hash differs): not compared"})
            cases.append((tc, "skipped"))
        suites.append(("scenario_changes", cases))
    for comparison, checks in comparisons.items():
        suites.append((f"vs {comparison}", [_testcase(d, c, invalid) for c in checks]))
    for search in d.regions:  # a blocking region search: one failure per region that failed the gate
        if not search.blocking:
            continue
        cases = []
        for r in search.failing():
            tc = ET.Element("testcase", {"classname": f"regions.{search.comparison}.{search.metric}", "name": r.rule,
                                         "time": "0"})
            text = (f"n={r.n} delta {_num(r.delta)} [{_num(r.lower)}, {_num(r.upper)}] adjusted p {r.p_adjusted:.3g} "
                    f"margin {search.margin:g}")
            ET.SubElement(tc, "failure", {"message": f"regression region {r.rule}: {text}", "type": "regression"}).text = text
            cases.append((tc, "failure"))
        if not cases:
            tc = ET.Element("testcase", {"classname": f"regions.{search.comparison}.{search.metric}",
                                         "name": "no regression region", "time": "0"})
            cases.append((tc, "passed"))
        suites.append((f"regions vs {search.comparison}", cases))
    for name, cases in suites:
        counts = {"tests": len(cases), "failures": 0, "errors": 0, "skipped": 0}
        for _, status in cases:
            key = {"failure": "failures", "error": "errors", "skipped": "skipped"}.get(status)
            if key:
                counts[key] += 1
        suite = ET.SubElement(root, "testsuite", {"name": name, **{k: str(v) for k, v in counts.items()}, "time": "0"})
        for tc, _ in cases:
            suite.append(tc)
        for k in totals:
            totals[k] += counts[k]
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    body = _NOT_XML.sub("\ufffd", ET.tostring(root, encoding="unicode"))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _infra_cases(d: ReportData, invalid: bool) -> list[tuple[ET.Element, str]]:
    message = "; ".join(d.reasons) or "run invalid: infrastructure error rate over the policy limit"
    cases = []
    blamed = bool(d.invalid_runs)
    for role, stats in sorted(d.infra.items()):
        tc = ET.Element("testcase", {"classname": "infrastructure", "name": role, "time": "0"})
        info = ", ".join(f"{k}={_num(v)}" for k, v in stats.items())
        status = "passed"
        if invalid and role in d.invalid_runs:
            own = next((r for r in d.reasons if r.startswith(f"{role} run:")), message)
            ET.SubElement(tc, "error", {"message": own, "type": "invalid"}).text = info
            status = "error"
        ET.SubElement(tc, "system-out").text = info
        cases.append((tc, status))
    if invalid and not blamed:  # the comparator did not say which run: one error for the gate
        tc = ET.Element("testcase", {"classname": "infrastructure", "name": "run", "time": "0"})
        ET.SubElement(tc, "error", {"message": message, "type": "invalid"}).text = message
        cases.append((tc, "error"))
    return cases


def _num(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
