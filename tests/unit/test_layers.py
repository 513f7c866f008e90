"""The house is laid out by pipeline stage (docs/architecture.md), and this test is what keeps it so:

- each subpackage of simtest/ is a stage, and a stage imports only the stages in ALLOWED[stage];
  planning (authoring), execution, judging and exploration never import one another sideways;
- the wiring modules (orchestrate, preview, replay) connect the stages; the entry points (cli,
  pytest_plugin) sit on top and nothing imports them;
- heavy libraries are imported at module level only in their leaf modules;
- envs/ and models/ never import simtest (the boundary is docs/contracts.md).

A new module or stage must be placed here."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "simtest"

# module (relative to simtest, first component) -> stage
STAGE_OF = {
    "core": "core", "contract": "contract", "authoring": "authoring", "execution": "execution",
    "judging": "judging", "exploration": "exploration", "report": "report",
    "orchestrate": "wiring", "preview": "wiring", "replay": "wiring", "runs": "wiring",
    "cli": "entry", "pytest_plugin": "entry",
}
_BASE = {"core", "contract"}
ALLOWED = {
    "core": {"core"},
    "contract": {"core", "contract"},
    "authoring": _BASE | {"authoring"},
    "execution": _BASE | {"execution"},
    "judging": _BASE | {"judging"},
    "exploration": _BASE | {"authoring", "exploration"},
    "report": _BASE | {"report", "judging"},
    "wiring": _BASE | {"authoring", "execution", "judging", "exploration", "report", "wiring"},
    "entry": _BASE | {"authoring", "execution", "judging", "exploration", "report", "wiring", "entry"},
}
# The report formats the Verdict: it may name judging's value types, never compute with its statistics.
FORBIDDEN_MODULES = {"report": {"judging.stats", "judging.slicing"}}
# Named exceptions, each with the reason it exists. Keep this short.
EXCEPTIONS = {
    ("report.videos", "execution"): "failure GIFs re-run the failing episode to draw its frames",
    ("report._example", "judging"): "builds the example verdict of the docs with compare()",
}
# Heavy libraries may be imported at module level only in these modules (elsewhere: inside functions).
HEAVY_HOME = {"ray": {"execution.executors.ray"}, "matplotlib": {"report.plots"}, "pyarrow": {"execution.store"},
              "torch": set(), "pybullet": set()}


def _modules(root: Path = ROOT):
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        if parts:
            yield ".".join(parts), path


def stage(module: str) -> str:
    top = module.split(".")[0]
    assert top in STAGE_OF, f"simtest.{module} has no stage in tests/unit/test_layers.py: add it to STAGE_OF"
    return STAGE_OF[top]


def _imports(source: str, *, top_level_only: bool):
    tree = ast.parse(source)
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            if node.module.startswith("simtest"):
                for alias in node.names:
                    yield f"{node.module}.{alias.name}"


def violations(module: str, source: str) -> list[str]:
    """Every import of `source` (the text of simtest.<module>) that crosses a forbidden boundary."""
    mine = stage(module)
    out = []
    for imported in _imports(source, top_level_only=False):
        if not imported.startswith("simtest.") or imported == "simtest":
            continue
        target = imported[len("simtest."):]
        if target.split(".")[0] not in STAGE_OF:
            continue  # `from simtest.judging import compare` also yields judging.compare, checked on its own
        theirs = stage(target)
        if theirs == mine:
            continue
        if (module, theirs) in EXCEPTIONS:
            continue
        if theirs not in ALLOWED[mine]:
            out.append(f"simtest.{module} ({mine}) imports simtest.{target} ({theirs}); "
                       f"{mine} may import only {', '.join(sorted(ALLOWED[mine]))}")
        elif any(target == f or target.startswith(f + ".") for f in FORBIDDEN_MODULES.get(mine, ())):
            out.append(f"simtest.{module} ({mine}) imports simtest.{target}: the report formats the Verdict "
                       "and never computes with judging's statistics")
    return out


@pytest.mark.parametrize("module,path", list(_modules()), ids=lambda x: str(x) if isinstance(x, str) else "")
def test_imports_respect_the_stages(module, path):
    assert violations(module, path.read_text()) == []


def test_a_sideways_import_is_caught():
    """The rule above is live: synthetic violations of each kind are reported."""
    assert violations("execution.runner", "from simtest.judging.compare import compare\n")
    assert violations("judging.compare", "def f():\n    from simtest.execution import store\n")
    assert violations("authoring.sampling", "import simtest.execution.runner\n")
    assert violations("report.markdown", "from simtest.judging import stats\n")
    assert violations("core.errors", "from simtest.contract.registry import ModelRef\n")
    assert violations("execution.store", "from simtest.orchestrate import gate\n")
    # and legal ones are not
    assert violations("judging.compare", "from simtest.contract.policy import GatePolicy\n") == []
    assert violations("orchestrate", "from simtest.judging.compare import compare\n") == []


def test_every_stage_is_a_folder_and_every_folder_a_stage():
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    staged = {k for k in STAGE_OF if (ROOT / k).is_dir()}
    assert folders == staged


def test_nothing_imports_the_entry_points():
    for module, path in _modules():
        if stage(module) == "entry":
            continue
        for imported in _imports(path.read_text(), top_level_only=False):
            assert not imported.startswith(("simtest.cli", "simtest.pytest_plugin")), f"simtest.{module} imports {imported}"


@pytest.mark.parametrize("package", ["envs", "models"])
def test_envs_and_models_never_import_simtest(package):
    for path in sorted((REPO / package).rglob("*.py")):
        for imported in _imports(path.read_text(), top_level_only=False):
            assert imported.split(".")[0] != "simtest", f"{path.relative_to(REPO)} imports {imported}"


@pytest.mark.parametrize("module,path", list(_modules()), ids=lambda x: str(x) if isinstance(x, str) else "")
def test_heavy_libraries_are_imported_lazily(module, path):
    for imported in _imports(path.read_text(), top_level_only=True):
        lib = imported.split(".")[0]
        if lib in HEAVY_HOME:
            assert module in HEAVY_HOME[lib], f"simtest.{module} imports {lib} at module level; import it inside the function"


def test_docstrings_carry_no_stale_layer_numbers():
    """Stages are folders now; a 'Layer N' label in a docstring would drift from this test."""
    for module, path in _modules():
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert not doc.lstrip().startswith("Layer"), f"simtest.{module}: drop the 'Layer' label, the folder says it"


def test_light_core_starts_without_heavy_libraries():
    code = ("import sys, simtest.authoring.spec, simtest.authoring.sampling, simtest.authoring.validate, simtest.cli, "
            "simtest.orchestrate, simtest.contract.results, simtest.contract.registry\n"
            "heavy = [m for m in ('torch', 'ray', 'pybullet', 'matplotlib', 'pyarrow') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
