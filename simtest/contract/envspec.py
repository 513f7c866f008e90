"""EnvSpec: the checked value of the env contract (docs/contracts.md section 1).

A `simtest.envs` entry is a mapping of strings. `EnvSpec.from_entry` validates its keys
(pydantic, `extra="forbid"`: a typo is an error, never a silently dropped key), resolves every
string at load time (params, metrics, episode_metrics, adapter; the env class's module is
located without importing it, so pybullet stays unloaded) and validates the typed parameter and
metric declarations. Every problem names the entry point and the distribution that declared it.

Gymnasium ids that no `simtest.envs` entry declares get a spec too (`EnvSpec.for_gymnasium`):
no declared params (they go to `gymnasium.make(**params)`), the generic metrics, `render()` as
the only view. The build hash covers only that env's own code (see `simtest.contract.codetree`)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simtest.core.errors import EnvSpecError, did_you_mean

__all__ = ["ParamDecl", "MetricDecl", "ModelMetricDecl", "MODEL_SCORES", "EnvSpec", "GENERIC_METRICS",
           "merged_metrics", "resolve_ref"]

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ParamDecl(BaseModel):
    """One declared scenario parameter."""

    model_config = _FROZEN
    type: Literal["int", "float", "str", "bool", "list"] = "float"
    min: int | float | None = None
    max: int | float | None = None
    choices: list[Any] | None = None
    default: Any = None
    unit: str = ""
    doc: str = ""
    # False: a changed value need not show in the initial observation or a view (e.g. friction);
    # `simtest check-env` then does not require it to.
    observable: bool = True

    @model_validator(mode="after")
    def _range(self) -> "ParamDecl":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class MetricDecl(BaseModel):
    """One declared metric. Binary metrics take 0.0/1.0; time-like ones are NaN when the episode
    failed (the gate ranks those worst)."""

    model_config = _FROZEN
    kind: Literal["binary", "continuous"]
    better: Literal["higher", "lower"] = "higher"
    time_like: bool = False
    unit: str = ""
    doc: str = ""
    # another metric whose value is this one's robustness margin, e.g. collision -> min_clearance: a
    # check on this metric gets that value (signed by its verdict) as margin_<check>
    margin: str | None = None


# In-the-loop model scores the harness computes (simtest.execution.modelmetrics) and which
# direction is better for each.
MODEL_SCORES: dict[str, Literal["higher", "lower"]] = {"mae": "lower", "calibration_error": "lower", "ndcg": "higher"}


class ModelMetricDecl(BaseModel):
    """One in-the-loop model metric (docs/contracts.md section 1.4): how well the agent's declared
    prediction (`agent.diagnostics()[prediction]` after each `act`) matched the ground-truth label
    the env puts in the step info (`info[label]`), scored per episode with `score`. Stored as a
    continuous metric; `outcome` (and `objective`) name the closed-loop metrics the report sets it
    beside, `offline` the manifest's `training.<offline>_<slice value>` figures (e.g. val_mae_night)."""

    model_config = _FROZEN
    score: Literal["mae", "calibration_error", "ndcg"]
    prediction: str = Field(min_length=1)
    label: str = Field(min_length=1)
    outcome: str = Field(min_length=1)
    objective: str | None = None  # a closed-loop metric the model is trained for (recsys: click-through)
    offline: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    k: int | None = Field(default=None, ge=1)  # ndcg: cut-off (None: the whole ranking)
    bins: int = Field(default=10, ge=2)  # calibration_error: equal-width bins over [0, 1]
    unit: str = ""
    doc: str = ""

    @property
    def better(self) -> Literal["higher", "lower"]:
        return MODEL_SCORES[self.score]

    def metric(self) -> MetricDecl:
        return MetricDecl(kind="continuous", better=self.better, unit=self.unit,
                          doc=self.doc or f"in-the-loop {self.score} of {self.prediction} vs info {self.label}")


# Metrics every environment gets, computed by the harness from rewards and termination.
GENERIC_METRICS: dict[str, MetricDecl] = {
    "episode_return": MetricDecl(kind="continuous", better="higher", doc="sum of rewards"),
    "episode_length": MetricDecl(kind="continuous", better="higher", doc="control steps"),
    "terminated": MetricDecl(kind="binary", better="higher", doc="1 if the env terminated"),
}

