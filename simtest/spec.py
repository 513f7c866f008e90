"""Layer 1: the scenario and suite formats (one source of truth: these pydantic models, which
also export JSON Schema), their loading from YAML with positioned errors, and validation of a
scenario against what its environment declares.

A Domain only says which values are valid; how values are drawn lives in simtest.sampling."""

from __future__ import annotations

import glob
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from simtest import expr as expr_lang
from simtest import yamlio
from simtest.errors import Problem, ScenarioError, did_you_mean

_FROZEN = ConfigDict(extra="forbid", frozen=True)
SCENARIO_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*-v[0-9]+$")


# --------------------------------------------------------------------------- domains


class Fixed(BaseModel):
    model_config = _FROZEN
    fixed: Any

    kind: Literal["fixed"] = Field("fixed", exclude=True)

    def finite_values(self) -> list:
        return [self.fixed]


class Choice(BaseModel):
    model_config = _FROZEN
    choice: list[Any] = Field(min_length=1, description="the allowed values")
    weights: list[float] | None = Field(None, description="relative sampling weights, one per value")

    @model_validator(mode="after")
    def _weights(self) -> "Choice":
        if self.weights is not None:
            if len(self.weights) != len(self.choice):
                raise ValueError(
                    f"weights has {len(self.weights)} entries but choice has {len(self.choice)}; give one weight per value"
                )
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be >= 0 and not all zero")
        return self

    def finite_values(self) -> list:
        return list(self.choice)


class Uniform(BaseModel):
    model_config = _FROZEN
    uniform: tuple[float, float] = Field(description="[low, high], inclusive")

    @field_validator("uniform")
    @classmethod
    def _order(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (math.isfinite(v[0]) and math.isfinite(v[1])) or v[0] > v[1]:
            raise ValueError(f"uniform range [{v[0]}, {v[1]}] is empty; write [low, high] with low <= high")
        return v

    def finite_values(self) -> None:
        return None


class NormalSpec(BaseModel):
    model_config = _FROZEN
    mean: float
    std: float = Field(gt=0)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> "NormalSpec":
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"normal bounds min={self.min} >= max={self.max}: the domain is empty")
        return self


class Normal(BaseModel):
    model_config = _FROZEN
    normal: NormalSpec = Field(description="truncated normal: mean, std, optional min/max")

    def finite_values(self) -> None:
        return None


class IntRange(BaseModel):
    model_config = _FROZEN
    int_range: tuple[int, int] = Field(description="[low, high], both inclusive")

    @field_validator("int_range")
    @classmethod
    def _order(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] > v[1]:
            raise ValueError(f"int_range [{v[0]}, {v[1]}] is empty; write [low, high] with low <= high")
        return v

    def finite_values(self) -> list:
        return list(range(self.int_range[0], self.int_range[1] + 1))


class Grid(BaseModel):
    model_config = _FROZEN
    grid: list[Any] = Field(min_length=1, description="every value is run (crossed with other grids)")

    def finite_values(self) -> list:
        return list(self.grid)


DOMAIN_KINDS = ("fixed", "choice", "uniform", "normal", "int_range", "grid")


def _domain_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return next(k for k in DOMAIN_KINDS if hasattr(value, k))
    if isinstance(value, dict):
        hits = [k for k in DOMAIN_KINDS if k in value]
        return hits[0] if len(hits) == 1 else None
    return "fixed"


Domain = Annotated[
    Union[
        Annotated[Fixed, Tag("fixed")],
        Annotated[Choice, Tag("choice")],
        Annotated[Uniform, Tag("uniform")],
        Annotated[Normal, Tag("normal")],
        Annotated[IntRange, Tag("int_range")],
        Annotated[Grid, Tag("grid")],
    ],
    Discriminator(
        _domain_kind,
        custom_error_type="domain",
        custom_error_message="a parameter domain is a plain value or a mapping with exactly one of: "
        + ", ".join(DOMAIN_KINDS),
    ),
]


def _scalar_to_fixed(value: Any) -> Any:
    if isinstance(value, dict) and _domain_kind(value) is not None:
        return value
    if isinstance(value, dict):
        return value  # the discriminator reports it
    return {"fixed": value}


# --------------------------------------------------------------------------- checks


class Check(BaseModel):
    """A pass check over episode metrics, e.g. `min_clearance >= 0.3`."""

    model_config = _FROZEN
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    expr: str

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": _slug(value), "expr": value}
        return value

    @field_validator("expr")
    @classmethod
    def _parses(cls, v: str) -> str:
        try:
            expr_lang.parse(v)
        except expr_lang.ExprError as exc:
            raise ValueError(str(exc)) from None
        return v

    @property
    def names(self) -> frozenset:
        return expr_lang.parse(self.expr).names


