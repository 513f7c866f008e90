"""Things referred to by name. Environments (entry point group `simtest.envs`, plus any
gymnasium id), model versions (`name@version` manifests under the model search path), and
`module:attr` references. Env entries become checked `EnvSpec` values when the registry is first
read; a broken plugin is recorded, not raised, so that commands that do not need its envs work."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from simtest.core import yamlio
from simtest.core.errors import (EnvSpecError, ManifestError, ModelError, Problem, UnknownEnvError,
                                 UnknownModelError, did_you_mean)
from simtest.contract.envspec import GENERIC_METRICS as _GENERIC, EnvSpec, merged_metrics, resolve_ref

__all__ = [
    "EnvInfo", "EnvSpec", "ModelRef", "UnknownEnvError", "env_info", "env_ids", "resolve", "resolve_model",
    "list_models", "GENERIC_METRICS", "env_build", "plugin_warnings", "suite_metrics_of", "EnvSpecError",
]

# Metrics every environment gets, computed by the harness from rewards and termination.
GENERIC_METRICS: dict[str, dict] = {k: v.model_dump() for k, v in _GENERIC.items()}

EnvInfo = EnvSpec  # the former name of the env record
resolve = resolve_ref
GROUP = "simtest.envs"


@dataclass(frozen=True)
class _Registry:
    specs: dict[str, EnvSpec]
    bad: dict[str, EnvSpecError]  # env id -> why its entry is unusable
    broken: tuple[str, ...]  # one line per plugin entry point that could not be read


def _describe(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    who = f"distribution {dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f'{GROUP} entry point "{ep.name} = {ep.value}" of {who}'


@lru_cache(maxsize=1)
def _registry() -> _Registry:
    specs: dict[str, EnvSpec] = {}
    bad: dict[str, EnvSpecError] = {}
    broken: list[str] = []
    for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: (e.name, e.value)):
        source = _describe(ep)
        try:
            table = ep.load()
            table = table() if callable(table) else table
            if not isinstance(table, dict):
                raise TypeError(f"it returned a {type(table).__name__}, expected a dict env id -> entry")
        except Exception as exc:  # noqa: BLE001 - a third-party plugin: report it in one line
            lines = str(exc).strip().splitlines()
            broken.append(f"{source} is broken: {type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
                          + "; reinstall or uninstall that distribution")
            continue
        for env_id, entry in table.items():
            if env_id in specs or env_id in bad:
                broken.append(f'{source} declares env "{env_id}" again; the first declaration is used')
                continue
            try:
                specs[env_id] = EnvSpec.from_entry(str(env_id), entry, source)
            except EnvSpecError as exc:
                bad[env_id] = exc
    return _Registry(specs, bad, tuple(broken))


def plugin_warnings() -> list[str]:
    """One line per broken plugin or unusable env entry, if the registry has been read (it is
    not read just for this)."""
    if not _registry.cache_info().currsize:
        return []
    reg = _registry()
    return list(reg.broken) + [f'env "{k}" is unusable: {v.problems[0]}' + (f" (+{len(v.problems) - 1} more)"
                                                                       if len(v.problems) > 1 else "")
                               for k, v in sorted(reg.bad.items())]


def env_ids() -> list[str]:
    """The env ids declared through `simtest.envs` (usable ones)."""
    return sorted(_registry().specs)


_suggested: set[str] = set()  # ids that only a `module:` prefix registers: keep asking for it


@lru_cache(maxsize=None)
def _gymnasium_spec(env_id: str) -> EnvSpec:
    return EnvSpec.for_gymnasium(env_id)


def env_info(env_id: str) -> EnvSpec:
    """Look up an env id: simtest-declared envs first, then gymnasium's registry."""
    reg = _registry()
    if env_id in reg.specs:
        return reg.specs[env_id]
    if env_id in reg.bad:
        raise reg.bad[env_id]
    import gymnasium  # moderate import; only for ids simtest does not declare

    if ":" in env_id:  # gymnasium's "module:EnvId": importing the module registers the id
        module, _, bare = env_id.partition(":")
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise UnknownEnvError(f'env id "{env_id}": cannot import module "{module}" ({exc}); '
                                  "install it or fix the module name") from None
        if bare in gymnasium.envs.registry:
            return _gymnasium_spec(env_id)
    if env_id in gymnasium.envs.registry and env_id not in _suggested:
        return _gymnasium_spec(env_id)
    hint = _module_hint(env_id)
    if hint:
        _suggested.add(env_id)
        suggestion = (f' (did you mean "{hint}"? importing module {hint.split(":")[0]} registers it; '
                      "write the module prefix so that every worker imports it)")
    else:
        suggestion = did_you_mean(env_id, sorted(set(reg.specs) | set(gymnasium.envs.registry)))
    broken = "".join(f"; note: {b}" for b in reg.broken)
    raise UnknownEnvError(f'unknown env id "{env_id}"{suggestion}; simtest envs: '
                          f"{', '.join(sorted(reg.specs)) or 'none'} (any registered gymnasium id also works)"
                          + broken)


