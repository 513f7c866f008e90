"""Failure GIFs: frames grabbed through the episode runner's observer hook every few steps and at
the end, camera and top-down side by side, kept under the size budget. A fake worker stands in
for the simulator here; tests/sim covers the real driving env."""

from __future__ import annotations

import dataclasses

import imageio.v3 as iio
import numpy as np
import pytest

from simtest.execution import frames as drawing
from simtest.report import videos, write_reports
from simtest.report._example import example_context, example_frames, handmade_verdict
from simtest.contract.cases import Case


class FakeInfo:
    id = "fake/Env-v0"
    video_views = ("camera", "topdown")  # what the env declares for failure videos


class FakeAdapter:
    info = FakeInfo()

    def __init__(self):
        self.step = 0
        self.calls: list[tuple[str, int]] = []

    def views(self, names, size=128):
        return [(n, self.view(n, size=size)) for n in names]

    def view(self, name, size=128):
        self.calls.append((name, size))
        if name == "camera":  # a moving gradient: frames differ from step to step
            x = (np.arange(size)[None, :] * 2 + self.step * 7) % 256
            return np.repeat(np.repeat(x[:, :, None], 3, axis=2), size, axis=0).astype(np.uint8)
        if name == "topdown":
            img = np.full((size * 2, size * 2), 200, np.uint8)  # grey-level, twice the size: resized
            img[: self.step % size, :] = 40
            return img
        return None


@dataclasses.dataclass
class FakeResult:
    trace_digest: str
    steps: int


class FakeWorker:
    def __init__(self, steps: int):
        self.steps = steps
        self.adapter = FakeAdapter()
        self.closed = False

    def run(self, case, *, attempt=1, observer=None):
        for k in range(1, self.steps + 1):
            self.adapter.step = k
            observer(k, None, None, {"t": k / 10, "collision": k == self.steps}, self.adapter)
        return FakeResult("digest-1", self.steps)

    def close(self):
        self.closed = True


CASE = Case(scenario="driving/night-v1", scenario_hash="h", env="simtest/Driving-v0", params_json="{}", seed=3,
            horizon=100)


def test_gif_has_a_frame_every_few_steps_plus_the_last_one_side_by_side(tmp_path):
    worker = FakeWorker(steps=47)
    r = videos.render_failure_gif(CASE, "m@1", tmp_path / "f.gif", size=64, max_frames=20, worker=worker)
    frames = iio.imread(r.path, index=None)
    # the stride doubles at 20 frames: steps 4, 8, ..., 44 (stride 4 after two halvings) and the last, 47
    assert r.frames == 12 and frames.shape[0] == 12
    assert frames.shape[1] == 64 + 16  # caption strip on top
    assert frames.shape[2] == 64 + 4 + 64  # camera | gap | top-down (resized to the same height)
    assert {name for name, _ in worker.adapter.calls} == {"camera", "topdown"}  # the declared video views
    assert r.result.trace_digest == "digest-1"
    assert not worker.closed  # a worker passed in belongs to the caller


def test_gif_is_shrunk_until_it_fits_the_byte_budget(tmp_path):
    rng = np.random.default_rng(0)
    noisy = [rng.integers(0, 256, (60, 120, 3), dtype=np.uint8) for _ in range(16)]  # incompressible
    path = videos.write_gif(noisy, tmp_path / "big.gif", max_bytes=40_000)
    assert path.stat().st_size <= 40_000
    assert iio.imread(path, index=None).shape[0] >= 2


def test_a_fixed_stride_grabs_every_nth_step_and_the_last(tmp_path):
    r = videos.render_failure_gif(CASE, "m@1", tmp_path / "f.gif", size=32, every=10, worker=FakeWorker(steps=47))
    assert r.frames == 5  # 10, 20, 30, 40 and 47


def test_a_short_episode_still_gets_a_frame_per_step(tmp_path):
    r = videos.render_failure_gif(CASE, "m@1", tmp_path / "f.gif", size=32, max_frames=40, worker=FakeWorker(steps=16))
    assert r.frames == 16


def test_no_rendered_view_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="none of the requested views rendered an image"):
        drawing.compose([("a", None), ("b", None)], 32, caption="x")
    with pytest.raises(ValueError, match="no frame to write"):
        videos.render_failure_gif(CASE, "m@1", tmp_path / "none.gif", worker=FakeWorker(steps=0))


def test_write_reports_renders_the_worst_new_failures_only_when_asked(tmp_path, monkeypatch):
    frames = example_frames(n_samples=12, seeds=1)
    verdict = handmade_verdict("fail", frames=frames, failures=4)
    rendered = []
    real = videos.render_failure_gif

    def fake_render(case, model_ref, path, **kw):
        rendered.append(path.stem)  # write_reports names each GIF by the stored case id
        assert case.horizon > 0 and model_ref == "driving-perception@1.2"
        return real(case, model_ref, path, size=32, worker=FakeWorker(steps=12))

    monkeypatch.setattr(videos, "render_failure_gif", fake_render)
    ctx = {**example_context(), "model_refs": {"candidate": "driving-perception@1.2"}}
    from simtest.report import _data, _videos

    d = _data.build(verdict, frames, ctx)
    assert _videos(tmp_path, d, frames, ctx) == ({}, [])  # default: no simulation (simtest compare)
    assert rendered == []

    paths = write_reports(tmp_path / "two", verdict, frames, {**ctx, "videos": 2})
    worst = [f.case_id for f in verdict.new_failures][:2]
    worst = sorted(worst, key=lambda cid: cid != verdict.new_failures[1].case_id)  # the agent error first
    assert rendered == worst
    assert [k for k in paths if k.startswith("video:")] == [f"video:{cid}" for cid in worst]
    html = paths["html"].read_text(encoding="utf-8")
    assert html.count("data:image/gif;base64,") == 2
    # the fake replay's trace digest differs from the stored one: the report says so
    assert "diverged from the stored episode" in html
