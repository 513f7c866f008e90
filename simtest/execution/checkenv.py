"""`simtest check-env ENV_ID`: the env contract's checker (docs/contracts.md section 1.2).

It resolves the env's EnvSpec, runs gymnasium's `check_env`, runs a few seeded episodes with a
seeded random agent through the harness's own episode runner (so `episode_metrics` must return
exactly the declared metrics, with the declared kinds), checks that changing each observable
parameter changes the initial observation or a view (a silent no-op configuration is the usual
mistake: an env that reads another `reset(options=...)` key), renders each declared view, and
replays one seed bit for bit. The report is one line per check; exit 0 when all pass, 2 otherwise.

Assumption: parameters are checked one at a time from the declared defaults, with two values the
declaration allows (two choices, min and max, true and false); list parameters are not varied."""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from simtest.contract.cases import Case, canonical_params
from simtest.contract.registry import EnvSpec, ModelRef, env_info
from simtest.contract.results import Outcome
from simtest.core.errors import SimtestError

__all__ = ["Finding", "check_env", "cmd_check_env", "RandomAgent"]

CHECKER = ModelRef(name="check-env", version="random", entry_point="simtest.execution.checkenv:RandomAgent",
                   digest="check-env")


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str


class RandomAgent:
    """Samples the action space with the episode's agent seed: reproducible, env-agnostic."""

    def __init__(self, action_space: Any):
        self.space = action_space

    def reset(self, seed: int) -> None:
        self.space.seed(int(seed))

    def act(self, observation: Any) -> Any:
        return self.space.sample()


def _case(spec: EnvSpec, params: dict, seed: int, horizon: int) -> Case:
    return Case(scenario=f"check-env/{spec.id}", scenario_hash="check-env", env=spec.id,
                params_json=canonical_params(params), seed=int(seed), horizon=int(horizon))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def check_env(env_id: str, *, episodes: int = 3, horizon: int = 40, seed: int = 0) -> list[Finding]:
    """Every check, in order. Never raises for a broken env: each problem is a failed Finding."""
    try:
        spec = env_info(env_id)
    except SimtestError as exc:
        return [Finding("spec", False, str(exc))]
    out = [Finding("spec", True, f"{len(spec.param_decls or {})} params, {len(spec.metric_decls)} metrics, "
                                 f"views: {', '.join(spec.views) or 'render()'}; configure {spec.configure}; "
                                 f"build {spec.build}; {spec.source}")]
    from simtest.execution.envadapter import rendering_adapter

    adapter = rendering_adapter(env_id)
    try:
        try:
            adapter.env = adapter._make({})
        except Exception as exc:  # noqa: BLE001
            return out + [Finding("make", False, f"gymnasium.make({env_id!r}) failed: {_first_line(exc)}")]
        out.append(_gymnasium_check(adapter.env))
        action_space = adapter.env.action_space
        out += _episodes(spec, action_space, episodes, horizon, seed)
        out += _params_change_the_env(spec, adapter, seed)
        out.append(_views(spec, adapter, seed))
    finally:
        adapter.close()
    out.append(_replay(spec, action_space, horizon, seed))
    return out


def _gymnasium_check(env: Any) -> Finding:
    from gymnasium.utils.env_checker import check_env as gym_check

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            gym_check(env.unwrapped, skip_render_check=True, skip_close_check=True)
        except Exception as exc:  # noqa: BLE001 - gymnasium's checker asserts
            return Finding("gymnasium check_env", False, _first_line(exc))
    notes = sorted({re.sub(r"\x1b\[[0-9;]*m", "", str(w.message)).strip().splitlines()[0] for w in caught})
    return Finding("gymnasium check_env", True, "passed" + (f" ({len(notes)} warnings: {notes[0]})" if notes else ""))


def _worker(action_space: Any):
    from simtest.execution.runner import EpisodeWorker

    return EpisodeWorker(CHECKER, agent=RandomAgent(action_space))


