"""Scenario, suite and policy files (and model manifests, which go through the same reader) may
come from a pull request: python tags, alias bombs and deep nesting are answered with one clear
error (exit 2, file and place named) within a bounded time and memory, and nothing runs."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from simtest.authoring import spec
from simtest.contract.policy import load_policy
from simtest.contract.registry import load_manifest
from simtest.core.errors import SimtestError

LOADERS = {
    "scenario": lambda p: spec.load_scenario(p, check_env=False),
    "suite": spec.load_suite,
    "policy": load_policy,
    "model manifest": load_manifest,
}
TIME_LIMIT_S = 10.0  # generous: 2 shared cores; the real cost is ~0.6 s for the largest bomb
MEMORY_LIMIT_MB = 64.0


def bomb(levels: int) -> str:
    """Billion laughs: each level repeats the previous one 9 times (9**levels values)."""
    names = "abcdefghijklmnop"
    text = f"{names[0]}: &{names[0]} [x, x, x, x, x, x, x, x, x]\n"
    for p, c in zip(names, names[1:levels]):
        text += f"{c}: &{c} [" + ", ".join([f"*{p}"] * 9) + "]\n"
    return text


def marker_tags(marker: Path) -> dict[str, str]:
    cmd = f"touch {marker}"
    return {
        "object/apply": f"id: !!python/object/apply:os.system ['{cmd}']\n",
        "object/new": f"id: !!python/object/new:os.system ['{cmd}']\n",
        "name": "id: !!python/name:os.system\n",
        "module": "id: !!python/module:os\n",
        "object on a mapping": "id: !!python/object:builtins.dict {a: 1}\n",
        "local tag": "id: !include /etc/passwd\n",
    }


def load(loader: str, path: Path, text: str) -> tuple[SimtestError, float]:
    path.write_text(text)
    t = time.perf_counter()
    with pytest.raises(SimtestError) as info:
        LOADERS[loader](path)
    return info.value, time.perf_counter() - t


@pytest.mark.parametrize("loader", LOADERS)
def test_python_and_unknown_tags_are_refused_and_nothing_runs(tmp_path, loader):
    marker = tmp_path / "ran"
    for name, text in marker_tags(marker).items():
        err, _ = load(loader, tmp_path / "in.yaml", text)
        msg = str(err)
        assert err.exit_code == 2 and f"{tmp_path / 'in.yaml'}:1:" in msg and "$.id" in msg, (name, msg)
        assert "tag" in msg, (name, msg)
    assert not marker.exists(), "a YAML tag ran code"


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("doc", ["alias bomb", "deep flow", "deep block"])
def test_bombs_and_deep_nesting_are_answered_quickly(tmp_path, loader, doc):
    text = {"alias bomb": bomb(9),  # 387 million values if expanded
            "deep flow": "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
            "deep block": "".join("  " * i + "a:\n" for i in range(3000)) + "  " * 3000 + "b: 1\n"}[doc]
    err, took = load(loader, tmp_path / "in.yaml", text)
    assert err.exit_code == 2 and str(tmp_path / "in.yaml") in str(err)
    assert "expands to more than" in str(err) or "nesting" in str(err) or "nested too deeply" in str(err), str(err)
    assert took < TIME_LIMIT_S, f"{doc}: {took:.1f} s"


@pytest.mark.parametrize("doc", ["alias bomb", "deep block"])
def test_bombs_are_answered_within_bounded_memory(tmp_path, doc):
    """A bomb that expands to 531,441 values (9**6, so it stays survivable should the bound ever
    be removed) must be refused before it is built: Python allocations stay small."""
    text = bomb(6) if doc == "alias bomb" else "".join("  " * i + "a:\n" for i in range(3000)) + "  " * 3000 + "b: 1\n"
    tracemalloc.start()
    try:
        err, _ = load("scenario", tmp_path / "in.yaml", text)
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert err.exit_code == 2
    assert peak_mb < MEMORY_LIMIT_MB, f"{doc}: peak {peak_mb:.0f} MiB"


def test_checks_are_parsed_by_the_safe_grammar_never_evaluated_as_python(tmp_path):
    marker = tmp_path / "ran"
    text = ("id: t/x-v1\nenv: simtest-test/Counter-v0\nhorizon: 5\nchecks:\n"
            f"  - \"__import__('os').system('touch {marker}') == 0\"\n"
            "constraints:\n  - \"().__class__.__base__.__subclasses__() == 1\"\n")
    err, _ = load("scenario", tmp_path / "in.yaml", text)
    assert "$.checks[0]" in str(err) and err.exit_code == 2
    assert not marker.exists()
