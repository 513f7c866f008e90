"""Planning of behavioural tests: metamorphic groups of cases. Pure and deterministic: the same
suite file gives the same groups and case ids on every machine.

- invariance / directional: the base cases are the suite's own plan (its sampler, samples and
  seeds) restricted to the test's scenarios, at most `pairs` of them spread evenly over the plan;
  each member is the base case with only the named parameter changed (same seed, same other
  parameters), so their difference is the effect of that parameter alone.
- minimum: `seeds` cases of the named scenario, each a fresh sample and seed, with the `set:`
  values fixed.

Members whose parameters break their scenario's constraints are dropped with their whole group
(a group is judged only complete). Every case carries tags naming its test, its group's base
case_id and its member index, so the stored rows keep the relation."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from simtest.authoring import behaviour_spec as bs
from simtest.authoring.sampling import plan, plan_scenario, sample_params
from simtest.authoring.spec import LoadedSuite, Scenario, load_scenario
from simtest.contract.behaviour import TAG_GROUP, TAG_ROLE, TAG_TEST, Group, PlannedTest
from simtest.contract.cases import Case, canonical_params
from simtest.core import expr as expr_lang

__all__ = ["BehaviourPlan", "plan_behaviour"]


@dataclass(frozen=True)
class BehaviourPlan:
    """The planned tests and every case they need (unique by case_id, in plan order)."""

    tests: tuple[PlannedTest, ...]
    cases: tuple[Case, ...]

    def __bool__(self) -> bool:
        return bool(self.tests)


def plan_behaviour(loaded: LoadedSuite) -> BehaviourPlan:
    """Plan every test of the suite's `behaviour:` section."""
    suite = loaded.suite
    if not suite.behaviour:
        return BehaviourPlan((), ())
    base_plan = plan(loaded)
    by_id = {s.id: s for s in loaded.scenarios}
    tests: list[PlannedTest] = []
    cases: dict[str, Case] = {}
    for t in suite.behaviour:
        kind, body, name = bs.test_kind(t), bs.test_body(t), bs.test_name(t)
        if kind == "minimum":
            scenario = _minimum_scenario(loaded, body.scenario)
            groups, members = _minimum(scenario, body, name, loaded)
            planned = PlannedTest(name=name, kind=kind, param="", metric=body.metric, blocking=body.blocking,
                                  groups=groups, at_least=body.at_least, by=body.by)
        else:
            ids = _scenario_ids(loaded, body)
            bases = [c for c in base_plan if c.scenario in ids]
            bases = _spread(bases, body.pairs)
            values = tuple(body.values) if kind == "invariance" else (body.from_, body.to)
            groups, members = _metamorphic(bases, by_id, body.param, values, name, body.by)
            planned = PlannedTest(name=name, kind=kind, param=body.param, metric=body.metric, blocking=body.blocking,
                                  groups=groups, margin=body.margin, expect=getattr(body, "expect", ""),
                                  by=body.by, values=values)
        tests.append(planned)
        for c in members:
            cases.setdefault(c.case_id, c)
    return BehaviourPlan(tuple(tests), tuple(cases.values()))


def _scenario_ids(loaded: LoadedSuite, body: Any) -> set[str]:
    from simtest.contract import registry

    if body.scenarios:
        files = bs.matched_files(Path(loaded.path), body.scenarios, loaded.files) or []
        chosen = {str(Path(f).resolve()) for f in files}
        return {s.id for s, f in zip(loaded.scenarios, loaded.files) if str(Path(f).resolve()) in chosen}
    return {s.id for s in loaded.scenarios if bs._declares(registry, s.env, body.param)}


def _spread(cases: Sequence[Case], n: int | None) -> list[Case]:
    """At most n cases spread evenly over the list (all of them without n)."""
    cases = list(cases)
    if n is None or n >= len(cases):
        return cases
    step = len(cases) / n
    return [cases[int(i * step)] for i in range(n)]


def _with(case: Case, overrides: dict, tags: tuple[str, ...]) -> Case:
    params = dict(case.params)
    params.update(overrides)
    return replace(case, params_json=canonical_params(params), tags=tuple(case.tags) + tags)


def _satisfies(scenario: Scenario | None, params: dict) -> bool:
    if scenario is None or not scenario.constraints:
        return True
    try:
        return all(bool(expr_lang.parse(c)(params)) for c in scenario.constraints)
    except (expr_lang.ExprError, TypeError, ZeroDivisionError, ValueError, OverflowError):
        return False


def _metamorphic(bases: Sequence[Case], scenarios: dict, param: str, values: tuple, name: str,
                 by: str | None) -> tuple[tuple[Group, ...], list[Case]]:
    groups: list[Group] = []
    members_all: list[Case] = []
    for base in bases:
        members = [_with(base, {param: v}, ()) for v in values]
        if not all(_satisfies(scenarios.get(base.scenario), m.params) for m in members):
            continue
        gid = members[0].case_id
        members = [replace(m, tags=tuple(base.tags) + (f"{TAG_TEST}{name}", f"{TAG_GROUP}{gid}", f"{TAG_ROLE}{j}"))
                   for j, m in enumerate(members)]
        groups.append(Group(group_id=gid, case_ids=tuple(m.case_id for m in members), values=tuple(values),
                            stratum=base.params.get(by) if by else None, scenario=base.scenario))
        members_all.extend(members)
    return tuple(groups), members_all


def _minimum_scenario(loaded: LoadedSuite, ref: str) -> Scenario:
    target = (Path(loaded.path).parent / ref).resolve()
    for s, f in zip(loaded.scenarios, loaded.files):
        if Path(f).resolve() == target:
            return s
    return load_scenario(target)  # validated by load_suite already


def _minimum(scenario: Scenario, body: Any, name: str, loaded: LoadedSuite) -> tuple[tuple[Group, ...], list[Case]]:
    # a seed of its own per test, so two minimum tests of one scenario draw different cases
    key = int(hashlib.sha256(name.encode()).hexdigest()[:6], 16)
    seed = loaded.suite.seed + key
    # `seeds` cases: one per parameter sample, and more seeds of each when the scenario has fewer
    # distinct samples than that (e.g. every parameter fixed)
    points = len(sample_params(scenario, sampler=loaded.suite.sampler, samples=body.seeds, seed=seed))
    per = max(1, math.ceil(body.seeds / max(1, points)))
    drawn = plan_scenario(scenario, sampler=loaded.suite.sampler, samples=body.seeds, seeds=per, seed=seed)
    drawn = sorted(drawn, key=lambda c: (c.seed_index, c.sample))
    groups: list[Group] = []
    members: list[Case] = []
    for c in drawn:
        m = _with(c, dict(body.set_), ())
        if not _satisfies(scenario, m.params):
            continue
        m = replace(m, tags=tuple(c.tags) + (f"{TAG_TEST}{name}", f"{TAG_GROUP}{m.case_id}", f"{TAG_ROLE}0"))
        groups.append(Group(group_id=m.case_id, case_ids=(m.case_id,), values=(None,),
                            stratum=m.params.get(body.by) if body.by else None, scenario=m.scenario))
        members.append(m)
        if len(members) == body.seeds:
            break
    return tuple(groups), members
