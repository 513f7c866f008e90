"""Planning. Turns a suite into concrete, replayable cases. Pure and deterministic:
the same suite file gives the same cases (and the same case ids) on every machine."""

from __future__ import annotations

import hashlib
import itertools
import math
from typing import Any, Sequence

import numpy as np

from simtest.core import expr as expr_lang
from simtest.contract.cases import Case, canonical_params, case_seed
from simtest.contract.space import Axis, ScenarioSpace
from simtest.core.errors import Problem, ScenarioError
from simtest.authoring.spec import Choice, Fixed, Grid, IntRange, LoadedSuite, Normal, Scenario, Uniform

__all__ = ["Case", "plan", "plan_scenario", "case_seed", "sample_params", "canonical_params", "coverage_space",
           "suite_space", "case_counts"]

# fill_coverage: candidates drawn per wanted sample (at least POOL_MIN per grid point)
POOL_FACTOR = 16
POOL_MIN = 256


def case_counts(loaded: LoadedSuite, cases: Sequence[Case]) -> dict[str, int]:
    """What `simtest plan --count` prints: cases per scenario, per tag, and per value of every
    stratified or categorical parameter (a `choice` or `grid` domain, whatever the type of its
    values, integers included; a string or boolean value of any domain)."""
    counted = {s.id: {name for name, d in s.params.items()
                      if name in loaded.suite.stratify or isinstance(d, (Choice, Grid))} for s in loaded.scenarios}
    by: dict[str, int] = {}

    def add(key: str) -> None:
        by[key] = by.get(key, 0) + 1

    for c in cases:
        add(f"scenario:{c.scenario}")
        for t in c.tags:
            add(f"tag:{t}")
        for k, v in c.params.items():
            if k in counted.get(c.scenario, ()) or isinstance(v, (str, bool)):
                add(f"{k}={v}")
    return by


def plan(loaded: LoadedSuite, *, seed_start: int = 0, seeds: int | None = None) -> tuple[Case, ...]:
    """All cases of a suite. `seed_start`/`seeds` select seed indices, so adaptive rounds can ask
    for more seeds of the same parameter samples (the same samples, new seed indices)."""
    s = loaded.suite
    out: list[Case] = []
    for scenario in loaded.scenarios:
        out.extend(
            plan_scenario(
                scenario, sampler=s.sampler, samples=s.samples, seeds=s.seeds if seeds is None else seeds,
                seed=s.seed, stratify=s.stratify, seed_start=seed_start,
                fill_coverage=s.fill_coverage, coverage_bins=s.coverage_bins,
            )
        )
    return tuple(out)


def plan_scenario(
    scenario: Scenario,
    *,
    sampler: str = "random",
    samples: int = 10,
    seeds: int = 1,
    seed: int = 0,
    stratify: Sequence[str] = (),
    seed_start: int = 0,
    fill_coverage: bool = False,
    coverage_bins: int = 4,
) -> list[Case]:
    points = sample_params(scenario, sampler=sampler, samples=samples, seed=seed, stratify=stratify,
                           fill_coverage=fill_coverage, coverage_bins=coverage_bins)
    checks = tuple((c.name, c.expr) for c in scenario.checks)
    cases = []
    h = scenario.hash
    for i, params in enumerate(points):
        pj = canonical_params(params)
        pinned = scenario.seeds  # corpus scenarios replay exactly the seeds they failed with
        for k in (range(len(pinned)) if pinned else range(seed_start, seed_start + seeds)):
            cases.append(
                Case(scenario=scenario.id, scenario_hash=h, env=scenario.env, params_json=pj,
                     seed=pinned[k] if pinned else case_seed(seed, scenario.id, i, k), tags=tuple(scenario.tags),
                     horizon=scenario.horizon, checks=checks, sample=i, seed_index=k)
            )
    return cases


MAX_GRID_POINTS = 100_000


