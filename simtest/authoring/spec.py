"""The scenario and suite formats (one source of truth: these pydantic models, which
also export JSON Schema), their loading from YAML with positioned errors, and validation of a
scenario against what its environment declares.

A Domain only says which values are valid; how values are drawn lives in simtest.authoring.sampling."""

from __future__ import annotations

import glob
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from simtest.core import expr as expr_lang
from simtest.core import stl
from simtest.core import yamlio
from simtest.authoring.behaviour_spec import BehaviourTest, behaviour_problems
from simtest.core.errors import Problem, ScenarioError, did_you_mean

_FROZEN = ConfigDict(extra="forbid", frozen=True)
SCENARIO_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*-v[0-9]+$")
# A domain with more values than this is never enumerated (the grid sampler spaces it evenly).
MAX_ENUMERATED = 10_000


def _plain_value(v: Any, depth: int = 0) -> Any:
    """Parameter values must survive JSON (case ids hash them, results store them)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"parameter values must be finite numbers, got {v}")
        return v
    if isinstance(v, list) and depth < 8:
        return [_plain_value(x, depth + 1) for x in v]
    if isinstance(v, dict) and depth < 8:
        return {str(k): _plain_value(x, depth + 1) for k, x in v.items()}
    text = str(v) if len(str(v)) <= 40 else str(v)[:37] + "..."
    raise ValueError(f"parameter values must be numbers, strings, booleans, null or lists of them; "
                     f"got {type(v).__name__} {text} (quote it to make it a string)")


def _finite(name: str, v: float | None) -> None:
    if v is not None and not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v}")


# --------------------------------------------------------------------------- domains


class Fixed(BaseModel):
    """One value for every case (a plain value under `params:` means the same)."""

    model_config = _FROZEN
    fixed: Any = Field(description="the value of every case")

    @field_validator("fixed")
    @classmethod
    def _plain(cls, v: Any) -> Any:
        return _plain_value(v)

    def finite_values(self) -> list:
        return [self.fixed]


class Choice(BaseModel):
    """One of a list of values, drawn with optional weights (stratified suites give each value an
    equal share instead)."""

    model_config = _FROZEN
    choice: list[Any] = Field(min_length=1, description="the allowed values")
    weights: list[float] | None = Field(None, description="relative sampling weights, one per value")

    @field_validator("choice")
    @classmethod
    def _plain(cls, v: list) -> list:
        return [_plain_value(x) for x in v]

    @model_validator(mode="after")
    def _weights(self) -> "Choice":
        if self.weights is not None:
            if len(self.weights) != len(self.choice):
                raise ValueError(
                    f"weights has {len(self.weights)} entries but choice has {len(self.choice)}; give one weight per value"
                )
            if any(not math.isfinite(w) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be finite, >= 0 and not all zero")
        return self

    def finite_values(self) -> list:
        return list(self.choice)


class Uniform(BaseModel):
    """A real number drawn uniformly from [low, high]."""

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
    mean: float = Field(description="centre of the bell curve")
    std: float = Field(gt=0, description="standard deviation (> 0)")
    min: float | None = Field(None, description="values below are never drawn (truncation)")
    max: float | None = Field(None, description="values above are never drawn (truncation)")

    @model_validator(mode="after")
    def _bounds(self) -> "NormalSpec":
        for name in ("mean", "std", "min", "max"):
            _finite(name, getattr(self, name))
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError(f"normal bounds min={self.min} >= max={self.max}: the domain is empty")
        return self


class Normal(BaseModel):
    """A real number from a normal distribution, truncated to [min, max] when given."""

    model_config = _FROZEN
    normal: NormalSpec = Field(description="truncated normal: mean, std, optional min/max")

    def finite_values(self) -> None:
        return None


class IntRange(BaseModel):
    """An integer drawn uniformly from [low, high], both inclusive."""

    model_config = _FROZEN
    int_range: tuple[int, int] = Field(description="[low, high], both inclusive")

    @field_validator("int_range")
    @classmethod
    def _order(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] > v[1]:
            raise ValueError(f"int_range [{v[0]}, {v[1]}] is empty; write [low, high] with low <= high")
        return v

    def finite_values(self) -> list | None:
        lo, hi = self.int_range
        return list(range(lo, hi + 1)) if hi - lo < MAX_ENUMERATED else None


class Grid(BaseModel):
    """Every value is run, crossed with the other grids (each grid point gets `samples` draws of
    the remaining parameters)."""

    model_config = _FROZEN
    grid: list[Any] = Field(min_length=1, description="every value is run (crossed with other grids)")

    @field_validator("grid")
    @classmethod
    def _plain(cls, v: list) -> list:
        return [_plain_value(x) for x in v]

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


def _parsed_expr(v: str) -> str:
    try:
        expr_lang.parse(v)
    except expr_lang.ExprError as exc:
        raise ValueError(str(exc)) from None
    return v



class Check(BaseModel):
    """A pass check over episode metrics, e.g. `min_clearance >= 0.3`, or a temporal-logic
    requirement over the per-step signals, e.g. `always(clearance > 0.3)` (simtest.core.stl).
    Written as a plain string (its name is derived from the text) or as {name, expr}."""

    model_config = _FROZEN
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="column name of the check in results")
    expr: str = Field(description="expression over the env's metrics, e.g. `collision == 0`, or an STL requirement "
                      "over its per-step signals, e.g. `always(clearance > 0.3)`, `eventually[0, 150](goal_reached)`")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": _slug(value), "expr": value}
        return value

    @field_validator("expr")
    @classmethod
    def _parses(cls, v: str) -> str:
        if stl.is_temporal(v):
            try:
                stl.parse(v)
            except stl.STLError as exc:
                raise ValueError(str(exc)) from None
            return v
        return _parsed_expr(v)

    @property
    def temporal(self) -> bool:
        """An STL requirement over per-step signals (else a plain check over episode metrics)."""
        return stl.is_temporal(self.expr)

    @property
    def names(self) -> frozenset:
        return stl.parse(self.expr).names if self.temporal else expr_lang.parse(self.expr).names


def _slug(text: str) -> str:
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)
    return "_".join(w for w in words if w not in ("and", "or", "not"))[:40] or "check"


# --------------------------------------------------------------------------- scenario & suite


class SearchSpec(BaseModel):
    """How `simtest search` treats this scenario (simtest.exploration.search)."""

    model_config = _FROZEN
    nominal: dict[str, Any] = Field(default_factory=dict, description="parameter -> its simplest value, the target "
                                    "of shrinking (default: the domain's centre, a choice's first value)")
    distinct: float = Field(0.1, gt=0, le=1, description="two failures are distinct when their normalised parameter "
                            "distance (0..1 per parameter, root mean square) exceeds this")

    @field_validator("nominal")
    @classmethod
    def _plain(cls, v: dict) -> dict:
        return {k: _plain_value(x) for k, x in v.items()}


class Scenario(BaseModel):
    """What to test: an environment, parameter domains, tags (slices), horizon and pass checks.

    In a file, `extends: other.yaml` inherits everything from another scenario file (relative
    path); `params` then merge by name and every other key given replaces the parent's."""

    model_config = _FROZEN
    id: str = Field(description="versioned id, e.g. driving/night-obstacles-v1 (lower case, ends in -v<N>)")
    env: str = Field(description="a registered env id: simtest/Driving-v0, or any gymnasium id such as CartPole-v1")
    description: str = Field("", description="what the scenario tests (not part of the scenario hash)")
    tags: tuple[str, ...] = Field((), description="slices the gate judges separately; also pytest markers")
    horizon: int = Field(gt=0, description="maximum control steps per episode")
    params: dict[str, Domain] = Field(
        default_factory=dict,
        description="parameter name -> a plain value, or one of {fixed}, {choice, weights}, {uniform: [lo, hi]}, "
        "{normal: {mean, std, min, max}}, {int_range: [lo, hi]}, {grid: [...]}",
    )
    checks: tuple[Check, ...] = Field((), description="pass checks over episode metrics, e.g. `success == 1`")
    constraints: tuple[Annotated[str, AfterValidator(_parsed_expr)], ...] = Field(
        (), description="expressions over this scenario's params that every case satisfies, e.g. `goal_distance > 2 * obstacle_size`"
    )
    search: SearchSpec | None = Field(None, description="for `simtest search`: nominal values to shrink toward and "
                                     "the distance that makes two failures distinct (not part of the scenario hash)")
    seeds: tuple[Annotated[int, Field(ge=0)], ...] = Field(
        (), description="pinned case seeds (corpus scenarios): every parameter sample runs with exactly these seeds")
    found: dict[str, str] | None = Field(None, description="corpus scenarios: model, date and case id of the failure "
                                         "`simtest search` found (not part of the scenario hash)")

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

    @field_validator("checks")
    @classmethod
    def _unique_check_names(cls, v: tuple[Check, ...]) -> tuple[Check, ...]:
        seen: set[str] = set()
        for c in v:
            if c.name in seen:
                raise ValueError(f'two checks are named "{c.name}"; give one of them a name: {{name: ..., expr: "{c.expr}"}}')
            seen.add(c.name)
        return v

    @property
    def hash(self) -> str:
        """Content hash of everything that changes what a case runs (not the description)."""
        return _scenario_hash(self)


