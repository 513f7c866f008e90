"""docs/tutorial-classic-control.md runs as written: every `$ ` line of its ```console blocks,
in order, in one shell, on a copy of examples/classic-control; a trailing `# exits N` is the
expected exit code (default 0)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial-classic-control.md"


def tutorial_commands() -> list[tuple[str, int]]:
    commands = []
    for block in re.findall(r"```console\n(.*?)```", TUTORIAL.read_text(), flags=re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                command, _, comment = line[2:].partition("  # ")
                code = re.search(r"exits (\d+)", comment)
                commands.append((command.strip(), int(code.group(1)) if code else 0))
    return commands


def test_tutorial_has_the_promised_steps():
    text = " ".join(c for c, _ in tutorial_commands())
    for step in ("simtest validate", "simtest run", "--executor local", "simtest gate", "simtest replay", "pytest"):
        assert step in text


def test_tutorial_commands_run_as_written(tmp_path):
    shutil.copytree(ROOT / "examples" / "classic-control", tmp_path / "examples" / "classic-control")
    commands = tutorial_commands()
    lines = ["set -u"]
    for i, (command, code) in enumerate(commands):
        lines.append(f"echo '>>> command {i}'")
        lines.append(command)
        lines.append(f'rc=$?; if [ $rc -ne {code} ]; then echo "FAILED: command {i} exited $rc, expected {code}"; exit 99; fi')
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", "-c", "\n".join(lines)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    out = proc.stdout + proc.stderr
    listing = "\n".join(f"{i}: {c}" for i, (c, _) in enumerate(commands))
    assert proc.returncode == 0, f"{listing}\n---\n{proc.stdout[-3000:]}\n---\n{proc.stderr[-2000:]}"
    assert "6 file(s) valid" in out
    assert "VERDICT: FAIL" in out and "g=[10,12]" in out
    assert "IDENTICAL" in out
    assert "4 of 4 cases identical" in out
    assert (tmp_path / "examples" / "classic-control" / "report" / "verdict.json").is_file()
