"""Layer 1: `simtest validate`. Finds scenario, suite, policy and model files under the given
paths, checks each, and returns every problem at once (never stops at the first)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from simtest import yamlio
from simtest.errors import Problem, ValidationError

__all__ = ["validate_paths", "file_kind"]


def file_kind(data: object) -> str | None:
    """Guess what a YAML document is from its keys."""
    if not isinstance(data, dict):
        return None
    if "entry_point" in data:
        return "model"
    if "scenarios" in data:
        return "suite"
    if "env" in data or "extends" in data:
        return "scenario"
    if "metrics" in data or "max_infra_error_rate" in data:
        return "policy"
    return None


def _files(paths: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml")))
        else:
            out.append(p)
    return out


def validate_paths(paths: Iterable[str]) -> tuple[list[Problem], int]:
    problems: list[Problem] = []
    files = _files(paths)
    for f in files:
        problems.extend(validate_file(f))
    # a suite re-reports the problems of its scenarios: keep each problem once
    return list(dict.fromkeys(problems)), len(files)


def validate_file(path: Path) -> list[Problem]:
    from simtest import spec

    try:
        doc = yamlio.load(path)
    except ValidationError as exc:
        return list(exc.problems)
    kind = file_kind(doc.data)
    try:
        if kind == "scenario":
            spec.load_scenario(path)
        elif kind == "suite":
            spec.load_suite(path)
        elif kind == "policy":
            from simtest.policy import load_policy

            load_policy(path, None)
        elif kind == "model":
            from simtest.registry import load_manifest

            load_manifest(path)
        else:
            return [doc.problem((), "not a scenario (needs env:), suite (scenarios:), policy (metrics:) "
                                   "or model manifest (entry_point:)")]
    except ValidationError as exc:
        return list(exc.problems)
    except Exception as exc:  # noqa: BLE001 - any other SimtestError becomes one problem
        from simtest.errors import SimtestError

        if isinstance(exc, SimtestError):
            return [Problem(str(path), "$", str(exc))]
        raise
    return []
