"""docs/policy.md documents every key of the gate policy (issue 14, part 4): the keys are taken
from the policy's JSON Schema (what `simtest schema policy` prints), recursively, so a key added to
simtest/contract/policy.py without a doc row and an example fails here.

- every key has a row in a table of its section, whose header has a "statistics" column;
- the complete example sets every key, and every YAML example of the page is a valid policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from simtest.authoring.schema import schema_for
from simtest.contract.policy import policy_from_dict

DOC = Path(__file__).resolve().parents[2] / "docs" / "policy.md"


def schema_keys() -> list[tuple[str, ...]]:
    """Every key path of the policy schema: ("metrics", "<name>", "margin_baseline"), ..."""
    schema = schema_for("policy")
    defs = schema.get("$defs", {})
    out: list[tuple[str, ...]] = []

    def walk(node: dict, path: tuple[str, ...], seen: frozenset) -> None:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                walk(defs[name], path, seen | {name})
            return
        for k in ("anyOf", "allOf", "oneOf"):
            for x in node.get(k, []):
                walk(x, path, seen)
        for key, sub in node.get("properties", {}).items():
            out.append(path + (key,))
            walk(sub, path + (key,), seen)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], path + ("<name>",), seen)
        if isinstance(node.get("items"), dict):
            walk(node["items"], path + ("[]",), seen)

    walk(schema, (), frozenset())
    return out


KEYS = schema_keys()


def sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {title.strip().strip("`"): body for title, body in zip(parts[1::2], parts[2::2])}


def section_of(path: tuple[str, ...]) -> str:
    if len(path) == 1:
        return "Top level"
    return {"metrics": "metrics.<name>", "slice_gaps": "slice_gaps[]"}.get(path[0], path[0])


def key_rows(body: str) -> list[tuple[list[str], list[str]]]:
    """(header cells, row cells) of every table row in a section."""
    rows, header = [], None
    for line in body.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not set("".join(cells)) <= set("-: "):
            rows.append((header, cells))
    return rows


def example_paths(data, path=()) -> set[tuple[str, ...]]:
    out = set()
    if isinstance(data, dict):
        for k, v in data.items():
            p = path + (str(k),)
            if path in (("metrics",), ("slices", "params")):
                p = path + ("<name>",)
            else:
                out.add(p)
            out |= example_paths(v, p)
    elif isinstance(data, list) and path == ("slice_gaps",):
        for item in data:
            out |= example_paths(item, path + ("[]",))
    return out


def yaml_examples(text: str) -> list:
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)]


def test_the_schema_walk_finds_the_nested_keys():  # the walk itself, so the tests below cannot pass on nothing
    assert ("adaptive", "pass_spending") in KEYS and ("metrics", "<name>", "prove_within_margin") in KEYS
    assert ("slices", "params", "<name>", "quantiles") in KEYS and ("slice_gaps", "[]", "against") in KEYS
    assert ("coverage", "min_pairwise") in KEYS and len(KEYS) > 50


@pytest.mark.parametrize("path", KEYS, ids=lambda p: ".".join(p))
def test_every_policy_key_has_a_row_with_its_statistics_column(path):
    secs = sections(DOC.read_text(encoding="utf-8"))
    name = section_of(path)
    assert name in secs, f"docs/policy.md has no section `## {name}` for {'.'.join(path)}"
    key = path[-1]
    hits = [(h, r) for h, r in key_rows(secs[name])
            if any(re.search(rf"\b{re.escape(key)}\b", code) for code in re.findall(r"`([^`]+)`", r[0]))]
    assert hits, f"no table row of `## {name}` in docs/policy.md names `{key}` ({'.'.join(path)})"
    header, row = hits[0]
    assert any(h.lower() == "statistics" for h in header), f"the table of `{key}` has no statistics column"
    assert len(row) == len(header) and any(c for c in row[1:]), row


def test_the_complete_example_sets_every_key_and_every_example_is_a_valid_policy():
    examples = yaml_examples(DOC.read_text(encoding="utf-8"))
    assert examples
    for data in examples:
        policy_from_dict(data)  # raises PolicyError on any unknown key or bad value
    complete = example_paths(examples[0])
    missing = [".".join(p) for p in KEYS if p not in complete]
    assert not missing, f"the complete example of docs/policy.md does not set: {', '.join(missing)}"
