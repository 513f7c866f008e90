"""Reproducible training: the reference version's manifest command, run again into a temporary
directory (fresh render, fresh training), gives weights with the manifest's sha256 bit for bit.
Slow (renders 1500 frames and trains for about a minute)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from simtest_models.grasp import train

pytestmark = [pytest.mark.sim, pytest.mark.slow]

MODELS = Path(__file__).resolve().parents[2] / "models" / "grasp"


def test_reference_manifest_command_reproduces_its_weights(tmp_path):
    manifest = yaml.safe_load((MODELS / "grasp-perception-1.0.yaml").read_text())
    argv = shlex.split(manifest["training"]["command"])
    assert argv[:3] == ["python", "-m", "simtest_models.grasp.train"]
    args = argv[3:]
    args[args.index("--out") + 1] = str(tmp_path)
    assert train.main(args) == 0
    assert train.sha256_file(tmp_path / "grasp-perception-1.0.pt") == manifest["sha256"]