def _episodes(spec: EnvSpec, action_space: Any, n: int, horizon: int, seed: int) -> list[Finding]:
    worker = _worker(action_space)
    problems: list[str] = []
    steps = []
    unlabelled: set[tuple[str, str]] = set()

    def labels(step: int, obs: Any, action: Any, info: dict, adapter: Any) -> None:
        # the ground truth a declared model metric scores predictions against must be in every info
        unlabelled.update((name, d.label) for name, d in spec.model_metric_decls.items() if d.label not in info)

    try:
        for k in range(n):
            r = worker.run(_case(spec, {}, seed + k, horizon), observer=labels if spec.model_metric_decls else None)
            steps.append(r.steps)
            if r.outcome is Outcome.ENV_ERROR:
                problems.append(f"seed {seed + k}: {r.error.strip().splitlines()[-1] if r.error.strip() else 'env_error'}")
                continue
            metrics = r.metric_dict
            for name, decl in spec.metric_decls.items():
                v = metrics.get(name)
                if v is None:
                    continue
                if math.isnan(v):
                    if not decl.time_like:
                        problems.append(f'seed {seed + k}: metric "{name}" is NaN but not declared time_like')
                elif decl.kind == "binary" and v not in (0.0, 1.0):
                    problems.append(f'seed {seed + k}: binary metric "{name}" = {v!r}, not 0 or 1')
                elif not math.isfinite(v):
                    problems.append(f'seed {seed + k}: metric "{name}" = {v!r}')
    finally:
        worker.close()
    for name, label in sorted(unlabelled):
        problems.append(f'model metric "{name}": label "{label}" is not in the step info; put it in every info or '
                        "fix the env's model_metrics declaration")
    if problems:
        return [Finding("episodes and metrics", False, "; ".join(dict.fromkeys(problems)))]
    declared = ", ".join(spec.metric_decls) or "none declared; generic metrics only"
    return [Finding("episodes and metrics", True, f"{n} seeded episodes ({', '.join(map(str, steps))} steps) "
                                                  f"returned exactly the declared metrics ({declared})")]


def _two_values(decl: Any) -> tuple[Any, Any] | None:
    if decl.choices and len(decl.choices) >= 2:
        return decl.choices[0], decl.choices[1]
    if decl.type == "bool":
        return False, True
    if decl.type in ("int", "float") and decl.min is not None and decl.max is not None and decl.min != decl.max:
        # the quartiles, not the ends: the ends of a periodic range (-pi, pi) are the same scene
        lo, hi = decl.min, decl.max
        a, b = lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo)
        return (int(round(a)), int(round(b))) if decl.type == "int" and round(a) != round(b) else \
            ((int(lo), int(hi)) if decl.type == "int" else (float(a), float(b)))
    if decl.type in ("int", "float") and isinstance(decl.default, (int, float)):
        d = decl.default
        other = d + 1 if decl.type == "int" else (d * 2 if d else 1.0)
        return d, other
    return None


def _fingerprint(adapter: Any, params: dict, seed: int) -> str:
    from simtest.execution.runner import episode_seeds

    env_seed, _ = episode_seeds(seed)
    obs, _ = adapter.reset(params, canonical_params(params), env_seed)
    h = hashlib.sha256()
    _feed(h, obs)
    try:
        for _, img in adapter.views(size=64):
            if img is not None:
                h.update(np.ascontiguousarray(img).tobytes())
    except Exception:  # noqa: BLE001 - the views check reports render problems
        pass
    return h.hexdigest()


def _feed(h: Any, obs: Any) -> None:
    if isinstance(obs, dict):
        for k in sorted(obs):
            h.update(str(k).encode())
            _feed(h, obs[k])
    elif isinstance(obs, (tuple, list)):
        for x in obs:
            _feed(h, x)
    else:
        h.update(np.ascontiguousarray(obs).tobytes())


