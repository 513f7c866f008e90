"""Untrusted strings (scenario ids, tags and slices, parameter names and values, metric and check
names, reasons, model labels, run paths, case ids) are rendered inert in summary.md (a
pull-request comment), report.html and junit.xml.

Method: the same report is rendered twice from the example verdict, once with a harmless
suffix on every text field and once with a hostile one (links, images, raw HTML, autolinks,
mentions, table pipes, backticks, newlines that would start a block, control characters,
attribute breakers). The hostile render must have the same elements as the harmless one (in
summary.md, words that GitHub would link may additionally become <code>), and every hostile
string must still be there as visible text: inert, not dropped. summary.md is rendered with
GitHub's own Markdown renderer (cmarkgfm, with raw HTML let through, so nothing is hidden by
a sanitizer)."""

from __future__ import annotations

import collections
import dataclasses
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from simtest.report import _data
from simtest.report._example import example_context, example_frames, handmade_verdict
from simtest.report.html import Figure, render_html
from simtest.report.junit import render_junit
from simtest.report.markdown import render_summary

HOSTILE = (
    "[click](https://evil.example/x)",
    "![pixel](https://evil.example/p.png)",
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "https://evil.example/auto",
    "(www.evil.example)",
    "mail me@evil.example",
    "@org/security-team",
    "a|b|c",
    "``co`de`` and `x`",
    "**bold** _em_ ~~strike~~ $x$",
    "line\n# heading\n<script>x</script>",
    "\r\n| a | b |\n|---|---|\n- item",
    "[x] [ref]: https://evil.example",
    "&lt;b&gt; &#60;i&#62;",
    "\"' onmouseover=alert(1) x='",
    "\x1b[31mred\x00\x0b\ufffe",
    "\u202eevil\u202c",
    "#1 org/repo#2 <!-- c -->",
    "[a]: <https://evil.example> ]( ][",
)


def _variant(d: _data.ReportData, suffix) -> _data.ReportData:
    """`d` with suffix(j) appended to every distinct untrusted string j (roles, comparisons,
    decisions and the "overall" slice stay: they are simtest's own words)."""
    seen: dict[str, str] = {}

    def t(s: str) -> str:
        if s in ("", "overall"):
            return s
        if s not in seen:
            seen[s] = f"{s} {suffix(len(seen))}"
        return seen[s]

    def params(p: dict) -> dict:
        return {t(k): (t(v) if isinstance(v, str) else v) for k, v in p.items()}

    checks = tuple(dataclasses.replace(c, metric=t(c.metric), slice=t(c.slice), note=t(c.note)) for c in d.checks)
    failures = tuple(dataclasses.replace(f, case_id=t(f.case_id), scenario=t(f.scenario), params=params(f.params),
                                         failed=tuple(t(x) for x in f.failed), replay=t(f.replay))
                     for f in d.failures)
    return dataclasses.replace(
        d, checks=checks, failures=failures, reasons=tuple(t(r) for r in d.reasons),
        models={k: t(v) for k, v in d.models.items()}, runs={k: t(v) for k, v in d.runs.items()},
        key_metric=t(d.key_metric) if d.key_metric else None, binary=frozenset(t(m) for m in d.binary),
        units={t(k): v for k, v in d.units.items()}, varying_params=tuple(t(p) for p in d.varying_params),
        scenario_changes=tuple({k: t(v) if isinstance(v, str) else v for k, v in x.items()} for x in d.scenario_changes),
    ), seen


@pytest.fixture(scope="module")
def reports():
    frames = example_frames(n_samples=24)
    base = _data.build(handmade_verdict("fail", frames=frames, failures=4), frames, example_context())
    benign, benign_map = _variant(base, lambda j: f"ok{j}")
    # every hostile field also carries characters that XML 1.0 forbids (ESC, NUL, U+FFFE)
    hostile, hostile_map = _variant(base, lambda j: f"ok{j} {HOSTILE[j % len(HOSTILE)]} \x1b\x00\ufffe")
    return benign, hostile, [(benign_map[k], hostile_map[k]) for k in benign_map]