_GENERIC_TOKENS = {"env", "envs", "gym", "gymnasium", "simtest", "test", "tests"}


def _module_hint(env_id: str) -> str | None:
    """`module:EnvId` when an importable module whose name matches the id registers it."""
    if ":" in env_id:
        return None
    import pkgutil

    import gymnasium

    bare = env_id.rsplit("/", 1)[-1]
    stem = re.sub(r"[^a-z0-9]", "", re.sub(r"-v\d+$", "", bare).lower())
    if len(stem) < 3:
        return None
    for m in sorted({m.name for m in pkgutil.iter_modules()}):
        tokens = [t for t in re.split(r"[_\-.]", m.lower()) if len(t) >= 4 and t not in _GENERIC_TOKENS]
        if not any(stem.startswith(t) or t in stem for t in tokens):
            continue
        try:
            importlib.import_module(m)
        except Exception:  # noqa: BLE001 - a module that cannot be imported registers nothing
            continue
        if env_id in gymnasium.envs.registry:
            return f"{m}:{env_id}"
    return None


def env_build(env_id: str) -> str:
    """A hash of the code and versions that determine one env's behaviour (never its siblings').
    Stored runs are reused only when it is unchanged."""
    return env_info(env_id).build


def suite_metrics_of(env_ids_: list[str] | set[str]) -> dict[str, dict]:
    """Metric declarations of envs judged together; a clash is an EnvSpecError."""
    return merged_metrics([env_info(e) for e in sorted(env_ids_)])


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelRef:
    """A model version: cheap to pickle; weights are loaded inside the worker."""

    name: str
    version: str
    entry_point: str
    weights: str | None = None
    digest: str = ""
    options_json: str = "{}"
    manifest: str | None = None
    trained_on: str = ""
    notes: str = ""
    code_digest: str = ""  # sha256 of the entry point's top-level package (or module) source; "" if not found
    training_json: str = "{}"  # the manifest's `training` mapping (offline figures such as val_mae_night)

    @property
    def options(self) -> dict:
        return json.loads(self.options_json)

    @property
    def training(self) -> dict:
        return json.loads(self.training_json)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def slug(self) -> str:
        return f"{self.name}@{self.version}-{self.digest[:8]}"


