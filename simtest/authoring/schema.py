"""`simtest schema`. JSON Schema of the file formats, generated from the pydantic models
that validate them (the one source of truth), for editors such as VS Code's YAML extension."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any, Callable

from simtest.core.errors import UsageError

__all__ = ["schema_for", "KINDS", "cmd_schema"]

_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _scenario() -> dict:
    from simtest.authoring.spec import Scenario

    s = Scenario.model_json_schema()
    s["title"] = "simtest scenario"
    props = s["properties"]
    props["extends"] = {
        "type": "string",
        "description": "inherit from another scenario file (path relative to this one); params merge by name, "
        "every other key given here replaces the parent's",
    }
    # With `extends`, env and horizon may come from the parent; the id never does.
    required = [r for r in s.get("required", []) if r != "id"]
    s["required"] = ["id"]
    if required:
        s["if"] = {"not": {"required": ["extends"]}}
        s["then"] = {"required": required}
    # A plain value under params means {fixed: value}.
    params = props["params"]
    domain = params.get("additionalProperties", {})
    params["additionalProperties"] = {
        "anyOf": [
            {"type": ["string", "number", "integer", "boolean", "null", "array"],
             "description": "a fixed value (the same for every case)"},
            domain,
        ]
    }
    # A check is a string (its name derived from the text) or {name, expr}.
    checks = props["checks"]
    item = checks.get("items", {})
    checks["items"] = {"anyOf": [{"type": "string", "description": "an expression over the env's metrics"}, item]}
    return s


def _suite() -> dict:
    from simtest.authoring.spec import Suite

    s = Suite.model_json_schema()
    s["title"] = "simtest suite"
    return s


def _policy() -> dict:
    try:
        from simtest.contract.policy import GatePolicy
    except ImportError as exc:  # pragma: no cover - policy ships with simtest
        raise UsageError(f"the gate policy format is not available ({exc})") from None
    s = GatePolicy.model_json_schema()
    s["title"] = "simtest gate policy"
    return s


def _model() -> dict:
    from simtest.contract.registry import _manifest_schema

    s = _manifest_schema().model_json_schema()
    s["title"] = "simtest model manifest"
    return s


KINDS: dict[str, Callable[[], dict]] = {"scenario": _scenario, "suite": _suite, "policy": _policy, "model": _model}


def schema_for(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one file kind: scenario, suite, policy or model."""
    if kind not in KINDS:
        from simtest.core.errors import did_you_mean

        raise UsageError(f'unknown schema kind "{kind}"{did_you_mean(kind, KINDS)}; choose one of {", ".join(KINDS)}')
    s = copy.deepcopy(KINDS[kind]())
    return {"$schema": _SCHEMA_DIALECT, **s}


def cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(schema_for(args.kind), indent=2, sort_keys=False) + "\n"
    if args.out:
        out = Path(args.out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}; choose another --out") from None
        print(f"wrote the {args.kind} schema to {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