def _scenario_hash(s: Scenario) -> str:
    body = s.model_dump(mode="json", exclude={"description", "search", "found"})
    if not body["seeds"]:  # scenarios without pinned seeds keep the hash they had before the field
        del body["seeds"]
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def constraint_name_problems(scenario: Scenario) -> list[tuple[tuple, str]]:
    """Constraints may only read this scenario's own parameters (they are checked on its cases)."""
    out = []
    names = set(scenario.params)
    for i, text in enumerate(scenario.constraints):
        for name in sorted(expr_lang.parse(text).names - names):
            out.append((("constraints", i), f'constraint "{text}" reads "{name}", which is not a parameter of this '
                        f"scenario{did_you_mean(name, names)}; constraints can read: {', '.join(sorted(names)) or 'nothing'}"))
    return out


class Suite(BaseModel):
    """Which scenarios to run, how to sample them, and which gate policy judges them."""

    model_config = _FROZEN
    name: str = Field(description="suite name; stored runs are keyed by it")
    description: str = ""
    scenarios: tuple[str, ...] = Field(min_length=1, description="scenario files or globs, relative to the suite")
    sampler: Literal["grid", "random", "sobol", "halton", "coverage"] = Field(
        "random", description=("how parameter samples are drawn: random, low-discrepancy sobol/halton, grid, or "
                               "coverage (halton candidates, picked to fill empty pairwise cells first)"))
    fill_coverage: bool = Field(False, description=(
        "pick each sample from a pool of the sampler's candidates so that empty pairwise cells "
        "(parameter pairs x values / buckets) are filled first; `sampler: coverage` implies it"))
    coverage_bins: int = Field(4, ge=2, le=20, description=(
        "buckets per numeric parameter for pairwise coverage (the fill_coverage sampler and `simtest coverage`)"))
    samples: int = Field(10, gt=0, description="parameter samples per scenario (per grid point)")
    seeds: int = Field(1, gt=0, description="seeds per parameter sample")
    seed: int = Field(0, ge=0, description="base seed of the suite")
    stratify: tuple[str, ...] = Field((), description="finite parameters (choice, int_range) whose values each get an equal share")
    policy: str | None = Field(None, description="gate policy file, relative to the suite")
    max_extra_rounds: int = Field(2, ge=0, description="adaptive rounds of extra seeds for undecided slices")
    corpus: tuple[str, ...] = Field((), description="failure-corpus directories (from `simtest search --save-corpus`), "
                                    "relative to the suite: the gate runs their cases first and reports them apart")
    corpus_blocking: bool = Field(True, description="a corpus case that the baseline passes and the candidate fails "
                                  "(a fixed failure come back) fails the gate")
    behaviour: tuple[BehaviourTest, ...] = Field(
        (), description="behavioural tests run by `simtest gate` beside the suite: invariance, directional, minimum "
        "(docs/authoring.md, Behavioural tests)")
    baseline_branch: str | None = Field(None, pattern=r"^[A-Za-z0-9._/-]+$", description=(
        "`simtest gate` takes the baseline's (and reference's) results from the newest stored run made from "
        "this branch's code (the run manifests' provenance) instead of running them: a pull request's gate "
        "judges its code against main's stored results (docs/ci.md). `--baseline REF@BRANCH` does the same "
        "for one gate; `--baseline-branch none` turns it off"))


