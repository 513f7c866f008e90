"""report.html in a real headless browser (Debian's chromium, which .ci/run installs): every
figure and GIF decodes (the page's onload script counts broken images into the DOM) and the
rendered page is not blank."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from simtest.report import videos, write_reports
from simtest.report._example import example_context, example_frames, example_verdict

pytestmark = pytest.mark.e2e

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_browser() -> str | None:
    explicit = os.environ.get("SIMTEST_CHROMIUM")
    if explicit:
        return explicit
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser() -> str:
    path = find_browser()
    if path is None:
        pytest.skip("skipped: no chromium browser found; install Debian's chromium "
                    "(apt-get install -y chromium, as .ci/run does) or set SIMTEST_CHROMIUM")
    return path


def headless(browser: str, profile, *args: str) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
           "--hide-scrollbars", f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The example gate's report with one failure GIF (synthetic frames: no simulator here)."""
    out = tmp_path_factory.mktemp("report")
    frames = example_frames()
    verdict = example_verdict(frames)

    def fake_render(case, model_ref, path, **kw):
        from simtest.execution.frames import compose

        pics = [compose([("a", np.full((48, 48, 3), 30 * k, np.uint8)), ("b", np.full((48, 48, 3), 200, np.uint8))],
                        48, caption=f"step {k}") for k in range(1, 6)]
        p = videos.write_gif(pics, path)
        return videos.RenderedGif(p, len(pics), p.stat().st_size, None)

    mp = pytest.MonkeyPatch()
    mp.setattr(videos, "render_failure_gif", fake_render)
    try:
        paths = write_reports(out, verdict, frames, {**example_context(), "videos": 1, "model_refs": {"candidate": "m"}})
    finally:
        mp.undo()
    return paths["html"]


def test_every_figure_and_gif_decodes_in_headless_chromium(browser, report, tmp_path):
    html = report.read_text(encoding="utf-8")
    n_img = len(re.findall(r"<img\b", html))
    assert n_img >= 5 and "image/gif" in html
    done = headless(browser, tmp_path / "profile", "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    marker = re.search(r'data-figures="(\d+) images, (\d+) broken"', done.stdout)
    assert marker, "the page's onload script did not run: " + done.stdout[:500]
    assert (int(marker.group(1)), int(marker.group(2))) == (n_img, 0)


def test_rendered_page_shows_the_figures(browser, report, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    done = headless(browser, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,3000", report.as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (3000, 1200)
    colours = np.unique(pixels.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 200  # plots, heatmaps and text, not a blank or error page
    red_badge = (pixels[:, :, 0] > 180) & (pixels[:, :, 1] < 80) & (pixels[:, :, 2] < 80)
    assert red_badge[:150].sum() > 500  # the FAIL badge at the top
