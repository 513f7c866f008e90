"""report.html and write_reports: one self-contained page (figures inline, no external URL) with the
forest plot, per-slice rates, the heatmap and the version history; reproducible byte for byte."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from simtest.report import _data, write_reports
from simtest.report._example import example_context, example_frames, example_verdict, handmade_verdict
from simtest.report.html import Figure, render_html

FILES = ("summary.md", "verdict.json", "junit.xml", "report.html")


@pytest.fixture(scope="module")
def frames():
    return example_frames()


@pytest.fixture(scope="module")
def written(frames, tmp_path_factory):
    """The real comparator's verdict on the example runs, written twice."""
    verdict = example_verdict(frames)
    outs = []
    for name in ("a", "b"):
        out = tmp_path_factory.mktemp(name)
        outs.append((out, write_reports(out, verdict, frames, example_context())))
    return verdict, outs


def images(html: str) -> list[tuple[str, bytes]]:
    return [(m.group(1), base64.b64decode(m.group(2)))
            for m in re.finditer(r'<img[^>]*src="data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)"', html)]


def test_write_reports_returns_the_four_files(written):
    _, [(out, paths), _] = written
    assert {k: p.name for k, p in paths.items()} == dict(zip(("summary", "verdict", "junit", "html"), FILES))
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths.values())


def test_report_is_self_contained(written):
    _, [(out, _), _] = written
    html = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", html)
    assert "<link" not in html and "@import" not in html and not re.search(r"<script[^>]*src=", html)
    srcs = re.findall(r'\bsrc="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/") for s in srcs)


def test_report_embeds_forest_rates_heatmap_and_history_figures_that_decode(written):
    _, [(out, _), _] = written
    html = (out / "report.html").read_text(encoding="utf-8")
    for anchor in ("forest-0", "rates", "coverage-0", "history"):
        assert re.search(rf"<figure id='{anchor}'><img", html), anchor
    pngs = images(html)
    assert len(pngs) >= 4
    for mime, data in pngs:
        img = Image.open(io.BytesIO(data))
        img.load()
        assert mime == "image/png" and img.width > 200 and img.height > 100
        assert len(np.unique(np.asarray(img.convert("L")))) > 10  # not a blank canvas


def test_report_has_the_key_metric_per_slice_and_replay_commands(written, frames):
    verdict, [(out, _), _] = written
    html = (out / "report.html").read_text(encoding="utf-8")
    for c in verdict.checks:
        if c.metric == "passed":
            assert f"<td>{c.slice}</td>" in html
    for f in verdict.new_failures:
        assert f"simtest replay {f.case_id} --model driving-perception@1.2 --run /tmp/runs/candidate" in html
    assert html.count("<tr") > len(verdict.checks)  # the full table of checks is there too


def test_writing_twice_gives_identical_files(written):
    _, [(a, _), (b, _)] = written
    for name in FILES:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_summary_of_the_example_gate_stays_under_60_lines(written):
    _, [(out, _), _] = written
    lines = (out / "summary.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < 60 and "FAIL" in lines[0]


def test_report_without_frames_draws_every_figure_from_the_verdict(tmp_path):
    paths = write_reports(tmp_path, handmade_verdict("pass"), None, {"models": {"candidate": "m@2", "baseline": "m@1"}})
    html = paths["html"].read_text(encoding="utf-8")
    # forest, per-slice rates, the coverage heatmap and the history: all from the checks and findings
    for anchor in ("forest-0", "rates", "coverage-0", "history"):
        assert f"<figure id='{anchor}'><img" in html


def test_report_of_a_verdict_without_findings_says_which_figures_are_missing(tmp_path):
    import dataclasses

    v = dataclasses.replace(handmade_verdict("pass"), findings=None)
    paths = write_reports(tmp_path, v, None, {"models": {"candidate": "m@2"}})
    html = paths["html"].read_text(encoding="utf-8")
    assert "no coverage in the verdict" in html and "needs at least two model versions" in html
    assert "id='regions'" not in html


def test_text_from_results_is_escaped(frames):
    import dataclasses

    v = handmade_verdict("fail", frames=frames, failures=1)
    bad = dataclasses.replace(v.new_failures[0], scenario="<script>alert(1)</script>")
    v = dataclasses.replace(v, new_failures=(bad,))
    html = render_html(_data.build(v, frames, example_context()), [])
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_failure_gifs_are_embedded_next_to_their_case(frames):
    v = handmade_verdict("fail", frames=frames, failures=2)
    gif = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")  # 1x1 GIF
    html = render_html(_data.build(v, frames, example_context()), [Figure("x", "t", "c", None, "no data")],
                       {v.new_failures[0].case_id: gif})
    (mime, data), = images(html)
    assert mime == "image/gif" and data == gif
    assert f"replay of {v.new_failures[0].case_id}" in html


def test_coverage_heatmaps_are_the_grids_the_verdict_highlights(written):
    verdict, [(out, _), _] = written
    cov = verdict.findings.coverage
    html = (out / "report.html").read_text(encoding="utf-8")
    assert cov is not None and cov.highlights
    for k, gi in enumerate(cov.highlights):
        g = cov.grids[gi]
        assert f"id='coverage-{k}'" in html and f"over {g.x} × {g.y} ({g.scenario})" in html
    assert f"{100 * cov.share:.1f}% of the {cov.cells} cells" in html
