"""Helpers (no tests) for the third-party recipe e2e tests (tests/e2e/test_thirdparty_*.py).

A recipe under examples/<name>/ is a tiny package whose pyproject.toml declares the
`simtest.envs` entry point; users `pip install -e examples/<name>`. The tests do not install
anything: they copy the recipe and write the `.dist-info` that such an install would put on
sys.path (METADATA + entry_points.txt, taken from the recipe's pyproject.toml), then run the CLI
with the copy on PYTHONPATH, as the recipe's doc page says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def install_copy(name: str, tmp_path: Path) -> Path:
    src = ROOT / "examples" / name
    dst = tmp_path / name
    shutil.copytree(src, dst)
    project = tomllib.loads((src / "pyproject.toml").read_text())["project"]
    dist = dst / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in entries.items()]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return dst


def simtest(cwd: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([sys.executable, "-m", "simtest.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def first_case_id(summary: Path) -> str:
    found = re.search(r"`([0-9a-f]{16})`", summary.read_text())
    assert found, f"no case id in {summary}"
    return found.group(1)


def assert_quiet_stdout(proc: subprocess.CompletedProcess) -> None:
    """Third-party chatter (pybullet's native argv[0]= line, pygame's banner and XDG warning)
    must not reach simtest's stdout, which scripts parse."""
    for noise in ("argv[0]=", "pygame", "XDG_RUNTIME_DIR"):
        assert noise not in proc.stdout, f"{noise!r} on stdout:\n{proc.stdout[-2000:]}"
