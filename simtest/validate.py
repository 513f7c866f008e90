"""Layer 1: `simtest validate`. Finds scenario, suite, policy and model files under the given
paths, checks each, and returns every problem at once (never stops at the first)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from simtest import yamlio
from simtest.errors import Problem, SimtestError, ValidationError

__all__ = ["validate_paths", "validate_file", "file_kind"]

_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".simtest", ".hypothesis"}


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
            out.extend(sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml") and x.is_file()
                              and not _SKIP_DIRS.intersection(x.relative_to(p).parts)))
        else:
            out.append(p)
    return out


def validate_paths(paths: Iterable[str]) -> tuple[list[Problem], int]:
    """(every problem in every file, number of files checked). Directories are searched for
    *.yaml / *.yml files."""
    problems: list[Problem] = []
    files = _files(paths)
    for f in files:
        problems.extend(validate_file(f))
    # a suite re-reports the problems of its scenarios: keep each problem once
    return list(dict.fromkeys(problems)), len(files)


def validate_file(path: Path) -> list[Problem]:
    """Every problem of one file (and of the scenarios a suite names). Never raises for bad input."""
    path = Path(path)
    try:
        doc = yamlio.load(path)
    except ValidationError as exc:
        return list(exc.problems)
    kind = file_kind(doc.data)
    try:
        if kind == "scenario":
            return _scenario_problems(path)
        if kind == "suite":
            return _suite_problems(path)
        if kind == "policy":
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
    except SimtestError as exc:
        return [Problem(str(path), "$", str(exc))]
    return []


def _scenario_problems(path: Path) -> list[Problem]:
    from simtest import spec

    try:
        scenario = spec.load_scenario(path)
    except ValidationError as exc:
        return list(exc.problems)
    return _constraint_problems(scenario, spec.scenario_document(path))


def _suite_problems(path: Path) -> list[Problem]:
    from simtest import spec

    try:
        loaded = spec.load_suite(path)
    except ValidationError as exc:
        return list(exc.problems)
    out: list[Problem] = []
    for scenario, file in zip(loaded.scenarios, loaded.files):
        out.extend(_constraint_problems(scenario, spec.scenario_document(file)))
    return out


def _constraint_problems(scenario, doc: yamlio.Located) -> list[Problem]:
    from simtest.spec import constraint_problems

    return [doc.problem(loc, message) for loc, message in constraint_problems(scenario)]
