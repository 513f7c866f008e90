"""Digests of code: what a run key needs to know so that nothing stale is reused.

Two questions, one mechanism:
- an agent's code digest covers the `.py` files of its entry point's top-level package (or the
  single module when the entry point is a top-level module);
- an env's build covers the files of the packages its entry strings name, the modules of the same
  top-level package that those files import (transitively, statically, by `ast`), the `__init__.py`
  of every enclosing package, and `name==version` of every distribution the files import.

Assumptions: imports are static (`import x`, `from x import y`); code under site-packages is
covered by its distribution's version, so its imports are not followed file by file. Nothing is
imported or executed: a top-level module is located with `importlib.util.find_spec`, submodules by
walking its directories, and files are read as text."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Iterable

__all__ = ["module_tree", "package_of", "tree_digest", "build_digest", "distribution_versions"]


def _top_locations(top: str) -> list[Path]:
    """Where a top-level module lives: its package directories, or [its file]. No import."""
    try:
        spec = importlib.util.find_spec(top)  # top-level: nothing is executed
    except (ImportError, ValueError, AttributeError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [Path(p) for p in spec.submodule_search_locations]
    if spec.origin and spec.origin.endswith(".py"):
        return [Path(spec.origin)]
    return []


def _locate(module: str) -> tuple[Path | None, bool]:
    """(path, is_package) of a dotted module found by walking the file system from its top-level
    location: a package directory, a `.py` file, or (None, False)."""
    top, *rest = module.split(".")
    for loc in _top_locations(top):
        if loc.is_file():
            if not rest:
                return loc, False
            continue
        target = loc.joinpath(*rest)
        if target.is_dir():
            return target, True
        if target.with_suffix(".py").is_file():
            return target.with_suffix(".py"), False
    return None, False


def _files_of(module: str, *, tree: bool) -> list[Path]:
    """The `.py` files of `module`: its whole package tree when `tree`, else its own file (a
    package's `__init__.py`)."""
    path, is_pkg = _locate(module)
    if path is None:
        return []
    if not is_pkg:
        return [path]
    if not tree:
        init = path / "__init__.py"
        return [init] if init.is_file() else []
    return sorted(f for f in path.rglob("*.py") if "__pycache__" not in f.parts)


def module_tree(module: str) -> list[Path]:
    """Every `.py` file of a module or package tree (empty when it cannot be found)."""
    return _files_of(module, tree=True)


def package_of(module: str) -> str:
    """The package that holds `module`'s code: the module itself when it is a package or a
    top-level module, else its parent package (`a.b.env` -> `a.b`)."""
    if "." not in module or _locate(module)[1]:
        return module
    return module.rsplit(".", 1)[0]


def tree_digest(module: str) -> str:
    """sha256 over the relative names and bytes of a module tree; "" when it cannot be found."""
    files = module_tree(module)
    if not files:
        return ""
    base = _common_root(files)
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(base)).encode())
        h.update(b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def _common_root(files: list[Path]) -> Path:
    parts = [f.parent.parts for f in files]
    common = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return Path(*common) if common else Path("/")


def _in_site_packages(path: Path) -> bool:
    return any(p in ("site-packages", "dist-packages") for p in path.parts)


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names imported by a file (relative imports resolved against `module`)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return set()
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join(p for p in base if p)
                mod = f"{prefix}.{node.module}" if node.module else prefix
            else:
                mod = node.module or ""
            if mod:
                out.add(mod)
                out.update(f"{mod}.{a.name}" for a in node.names if a.name != "*")
    return out


def _module_name(path: Path, root_module: str, root_dir: Path) -> str:
    rel = path.relative_to(root_dir).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([root_module, *parts]) if parts else root_module


@lru_cache(maxsize=1)
def _top_level_index() -> dict[str, list]:
    """Top-level import name -> Distribution objects, from `top_level.txt` (cheap: one small
    file per distribution, no metadata parsing); see `_dists_of`."""
    out: dict[str, list] = {}
    for dist in metadata.distributions():
        for top in (dist.read_text("top_level.txt") or "").split():
            out.setdefault(top, []).append(dist)
    return out


@lru_cache(maxsize=1)
def _all_dists_by_top_level() -> dict[str, tuple[str, ...]]:
    return {k: tuple(sorted(set(v))) for k, v in metadata.packages_distributions().items()}


@lru_cache(maxsize=None)
def _dists_of(top: str) -> tuple[str, ...]:
    """The distributions providing a top-level module: top_level.txt, then a distribution of
    that name, then `packages_distributions()` (which reads every RECORD: slow) as a last resort."""
    found = _top_level_index().get(top)
    if found:
        return tuple(sorted({d.metadata["Name"] for d in found}))
    for name in (top, top.replace("_", "-")):
        try:
            metadata.version(name)
            return (name,)
        except metadata.PackageNotFoundError:
            pass
    return _all_dists_by_top_level().get(top, ())


def distribution_versions(top_levels: Iterable[str]) -> list[str]:
    """`dist==version` for the installed distributions that provide these top-level modules."""
    out = set()
    for top in top_levels:
        for d in _dists_of(top):
            try:
                out.add(f"{d}=={metadata.version(d)}")
            except metadata.PackageNotFoundError:
                pass
    return sorted(out)


def build_digest(modules: Iterable[str], *, extra: str = "") -> tuple[str, tuple[str, ...]]:
    """(sha256, distributions) of the code behind `modules` (see the module docstring)."""
    roots = sorted({package_of(m) for m in modules if m})
    files: dict[Path, str] = {}
    queue: list[tuple[str, Path]] = []
    for root in roots:
        path, is_pkg = _locate(root)
        for f in module_tree(root):
            queue.append((_module_name(f, root, path) if is_pkg else root, f))
        parts = root.split(".")
        for i in range(1, len(parts)):  # enclosing packages run on import
            for f in _files_of(".".join(parts[:i]), tree=False):
                queue.append((".".join(parts[:i]), f))
    tops = {r.split(".")[0] for r in roots}
    third_party: set[str] = set()
    while queue:
        name, f = queue.pop()
        if f in files:
            continue
        files[f] = name
        if _in_site_packages(f):
            third_party.add(name.split(".")[0])
            continue
        for imported in _imports(f, name):
            top = imported.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if top not in tops:
                third_party.add(top)
                continue
            for g in _files_of(imported, tree=False):
                queue.append((imported, g))
    dists = tuple(distribution_versions(third_party | tops))
    h = hashlib.sha256(extra.encode())
    for d in dists:
        h.update(d.encode() + b"\0")
    for f in sorted(files, key=lambda p: files[p] + "|" + p.name):
        h.update(files[f].encode() + b"|" + f.name.encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest(), dists
