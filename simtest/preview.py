"""`simtest preview`. Renders what a scenario produces before anyone runs a sweep: a PNG
of the initial scene (top-down view, the on-board camera and the agent's own input, side by side)
or, with `--rollout`, a GIF of a short episode. Frames come from the env adapter's named views."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from simtest.execution.envadapter import rendering_adapter
from simtest.execution.frames import PANEL, compose, panels
from simtest.core.errors import UsageError, did_you_mean

__all__ = ["parse_sets", "preview_case", "render_scene", "render_rollout", "frame", "write_image",
           "write_video", "cmd_preview"]

MAX_FRAMES = 80  # per GIF


# --------------------------------------------------------------------------- cases


def parse_sets(items: Sequence[str], scenario: Any, where: str = "--set") -> dict[str, Any]:
    """`name=value` strings -> {name: value}; values parse as YAML scalars (3 -> int, 0.5 -> float,
    night -> str, [1, 2] -> list) and are checked against what the env declares."""
    import yaml

    from simtest.contract import registry

    from simtest.authoring import spec

    out: dict[str, Any] = {}
    problems: list[str] = []
    info = registry.env_info(scenario.env)
    declared = info.params
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq or not name:
            problems.append(f'{where} "{item}" must look like NAME=VALUE, e.g. {where} lighting=night')
            continue
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text  # not YAML: keep the text as written
        if declared is not None:
            if name not in declared:
                problems.append(f'{where} {name}: unknown parameter of {scenario.env}{did_you_mean(name, declared)}; '
                                f"declared: {', '.join(sorted(declared))}")
                continue
            message = spec.value_problem(name, value, declared[name])
            if message:
                problems.append(f"{where} {name}: {message}")
                continue
        elif name not in scenario.params:
            known = list(scenario.params)
            problems.append(f'{where} {name}: not a parameter of scenario {scenario.id}{did_you_mean(name, known)} '
                            f"and {scenario.env} declares none; known: {', '.join(known) or 'none'}")
            continue
        out[name] = value
    if problems:
        raise UsageError("\n".join(problems))
    return out


def preview_case(scenario: Any, overrides: dict[str, Any], seed: int):
    """One concrete case of `scenario`: the first sample drawn with `seed`, then `overrides`.
    The case seed is `seed` itself, so `--seed 3` always shows the same scene."""
    from simtest.authoring.sampling import sample_params
    from simtest.contract.cases import Case, canonical_params

    params = dict(sample_params(scenario, sampler="random", samples=1, seed=seed)[0])
    params.update(overrides)
    return Case(scenario=scenario.id, scenario_hash=scenario.hash, env=scenario.env,
                params_json=canonical_params(params), seed=int(seed), tags=tuple(scenario.tags),
                horizon=scenario.horizon, checks=tuple((c.name, c.expr) for c in scenario.checks))


# --------------------------------------------------------------------------- frames


def frame(adapter: Any, observation: Any, height: int = PANEL, *, with_labels: bool = False) -> Any:
    """Every declared view (or render()) and the agent's image input, side by side, labelled
    (and the labels too, with `with_labels`)."""
    try:
        items = panels(adapter, observation, size=height)
        image = compose(items, height)
        return (image, [label for label, _ in items]) if with_labels else image
    except ValueError as exc:
        raise UsageError(f"{exc}; the env offers no usable views: give it render_mode=\"rgb_array\" support "
                         "or declare `views` in its registry entry") from None


def write_image(path: Path, image: Any) -> None:
    import imageio.v3 as iio

    _parent(path)
    iio.imwrite(path, image)


def write_video(path: Path, frames: Sequence[Any], fps: float = 10.0) -> None:
    """A GIF (or an MP4 when imageio-ffmpeg is installed) of `frames`."""
    import imageio.v3 as iio

    if not frames:
        raise UsageError(f"no frames to write to {path}")
    if len(frames) > MAX_FRAMES:  # keep files small: fewer frames, same real-time playback
        step = -(-len(frames) // MAX_FRAMES)
        frames, fps = list(frames[::step]), fps / step
    _parent(path)
    if path.suffix.lower() == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise UsageError(f"{path}: writing MP4 needs the imageio-ffmpeg package (pip install imageio-ffmpeg); "
                             "or write a .gif") from None
        iio.imwrite(path, list(frames), fps=fps)
        return
    iio.imwrite(path, list(frames), duration=round(1000 / fps), loop=0)


def _parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {path.parent}: {exc.strerror or exc}; choose another --out") from None


# --------------------------------------------------------------------------- rendering


def render_scene(case: Any) -> tuple[Any, list[str]]:
    """The composed first frame of `case` and the labels of its panels."""
    from simtest.execution.runner import episode_seeds

    adapter = rendering_adapter(case.env)
    try:
        env_seed, _ = episode_seeds(case.seed)
        obs, _ = adapter.reset(case.params, case.params_json, env_seed)
        return frame(adapter, obs, with_labels=True)
    finally:
        adapter.close()


class ZeroAgent:
    """Stands still: zeros for a Box action, action 0 for a Discrete one."""

    def __init__(self, action_space: Any):
        import numpy as np

        shape = getattr(action_space, "shape", None)
        dtype = getattr(action_space, "dtype", None)
        self._action = np.zeros(shape, dtype=dtype) if shape else 0

    def reset(self, seed: int) -> None:
        del seed

    def act(self, observation: Any) -> Any:
        return self._action


def render_rollout(case: Any, model_ref: str | None, *, max_steps: int | None = None,
                   height: int = 192) -> tuple[list, dict]:
    """Frames of one episode of `case` (every control step) and a summary. Without a model the
    agent stands still: enough to see the scene evolve (other agents, users, lighting)."""
    from simtest.execution.runner import episode_seeds

    adapter = rendering_adapter(case.env)
    try:
        env_seed, agent_seed = episode_seeds(case.seed)
        obs, _ = adapter.reset(case.params, case.params_json, env_seed)
        if model_ref:
            from simtest.execution.agents import load_agent
            from simtest.contract.registry import resolve_model

            agent = load_agent(resolve_model(model_ref))
        else:
            agent = ZeroAgent(adapter.env.action_space)
        agent.reset(agent_seed)
        frames = [frame(adapter, obs, height)]
        steps, total, ended = 0, 0.0, "horizon"
        limit = min(case.horizon, max_steps) if max_steps else case.horizon
        while steps < limit:
            obs, reward, terminated, truncated, _ = adapter.step(agent.act(obs))
            steps += 1
            total += float(reward)
            frames.append(frame(adapter, obs, height))
            if terminated or truncated:
                ended = "terminated" if terminated else "truncated"
                break
        return frames, {"steps": steps, "return": total, "ended": ended}
    finally:
        adapter.close()


# --------------------------------------------------------------------------- command


def cmd_preview(args: argparse.Namespace) -> int:
    from simtest.authoring.spec import load_scenario

    out = Path(args.out)
    suffix = out.suffix.lower()
    if args.rollout and suffix not in (".gif", ".mp4"):
        raise UsageError(f"--rollout writes a .gif (or .mp4); --out {out} has suffix {suffix or 'none'}")
    if not args.rollout and suffix not in (".png", ".jpg", ".jpeg"):
        raise UsageError(f"a scene preview is a .png; --out {out} has suffix {suffix or 'none'} "
                         "(add --rollout to write a GIF of an episode)")
    if args.model and not args.rollout:
        raise UsageError("--model only matters with --rollout (the initial scene does not depend on the agent)")
    scenario = load_scenario(args.scenario)
    overrides = parse_sets(args.set, scenario)
    case = preview_case(scenario, overrides, args.seed)
    print(f"{scenario.id} seed={case.seed} params={json.dumps(case.params, sort_keys=True)}", file=sys.stderr)
    if args.rollout:
        frames, summary = render_rollout(case, args.model)
        write_video(out, frames)
        print(f"wrote {out}: {len(frames)} frames, {summary['steps']} steps ({summary['ended']}), "
              f"return {summary['return']:.2f}" + ("" if args.model else "; no --model: the agent stood still"))
    else:
        image, labels = render_scene(case)
        write_image(out, image)
        print(f"wrote {out}: {' | '.join(labels)}")
    return 0