@dataclass(frozen=True)
class LoadedSuite:
    """A suite with its scenarios loaded and validated."""

    path: str
    suite: Suite
    scenarios: tuple[Scenario, ...]
    policy_path: str | None
    files: tuple[str, ...] = ()  # the scenario file of each scenario, in the same order
    corpus: tuple[Scenario, ...] = ()  # failure-corpus scenarios (pinned params and seeds), run first by the gate
    corpus_files: tuple[str, ...] = ()


# --------------------------------------------------------------------------- loading


def scenario_document(path: str | Path) -> yamlio.Located:
    """The scenario file with its `extends:` chain resolved: one document whose every value
    remembers the file and line it came from."""
    return _resolve_extends(Path(path), ())


def _resolve_extends(path: Path, chain: tuple[Path, ...]) -> yamlio.Located:
    doc = yamlio.load(path)
    data = doc.data
    if not isinstance(data, dict) or "extends" not in data:
        return doc
    ref = data["extends"]
    if not isinstance(ref, str) or not ref.strip():
        raise ScenarioError([doc.problem(("extends",), "extends must name another scenario file by its path "
                                         "relative to this one, e.g. extends: base.yaml")])
    here = path.resolve()
    parent = (path.parent / ref)
    problems = []
    if "id" not in data:
        problems.append(doc.problem((), "a scenario that extends another needs its own id (two scenarios may not "
                                        "share one); add id: <domain>/<name>-v1"))
    seen = chain + (here,)
    try:
        parent_key = parent.resolve()
    except (OSError, RuntimeError, ValueError):
        parent_key = parent
    if parent_key in seen:
        names = " -> ".join(p.name for p in seen[seen.index(parent_key):]) + f" -> {parent.name}"
        raise ScenarioError(problems + [doc.problem(("extends",), f"extends cycle: {names}; remove one of the extends")])
    try:
        found = parent.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise ScenarioError(problems + [doc.problem(("extends",), f'parent scenario "{ref}" not found (looked for '
                                                    f"{parent}); the path is relative to {path.name}")])
    base = _resolve_extends(parent, seen)
    if not isinstance(base.data, dict):
        raise ScenarioError(problems + [base.problem((), "a scenario named by extends must be a mapping")])
    if problems:
        raise ScenarioError(problems)
    return yamlio.merge(base, doc, drop=("extends",), deep=("params",))


