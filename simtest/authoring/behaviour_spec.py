"""The `behaviour:` section of a suite: closed-loop behavioural tests (invariance, directional
expectations, minimum functionality). One pydantic model per kind, exported in the suite's JSON
Schema; `behaviour_problems` checks what needs the suite's scenarios and their envs (declared
parameters, values, metrics), each problem positioned file:line:col like the rest of the suite.

    behaviour:
      - invariance: {param: obstacle_colour, values: [red, blue], metric: passed, margin: 0.1}
      - directional: {param: fog_density, from: 0.05, to: 0.25, metric: passed, expect: not_lower, margin: 0.15}
      - minimum: {scenario: clear-road.yaml, set: {lighting: day, n_obstacles: 0}, at_least: 1.0, seeds: 20}

Assumptions: the varied parameter and every `set:` value are checked against the env's
declaration (third-party gymnasium envs declare nothing: their values are not checked); the
metric is `passed`, `errors` or a metric the env declares; `by:` names a finite parameter of
the scenarios the test draws from."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from simtest.core.errors import Problem, did_you_mean

__all__ = ["Invariance", "Directional", "Minimum", "BehaviourTest", "BEHAVIOUR_KINDS", "behaviour_problems",
           "test_name", "test_kind", "test_body"]

_FROZEN = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
BEHAVIOUR_KINDS = ("invariance", "directional", "minimum")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def _plain(v: Any) -> Any:
    from simtest.authoring.spec import _plain_value  # one rule for parameter values (lazy: spec imports us)

    return _plain_value(v)


class _Common(BaseModel):
    model_config = _FROZEN
    name: str | None = Field(None, pattern=_NAME, description="test name in reports and pytest ids (default: kind-param)")
    metric: str = Field("passed", description="what is compared: passed, errors or a metric the env declares")
    blocking: bool = Field(True, description="a violation fails the gate (false: diagnostic, reported only)")
    by: str | None = Field(None, description="also judge per value of this finite parameter, e.g. lighting")


class InvarianceSpec(_Common):
    """Changing `param` across `values` must not change `metric` by more than `margin` (TOST on the
    paired difference of each value against the first)."""

    param: str = Field(description="the parameter that must not matter")
    values: tuple[Any, ...] = Field(min_length=2, description="its values; the first is the reference member")
    margin: float = Field(gt=0, description="equivalence margin on the paired difference (e.g. 0.1 = 10 points)")
    scenarios: tuple[str, ...] = Field((), description="suite scenario files (or globs) whose cases are the bases; "
                                       "default: every suite scenario whose env declares the parameter")
    pairs: int | None = Field(None, gt=0, description="at most this many base cases (default: all of the plan's)")

    @field_validator("values")
    @classmethod
    def _values(cls, v: tuple) -> tuple:
        v = tuple(_plain(x) for x in v)
        if len(set(map(repr, v))) != len(v):
            raise ValueError("values must be distinct")
        return v


class DirectionalSpec(_Common):
    """Moving `param` from `from` to `to` must not move `metric` the forbidden way by more than
    `margin` (one-sided test in the forbidden direction)."""

    param: str = Field(description="the parameter that is moved")
    from_: Any = Field(alias="from", description="value of the base member")
    to: Any = Field(description="value of the variant member")
    expect: Literal["not_higher", "not_lower"] = Field(description="the metric of the variant must not be higher "
                                                       "(not_higher) or not lower (not_lower) than the base's")
    margin: float = Field(0.0, ge=0, description="tolerated move the forbidden way (0: any move is a violation)")
    scenarios: tuple[str, ...] = Field((), description="suite scenario files (or globs) whose cases are the bases")
    pairs: int | None = Field(None, gt=0, description="at most this many base cases (default: all of the plan's)")

    @field_validator("from_", "to")
    @classmethod
    def _values(cls, v: Any) -> Any:
        return _plain(v)

    @model_validator(mode="after")
    def _differ(self) -> "DirectionalSpec":
        if repr(self.from_) == repr(self.to):
            raise ValueError("from and to are the same value; a directional test moves the parameter")
        return self


class MinimumSpec(_Common):
    """A simple case that must pass: `scenario` with the `set:` values, `seeds` cases; the pass
    rate of `metric` must be at least `at_least` (exact binomial bound)."""

    scenario: str = Field(description="scenario file, relative to the suite (need not be in the suite's list)")
    set_: dict[str, Any] = Field(default_factory=dict, alias="set", description="parameter values fixed in every case")
    at_least: float = Field(1.0, gt=0, le=1, description="required pass rate; 1.0 = every case must pass")
    seeds: int = Field(20, gt=0, le=10_000, description="cases to run (each a fresh sample and seed)")

    @field_validator("set_")
    @classmethod
    def _values(cls, v: dict) -> dict:
        return {str(k): _plain(x) for k, x in v.items()}


class Invariance(BaseModel):
    model_config = _FROZEN
    invariance: InvarianceSpec


class Directional(BaseModel):
    model_config = _FROZEN
    directional: DirectionalSpec


class Minimum(BaseModel):
    model_config = _FROZEN
    minimum: MinimumSpec


def _kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return next(k for k in BEHAVIOUR_KINDS if hasattr(value, k))
    if isinstance(value, dict):
        hits = [k for k in BEHAVIOUR_KINDS if k in value]
        return hits[0] if len(hits) == 1 and len(value) == 1 else None
    return None


BehaviourTest = Annotated[
    Union[Annotated[Invariance, Tag("invariance")], Annotated[Directional, Tag("directional")],
          Annotated[Minimum, Tag("minimum")]],
    Discriminator(_kind, custom_error_type="behaviour_kind",
                  custom_error_message="a behaviour test is a mapping with exactly one key: invariance, directional "
                  "or minimum (its settings go inside it, e.g. - invariance: {param: ..., values: [...], margin: 0.1})"),
]


def test_kind(t: Any) -> str:
    return _kind(t)


def test_body(t: Any) -> Any:
    return getattr(t, test_kind(t))


def test_name(t: Any) -> str:
    body = test_body(t)
    if body.name:
        return body.name
    kind = test_kind(t)
    if kind == "minimum":
        return f"minimum-{Path(body.scenario).stem}"
    return f"{kind}-{body.param}"


# --------------------------------------------------------------------------- cross-file checks


def matched_files(suite_path: Path, patterns: Sequence[str], files: Sequence[str]) -> list[str] | None:
    """The suite scenario files matched by `patterns` (None: a pattern matched no suite scenario)."""
    resolved = {str(Path(f).resolve()): f for f in files}
    out: list[str] = []
    for pattern in patterns:
        hits = [resolved[str(Path(m).resolve())] for m in sorted(glob.glob(str(suite_path.parent / pattern)))
                if str(Path(m).resolve()) in resolved]
        if not hits:
            return None
        out.extend(h for h in hits if h not in out)
    return out


def behaviour_problems(doc: Any, suite_path: Path, tests: Sequence[Any], scenarios: Sequence[Any],
                       files: Sequence[str]) -> list[Problem]:
    """Problems of the behaviour section that need the scenarios and their envs, positioned in the suite."""
    from simtest.authoring.spec import load_scenario, value_problem
    from simtest.contract import registry
    from simtest.core.errors import ScenarioError

    problems: list[Problem] = []
    names: dict[str, int] = {}
    by_file = dict(zip(files, scenarios))
    for i, t in enumerate(tests):
        kind, body = test_kind(t), test_body(t)
        at = ("behaviour", i, kind)
        name = test_name(t)
        if name in names:
            problems.append(doc.problem(at, f'two behaviour tests are named "{name}" (#{names[name]} and #{i}); '
                                        "add name: <a unique name> inside one of them"))
        names.setdefault(name, i)
        if kind == "minimum":
            target = suite_path.parent / body.scenario
            match = next((s for f, s in by_file.items() if Path(f).resolve() == target.resolve()), None)
            if match is None:
                try:
                    match = load_scenario(target) if target.is_file() else None
                except ScenarioError as exc:
                    problems.extend(exc.problems)
                    continue
                if match is None:
                    problems.append(doc.problem(at + ("scenario",), f'scenario file "{body.scenario}" not found next '
                                                f"to {suite_path.name}"))
                    continue
            chosen = [match]
            values = [(name_, v, at + ("set", name_)) for name_, v in body.set_.items()]
        else:
            if body.scenarios:
                picked = matched_files(suite_path, body.scenarios, files)
                if picked is None:
                    problems.append(doc.problem(at + ("scenarios",), f"{list(body.scenarios)} matches no scenario of this "
                                                f"suite; use the file names under scenarios: ({', '.join(Path(f).name for f in files)})"))
                    continue
                chosen = [by_file[f] for f in picked]
            else:
                chosen = [s for s in scenarios if _declares(registry, s.env, body.param)]
                if not chosen:
                    problems.append(doc.problem(at + ("param",), f'no scenario of this suite can vary "{body.param}": '
                                                "its env does not declare it" + _suggest(registry, scenarios, body.param)))
                    continue
            if kind == "invariance":
                values = [(body.param, v, at + ("values", j)) for j, v in enumerate(body.values)]
            else:
                values = [(body.param, body.from_, at + ("from",)), (body.param, body.to, at + ("to",))]
        for s in chosen:
            declared = _declared(registry, s.env)
            metrics = _metrics(registry, s.env)
            for pname, v, loc in values:
                if declared is None:
                    continue
                if pname not in declared:
                    problems.append(doc.problem(loc[:-1] if loc[-1] != pname else loc,
                                                f'unknown parameter "{pname}" for {s.env}{did_you_mean(pname, declared)}; '
                                                f"declared: {', '.join(sorted(declared))}"))
                    continue
                msg = value_problem(pname, v, declared[pname])
                if msg:
                    problems.append(doc.problem(loc, msg))
            if metrics is not None and body.metric not in {"passed", "errors", *metrics}:
                problems.append(doc.problem(at + ("metric",), f'unknown metric "{body.metric}"'
                                            f"{did_you_mean(body.metric, {'passed', 'errors', *metrics})}; metrics of "
                                            f"{s.env}: passed, errors, {', '.join(sorted(metrics))}"))
            elif kind == "minimum" and metrics is not None and body.metric not in ("passed", "errors") \
                    and metrics[body.metric].get("kind") != "binary":
                problems.append(doc.problem(at + ("metric",), f'minimum functionality needs a binary metric (a pass '
                                            f'rate); "{body.metric}" is continuous; use passed or a binary metric'))
            if body.by is not None:
                d = s.params.get(body.by)
                if d is None or d.finite_values() is None:
                    problems.append(doc.problem(at + ("by",), f'by: "{body.by}" must be a parameter of scenario {s.id} '
                                                "with a finite domain (choice, grid, int_range or fixed)"
                                                + ("" if body.by in s.params else did_you_mean(body.by, s.params))))
        problems = list(dict.fromkeys(problems))
    return problems


def _declared(registry: Any, env: str) -> dict | None:
    try:
        return registry.env_info(env).params
    except Exception:  # noqa: BLE001 - an env problem is reported by the scenario's own validation
        return None


def _metrics(registry: Any, env: str) -> dict | None:
    try:
        return dict(registry.env_info(env).metrics)
    except Exception:  # noqa: BLE001
        return None


def _declares(registry: Any, env: str, param: str) -> bool:
    declared = _declared(registry, env)
    return declared is None or param in declared


def _suggest(registry: Any, scenarios: Sequence[Any], param: str) -> str:
    names: set[str] = set()
    for s in scenarios:
        names |= set(_declared(registry, s.env) or ())
    return did_you_mean(param, names)