@lru_cache(maxsize=1)
def _manifest_schema():
    """Schema of a model manifest (pydantic, so it also exports JSON Schema)."""
    from pydantic import BaseModel, ConfigDict, Field

    class Manifest(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
        version: str
        entry_point: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
        weights: str | None = None
        sha256: str | None = None
        options: dict[str, Any] = Field(default_factory=dict)
        trained_on: str = ""
        training: dict[str, Any] = Field(default_factory=dict)
        notes: str = ""

    return Manifest


def model_search_path() -> list[Path]:
    """Where `name@version` is looked up: $SIMTEST_MODELS (os.pathsep-separated), ./models,
    then the models shipped with simtest (the simtest_models package)."""
    paths = [Path(p) for p in os.environ.get("SIMTEST_MODELS", "").split(os.pathsep) if p]
    paths.append(Path("models"))
    spec = importlib.util.find_spec("simtest_models")
    if spec and spec.submodule_search_locations:
        paths.extend(Path(p) for p in spec.submodule_search_locations)
    seen, out = set(), []
    for p in paths:
        rp = p.resolve()
        if rp not in seen and rp.is_dir():
            seen.add(rp)
            out.append(p)
    return out


def load_manifest(path: str | Path) -> ModelRef:
    from pydantic import ValidationError

    path = Path(path)
    doc = yamlio.load(path, error_cls=ManifestError)
    if not isinstance(doc.data, dict):
        raise ManifestError([Problem(str(path), "$", "a model manifest must be a mapping")])
    try:
        m = _manifest_schema().model_validate(doc.data)
    except ValidationError as exc:
        raise ManifestError(yamlio.pydantic_problems(exc, doc)) from None
    weights = None
    code = agent_code_digest(m.entry_point)
    h = hashlib.sha256(f"{m.entry_point}|{json.dumps(m.options, sort_keys=True)}|code={code}".encode())
    if m.weights is not None:
        wpath = (path.parent / m.weights).resolve()
        if not wpath.is_file():
            raise ModelError(f"{path}: weights file {m.weights} not found (looked for {wpath}); "
                             "restore it or fix the manifest's weights key")
        digest = _file_sha256(str(wpath))
        if m.sha256 and m.sha256 != digest:
            raise ModelError(f"{path}: weights {m.weights} do not match the manifest's sha256 "
                             f"({digest[:12]} != {m.sha256[:12]}); re-run the training script or update sha256")
        h.update(digest.encode())
        weights = str(wpath)
    return ModelRef(
        name=m.name, version=m.version, entry_point=m.entry_point, weights=weights,
        digest=h.hexdigest()[:16], options_json=json.dumps(m.options, sort_keys=True),
        manifest=str(path.resolve()), trained_on=m.trained_on, notes=m.notes, code_digest=code,
        training_json=json.dumps(m.training, sort_keys=True, default=str),
    )


def agent_code_digest(entry_point: str) -> str:
    """The agent's code: every `.py` file of the entry point's top-level package (or the single
    top-level module). Editing any of them gives a new model digest, hence a new run key. Read
    from disk, never imported; "" when the module cannot be found here (the run then fails to
    build the agent with its own ModelError)."""
    from simtest.contract.codetree import tree_digest

    return tree_digest(entry_point.split(":")[0].split(".")[0])[:16]


@lru_cache(maxsize=64)
def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def list_models() -> list[ModelRef]:
    """Every manifest on the search path (later duplicates of a name@version are shadowed)."""
    found: dict[str, ModelRef] = {}
    for root in model_search_path():
        for f in sorted(root.rglob("*.yaml")):
            try:
                text = f.read_text(encoding="utf-8")
            except OSError:
                continue
            if "entry_point:" not in text:
                continue
            ref = load_manifest(f)
            found.setdefault(ref.label, ref)
    return sorted(found.values(), key=lambda r: (r.name, r.version))


def resolve_model(ref: str) -> ModelRef:
    """`name@version` from the search path, or a path to a manifest YAML."""
    if ref.endswith((".yaml", ".yml")) or os.sep in ref:
        if not Path(ref).is_file():
            raise UnknownModelError(f'model manifest "{ref}" not found; pass name@version or a path to a manifest')
        return load_manifest(ref)
    if "@" not in ref:
        raise UnknownModelError(f'model reference "{ref}" must be name@version (e.g. driving-perception@1.1) '
                                "or a path to a manifest")
    models = {m.label: m for m in list_models()}
    if ref in models:
        return models[ref]
    raise UnknownModelError(f'unknown model "{ref}"{did_you_mean(ref, models)}; '
                            f"run `simtest models` to list them (known: {', '.join(sorted(models)) or 'none'})")