def scenario_from_document(doc: yamlio.Located) -> Scenario:
    """Validate a (resolved) scenario document; every problem at once, positioned."""
    scenario = _build(Scenario, doc)
    problems = [doc.problem(loc, msg) for loc, msg in constraint_name_problems(scenario)]
    if problems:
        raise ScenarioError(problems)
    return scenario


def load_scenario(path: str | Path, *, check_env: bool = True) -> Scenario:
    """Load, resolve `extends:` and validate one scenario file (against what its env declares
    when `check_env`). Every problem is reported at once, each with file:line:col and $.path."""
    doc = scenario_document(path)
    try:
        scenario = scenario_from_document(doc)
    except ScenarioError as exc:
        if not check_env:
            raise
        # The model could not be built; still name misspelt parameters and unknown env ids now,
        # rather than one round of fixes later.
        extra = [p for p in _raw_env_problems(doc) if p not in exc.problems]
        raise ScenarioError(list(exc.problems) + extra) from None
    if check_env:
        problems = validate_against_env(scenario, doc)
        if problems:
            raise ScenarioError(problems)
    return scenario


def _raw_env_problems(doc: yamlio.Located) -> list[Problem]:
    """Env id and parameter-name problems of a document that is otherwise invalid."""
    from simtest.contract import registry

    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("env"), str):
        return []
    try:
        info = registry.env_info(data["env"])
    except (registry.UnknownEnvError, registry.EnvSpecError) as exc:
        return [doc.problem(("env",), str(exc))]
    try:
        declared = info.params
    except (ImportError, AttributeError, ValueError, TypeError):
        return []
    params = data.get("params")
    if declared is None or not isinstance(params, dict):
        return []
    return [doc.problem(("params", name), f'unknown parameter "{name}" for {data["env"]}{did_you_mean(name, declared)}; '
                        f"declared: {', '.join(sorted(declared))}", key=True)
            for name in params if name not in declared]


