"""A guard over the source of simtest/, envs/ and models/: no call that can turn a data file into
code. YAML only through safe loading, no eval/exec/compile, no unpickling (pickle, dill,
marshal, shelve, joblib, pandas.read_pickle, numpy allow_pickle), every torch.load with a literal
weights_only=True. A new unsafe call fails here with its file and line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for d in ("simtest", "envs", "models") for p in (ROOT / d).rglob("*.py"))

UNPICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "joblib", "jsonpickle"}
UNSAFE_YAML = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all"}
UNSAFE_LOADERS = {"Loader", "FullLoader", "UnsafeLoader", "CLoader", "CFullLoader", "CUnsafeLoader"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def problems(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for m in mods:
                if m.split(".")[0] in UNPICKLERS:
                    out.append((node.lineno, f"imports {m} (unpickling)"))
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        head, _, attr = name.rpartition(".")
        if name in ("eval", "exec", "compile"):  # importing entry points by name is allowed: they are trusted code
            out.append((node.lineno, f"calls {name}()"))
        if head.split(".")[-1:] == ["yaml"] and attr in UNSAFE_YAML:
            out.append((node.lineno, f"calls {name}() (use yaml.safe_load / simtest.core.yamlio)"))
        loader = _kw(node, "Loader")
        if loader is not None and _dotted(loader).split(".")[-1] in UNSAFE_LOADERS:
            out.append((node.lineno, f"YAML Loader={_dotted(loader)}"))
        if name.endswith("torch.load") or name == "torch.load":
            w = _kw(node, "weights_only")
            if not (isinstance(w, ast.Constant) and w.value is True):
                out.append((node.lineno, "torch.load without a literal weights_only=True"))
        if attr in ("read_pickle", "from_pickle") or name.endswith("np.load") or name.endswith("numpy.load"):
            ap = _kw(node, "allow_pickle")
            if attr in ("read_pickle", "from_pickle") or (isinstance(ap, ast.Constant) and ap.value is True):
                out.append((node.lineno, f"calls {name}() that unpickles"))
    return out


def test_the_guard_catches_each_unsafe_form():
    bad = """
import pickle
import yaml, torch, numpy as np, pandas as pd
yaml.load(t)
yaml.load(t, Loader=yaml.FullLoader)
yaml.full_load(t)
eval(s)
exec(s)
torch.load(p)
torch.load(p, weights_only=False)
np.load(p, allow_pickle=True)
pd.read_pickle(p)
"""
    found = problems(ast.parse(bad))
    assert len(found) == 11, found  # yaml.load(..., Loader=FullLoader) counts twice
    ok = "import yaml, torch\nyaml.safe_load(t)\ntorch.load(p, map_location='cpu', weights_only=True)\nnet.eval()\n"
    assert problems(ast.parse(ok)) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_source_file_can_turn_data_into_code(path):
    found = problems(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    assert found == [], "\n".join(f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in found)
