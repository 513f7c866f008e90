"""Scenario and suite formats: the pydantic models are the one source of truth (loading, hashing,
`extends:`, JSON Schema for editors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simtest.authoring import spec
from simtest.cli import main
from simtest.core.errors import ScenarioError
from simtest.authoring.schema import schema_for

ROOT = Path(__file__).resolve().parents[2]
BASE = """\
id: driving/base-v1
env: simtest/Driving-v0
description: the parent
horizon: 100
tags: [obstacles]
params:
  lighting: {choice: [day, dusk, night]}
  n_obstacles: {int_range: [2, 5]}
  obstacle_size: {uniform: [0.4, 0.8]}
checks:
  - success == 1
  - {name: safe, expr: collision == 0}
"""


def _write(tmp_path: Path, **files: str) -> None:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)


def test_plain_values_are_fixed_domains_and_checks_get_names(tmp_path):
    _write(tmp_path, s="id: gym/a-v1\nenv: CartPole-v1\nhorizon: 5\nparams:\n  x: 3\n  y: [1, 2]\nchecks: [episode_length >= 5]\n")
    s = spec.load_scenario(tmp_path / "s.yaml")
    assert s.params["x"] == spec.Fixed(fixed=3) and s.params["y"] == spec.Fixed(fixed=[1, 2])
    assert [(c.name, c.expr) for c in s.checks] == [("episode_length", "episode_length >= 5")]


def test_child_inherits_and_overrides_params_by_name(tmp_path):
    _write(tmp_path, base=BASE, child="extends: base.yaml\nid: driving/base-night-v1\ntags: [obstacles, night]\n"
                                       "params:\n  lighting: night\n  fog_density: {uniform: [0.0, 0.1]}\n")
    child = spec.load_scenario(tmp_path / "child.yaml")
    assert child.env == "simtest/Driving-v0" and child.horizon == 100 and child.description == "the parent"
    assert child.tags == ("obstacles", "night")
    assert list(child.params) == ["lighting", "n_obstacles", "obstacle_size", "fog_density"]
    assert child.params["lighting"] == spec.Fixed(fixed="night")
    assert child.params["n_obstacles"] == spec.IntRange(int_range=(2, 5))
    assert [c.name for c in child.checks] == ["success", "safe"]


def test_child_checks_replace_the_parents(tmp_path):
    _write(tmp_path, base=BASE, child="extends: base.yaml\nid: driving/child-v1\nchecks: [collision == 0]\n")
    assert [c.expr for c in spec.load_scenario(tmp_path / "child.yaml").checks] == ["collision == 0"]


def test_extends_chains_resolve_relative_to_each_file(tmp_path):
    (tmp_path / "sub").mkdir()
    _write(tmp_path, base=BASE)
    (tmp_path / "sub" / "mid.yaml").write_text("extends: ../base.yaml\nid: driving/mid-v1\nhorizon: 50\n")
    (tmp_path / "sub" / "leaf.yaml").write_text("extends: mid.yaml\nid: driving/leaf-v1\nparams: {n_obstacles: 0}\n")
    leaf = spec.load_scenario(tmp_path / "sub" / "leaf.yaml")
    assert (leaf.horizon, leaf.params["n_obstacles"], leaf.tags) == (50, spec.Fixed(fixed=0), ("obstacles",))


def test_inherited_scenario_hash_equals_the_same_scenario_written_out(tmp_path):
    _write(tmp_path, base=BASE, child="extends: base.yaml\nid: driving/child-v1\nparams: {lighting: night}\n",
           flat=BASE.replace("driving/base-v1", "driving/child-v1").replace(
               "lighting: {choice: [day, dusk, night]}", "lighting: night"))
    assert spec.load_scenario(tmp_path / "child.yaml").hash == spec.load_scenario(tmp_path / "flat.yaml").hash


def test_hash_ignores_the_description_but_not_the_params(tmp_path):
    _write(tmp_path, a=BASE, b=BASE.replace("the parent", "reworded"), c=BASE.replace("0.8]", "0.9]"))
    a, b, c = (spec.load_scenario(tmp_path / f"{n}.yaml") for n in "abc")
    assert a.hash == b.hash != c.hash
    assert len(a.hash) == 16


def test_constraints_may_only_read_the_scenarios_own_params(tmp_path):
    _write(tmp_path, s=BASE + "constraints: [goal_radius < 1]\n")
    with pytest.raises(ScenarioError, match='reads "goal_radius", which is not a parameter of this scenario'):
        spec.load_scenario(tmp_path / "s.yaml")


def test_load_suite_records_each_scenarios_file(tmp_path):
    _write(tmp_path, base=BASE, suite="name: s\nscenarios: ['*.yaml']\n")
    loaded = spec.load_suite(tmp_path / "suite.yaml")
    assert [s.id for s in loaded.scenarios] == ["driving/base-v1"]
    assert loaded.files == (str(tmp_path / "base.yaml"),)


def test_duplicate_scenario_ids_in_a_suite_are_an_error(tmp_path):
    _write(tmp_path, a=BASE, b=BASE, suite="name: s\nscenarios: [a.yaml, b.yaml]\n")
    with pytest.raises(ScenarioError, match='scenario id "driving/base-v1" is also used by'):
        spec.load_suite(tmp_path / "suite.yaml")


def test_scenario_json_schema_accepts_every_shipped_scenario_and_rejects_typos():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    validator = jsonschema.Draft202012Validator(schema_for("scenario"))
    files = [p for p in (ROOT / "scenarios").rglob("*.yaml") if "env" in yaml.safe_load(p.read_text())]
    assert files
    for path in files:
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path
    assert not validator.is_valid({"id": "a/b-v1", "env": "x", "horizon": 3, "horizn": 1})
    assert not validator.is_valid({"id": "a/b-v1", "env": "x", "horizon": 3, "params": {"a": {"unifrom": [1, 2]}}})
    assert validator.is_valid({"id": "a/b-v1", "extends": "base.yaml", "params": {"a": 1}})
    assert not validator.is_valid({"id": "a/b-v1", "params": {"a": 1}})  # no extends: env and horizon needed


def test_suite_json_schema_accepts_the_shipped_suites():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    validator = jsonschema.Draft202012Validator(schema_for("suite"))
    suites = [p for p in (ROOT / "scenarios").rglob("*.yaml") if "scenarios" in yaml.safe_load(p.read_text())]
    assert suites
    for path in suites:
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path
    assert not validator.is_valid({"name": "s", "scenarios": ["a.yaml"], "sampler": "sobel"})


@pytest.mark.parametrize("kind", ["scenario", "suite", "policy", "model"])
def test_schema_command_writes_json_schema(tmp_path, kind, capsys):
    out = tmp_path / f"{kind}.json"
    assert main(["schema", kind, "--out", str(out)]) == 0
    schema = json.loads(out.read_text())
    assert schema["$schema"].endswith("2020-12/schema") and schema["type"] == "object"
    assert main(["schema", kind]) == 0
    assert json.loads(capsys.readouterr().out) == schema