def _build(model: type[BaseModel], doc: yamlio.Located, *, error_cls: type = ScenarioError):
    if not isinstance(doc.data, dict):
        what = "an empty file" if doc.data is None else f"a {type(doc.data).__name__}"
        raise error_cls([doc.problem((), f"expected a mapping of keys at the top level, got {what}")])
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        own = _domain_shape_problems(doc) if model is Scenario else []
        if own:  # ours name the bad key; pydantic's generic union message would repeat them vaguely
            exc = _Without(exc, "domain")
        problems = own + yamlio.pydantic_problems(exc, doc, model=model)
        problems.sort(key=lambda p: (p.file != doc.file, p.file, p.line or 0, p.col or 0))
        raise error_cls(list(dict.fromkeys(problems))) from None


class _Without:
    """A pydantic ValidationError minus the errors of one type."""

    def __init__(self, exc: ValidationError, error_type: str):
        self._errors = [e for e in exc.errors(include_url=False) if e["type"] != error_type]

    def errors(self, **_: Any) -> list:
        return self._errors


def _domain_shape_problems(doc: yamlio.Located) -> list[Problem]:
    params = doc.data.get("params") if isinstance(doc.data, dict) else None
    if not isinstance(params, dict):
        return []
    out = []
    kinds = ", ".join(DOMAIN_KINDS)
    for name, value in params.items():
        if not isinstance(value, dict):
            continue
        hits = [k for k in DOMAIN_KINDS if k in value]
        if len(hits) > 1:
            out.append(doc.problem(("params", name), f'"{name}" has {" and ".join(hits)}; a domain has exactly one of: {kinds}'))
        elif not hits and not value:
            out.append(doc.problem(("params", name), f'"{name}" is an empty mapping; write a plain value or one of: {kinds}'))
        elif not hits:
            for key in value:
                out.append(doc.problem(("params", name, key), f'unknown domain "{key}"{did_you_mean(str(key), DOMAIN_KINDS)}; '
                                       f"a parameter is a plain value or a mapping with one of: {kinds}", key=True))
    return out


def _load_unique(files, scenarios: list, scenario_files: list, seen: dict, problems: list) -> None:
    """Load each scenario file; every problem is collected, and an id used twice is one."""
    for f in files:
        try:
            s = load_scenario(f)
        except ScenarioError as exc:
            problems.extend(exc.problems)
            continue
        if s.id in seen:
            problems.append(Problem(str(f), "$.id", f'scenario id "{s.id}" is also used by {seen[s.id]}; ids must be unique'))
        seen[s.id] = str(f)
        scenarios.append(s)
        scenario_files.append(str(f))


def load_suite(path: str | Path) -> LoadedSuite:
    """Load a suite and every scenario it names. All problems in all files are reported at once."""
    path = Path(path)
    doc = yamlio.load(path)
    suite = _build(Suite, doc)
    problems: list[Problem] = []
    files: list[Path] = []
    for i, pattern in enumerate(suite.scenarios):
        try:
            matched = sorted(glob.glob(str(path.parent / pattern), recursive=True))
        except (OSError, ValueError):
            matched = []
        if not matched:
            problems.append(doc.problem(("scenarios", i), f'"{pattern}" matches no file next to {path.name}'))
        files.extend(Path(m) for m in matched if Path(m).resolve() != path.resolve())
    scenarios: list[Scenario] = []
    scenario_files: list[str] = []
    seen: dict[str, str] = {}  # scenario id -> file, across the suite's scenarios and its corpus
    _load_unique(dict.fromkeys(files), scenarios, scenario_files, seen, problems)
    policy_path = None
    if suite.policy is not None:
        policy_path = str(path.parent / suite.policy)
        try:
            found = Path(policy_path).is_file()
        except (OSError, ValueError):
            found = False
        if not found:
            problems.append(doc.problem(("policy",), f'policy file "{suite.policy}" not found next to {path.name}'))
    for i, name in enumerate(suite.stratify):
        having = [s for s in scenarios if name in s.params]
        if not having and scenarios:
            problems.append(doc.problem(("stratify", i), f'no scenario of this suite has a parameter "{name}"'
                                        f"{did_you_mean(name, {p for s in scenarios for p in s.params})}"))
        for s in having:
            d = s.params[name]
            if d.finite_values() is None:
                problems.append(doc.problem(("stratify", i), f'cannot stratify "{name}": scenario {s.id} gives it a '
                                            f"{_domain_kind(d)} domain; stratify needs a finite domain "
                                            "(choice, grid, int_range or fixed)"))
    corpus: list[Scenario] = []
    corpus_files: list[str] = []
    for i, folder in enumerate(suite.corpus):
        where = path.parent / folder
        if not where.is_dir():
            problems.append(doc.problem(("corpus", i), f'corpus directory "{folder}" not found next to {path.name}; '
                                        "create it with `simtest search ... --save-corpus DIR`"))
            continue
        _load_unique(sorted(where.glob("*.yaml")), corpus, corpus_files, seen, problems)
    if suite.behaviour and not problems:
        problems.extend(behaviour_problems(doc, path, suite.behaviour, scenarios, scenario_files))
    if problems:
        raise ScenarioError(list(dict.fromkeys(problems)))
    return LoadedSuite(str(path), suite, tuple(scenarios), policy_path, tuple(scenario_files),
                       tuple(corpus), tuple(corpus_files))


