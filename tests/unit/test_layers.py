"""The import direction of design.md: imports only go down the layers, and heavy libraries stay in
their leaf modules. A new module must be given a layer here."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "simtest"

LAYERS = {
    "errors": 0,
    "yamlio": 1, "expr": 1, "spec": 1, "registry": 1, "validate": 1, "policy": 1,
    "sampling": 2, "metrics": 2, "results": 2, "slicing": 2, "stats": 2,
    "compare": 3, "store": 3,
    "envadapter": 3.5, "agents": 3.5,
    "runner": 4,
    "executors": 5, "progress": 5,
    "orchestrate": 6, "report": 6, "preview": 6, "replay": 6, "schema": 6,
    "cli": 7, "pytest_plugin": 7,
}
# Heavy libraries may be imported at module level only in these modules (elsewhere: inside functions).
HEAVY_HOME = {"ray": {"executors.ray"}, "matplotlib": {"report.plots"}, "pyarrow": {"store"},
              "torch": set(), "pybullet": set()}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if parts:
            yield ".".join(parts), path


def _layer(module: str) -> float:
    top = module.split(".")[0]
    assert top in LAYERS, f"simtest.{module} has no layer in tests/unit/test_layers.py: add it"
    return LAYERS[top]


def _imports(path: Path, *, top_level_only: bool):
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            if node.module == "simtest":
                for alias in node.names:
                    yield f"simtest.{alias.name}"


@pytest.mark.parametrize("module,path", list(_modules()), ids=lambda x: str(x) if isinstance(x, str) else "")
def test_imports_only_go_down_the_layers(module, path):
    mine = _layer(module)
    for imported in _imports(path, top_level_only=False):
        if imported.startswith("simtest.") and imported != "simtest":
            target = imported[len("simtest."):]
            if target.split(".")[0] == module.split(".")[0]:
                continue
            assert _layer(target) <= mine, f"simtest.{module} (layer {mine}) imports simtest.{target} (layer {_layer(target)})"


@pytest.mark.parametrize("module,path", list(_modules()), ids=lambda x: str(x) if isinstance(x, str) else "")
def test_heavy_libraries_are_imported_lazily(module, path):
    for imported in _imports(path, top_level_only=True):
        lib = imported.split(".")[0]
        if lib in HEAVY_HOME:
            assert module in HEAVY_HOME[lib], f"simtest.{module} imports {lib} at module level; import it inside the function"


def test_light_core_starts_without_heavy_libraries():
    code = ("import sys, simtest.spec, simtest.sampling, simtest.validate, simtest.cli, simtest.orchestrate, "
            "simtest.results, simtest.registry\n"
            "heavy = [m for m in ('torch', 'ray', 'pybullet', 'matplotlib', 'pyarrow') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