_REF = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"


class _Entry(BaseModel):
    """The raw registry entry: strings only (what `envs/registry.py` returns)."""

    model_config = _FROZEN
    entry_point: str | None = Field(default=None, pattern=_REF)
    params: str | None = Field(default=None, pattern=_REF)
    metrics: str | None = Field(default=None, pattern=_REF)
    episode_metrics: str | None = Field(default=None, pattern=_REF)
    configure: Literal["make_kwargs", "reset_options"] = "make_kwargs"
    options_key: str = "params"
    views: dict[str, str] = Field(default_factory=dict)
    failure_views: list[str] | None = None
    adapter: str | None = Field(default=None, pattern=_REF)
    signals: str | None = Field(default=None, pattern=_REF)  # per-step info signals STL requirements may read
    model_metrics: str | None = Field(default=None, pattern=_REF)  # in-the-loop model metrics (section 1.4)

    @field_validator("views")
    @classmethod
    def _view_methods(cls, v: dict[str, str]) -> dict[str, str]:
        for name, method in v.items():
            if not method.isidentifier():
                raise ValueError(f'view "{name}": "{method}" is not a method name of the env')
        return v


class EnvSpec(BaseModel):
    """What simtest knows about an env id, checked. Cheap to pickle (references stay strings;
    the resolved objects are looked up again where they are used)."""

    model_config = _FROZEN
    id: str
    source: str = "the gymnasium registry"  # e.g. 'entry point "simtest = ..." of distribution simtest 0.1.0'
    entry_point: str | None = None
    param_decls: dict[str, ParamDecl] | None = None  # None: undeclared; anything goes to make()
    metric_decls: dict[str, MetricDecl] = Field(default_factory=dict)  # the env's own (generic ones apart)
    episode_metrics: str | None = None
    configure: Literal["make_kwargs", "reset_options"] = "make_kwargs"
    options_key: str = "params"  # reset(options={options_key: params}) when configure is reset_options
    views: dict[str, str] = Field(default_factory=dict)  # name -> method of env.unwrapped, declared order
    failure_views: tuple[str, ...] = ()  # the views failure videos show (default: every view)
    adapter: str | None = None
    signals_ref: str | None = None  # `module:attr` of the per-step signals (name -> {unit, doc}), if declared
    model_metric_decls: dict[str, ModelMetricDecl] = Field(default_factory=dict)  # in-the-loop model metrics
    code_modules: tuple[str, ...] = ()  # modules whose code and imports make up the env (build hash)
    entry_json: str = "{}"  # the raw entry, hashed into the build

    # ------------------------------------------------------------------ what consumers read

    @property
    def params(self) -> dict[str, dict] | None:
        """Declared parameters as plain mappings, or None for envs that declare none."""
        if self.param_decls is None:
            return None
        return {k: v.model_dump() for k, v in self.param_decls.items()}

    @property
    def metrics(self) -> dict[str, dict]:
        """Generic, declared and in-the-loop model metrics, as plain mappings."""
        model = {k: v.metric() for k, v in self.model_metric_decls.items()}
        return {k: v.model_dump() for k, v in {**GENERIC_METRICS, **self.metric_decls, **model}.items()}

    @property
    def signals(self) -> dict | None:
        """Declared per-step signals (`name -> {"unit", "doc"}`), or None when the env declares none
        (then requirements are checked against the episode's infos when it runs)."""
        return dict(resolve_ref(self.signals_ref)) if self.signals_ref else None

    @property
    def video_views(self) -> tuple[str, ...]:
        """The views failure videos show; () means the env's `render()`."""
        return self.failure_views or tuple(self.views)

    @property
    def build(self) -> str:
        """Hash of this env's own code, the versions of the distributions it imports, and its entry."""
        return _build(self.id, self.code_modules, self.entry_json)

    @property
    def dependencies(self) -> tuple[str, ...]:
        from simtest.contract.codetree import build_digest

        return build_digest(self.code_modules)[1]

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_entry(cls, env_id: str, entry: Any, source: str) -> "EnvSpec":
        """Validate and resolve one `simtest.envs` entry. Raises EnvSpecError with every problem."""
        where = f'env "{env_id}" ({source})'
        if not isinstance(entry, Mapping):
            raise EnvSpecError([f"{where}: the entry must be a mapping of strings, got {type(entry).__name__}"])
        try:
            raw = _Entry.model_validate(dict(entry))
        except ValidationError as exc:
            raise EnvSpecError([f"{where} {_loc(e['loc'])}: {_msg(e, _Entry)}" for e in exc.errors()]) from None
        problems: list[str] = []
        params = _resolve_decls(raw.params, "params", ParamDecl, where, problems)
        metrics = _resolve_decls(raw.metrics, "metrics", MetricDecl, where, problems) or {}
        for name, decl in metrics.items():
            if name in GENERIC_METRICS and decl != GENERIC_METRICS[name]:
                problems.append(f'{where} $.metrics.{name}: "{name}" is a generic metric the harness computes '
                                f"({GENERIC_METRICS[name].kind}); give the env's metric another name")
        if raw.signals:
            try:
                sig = resolve_ref(raw.signals)
                if not isinstance(sig, Mapping):
                    problems.append(f'{where} $.signals: "{raw.signals}" is a {type(sig).__name__}, not a mapping')
            except Exception as exc:  # noqa: BLE001 - reported with the entry point that declared it
                problems.append(f'{where} $.signals: cannot resolve "{raw.signals}": {_exc_line(exc)}')
        for name, decl in metrics.items():
            if decl.margin is not None and decl.margin not in metrics:
                problems.append(f'{where} $.metrics.{name}.margin: "{decl.margin}" is not a declared metric'
                                f"{did_you_mean(decl.margin, metrics)}")
        model_metrics = _resolve_decls(raw.model_metrics, "model_metrics", ModelMetricDecl, where, problems) or {}
        for name, mdecl in model_metrics.items():
            if name in metrics or name in GENERIC_METRICS:
                problems.append(f'{where} $.model_metrics.{name}: "{name}" is already a metric of the env; '
                                "give the model metric another name (e.g. model_<score>)")
            for key in ("outcome", "objective"):
                target = getattr(mdecl, key)
                if target is not None and target not in metrics and target not in GENERIC_METRICS:
                    problems.append(f'{where} $.model_metrics.{name}.{key}: "{target}" is not a declared metric'
                                    f"{did_you_mean(target, metrics)}")
        for key in ("episode_metrics", "adapter"):
            ref = getattr(raw, key)
            if ref:
                try:
                    obj = resolve_ref(ref)
                except Exception as exc:  # noqa: BLE001 - reported with the entry point that declared it
                    problems.append(f'{where} $.{key}: cannot resolve "{ref}": {_exc_line(exc)}')
                    continue
                if not callable(obj):
                    problems.append(f'{where} $.{key}: "{ref}" is a {type(obj).__name__}, not callable')
        if raw.entry_point:
            from simtest.contract.codetree import _locate

            module = raw.entry_point.split(":")[0]
            if _locate(module)[0] is None:
                problems.append(f'{where} $.entry_point: module "{module}" of "{raw.entry_point}" is not '
                                "importable; install the package that provides it or fix the entry")
        for i, v in enumerate(raw.failure_views or ()):
            if v not in raw.views:
                problems.append(f'{where} $.failure_views[{i}]: "{v}" is not a declared view'
                                f"{did_you_mean(v, raw.views)}; views: {', '.join(raw.views) or 'none'}")
        if raw.options_key != "params" and raw.configure != "reset_options":
            problems.append(f"{where} $.options_key: only used with configure: reset_options")
        if problems:
            raise EnvSpecError(problems)
        modules = {r.split(":")[0] for r in (raw.entry_point, raw.params, raw.metrics, raw.episode_metrics,
                                             raw.adapter, raw.signals, raw.model_metrics) if r}
        return cls(
            id=env_id, source=source, entry_point=raw.entry_point, param_decls=params, metric_decls=metrics,
            episode_metrics=raw.episode_metrics, configure=raw.configure, options_key=raw.options_key,
            views=dict(raw.views), failure_views=tuple(raw.failure_views or ()), adapter=raw.adapter,
            signals_ref=raw.signals, model_metric_decls=model_metrics,
            code_modules=tuple(sorted(modules)), entry_json=json.dumps(dict(entry), sort_keys=True, default=str),
        )

    @classmethod
    def for_gymnasium(cls, env_id: str) -> "EnvSpec":
        """A spec for a gymnasium id no `simtest.envs` entry declares (`module:EnvId` allowed)."""
        import gymnasium

        bare = env_id.split(":", 1)[1] if ":" in env_id else env_id
        modules = [env_id.split(":", 1)[0]] if ":" in env_id else []
        entry = gymnasium.envs.registry[bare].entry_point
        entry_point = entry if isinstance(entry, str) else f"{entry.__module__}:{entry.__qualname__}"
        modules.append(entry_point.split(":")[0])
        return cls(id=env_id, entry_point=entry_point, code_modules=tuple(sorted(set(modules))),
                   entry_json=json.dumps({"gymnasium": bare, "entry_point": entry_point}))


