"""`simtest validate`. Finds scenario, suite, policy and model files under the given
paths, checks each, and returns every problem at once (never stops at the first)."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path
from typing import Any, Iterable

from simtest.core import expr as expr_lang
from simtest.core import yamlio
from simtest.core.errors import Problem, SimtestError, ValidationError
from simtest.authoring.spec import Choice, IntRange, Normal, Scenario, Uniform

__all__ = ["validate_paths", "validate_file", "file_kind", "constraint_problems"]

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
            from simtest.contract.policy import load_policy
            from simtest.contract.registry import env_ids, suite_metrics_of

            # metric names are checked against every metric any simtest env declares
            load_policy(path, suite_metrics_of(env_ids()))
        elif kind == "model":
            from simtest.contract.registry import load_manifest

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
    from simtest.authoring import spec

    try:
        scenario = spec.load_scenario(path)
    except ValidationError as exc:
        return list(exc.problems)
    return _constraint_problems(scenario, spec.scenario_document(path))


def _suite_problems(path: Path) -> list[Problem]:
    from simtest.authoring import spec

    try:
        loaded = spec.load_suite(path)
    except ValidationError as exc:
        return list(exc.problems)
    out: list[Problem] = []
    for scenario, file in zip(loaded.scenarios, loaded.files):
        out.extend(_constraint_problems(scenario, spec.scenario_document(file)))
    return out


def _constraint_problems(scenario: Scenario, doc: yamlio.Located) -> list[Problem]:
    return [doc.problem(loc, message) for loc, message in constraint_problems(scenario)]


# --------------------------------------------------------------------------- constraints

def constraint_problems(scenario: Scenario, *, probes: int = 2000, seed: int = 0) -> list[tuple[tuple, str]]:
    """Constraints that no case can satisfy, found by probing the domains (their ends and edges
    plus `probes` random draws): [(location, message)]. Empty when every constraint, and all of
    them together, hold often enough for the samplers."""
    if not scenario.constraints:
        return []
    points = _probe_points(scenario, probes, seed)
    exprs = [expr_lang.parse(c) for c in scenario.constraints]
    out: list[tuple[tuple, str]] = []
    holds_all = [True] * len(points)
    for i, (text, e) in enumerate(zip(scenario.constraints, exprs)):
        hits, error = 0, None
        for j, p in enumerate(points):
            try:
                ok = bool(e(p))
            except (expr_lang.ExprError, TypeError, ZeroDivisionError, ValueError, OverflowError) as exc:
                ok, error = False, error or (p, exc)
            hits += ok
            holds_all[j] = holds_all[j] and ok
        if hits == 0 and error is not None:
            p, exc = error
            out.append((("constraints", i), f'constraint "{text}" cannot be evaluated: {exc} '
                        f"(e.g. at {_short_params(p)}); compare numbers with numbers and text with text"))
        elif hits == 0:
            out.append((("constraints", i), f'constraint "{text}" is never true for this scenario\'s parameter '
                        f"domains (tried {len(points)} combinations, including every domain's ends); relax it or "
                        "widen the domains"))
    if out:
        return out
    together = sum(holds_all)
    drawn = sum(holds_all[len(points) - probes:])  # the random part: what a sampler would see
    if together == 0:
        out.append((("constraints",), f"each constraint can hold, but no combination satisfies all of them together "
                    f"(tried {len(points)}); relax one of them"))
    elif drawn < 0.002 * probes:
        out.append((("constraints",), f"the constraints hold for only {drawn} of {probes} random draws (and "
                    f"{together - drawn} edge combinations); the samplers would rarely find a case: narrow the "
                    "domains to where the constraints hold"))
    return out


def _probe_points(scenario: Scenario, probes: int, seed: int) -> list[dict[str, Any]]:
    """Every combination of each domain's edge values (when few), plus random draws."""
    names = list(scenario.params)
    edges = {n: _edges(d) for n, d in scenario.params.items()}
    points: list[dict] = []
    if math.prod(len(edges[n]) for n in names) <= 4096:
        points = [dict(zip(names, c)) for c in itertools.product(*(edges[n] for n in names))]
    rng = random.Random(seed)  # probing only: stdlib keeps numpy out of `simtest validate`
    for _ in range(probes):
        row = [rng.random() for _ in names]
        points.append({n: _probe_value(scenario.params[n], x) for n, x in zip(names, row)})
    return points


def _probe_value(d: Any, x: float) -> Any:
    """A value spread over the domain (not its distribution: probing needs coverage, and
    keeps scipy out of `simtest validate`)."""
    if isinstance(d, Normal):
        s = d.normal
        lo = s.mean - 4 * s.std if s.min is None else max(s.min, s.mean - 4 * s.std)
        hi = s.mean + 4 * s.std if s.max is None else min(s.max, s.mean + 4 * s.std)
        if lo > hi:  # the mean lies far outside [min, max]: probe next to the bound it is near
            if s.min is not None and s.max is not None:
                lo, hi = s.min, s.max
            elif s.max is not None:
                lo, hi = s.max - 8 * s.std, s.max
            else:
                lo, hi = s.min, s.min + 8 * s.std
        return lo * (1 - x) + hi * x
    if isinstance(d, Choice):
        return _pick(d.choice, x)  # ignore weights: a zero-weight value is still valid
    if isinstance(d, Uniform):
        lo, hi = d.uniform
        return lo * (1 - x) + hi * x
    if isinstance(d, IntRange):
        lo, hi = d.int_range
        return min(lo + int(x * (hi - lo + 1)), hi)
    return _pick(d.finite_values(), x)


def _pick(values: list, x: float) -> Any:
    return values[min(int(x * len(values)), len(values) - 1)]


def _edges(d: Any) -> list:
    values = d.finite_values()
    if values is not None:
        if len(values) <= 16:
            return list(values)
        return [values[round(i * (len(values) - 1) / 15)] for i in range(16)]
    if isinstance(d, Uniform):
        lo, hi = d.uniform
        return [lo, (lo + hi) / 2, hi]
    if isinstance(d, IntRange):
        lo, hi = d.int_range
        return [lo, (lo + hi) // 2, hi]
    s = d.normal
    return [v for v in (s.min, s.mean if _inside(s) else None, s.max) if v is not None] or [s.mean]


def _inside(s: Any) -> bool:
    return (s.min is None or s.mean >= s.min) and (s.max is None or s.mean <= s.max)


def _short_params(p: dict) -> str:
    text = json.dumps(p, sort_keys=True, default=str)
    return text if len(text) <= 120 else text[:117] + "..."

