"""Replays a failing case with the episode runner and writes a small GIF of it: the views the
env declares for failure videos (its `failure_views`, else every declared view, else `render()`),
side by side. Frames are drawn by `simtest.execution.frames`; imageio is imported lazily."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from simtest.contract.registry import ModelRef
    from simtest.contract.cases import Case

__all__ = ["render_failure_gif", "RenderedGif", "write_gif"]

MAX_BYTES = 400_000  # a few hundred KB: small enough to embed several in report.html


@dataclass(frozen=True)
class RenderedGif:
    path: Path
    frames: int
    size_bytes: int
    result: Any  # the replayed EpisodeResult (compare its trace_digest with the stored row's)


def render_failure_gif(
    case: Case,
    model_ref: ModelRef,
    path: str | Path,
    views: Sequence[str] | None = None,
    *,
    size: int = 160,
    max_frames: int = 40,
    every: int | None = None,
    fps: float = 8.0,
    max_bytes: int = MAX_BYTES,
    worker: Any = None,
) -> RenderedGif:
    """Re-run `case` with `model_ref` and write a GIF of it to `path`.

    A frame (`views`, default: the env's declared video views; each `size` px high, side by side,
    with a caption strip) is
    grabbed every `every` control steps (default: a stride that doubles as needed to keep at
    most `max_frames`) and once more at the end. Rendering draws no random numbers, so the replay is the
    stored episode step for step; `result.trace_digest` says so. `worker` defaults to a fresh
    `simtest.execution.runner.EpisodeWorker(model_ref)` (closed afterwards); pass one to reuse it.
    """
    own = worker is None
    if own:
        from simtest.execution.envadapter import rendering_adapter
        from simtest.execution.runner import EpisodeWorker

        worker = EpisodeWorker(model_ref, adapter_factory=rendering_adapter)
    from simtest.execution.frames import draw_frame

    frames: list[Any] = []
    # Without `every`: grab every step, and each time max_frames are held drop every other one and
    # double the stride, so a short crash and a long timeout both get between max/2 and max frames.
    state: dict[str, Any] = {"adapter": None, "step": 0, "info": {}, "stride": every or 1}
    label = getattr(model_ref, "label", str(model_ref))

    def draw(adapter: Any, step: int, info: Any) -> Any:
        wanted = views if views is not None else (tuple(adapter.info.video_views) or None)
        return draw_frame(adapter, views=wanted, height=size, caption=_caption(label, step, info))

    def observer(step: int, obs: Any, action: Any, info: dict, adapter: Any) -> None:
        state.update(adapter=adapter, step=step, info=info)
        if step % state["stride"] == 0:
            frames.append(draw(adapter, step, info))
            if every is None and len(frames) >= max_frames:
                frames[:] = frames[1::2]  # keeps the frames at multiples of the doubled stride
                state["stride"] *= 2

    try:
        result = worker.run(case, observer=observer)
        adapter = state["adapter"]
        if adapter is not None and state["step"] % state["stride"] != 0:  # the last step shows how it ended
            try:
                frames.append(draw(adapter, state["step"], state["info"]))
            except Exception:  # noqa: BLE001 - an env closed after an env_error: the earlier frames still tell
                pass
    finally:
        if own:
            worker.close()
    if not frames:
        raise ValueError(f"case {case.case_id}: no frame to write; the episode ended before its first step "
                         f"or env {case.env} renders none of its views")
    out = write_gif(frames, path, fps=fps, max_bytes=max_bytes)
    return RenderedGif(path=out, frames=len(frames), size_bytes=out.stat().st_size, result=result)


def _caption(label: str, step: int, info: Any) -> str:
    flags = [k for k, v in (info.items() if isinstance(info, dict) else []) if isinstance(v, (bool,)) and v]
    t = info.get("t") if isinstance(info, dict) else None
    when = f"step {step}" + (f"  t={float(t):.1f}s" if isinstance(t, (int, float)) else "")
    return f"{label}  {when}" + (f"  {' '.join(flags).upper()}" if flags else "")


def write_gif(frames: Sequence[Any], path: str | Path, *, fps: float = 8.0, max_bytes: int = MAX_BYTES) -> Path:
    """Write a looping GIF; if it comes out over `max_bytes`, drop every other frame and shrink
    until it fits (a few tries), keeping the last frame."""
    import imageio.v3 as iio
    import numpy as np
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seq = [np.asarray(f) for f in frames]
    duration = int(round(1000 / fps))
    for _ in range(5):
        iio.imwrite(path, np.stack(seq), extension=".gif", duration=duration, loop=0)
        if path.stat().st_size <= max_bytes or len(seq) <= 2 and seq[0].shape[0] < 48:
            break
        if len(seq) > 12:
            seq = seq[::2] + ([seq[-1]] if (len(seq) - 1) % 2 else [])
            duration *= 2
        else:
            h, w = seq[0].shape[:2]
            seq = [np.asarray(Image.fromarray(f).resize((max(1, int(w * 0.75)), max(1, int(h * 0.75))))) for f in seq]
    return path
