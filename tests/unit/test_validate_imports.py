"""`simtest validate` is the authors' inner loop: it must start fast, so it never imports torch,
ray, pybullet, matplotlib, pyarrow (or scipy and pandas) - checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "ray", "pybullet", "matplotlib", "pyarrow", "scipy", "pandas")

CODE = f"""
import io, json, sys, time, contextlib
t0 = time.perf_counter()
from simtest.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    rc = main(["validate", *sys.argv[1:]])
print(json.dumps({{"rc": rc, "seconds": time.perf_counter() - t0,
                  "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def _validate_in_fresh_process(*paths: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CODE, *paths], capture_output=True, text=True, check=True,
                         cwd=ROOT, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_validate_of_shipped_scenarios_imports_no_heavy_library():
    result = _validate_in_fresh_process("scenarios")
    assert result["rc"] == 0
    assert result["heavy"] == []
    # "about a second" on a quiet machine; the bound only catches a heavy import sneaking in.
    assert result["seconds"] < 8


def test_validate_of_broken_files_imports_no_heavy_library(tmp_path):
    (tmp_path / "s.yaml").write_text("id: driving/x-v1\nenv: simtest/Driving-v0\nhorizon: 5\nparams:\n"
                                     "  n_obstacle: 2\n  goal_distance: {normal: {mean: 5, std: 1, min: 3, max: 8}}\n"
                                     "constraints: [goal_distance > 30]\n")
    (tmp_path / "c.yaml").write_text("id: gym/c-v1\nenv: CartPole-v1\nhorizon: 5\nparams: {x: {uniform: [0, 1]}}\n"
                                     "constraints: [x > 2]\n")
    result = _validate_in_fresh_process(str(tmp_path))
    assert result["rc"] == 2
    assert result["heavy"] == []