def _slug(text: str) -> str:
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)
    return "_".join(w for w in words if w not in ("and", "or", "not"))[:40] or "check"


# --------------------------------------------------------------------------- scenario & suite


class Scenario(BaseModel):
    """What to test: an environment, parameter domains, tags (slices), horizon and pass checks."""

    model_config = _FROZEN
    id: str = Field(description="versioned id, e.g. driving/night-obstacles-v1")
    env: str = Field(description="a registered gymnasium env id, e.g. simtest/Driving-v0")
    description: str = ""
    tags: tuple[str, ...] = ()
    horizon: int = Field(gt=0, description="maximum control steps per episode")
    params: dict[str, Domain] = Field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    constraints: tuple[str, ...] = Field((), description="expressions over params every case must satisfy")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not SCENARIO_ID.match(v):
            raise ValueError(f'scenario id "{v}" must look like "domain/name-v1" (lower case, ending in -v<N>)')
        return v

    @field_validator("params", mode="before")
    @classmethod
    def _fixed_shorthand(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {k: _scalar_to_fixed(d) for k, d in v.items()}
        return v

    @field_validator("constraints")
    @classmethod
    def _constraints_parse(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for text in v:
            try:
                expr_lang.parse(text)
            except expr_lang.ExprError as exc:
                raise ValueError(str(exc)) from None
        return v

    @property
    def hash(self) -> str:
        """Content hash of everything that changes what a case runs (not the description)."""
        return _scenario_hash(self)


def _scenario_hash(s: Scenario) -> str:
    body = s.model_dump(mode="json", exclude={"description"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


class Suite(BaseModel):
    """Which scenarios to run, how to sample them, and which gate policy judges them."""

    model_config = _FROZEN
    name: str
    description: str = ""
    scenarios: tuple[str, ...] = Field(min_length=1, description="scenario files or globs, relative to the suite")
    sampler: Literal["grid", "random", "sobol", "halton"] = "random"
    samples: int = Field(10, gt=0, description="parameter samples per scenario (per grid point)")
    seeds: int = Field(1, gt=0, description="seeds per parameter sample")
    seed: int = Field(0, ge=0, description="base seed of the suite")
    stratify: tuple[str, ...] = Field((), description="choice parameters whose values each get an equal share")
    policy: str | None = Field(None, description="gate policy file, relative to the suite")
    max_extra_rounds: int = Field(2, ge=0, description="adaptive rounds of extra seeds for undecided slices")


@dataclass(frozen=True)
class LoadedSuite:
    """A suite with its scenarios loaded and validated."""

    path: str
    suite: Suite
    scenarios: tuple[Scenario, ...]
    policy_path: str | None


# --------------------------------------------------------------------------- loading


def load_scenario(path: str | Path, *, check_env: bool = True) -> Scenario:
    doc = yamlio.load(path)
    scenario = _build(Scenario, doc)
    if check_env:
        problems = validate_against_env(scenario, doc)
        if problems:
            raise ScenarioError(problems)
    return scenario


def _build(model: type[BaseModel], doc: yamlio.Located, *, error_cls: type = ScenarioError):
    if not isinstance(doc.data, dict):
        raise error_cls([doc.problem((), f"expected a mapping at the top level, got {type(doc.data).__name__}")])
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise error_cls(yamlio.pydantic_problems(exc, doc)) from None


def load_suite(path: str | Path) -> LoadedSuite:
    """Load a suite and every scenario it names. All problems in all files are reported at once."""
    path = Path(path)
    doc = yamlio.load(path)
    suite = _build(Suite, doc)
    problems: list[Problem] = []
    files: list[Path] = []
    for i, pattern in enumerate(suite.scenarios):
        matched = sorted(glob.glob(str(path.parent / pattern), recursive=True))
        if not matched:
            problems.append(doc.problem(("scenarios", i), f'"{pattern}" matches no file next to {path.name}'))
        files.extend(Path(m) for m in matched if Path(m).resolve() != path.resolve())
    scenarios: list[Scenario] = []
    seen: dict[str, str] = {}
    for f in dict.fromkeys(files):
        try:
            s = load_scenario(f)
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        if s.id in seen:
            problems.append(Problem(str(f), "$.id", f'scenario id "{s.id}" is also used by {seen[s.id]}; ids must be unique'))
        seen[s.id] = str(f)
        scenarios.append(s)
    policy_path = None
    if suite.policy is not None:
        policy_path = str(path.parent / suite.policy)
        if not Path(policy_path).is_file():
            problems.append(doc.problem(("policy",), f'policy file "{suite.policy}" not found next to {path.name}'))
    for i, name in enumerate(suite.stratify):
        if not any(name in s.params for s in scenarios):
            problems.append(doc.problem(("stratify", i), f'no scenario of this suite has a parameter "{name}"'))
    if problems:
        raise ScenarioError(problems)
    return LoadedSuite(str(path), suite, tuple(scenarios), policy_path)


def validate_against_env(scenario: Scenario, doc: yamlio.Located | None = None) -> list[Problem]:
    """Check parameter names, types and ranges and check metrics against the env's declarations."""
    from simtest import registry

    def problem(loc: tuple, message: str, key: bool = False) -> Problem:
        if doc is None:
            return Problem("<scenario>", yamlio.jsonpath(loc), message)
        return doc.problem(loc, message, key=key)

    try:
        info = registry.env_info(scenario.env)
    except registry.UnknownEnvError as exc:
        return [problem(("env",), str(exc))]
    problems: list[Problem] = []
    declared = info.params
    if declared is not None:
        for name, domain in scenario.params.items():
            if name not in declared:
                problems.append(
                    problem(
                        ("params", name),
                        f'unknown parameter "{name}" for {scenario.env}{did_you_mean(name, declared)}; '
                        f"declared: {', '.join(sorted(declared))}",
                        key=True,
                    )
                )
                continue
            for message in _domain_problems(name, domain, declared[name]):
                problems.append(problem(("params", name), message))
    metric_names = set(info.metrics)
    for i, check in enumerate(scenario.checks):
        for name in sorted(check.names - metric_names):
            problems.append(
                problem(("checks", i), f'unknown metric "{name}" in check "{check.expr}"{did_you_mean(name, metric_names)}; '
                        f"metrics of {scenario.env}: {', '.join(sorted(metric_names))}")
            )
    param_names = set(scenario.params) | set(declared or ())
    for i, text in enumerate(scenario.constraints):
        for name in sorted(expr_lang.parse(text).names - param_names):
            problems.append(problem(("constraints", i), f'unknown parameter "{name}" in constraint "{text}"{did_you_mean(name, param_names)}'))
    return problems


def domain_values(domain: Any) -> list | None:
    return domain.finite_values()


def _domain_problems(name: str, domain: Any, decl: dict) -> list[str]:
    kind = _domain_kind(domain)
    ptype = decl.get("type", "float")
    lo, hi, choices = decl.get("min"), decl.get("max"), decl.get("choices")
    values = domain.finite_values()
    out: list[str] = []
    if values is None:  # continuous domain
        if ptype not in ("float", "int"):
            return [f'"{name}" is a {ptype} parameter; a {kind} domain needs a number parameter']
        if kind == "uniform":
            values = list(domain.uniform)
        else:
            spec = domain.normal
            values = [v for v in (spec.min, spec.max) if v is not None]
            if lo is not None and spec.min is None:
                out.append(f'normal domain of "{name}" needs min >= {lo} (the declared minimum)')
            if hi is not None and spec.max is None:
                out.append(f'normal domain of "{name}" needs max <= {hi} (the declared maximum)')
    for v in values:
        msg = _value_problem(name, v, ptype, lo, hi, choices, decl)
        if msg:
            out.append(msg)
            break
    return out


def _value_problem(name: str, v: Any, ptype: str, lo: Any, hi: Any, choices: Any, decl: dict) -> str | None:
    unit = f" {decl['unit']}" if decl.get("unit") else ""
    if ptype == "int" and not (isinstance(v, int) and not isinstance(v, bool)):
        return f'"{name}" must be an integer, got {v!r}'
    if ptype == "float" and (isinstance(v, bool) or not isinstance(v, (int, float))):
        return f'"{name}" must be a number, got {v!r}'
    if ptype == "bool" and not isinstance(v, bool):
        return f'"{name}" must be true or false, got {v!r}'
    if ptype == "str" and not isinstance(v, str):
        return f'"{name}" must be a string, got {v!r}'
    if ptype == "list" and not isinstance(v, list):
        return f'"{name}" must be a list, got {v!r}'
    if choices is not None and v not in choices:
        return f'"{name}" must be one of {", ".join(map(str, choices))}; got {v!r}{did_you_mean(str(v), map(str, choices))}'
    if ptype in ("int", "float"):
        if lo is not None and v < lo:
            return f'"{name}" = {v}{unit} is below the minimum {lo}{unit}'
        if hi is not None and v > hi:
            return f'"{name}" = {v}{unit} is above the maximum {hi}{unit}'
    return None