def _params_change_the_env(spec: EnvSpec, adapter: Any, seed: int) -> list[Finding]:
    if not spec.param_decls:
        return [Finding("params change the env", True, "no declared params (they go to gymnasium.make)")]
    problems, checked, skipped = [], [], []
    for name, decl in spec.param_decls.items():
        values = _two_values(decl)
        if not decl.observable or values is None:
            skipped.append(name)
            continue
        try:
            a, b = (_fingerprint(adapter, {name: v}, seed) for v in values)
        except Exception as exc:  # noqa: BLE001
            problems.append(f'"{name}" = {values!r}: reset failed: {_first_line(exc)}')
            continue
        checked.append(name)
        if a == b:
            where = (f'reset(options={{"{spec.options_key}": ...}})' if spec.configure == "reset_options"
                     else "gymnasium.make(**params)")
            problems.append(f'"{name}": {values[0]!r} and {values[1]!r} give the same initial observation and views '
                            f"(seed {seed}); the env ignores it as passed by {where}. If the env reads another "
                            "options key, set options_key in its registry entry; if the parameter acts only "
                            "later in the episode, declare it observable: false")
    if problems:
        return [Finding("params change the env", False, p) for p in problems]
    note = f" (not varied: {', '.join(skipped)})" if skipped else ""
    return [Finding("params change the env", True, f"{len(checked)} params each change the initial scene{note}")]


def _views(spec: EnvSpec, adapter: Any, seed: int) -> Finding:
    from simtest.execution.runner import episode_seeds

    adapter.reset({}, "{}", episode_seeds(seed)[0])
    bad, shapes = [], []
    for name in (tuple(spec.views) or (None,)):
        try:
            [(label, img)] = adapter.views(None if name is None else (name,), size=64)
        except Exception as exc:  # noqa: BLE001
            bad.append(f'{name or "render()"}: {_first_line(exc)}')
            continue
        a = None if img is None else np.asarray(img)
        if a is None or a.ndim not in (2, 3) or a.dtype != np.uint8 or (a.ndim == 3 and a.shape[2] not in (3, 4)):
            what = "None" if a is None else f"{a.dtype} {a.shape}"
            bad.append(f"{label}: returned {what}, expected a uint8 HxWx3 image")
        else:
            shapes.append(f"{label} {a.shape[1]}x{a.shape[0]}")
    if bad and not spec.views:
        return Finding("views render", True, f"no views declared and {bad[0]}: previews and failure videos "
                                             "will have no frames (declare views, or support render_mode rgb_array)")
    if bad:
        return Finding("views render", False, "; ".join(bad))
    return Finding("views render", True, ", ".join(shapes))


def _replay(spec: EnvSpec, action_space: Any, horizon: int, seed: int) -> Finding:
    case = _case(spec, {}, seed, horizon)
    runs = []
    for _ in range(2):
        worker = _worker(action_space)  # fresh env and agent each time, as in another process
        try:
            runs.append(worker.run(case))
        finally:
            worker.close()
    a, b = runs
    if a.trace_digest and a.trace_digest == b.trace_digest and a.metrics == b.metrics and a.steps == b.steps:
        return Finding("replay bit for bit", True, f"seed {seed}: {a.steps} steps, trace digest {a.trace_digest}")
    return Finding("replay bit for bit", False,
                   f"seed {seed}: two fresh runs differ (steps {a.steps}/{b.steps}, trace digest "
                   f"{a.trace_digest or '-'}/{b.trace_digest or '-'}); the env draws randomness outside reset(seed=) "
                   "or keeps state between instances")


def cmd_check_env(args: argparse.Namespace) -> int:
    findings = check_env(args.env_id, episodes=args.episodes, horizon=args.horizon, seed=args.seed)
    print(args.env_id)
    for f in findings:
        print(f"  {'ok  ' if f.ok else 'FAIL'}  {f.check}: {f.message}")
    failed = sum(not f.ok for f in findings)
    print(f"{failed} problem(s)" if failed else "all checks passed")
    return 2 if failed else 0