def sample_params(
    scenario: Scenario, *, sampler: str, samples: int, seed: int, stratify: Sequence[str] = (),
    fill_coverage: bool = False, coverage_bins: int = 4,
) -> list[dict[str, Any]]:
    """Concrete parameter dicts. Grid domains (and, for the grid sampler, every finite domain;
    for stratified names, every value of their finite domain) are enumerated and crossed; the
    remaining domains get `samples` draws per grid point from the sampler. Stratified values
    therefore each get the same share, whatever their choice weights.

    `fill_coverage` (or `sampler="coverage"`, which draws its candidates from Halton): each sample
    is the candidate, out of a pool of POOL_FACTOR x samples draws of the sampler per grid point,
    that visits the most pairwise cells (coverage_space) not yet visited by the samples chosen so
    far (greedy, AETG-style; ties go to the earlier draw; grid points take turns, so they share one
    covered set). Deterministic like every sampler."""
    if sampler == "coverage":
        sampler, fill_coverage = "halton", True
    enumerated: dict[str, list] = {}
    drawn: dict[str, Any] = {}
    for name, d in scenario.params.items():
        values = d.finite_values()
        if isinstance(d, Fixed):
            enumerated[name] = [d.fixed]
        elif isinstance(d, Grid) or (name in stratify and values is not None):
            enumerated[name] = values
        elif sampler == "grid":
            enumerated[name] = values if values is not None else _even(d, samples)
        else:
            drawn[name] = d
    names = list(enumerated)
    size = math.prod(len(enumerated[n]) for n in names)
    if size > MAX_GRID_POINTS:
        sizes = " x ".join(f"{n} ({len(enumerated[n])})" for n in names if len(enumerated[n]) > 1)
        raise ScenarioError([Problem(scenario.id, "$.params", f"the grid has {size} points ({sizes}); "
                                     f"keep it under {MAX_GRID_POINTS}: use a random or low-discrepancy sampler "
                                     "or fewer grid values")])
    grid_points = [dict(zip(names, combo)) for combo in itertools.product(*(enumerated[n] for n in names))]
    key = int(hashlib.sha256(scenario.id.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(np.random.SeedSequence([seed, key, 0x5A3]))
    ok = _constraint_filter(scenario)

    out: list[dict] = []
    per_point = samples if drawn else 1
    if sampler == "grid" or not drawn:
        out = [p for p in grid_points if ok(p)]
    elif fill_coverage:
        out = _fill_coverage(scenario, grid_points, drawn, per_point, sampler, rng, ok, coverage_bins)
    else:
        starved: list[tuple[dict, int]] = []
        for gp in grid_points:
            got: list[dict] = []
            tries = 0
            while len(got) < per_point and tries < 50:
                need = per_point - len(got)
                # first exactly what is needed (no rejections: the samples are the sampler's own
                # points); then large batches, so constraints that hold for 0.2 % of the space (what
                # `simtest validate` accepts) still fill every sample
                u = _unit(sampler, len(drawn), need if tries == 0 else max(need * 8, 512), rng)
                for row in u:
                    p = dict(gp)
                    p.update({n: _from_unit(d, x) for (n, d), x in zip(drawn.items(), row)})
                    if ok(p):
                        got.append(p)
                        if len(got) == per_point:
                            break
                tries += 1
            if 0 < len(got) < per_point:
                starved.append((gp, len(got)))
            out.extend(got)
        if starved:
            gp, n = starved[0]
            where = f" at {canonical_params(gp)}" if gp else ""
            raise ScenarioError([Problem(scenario.id, "$.constraints",
                                         f"the constraints reject almost every draw: only {n} of {per_point} samples{where} "
                                         "satisfied them after 50 rounds of draws; relax the constraints or narrow the "
                                         "domains to where they hold")])
    if not out:
        raise ScenarioError([Problem(scenario.id, "$.constraints",
                                     "no parameter combination satisfies the constraints; relax them or widen the domains")])
    return out


def _constraint_filter(scenario: Scenario):
    constraints = [expr_lang.parse(c) for c in scenario.constraints]

    def ok(p: dict) -> bool:
        try:
            return all(bool(c(p)) for c in constraints)
        except (expr_lang.ExprError, TypeError, ZeroDivisionError, ValueError, OverflowError):
            return False

    return ok


def _unit(sampler: str, d: int, n: int, rng: np.random.Generator) -> np.ndarray:
    if sampler == "random" or d == 0:
        return rng.random((n, d))
    from scipy.stats import qmc

    if sampler == "sobol":
        m = max(0, math.ceil(math.log2(max(n, 1))))
        return qmc.Sobol(d, scramble=True, seed=rng).random_base2(m)[:n]
    if sampler == "halton":
        return qmc.Halton(d, scramble=True, seed=rng).random(n)
    raise ValueError(f"unknown sampler {sampler}")


def _pick(values: list, x: float) -> Any:
    return values[min(int(x * len(values)), len(values) - 1)]


def _from_unit(d: Any, x: float) -> Any:
    x = min(max(float(x), 0.0), math.nextafter(1.0, 0.0))
    if isinstance(d, Uniform):
        lo, hi = d.uniform
        # never overflows; the clamp removes the last-ulp rounding (lo == hi would otherwise drift)
        return min(max(lo * (1 - x) + hi * x, lo), hi)
    if isinstance(d, Fixed):
        return d.fixed
    if isinstance(d, Grid):
        return _pick(d.grid, x)
    if isinstance(d, IntRange):
        lo, hi = d.int_range
        return lo + int(x * (hi - lo + 1))
    if isinstance(d, Choice):
        w = np.asarray(d.weights if d.weights is not None else [1.0] * len(d.choice), float)
        cum = np.cumsum(w / w.sum())
        return d.choice[int(min(np.searchsorted(cum, x, side="right"), len(d.choice) - 1))]
    if isinstance(d, Normal):
        from scipy.stats import truncnorm

        s = d.normal
        a = -np.inf if s.min is None else (s.min - s.mean) / s.std
        b = np.inf if s.max is None else (s.max - s.mean) / s.std
        v = float(truncnorm.ppf(x, a, b, loc=s.mean, scale=s.std))
        if not math.isfinite(v):  # far in a tail: fall back to the nearest bound
            v = s.min if s.min is not None and (s.max is None or x < 0.5) else s.max if s.max is not None else s.mean
        return v
    raise TypeError(f"cannot draw from {type(d).__name__}")


def _even(d: Any, n: int) -> list:
    """n evenly spaced values (cell midpoints) of a continuous domain, for the grid sampler."""
    return [_from_unit(d, (i + 0.5) / n) for i in range(n)]


# --------------------------------------------------------------------------- coverage


def coverage_axis(name: str, d: Any, bins: int = 4) -> Axis | None:
    """The cells of one parameter: every value of a finite domain with at most 2 x bins values,
    else `bins` equal-width buckets over its range (a normal domain without bounds: mean +- 2 std).
    Fixed parameters have no axis."""
    if isinstance(d, Fixed):
        return None
    values = d.finite_values()
    if values is not None and len(values) <= 2 * bins:
        return Axis(name, values=tuple(values)) if len(values) > 1 else None
    if isinstance(d, Uniform):
        lo, hi = d.uniform
    elif isinstance(d, IntRange):
        lo, hi = d.int_range
    elif isinstance(d, Normal):
        s = d.normal
        lo = s.min if s.min is not None else s.mean - 2 * s.std
        hi = s.max if s.max is not None else s.mean + 2 * s.std
    elif values is not None and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        lo, hi = min(values), max(values)
    else:
        return Axis(name, values=tuple(values)) if values else None
    if not hi > lo:
        return None
    edges = tuple(float(f"{x:.6g}") for x in np.linspace(float(lo), float(hi), bins + 1))
    return Axis(name, edges=edges)


def coverage_space(scenario: Scenario, bins: int = 4) -> ScenarioSpace:
    axes = [coverage_axis(n, d, bins) for n, d in scenario.params.items()]
    return ScenarioSpace(scenario.id, tuple(a for a in axes if a is not None))


def suite_space(loaded: LoadedSuite) -> tuple[ScenarioSpace, ...]:
    """The cell space of every scenario of a suite, with the suite's coverage_bins."""
    return tuple(coverage_space(s, loaded.suite.coverage_bins) for s in loaded.scenarios)


def _fill_coverage(scenario: Scenario, grid_points: list[dict], drawn: dict, per_point: int, sampler: str,
                   rng: np.random.Generator, ok, bins: int) -> list[dict]:
    space = coverage_space(scenario, bins)
    pools: list[list[tuple[dict, list]]] = []
    for gp in grid_points:
        pool = []
        size = max(POOL_MIN, POOL_FACTOR * per_point)
        for row in _unit(sampler, len(drawn), size, rng):
            p = dict(gp)
            p.update({n: _from_unit(d, x) for (n, d), x in zip(drawn.items(), row)})
            if ok(p):
                pool.append((p, space.cells_of(p)))
        if len(pool) < per_point:
            where = f" at {canonical_params(gp)}" if gp else ""
            raise ScenarioError([Problem(scenario.id, "$.constraints",
                                         f"the constraints reject almost every draw: only {len(pool)} of {size} "
                                         f"coverage candidates{where} satisfied them; relax the constraints or "
                                         "narrow the domains to where they hold")])
        pools.append(pool)
    covered: set = set()
    chosen: list[list[dict]] = [[] for _ in grid_points]
    used: list[set[int]] = [set() for _ in grid_points]
    for _ in range(per_point):
        for g, pool in enumerate(pools):
            best, best_gain = -1, -1
            for k, (_, cells) in enumerate(pool):
                if k in used[g]:
                    continue
                gain = sum(1 for c in cells if c not in covered)
                if gain > best_gain:
                    best, best_gain = k, gain
            used[g].add(best)
            covered.update(pool[best][1])
            chosen[g].append(pool[best][0])
    return [p for group in chosen for p in group]