@lru_cache(maxsize=None)
def _build(env_id: str, modules: tuple[str, ...], entry_json: str) -> str:
    from simtest.contract.codetree import build_digest

    return build_digest(modules, extra=f"{env_id}|{entry_json}")[0][:12]


def resolve_ref(ref: str) -> Any:
    """Import `module:attr` (attr may be dotted)."""
    import importlib

    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ValueError(f'"{ref}" is not a reference of the form "module:attribute"')
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _resolve_decls(ref: str | None, key: str, model: type[BaseModel], where: str, problems: list[str]):
    if ref is None:
        return None
    try:
        table = resolve_ref(ref)
    except Exception as exc:  # noqa: BLE001
        problems.append(f'{where} $.{key}: cannot resolve "{ref}": {_exc_line(exc)}')
        return None
    if not isinstance(table, Mapping):
        problems.append(f'{where} $.{key}: "{ref}" is a {type(table).__name__}, expected a mapping name -> declaration')
        return None
    out = {}
    for name, decl in table.items():
        try:
            out[str(name)] = model.model_validate(dict(decl) if isinstance(decl, Mapping) else decl)
        except ValidationError as exc:
            for e in exc.errors():
                problems.append(f"{where} $.{key}.{name}{_loc(e['loc'], lead='.')}: {_msg(e, model)}")
    return out


