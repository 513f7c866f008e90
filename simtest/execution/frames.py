"""Drawing an episode's frames: the one place that turns an env's views into an image, for
`simtest preview`, `replay --video` and the report's failure GIFs. Views come from the env's
declaration (its `views` entry; `render()` when it declares none): no view name is known here.
Pillow is imported inside the functions."""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["PANEL", "panels", "compose", "draw_frame"]

PANEL = 256  # px: the default height every panel is scaled to
STRIP = 16  # px: the label / caption strip on top
GAP = 4  # px between panels


def panels(adapter: Any, observation: Any = None, *, views: Sequence[str] | None = None,
           size: int = PANEL) -> list[tuple[str, Any]]:
    """(label, image) for `views` (default: every view the env declares, else its `render()`),
    plus the agent's own image input when the observation carries one (`observation["image"]`).
    A view that fails raises ValueError naming the env and the view."""
    import numpy as np

    try:
        rendered = adapter.views(views, size=size)
    except Exception as exc:  # noqa: BLE001 - the env's renderer: say which and why
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        env = getattr(getattr(adapter, "info", None), "id", "the env")
        what = f"its views {', '.join(views)}" if views else "its declared views"
        raise ValueError(f"{env} cannot render {what}: {first}") from None
    out = [(name, np.asarray(img)) for name, img in rendered if img is not None]
    image = observation.get("image") if isinstance(observation, dict) else None
    if image is not None and getattr(image, "ndim", 0) == 3:
        out.append((f"agent input {image.shape[1]}x{image.shape[0]}", np.asarray(image)))
    return out


def _rgb(img: Any) -> Any:
    import numpy as np

    a = np.asarray(img)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    a = a[:, :, :3]
    if a.dtype != np.uint8:
        a = np.clip(a * (255.0 if a.size and a.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return a


def compose(items: Sequence[tuple[str, Any]], height: int = PANEL, *, caption: str | None = None,
            labels: bool = True) -> Any:
    """Panels scaled to one height (nearest neighbour: pixels stay pixels; aspect kept), side by
    side with white gaps, under a strip holding `caption`, or else each panel's label."""
    import numpy as np
    from PIL import Image, ImageDraw

    tiles = []
    for label, img in items:
        if img is None:
            continue
        pil = Image.fromarray(_rgb(img))
        w = max(1, round(pil.width * height / pil.height))
        tiles.append((label, pil.resize((w, height), Image.Resampling.NEAREST)))
    if not tiles:
        raise ValueError("none of the requested views rendered an image")
    strip = STRIP if (caption is not None or labels) else 0
    width = sum(t.width for _, t in tiles) + GAP * (len(tiles) - 1)
    canvas = Image.new("RGB", (width, height + strip), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    x = 0
    for label, tile in tiles:
        canvas.paste(tile, (x, strip))
        if caption is None and labels:
            draw.text((x + 4, 2), label, fill=(30, 30, 30))
        x += tile.width + GAP
    if caption is not None:
        draw.text((4, 2), caption, fill=(30, 30, 30))
    return np.asarray(canvas)


def draw_frame(adapter: Any, observation: Any = None, *, views: Sequence[str] | None = None,
               height: int = PANEL, caption: str | None = None) -> Any:
    """One composed frame of the env's current state."""
    return compose(panels(adapter, observation, views=views, size=height), height, caption=caption)
