"""Things referred to by name. Environments (entry point group `simtest.envs`, plus any
gymnasium id), model versions (`name@version` manifests under the model search path), and
`module:attr` references, all resolved lazily so a Ray worker can resolve them itself."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from simtest.core import yamlio
from simtest.core.errors import ManifestError, ModelError, Problem, UnknownEnvError, UnknownModelError, did_you_mean

__all__ = [
    "EnvInfo", "ModelRef", "UnknownEnvError", "env_info", "env_ids", "resolve", "resolve_model",
    "list_models", "GENERIC_METRICS", "env_build",
]

# Metrics every environment gets, computed by the harness from rewards and termination.
GENERIC_METRICS: dict[str, dict] = {
    "episode_return": {"kind": "continuous", "better": "higher", "time_like": False, "doc": "sum of rewards"},
    "episode_length": {"kind": "continuous", "better": "higher", "time_like": False, "doc": "control steps"},
    "terminated": {"kind": "binary", "better": "higher", "time_like": False, "doc": "1 if the env terminated"},
}


def resolve(ref: str) -> Any:
    """Import `module:attr` (attr may be dotted)."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ValueError(f'"{ref}" is not a reference of the form "module:attribute"')
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class EnvInfo:
    """What simtest knows about an environment id. Strings only: cheap to pickle."""

    id: str
    entry_point: str | None = None
    params_ref: str | None = None
    metrics_ref: str | None = None
    episode_metrics: str | None = None
    configure: str = "make_kwargs"  # or "reset_options"
    views: tuple = ()
    adapter: str | None = None
    package: str | None = None  # top-level package that implements the env (for env_build)
    signals_ref: str | None = None  # per-step info signals that STL requirements may read

    @property
    def signals(self) -> dict | None:
        """Declared per-step signals (`name -> {"unit", "doc"}`), or None when the env declares none
        (then requirements are checked against the episode's infos when it runs)."""
        return dict(resolve(self.signals_ref)) if self.signals_ref else None

    @property
    def params(self) -> dict | None:
        """Declared parameters, or None for envs that declare none (anything goes to make())."""
        return dict(resolve(self.params_ref)) if self.params_ref else None

    @property
    def metrics(self) -> dict[str, dict]:
        declared = dict(resolve(self.metrics_ref)) if self.metrics_ref else {}
        return {**GENERIC_METRICS, **declared}


@lru_cache(maxsize=1)
def _simtest_envs() -> dict[str, EnvInfo]:
    out: dict[str, EnvInfo] = {}
    for ep in metadata.entry_points(group="simtest.envs"):
        table = ep.load()
        table = table() if callable(table) else table
        for env_id, entry in table.items():
            entry = dict(entry)
            out[env_id] = EnvInfo(
                id=env_id,
                entry_point=entry.get("entry_point"),
                params_ref=entry.get("params"),
                metrics_ref=entry.get("metrics"),
                episode_metrics=entry.get("episode_metrics"),
                configure=entry.get("configure", "make_kwargs"),
                views=tuple(sorted(dict(entry.get("views", {})).items())),
                adapter=entry.get("adapter"),
                package=ep.value.split(".")[0].split(":")[0],
                signals_ref=entry.get("signals"),
            )
    return out


def env_ids() -> list[str]:
    return sorted(_simtest_envs())


def env_info(env_id: str) -> EnvInfo:
    """Look up an env id: simtest-declared envs first, then gymnasium's registry."""
    envs = _simtest_envs()
    if env_id in envs:
        return envs[env_id]
    import gymnasium  # moderate import; only for ids simtest does not declare

    if ":" in env_id:  # gymnasium's "module:EnvId": importing the module registers the id
        module, _, bare = env_id.partition(":")
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise UnknownEnvError(f'env id "{env_id}": cannot import module "{module}" ({exc}); '
                                  "install it or fix the module name") from None
        if bare in gymnasium.envs.registry:
            return EnvInfo(id=env_id)
    gym_ids = set(gymnasium.envs.registry)
    if env_id in gym_ids:
        return EnvInfo(id=env_id)
    known = sorted(set(envs) | gym_ids)
    raise UnknownEnvError(f'unknown env id "{env_id}"{did_you_mean(env_id, known)}; '
                          f"simtest envs: {', '.join(sorted(envs)) or 'none'} (any registered gymnasium id also works)")


@lru_cache(maxsize=None)
def env_build(env_id: str) -> str:
    """A hash of the code and versions that determine an env's behaviour. Stored runs are reused
    only when it is unchanged."""
    info = env_info(env_id)
    h = hashlib.sha256(env_id.encode())
    for dist in ("gymnasium", "pybullet", "numpy"):
        try:
            h.update(f"{dist}={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            pass
    if info.package:
        spec = importlib.util.find_spec(info.package)
        if spec and spec.submodule_search_locations:
            root = Path(list(spec.submodule_search_locations)[0])
            for f in sorted(root.rglob("*.py")):
                h.update(str(f.relative_to(root)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:12]


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

    @property
    def options(self) -> dict:
        return json.loads(self.options_json)

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
    h = hashlib.sha256(f"{m.entry_point}|{json.dumps(m.options, sort_keys=True)}".encode())
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
        manifest=str(path.resolve()), trained_on=m.trained_on, notes=m.notes,
    )


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