def _loc(loc: tuple, lead: str = "$.") -> str:
    parts = ".".join(str(p) for p in loc)
    return f"{lead}{parts}" if parts else ("$" if lead == "$." else "")


def _msg(e: dict, model: type[BaseModel]) -> str:
    kind, msg = e.get("type", ""), e.get("msg", "")
    if kind == "extra_forbidden":
        key = str(e["loc"][-1])
        return f'unknown key "{key}"{did_you_mean(key, model.model_fields)}; allowed: {", ".join(model.model_fields)}'
    value = e.get("input")
    got = f" (got {value!r})" if not isinstance(value, (dict, list)) else ""
    return f"{msg}{got}"


def _exc_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


_JUDGED = ("kind", "better", "time_like")  # what the gate reads of a declaration


def merged_metrics(specs: Mapping[str, EnvSpec] | list[EnvSpec]) -> dict[str, dict]:
    """The metric declarations of several envs judged together (a suite, a comparison). A name
    that two envs declare differently is an EnvSpecError naming both, never a silent override."""
    specs = list(specs.values()) if isinstance(specs, Mapping) else list(specs)
    out: dict[str, dict] = {}
    owner: dict[str, str] = {}
    problems = []
    for spec in sorted(specs, key=lambda s: s.id):
        for name, decl in spec.metrics.items():
            if name in out and any(out[name][k] != decl[k] for k in _JUDGED):
                diff = ", ".join(f"{k} {out[name][k]!r} vs {decl[k]!r}" for k in _JUDGED if decl[k] != out[name][k])
                problems.append(f'metric "{name}" is declared differently by {owner[name]} and {spec.id} ({diff}); '
                                "a suite or comparison over both cannot tell which applies: rename it in one "
                                "env's METRICS, or judge the envs in separate suites")
                continue
            out.setdefault(name, decl)
            owner.setdefault(name, spec.id)
    if problems:
        raise EnvSpecError(problems)
    return out
