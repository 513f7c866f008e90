"""verdict.json: the comparator's own JSON plus model labels, run directories and the suite; strict
JSON (no NaN), nothing time-dependent, so re-running compare on the same runs gives the same file."""

from __future__ import annotations

import dataclasses
import json
import math

from simtest.report import verdict_document
from simtest.report._example import example_context, handmade_verdict

CONTEXT = {**example_context("/runs"), "suite": "scenarios/driving/smoke.yaml"}


def strict_loads(text: str):
    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


def test_document_is_the_verdicts_json_plus_models_runs_and_suite():
    v = handmade_verdict("fail")
    doc = verdict_document(v, CONTEXT)
    assert set(doc) == set(v.to_json()) | {"models", "runs", "suite", "findings"}
    assert {k: doc[k] for k in v.to_json()} == v.to_json()
    assert doc["findings"] == v.findings.to_json()  # regions and coverage, as judging computed them
    assert doc["models"]["candidate"] == "driving-perception@1.2"
    assert doc["runs"] == {"reference": "/runs/reference", "baseline": "/runs/baseline", "candidate": "/runs/candidate"}
    assert doc["suite"] == "scenarios/driving/smoke.yaml"


def test_checks_carry_the_fields_of_the_cli_contract():
    doc = verdict_document(handmade_verdict("fail"), CONTEXT)
    assert doc["verdict"] == "fail"
    for c in doc["checks"]:
        assert {"comparison", "metric", "slice", "n", "delta", "lower", "upper", "p_value", "decision"} <= set(c)
        assert c["decision"] in ("pass", "fail", "undecided", "warn", "too_small")


def test_non_finite_numbers_become_null_so_any_json_parser_reads_the_file():
    v = handmade_verdict("pass")
    nan_check = dataclasses.replace(v.checks[0], delta=math.nan, upper=math.inf)
    v = dataclasses.replace(v, checks=(nan_check,) + v.checks[1:])
    text = json.dumps(verdict_document(v, CONTEXT), allow_nan=False)
    first = strict_loads(text)["checks"][0]
    assert first["delta"] is None and first["upper"] is None


def test_same_verdict_gives_the_same_document_text():
    a = json.dumps(verdict_document(handmade_verdict("fail"), CONTEXT), indent=2)
    b = json.dumps(verdict_document(handmade_verdict("fail"), dict(CONTEXT)), indent=2)
    assert a == b


def test_a_verdict_given_as_json_text_is_accepted():
    v = handmade_verdict("invalid")
    doc = verdict_document(v.to_json_text(), CONTEXT)
    assert doc["verdict"] == "invalid" and doc["models"]["baseline"] == "driving-perception@1.1"
