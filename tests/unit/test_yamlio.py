"""Positioned YAML loading: every value and key knows its file:line:col, merged documents keep the
file each value came from, and pydantic errors land on the document's own paths."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from simtest.core import yamlio
from simtest.core.errors import Problem, ScenarioError

DOC = """\
id: a
params:
  speed: {uniform: [1, 2]}
  names: [x, y]
"""


def test_values_and_keys_have_one_based_positions():
    doc = yamlio.loads(DOC, "f.yaml")
    assert doc.where(("params", "speed")) == (3, 10)
    assert doc.where(("params", "speed"), key=True) == (3, 3)
    assert doc.where(("params", "names", 1)) == (4, 14)


def test_missing_location_falls_back_to_the_nearest_ancestor():
    doc = yamlio.loads(DOC, "f.yaml")
    assert doc.where(("params", "speed", "nope", 3)) == (3, 10)
    assert doc.problem(("params", "gone"), "boom") == Problem("f.yaml", "$.params.gone", "boom", 3, 3)


def test_jsonpath_renders_indices_and_names():
    assert yamlio.jsonpath(("checks", 0, "expr")) == "$.checks[0].expr"
    assert yamlio.jsonpath(()) == "$"


def test_duplicate_keys_are_reported_with_both_lines():
    with pytest.raises(ScenarioError) as err:
        yamlio.loads("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert str(err.value) == 'f.yaml:3:1 $.a: duplicate key "a" (the first one is on line 1); remove one of them'


def test_merge_keys_are_supported():
    doc = yamlio.loads("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")
    assert doc.data["other"] == {"x": 1, "y": 2}


def test_only_the_safe_loader_is_used():
    with pytest.raises(ScenarioError, match="could not determine a constructor"):
        yamlio.loads("a: !!python/name:os.system ''\n")
    with pytest.raises(ScenarioError, match="unsupported YAML tag tag:yaml.org,2002:python/object/apply:os.system"):
        yamlio.loads("a: !!python/object/apply:os.system [echo hi]\n")


def test_more_than_one_document_is_an_error():
    with pytest.raises(ScenarioError, match="more than one YAML document"):
        yamlio.loads("a: 1\n---\nb: 2\n")


def test_syntax_error_names_where_the_unclosed_construct_starts():
    with pytest.raises(ScenarioError) as err:
        yamlio.loads("a: 1\nb: [1, 2\nc: 3\n", "f.yaml")
    assert "f.yaml:3:" in str(err.value) and "starts on line 2" in str(err.value)


def test_control_character_is_reported_at_its_position():
    with pytest.raises(ScenarioError) as err:
        yamlio.loads("a: 1\nb: x\x07\n", "f.yaml")
    assert str(err.value).startswith("f.yaml:2:5 $: character 0x7 is not allowed in YAML")


def test_non_utf8_file_is_a_clean_error(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes("a: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ScenarioError, match="not UTF-8 text"):
        yamlio.load(path)


def test_directory_is_not_a_yaml_file(tmp_path):
    with pytest.raises(ScenarioError, match="is a directory"):
        yamlio.load(tmp_path)


def test_merge_replaces_keys_and_deep_merges_named_mappings():
    base = yamlio.loads("a: 1\nparams:\n  x: 1\n  y: 2\ntags: [p]\n", "base.yaml")
    over = yamlio.loads("extends: base.yaml\nparams:\n  y: 3\n  z: 4\ntags: [c]\n", "child.yaml")
    doc = yamlio.merge(base, over, drop=("extends",), deep=("params",))
    assert doc.data == {"a": 1, "params": {"x": 1, "y": 3, "z": 4}, "tags": ["c"]}
    assert doc.problem(("a",), "m") == Problem("base.yaml", "$.a", "m", 1, 4)
    assert doc.problem(("params", "x"), "m") == Problem("base.yaml", "$.params.x", "m", 3, 6)
    assert doc.problem(("params", "y"), "m") == Problem("child.yaml", "$.params.y", "m", 3, 6)
    assert doc.problem(("tags", 0), "m") == Problem("child.yaml", "$.tags[0]", "m", 5, 8)
    assert "extends" not in doc.data


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mean: float
    std: float


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    inner: _Inner


def test_pydantic_errors_map_to_document_paths_with_allowed_keys():
    doc = yamlio.loads("name: n\ninner:\n  mean: 1\n  sd: 2\n", "f.yaml")
    with pytest.raises(ValidationError) as err:
        _Outer.model_validate(doc.data)
    problems = yamlio.pydantic_problems(err.value, doc, model=_Outer)
    assert [str(p) for p in problems] == [
        'f.yaml:3:3 $.inner.std: required key "std" is missing; add it',
        'f.yaml:4:3 $.inner.sd: unknown key "sd" (did you mean "std"?); allowed here: mean, std',
    ]


def test_type_errors_say_what_was_given():
    doc = yamlio.loads("name: n\ninner: {mean: fast, std: 1}\n", "f.yaml")
    with pytest.raises(ValidationError) as err:
        _Outer.model_validate(doc.data)
    (problem,) = yamlio.pydantic_problems(err.value, doc, model=_Outer)
    assert str(problem) == "f.yaml:2:15 $.inner.mean: must be a valid number, unable to parse string as a number (got str 'fast')"