class _Doc(HTMLParser):
    """Elements (with their attributes) and visible text of an HTML document."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: collections.Counter = collections.Counter()
        self.attrs: list[tuple[str, str, str]] = []
        self.text: list[str] = []
        self.comments: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags[tag] += 1
        self.attrs += [(tag, k, v or "") for k, v in attrs]

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.comments.append(data)

    @property
    def visible(self) -> str:
        return _squash("".join(self.text))


def _squash(s: str) -> str:
    """What a reader sees: control characters and runs of white space are one space."""
    s = re.sub("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\ufffd]", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def _shown(pairs, benign_text: str):
    """The hostile strings whose harmless twin is shown in the harmless render."""
    return [h for b, h in pairs if _squash(b) in benign_text]


def gfm(markdown: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def test_summary_md_renders_no_link_image_html_or_new_block(reports):
    benign, hostile, pairs = reports
    links = {"report.html": "report.html"}
    good, bad = _Doc(gfm(render_summary(benign, links))), _Doc(gfm(render_summary(hostile, links)))
    assert good.tags["table"] >= 2 and good.tags["li"] >= 4, "the summary should have tables and failure lines"
    extra = bad.tags - good.tags
    assert set(extra) <= {"code"}, f"elements injected into summary.md: {dict(extra)}"
    assert {t: n for t, n in good.tags.items() if t != "code"} == {t: n for t, n in bad.tags.items() if t != "code"}
    assert [a for a in bad.attrs if a[0] != "code"] == [a for a in good.attrs if a[0] != "code"], "links or attributes injected"
    assert bad.comments == []
    shown = _shown(pairs, good.visible)
    assert len(shown) >= 15, "too few fields reached the summary for this test to mean anything"
    for h in shown:  # inert, and still there to read
        assert _squash(h) in bad.visible, h


def test_summary_md_has_no_mention_or_reference_outside_code(reports):
    """GitHub links @mentions, #refs and URLs in text after rendering; inside code it does not."""
    _, hostile, _ = reports
    html = gfm(render_summary(hostile, {}))
    outside_code = re.sub(r"<code>.*?</code>", "", html, flags=re.S)
    text = _Doc(outside_code).visible
    for pattern in (r"@[A-Za-z]", r"#\d", r"://", r"www\.", r"\S@\S"):
        assert not re.search(pattern, text), (pattern, re.search(pattern, text))


def test_report_html_escapes_every_untrusted_string(reports):
    benign, hostile, pairs = reports

    def render(d):
        figs = [Figure("fig-1", f"{d.key_metric} per slice", f"caption {d.key_metric}", None, missing=f"no {d.key_metric}")]
        return render_html(d, figs, {}, notes=[f"note on {d.key_metric}"])

    good, bad = _Doc(render(benign)), _Doc(render(hostile))
    assert bad.tags == good.tags, f"elements injected into report.html: {dict(bad.tags - good.tags)}"
    assert [(t, k) for t, k, _ in bad.attrs] == [(t, k) for t, k, _ in good.attrs], "attributes injected"
    assert [v for t, k, v in bad.attrs if k in ("href", "src")] == [v for t, k, v in good.attrs if k in ("href", "src")]
    assert bad.comments == []
    shown = _shown(pairs, good.visible)
    assert len(shown) >= 15
    for h in shown:  # scenario changes are listed as their dict's repr, escapes and all
        assert _squash(h) in bad.visible or _squash(repr(h)[1:-1]) in bad.visible, h


def test_junit_xml_stays_well_formed_with_the_same_elements(reports):
    benign, hostile, pairs = reports
    good_xml, bad_xml = render_junit(benign), render_junit(hostile)
    good, bad = ET.fromstring(good_xml.encode()), ET.fromstring(bad_xml.encode())  # well-formed XML 1.0
    from junitparser import JUnitXml  # what CI dashboards use to read it

    assert sum(1 for suite in JUnitXml.fromstring(bad_xml.encode()) for _ in suite) == \
        sum(1 for suite in JUnitXml.fromstring(good_xml.encode()) for _ in suite)
    assert collections.Counter(e.tag for e in bad.iter()) == collections.Counter(e.tag for e in good.iter())
    assert [sorted(e.attrib) for e in bad.iter()] == [sorted(e.attrib) for e in good.iter()]
    values = " ".join(_squash(v) for e in bad.iter() for v in [*e.attrib.values(), e.text or ""])
    good_values = " ".join(_squash(v) for e in good.iter() for v in [*e.attrib.values(), e.text or ""])
    shown = _shown(pairs, good_values)
    assert len(shown) >= 10
    for h in shown:
        assert _squash(h) in values, h