def validate_against_env(scenario: Scenario, doc: yamlio.Located | None = None) -> list[Problem]:
    """Check parameter names, types and ranges and check metrics against the env's declarations."""
    from simtest.contract import registry

    def problem(loc: tuple, message: str, key: bool = False) -> Problem:
        if doc is None:
            return Problem("<scenario>", yamlio.jsonpath(loc), message)
        return doc.problem(loc, message, key=key)

    try:
        info = registry.env_info(scenario.env)
    except (registry.UnknownEnvError, registry.EnvSpecError) as exc:
        return [problem(("env",), str(exc))]
    problems: list[Problem] = []
    try:
        declared = info.params
        metrics = info.metrics
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        return [problem(("env",), f"cannot read what {scenario.env} declares ({exc}); reinstall the package "
                                  "that provides it")]
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
    metric_names = set(metrics)
    try:
        signal_names = set(info.signals) if info.signals is not None else None
    except (ImportError, AttributeError, ValueError, TypeError):
        signal_names = None
    for i, check in enumerate(scenario.checks):
        if check.temporal:
            for name in sorted(check.names - signal_names) if signal_names is not None else ():
                problems.append(
                    problem(("checks", i), f'unknown signal "{name}" in requirement "{check.expr}"'
                            f"{did_you_mean(name, signal_names)}; per-step signals of {scenario.env}: "
                            f"{', '.join(sorted(signal_names))}"))
            continue
        for name in sorted(check.names - metric_names):
            problems.append(
                problem(("checks", i), f'unknown metric "{name}" in check "{check.expr}"{did_you_mean(name, metric_names)}; '
                        f"metrics of {scenario.env}: {', '.join(sorted(metric_names))}")
            )
    return problems


def domain_values(domain: Any) -> list | None:
    return domain.finite_values()


def _domain_problems(name: str, domain: Any, decl: dict) -> list[str]:
    kind = _domain_kind(domain)
    ptype = decl.get("type", "float")
    lo, hi, choices = decl.get("min"), decl.get("max"), decl.get("choices")
    out: list[str] = []
    if isinstance(domain, IntRange):
        if ptype not in ("int", "float"):
            return [f'"{name}" is a {ptype} parameter; an int_range domain needs a number parameter']
        values: list | None = list(domain.int_range)  # the ends decide; never enumerate
    else:
        values = domain.finite_values()
    if values is None:  # continuous domain
        if ptype not in ("float", "int"):
            return [f'"{name}" is a {ptype} parameter; a {kind} domain needs a number parameter']
        if ptype == "int":
            return [f'"{name}" is an integer parameter; use int_range, choice or grid instead of {kind}']
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


def value_problem(name: str, value: Any, decl: dict) -> str | None:
    """What is wrong with one concrete value of a declared parameter (None when it is fine)."""
    return _value_problem(name, value, decl.get("type", "float"), decl.get("min"), decl.get("max"),
                          decl.get("choices"), decl)


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
