"""The report renders the Verdict; it never re-derives it (issue 10, item 3).

- No report module (the docs' example builder aside) imports judging's computations: only its
  frozen value types, and no scipy.
- A frozen, hand-made Verdict with its Findings renders without frames and without any judging
  function running: every decision, rule, region and coverage figure shown is the Verdict's, and
  changing the Verdict changes the report accordingly.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from simtest.report import write_reports
from simtest.report._example import handmade_verdict

ROOT = Path(__file__).resolve().parents[2] / "simtest" / "report"
VALUE_TYPES = {"CheckResult", "RunStats", "NewFailure", "ScenarioChange", "Verdict", "Findings", "Region",
               "RegionSearch", "Condition", "Coverage", "PairGrid", "BlockingDecisions"}
CONTEXT = {"models": {"candidate": "m@2", "baseline": "m@1"}}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


@pytest.mark.parametrize("path", sorted(p for p in ROOT.glob("*.py") if p.name != "_example.py"), ids=lambda p: p.name)
def test_report_modules_import_only_judging_value_types(path):
    for module, names in _imports(path):
        assert not module.startswith("scipy"), f"{path.name} imports {module}: statistics belong in judging"
        if module.startswith("simtest.judging"):
            assert module != "simtest.judging" and not module.endswith((".stats", ".slicing")), module
            assert set(names) <= VALUE_TYPES, f"{path.name} imports {names} from {module}: only value types"


@pytest.fixture()
def no_judging(monkeypatch):
    """Every judging computation raises: the report must not need one."""
    from simtest.judging import compare, coverage, findings, regions, slicing, stats

    def boom(*a, **k):
        raise AssertionError("the report called a judging computation")

    private = {"_pair", "_metric_values", "_new_failures", "_decide", "_overall", "_gap_checks", "_count",
               "_features", "_describe", "_fold_similar", "_explained", "_bins", "_highlights", "_outcomes"}
    for mod in (stats, slicing, regions, coverage, findings, compare):
        for name in dir(mod):
            obj = getattr(mod, name)
            if (callable(obj) and not isinstance(obj, type) and getattr(obj, "__module__", "") == mod.__name__
                    and (not name.startswith("_") or name in private)):  # _clean (JSON of values) may run
                monkeypatch.setattr(mod, name, boom)


def render(verdict, tmp_path):
    paths = write_reports(tmp_path, verdict, None, CONTEXT)
    return paths["summary"].read_text(encoding="utf-8"), paths["html"].read_text(encoding="utf-8")


def test_a_frozen_verdict_renders_its_regions_and_coverage_verbatim(tmp_path, no_judging):
    v = handmade_verdict("fail")
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.findings.regions[0].regions[0].delta = 0.0  # type: ignore[misc]
    md, html = render(v, tmp_path)
    search = v.findings.regions[0]
    top = search.regressions()[0]
    assert "- lighting=night & fog_density>=0.15: +41.0 pp [+28.0, +52.0], n=72, adjusted p 1e-06" in md
    assert "Top regression region:</b> vs baseline: <code>lighting=night &amp; fog_density&gt;=0.15: +41.0 pp" in html
    # every region line of the summary is a region of the Verdict, nothing more
    shown = re.findall(r"^- (.+?): [+-]\d", md, flags=re.M)
    shown = [s for s in shown if not s.startswith(("`", "improvements: "))]
    assert set(shown) == {r.rule for r in search.regressions()}
    assert "improvements: lighting=dusk: -10.0 pp [-18.0, -3.0], n=80" in md
    # every region row of the HTML is one of the Verdict's
    rows = re.findall(r"<tr class='d-[a-z]+'><td>(regression|improvement)</td><td><code>(.*?)</code>", html)
    assert [(d, r.replace("&amp;", "&").replace("&gt;", ">")) for d, r in rows] == \
        [(r.direction, r.rule) for r in search.regions]
    assert top.rule != ""
    # coverage: the Verdict's numbers and its empty cell
    cov = v.findings.coverage
    assert "**Pairwise coverage:** 83.3% (5 of 6 cells of parameter pairs, 1 empty)" in md
    assert cov.empty[0] in md and "<figure id='coverage-0'><img" in html


def test_changing_the_verdict_changes_the_report_and_nothing_is_recomputed(tmp_path, no_judging):
    v = handmade_verdict("fail")
    s = v.findings.regions[0]
    moved = dataclasses.replace(s.regions[0], delta=0.2, lower=0.05, upper=0.33, n=11, decision="fail")
    f2 = dataclasses.replace(v.findings, regions=(dataclasses.replace(s, regions=(moved,) + s.regions[1:]),),
                             invalid_runs=("baseline",))
    md, html = render(dataclasses.replace(v, findings=f2), tmp_path)
    assert "lighting=night & fog_density>=0.15: +20.0 pp [+5.0, +33.0], n=11, adjusted p 1e-06 ❌ blocking" in md
    assert "+41.0 pp" not in md


def test_invalid_runs_come_from_the_findings_not_from_the_reasons(tmp_path, no_judging):
    import junitparser

    v = handmade_verdict("invalid")  # its reason names the candidate run; its findings say which run is invalid
    f2 = dataclasses.replace(v.findings, invalid_runs=("baseline",))
    paths = write_reports(tmp_path, dataclasses.replace(v, findings=f2), None, CONTEXT)
    xml = junitparser.JUnitXml.fromfile(str(paths["junit"]))
    errors = {tc.name for suite in xml for tc in suite if any(isinstance(r, junitparser.Error) for r in tc.result)}
    assert errors == {"baseline"}


def test_verdict_json_carries_the_findings_as_judging_computed_them(tmp_path, no_judging):
    import json

    v = handmade_verdict("fail")
    paths = write_reports(tmp_path, v, None, CONTEXT)
    doc = json.loads(paths["verdict"].read_text())
    assert doc["findings"]["regions"][0]["regions"][0]["rule"] == "lighting=night & fog_density>=0.15"
    assert doc["findings"]["coverage"]["share"] == pytest.approx(5 / 6)


def test_a_blocking_region_that_failed_is_a_junit_failure(tmp_path, no_judging):
    import junitparser

    v = handmade_verdict("fail")
    s = v.findings.regions[0]
    failed = dataclasses.replace(s.regions[0], decision="fail")
    search = dataclasses.replace(s, blocking=True, regions=(failed,) + s.regions[1:])
    v = dataclasses.replace(v, findings=dataclasses.replace(v.findings, regions=(search,)))
    paths = write_reports(tmp_path, v, None, CONTEXT)
    xml = junitparser.JUnitXml.fromfile(str(paths["junit"]))
    suite = next(su for su in xml if su.name == "regions vs baseline")
    (tc,) = list(suite)
    assert tc.name == failed.rule and isinstance(tc.result[0], junitparser.Failure)
