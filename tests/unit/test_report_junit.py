"""junit.xml: one test case per check; regression = <failure>, invalid run = <error>, too-small
slice = <skipped> with the count it needs, warning = passed with a note. Read back with a real
JUnit XML parser (junitparser, the `test` extra) and checked against the common schema's shape."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import junitparser
import pytest

from simtest.report import _data
from simtest.report._example import example_context, example_frames, handmade_verdict
from simtest.report.junit import render_junit


@pytest.fixture(scope="module")
def frames():
    return example_frames()


def junit_of(kind: str, frames, tmp_path) -> tuple[str, junitparser.JUnitXml]:
    text = render_junit(_data.build(handmade_verdict(kind, frames=frames), frames, example_context()))
    path = tmp_path / "junit.xml"
    path.write_text(text, encoding="utf-8")
    return text, junitparser.JUnitXml.fromfile(str(path))


def cases(xml: junitparser.JUnitXml) -> dict[tuple[str, str], junitparser.TestCase]:
    return {(tc.classname, tc.name): tc for suite in xml for tc in suite}


def test_every_check_is_one_test_case_named_by_comparison_metric_and_slice(frames, tmp_path):
    verdict = handmade_verdict("fail", frames=frames)
    _, xml = junit_of("fail", frames, tmp_path)
    found = cases(xml)
    for c in verdict.checks:
        assert (f"{c.comparison}.{c.metric}", c.slice) in found
    checks_only = [k for k in found if k[0] not in ("infrastructure", "scenario_changes")]
    assert len(checks_only) == len(verdict.checks)


def test_regression_is_a_failure_with_effect_and_interval(frames, tmp_path):
    _, xml = junit_of("fail", frames, tmp_path)
    tc = cases(xml)[("baseline.passed", "lighting=night")]
    (failure,) = [r for r in tc.result if isinstance(r, junitparser.Failure)]
    assert failure.type == "regression"
    assert "+30.0 pp" in failure.message and "[+12.0, +45.0]" in failure.message and "10.0 pp" in failure.message


def test_undecided_blocking_check_is_a_failure_of_type_undecided(frames, tmp_path):
    _, xml = junit_of("fail", frames, tmp_path)
    tc = cases(xml)[("reference.passed", "lighting=night")]
    (failure,) = tc.result
    assert isinstance(failure, junitparser.Failure) and failure.type == "undecided"


def test_too_small_slice_is_skipped_with_the_count_it_needs(frames, tmp_path):
    _, xml = junit_of("pass", frames, tmp_path)
    tc = cases(xml)[("baseline.passed", "n_obstacles=[4,6]")]
    (skipped,) = tc.result
    assert isinstance(skipped, junitparser.Skipped)
    assert "n=9" in skipped.message and "85" in skipped.message


def test_warning_passes_with_a_note_in_system_out(frames, tmp_path):
    _, xml = junit_of("pass", frames, tmp_path)
    tc = cases(xml)[("baseline.success", "lighting=dusk")]
    assert tc.is_passed
    assert "WARNING" in tc.system_out and "+8.0 pp" in tc.system_out


def test_invalid_run_is_an_error_on_the_offending_run_and_checks_are_not_judged(frames, tmp_path):
    _, xml = junit_of("invalid", frames, tmp_path)
    found = cases(xml)
    (error,) = found[("infrastructure", "candidate")].result
    assert isinstance(error, junitparser.Error) and "16.7%" in error.message
    assert found[("infrastructure", "baseline")].is_passed
    check_cases = [tc for (cls, _), tc in found.items() if cls not in ("infrastructure", "scenario_changes")]
    assert check_cases and all(tc.is_skipped for tc in check_cases)
    assert not any(isinstance(r, junitparser.Failure) for tc in found.values() for r in tc.result)


def test_suite_counts_match_their_test_cases(frames, tmp_path):
    for kind in ("fail", "pass", "invalid"):
        _, xml = junit_of(kind, frames, tmp_path)
        totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for suite in xml:
            tcs = list(suite)
            counted = {
                "tests": len(tcs),
                "failures": sum(any(isinstance(r, junitparser.Failure) for r in tc.result) for tc in tcs),
                "errors": sum(any(isinstance(r, junitparser.Error) for r in tc.result) for tc in tcs),
                "skipped": sum(any(isinstance(r, junitparser.Skipped) for r in tc.result) for tc in tcs),
            }
            assert (suite.tests, suite.failures, suite.errors, suite.skipped) == tuple(counted.values()), suite.name
            for k in totals:
                totals[k] += counted[k]
        xml.update_statistics()
        assert (xml.tests, xml.failures, xml.errors, xml.skipped) == tuple(totals.values())


# The common JUnit schema (Jenkins/Ant junit-10.xsd): which children and attributes each element may have.
SCHEMA = {
    "testsuites": ({"testsuite"}, {"name", "tests", "failures", "errors", "skipped", "disabled", "time"}),
    "testsuite": ({"testcase", "properties", "system-out", "system-err"},
                  {"name", "tests", "failures", "errors", "skipped", "disabled", "time", "timestamp", "hostname",
                   "id", "package"}),
    "testcase": ({"failure", "error", "skipped", "system-out", "system-err"},
                 {"name", "classname", "time", "status", "assertions"}),
    "failure": (set(), {"message", "type"}),
    "error": (set(), {"message", "type"}),
    "skipped": (set(), {"message"}),
    "system-out": (set(), set()),
}


@pytest.mark.parametrize("kind", ["fail", "pass", "invalid"])
def test_document_has_the_shape_of_the_common_junit_schema(kind, frames, tmp_path):
    text, _ = junit_of(kind, frames, tmp_path)
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == "testsuites"
    for el in root.iter():
        children, attrs = SCHEMA[el.tag]
        assert {c.tag for c in el} <= children, el.tag
        assert set(el.attrib) <= attrs, (el.tag, el.attrib)
        if el.tag == "testcase":
            assert el.get("name") and el.get("classname")
            assert sum(c.tag in ("failure", "error", "skipped") for c in el) <= 1
        for key in ("tests", "failures", "errors", "skipped"):
            if key in el.attrib:
                assert int(el.get(key)) >= 0
