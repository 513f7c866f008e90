"""Layer 1: YAML loading that remembers where every value came from (file:line:col), so that
validation errors can point at the exact place. Only the safe loader is ever used."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from simtest.errors import Problem, ScenarioError

Loc = tuple  # a path into the document: ("params", "lighting", 0)


@dataclass(frozen=True)
class Located:
    """A parsed YAML document plus the position of each value and each mapping key."""

    file: str
    data: Any
    values: dict = field(default_factory=dict)  # Loc -> (line, col), 1-based
    keys: dict = field(default_factory=dict)  # Loc -> (line, col) of the key naming that value

    def where(self, loc: Sequence, *, key: bool = False) -> tuple[int | None, int | None]:
        """Position of `loc`, or of its nearest ancestor that exists in the document."""
        loc = tuple(loc)
        while True:
            table = self.keys if key and loc in self.keys else self.values
            if loc in table:
                return table[loc]
            if not loc:
                return (None, None)
            loc = loc[:-1]

    def problem(self, loc: Sequence, message: str, *, key: bool = False) -> Problem:
        line, col = self.where(loc, key=key)
        return Problem(self.file, jsonpath(loc), message, line, col)


def jsonpath(loc: Iterable) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def loads(text: str, file: str = "<string>", *, error_cls: type = ScenarioError) -> Located:
    """Parse one YAML document. Syntax errors and duplicate keys raise `error_cls` with positions."""
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
            what = exc.problem or "invalid YAML"
            raise error_cls([Problem(file, "$", f"YAML syntax error: {what}", line, col)]) from None
        except yaml.YAMLError as exc:
            raise error_cls([Problem(file, "$", f"YAML error: {exc}")]) from None
        values: dict = {}
        keys: dict = {}
        problems: list[Problem] = []

        def build(node: yaml.Node | None, loc: Loc) -> Any:
            if node is None:
                return None
            values[loc] = _mark(node)
            if isinstance(node, yaml.MappingNode):
                out: dict = {}
                for key_node, value_node in node.value:
                    try:
                        key = loader.construct_object(key_node, deep=True)
                    except yaml.YAMLError as exc:
                        problems.append(Problem(file, jsonpath(loc), f"bad key: {exc}", *_mark(key_node)))
                        continue
                    if not isinstance(key, (str, int, float, bool)) or key is None:
                        problems.append(
                            Problem(file, jsonpath(loc), "mapping keys must be plain scalars", *_mark(key_node))
                        )
                        continue
                    key = str(key) if not isinstance(key, str) else key
                    if key in out:
                        problems.append(
                            Problem(
                                file,
                                jsonpath(loc + (key,)),
                                f'duplicate key "{key}" (the first one is on line {keys[loc + (key,)][0]}); '
                                "remove one of them",
                                *_mark(key_node),
                            )
                        )
                        continue
                    keys[loc + (key,)] = _mark(key_node)
                    out[key] = build(value_node, loc + (key,))
                return out
            if isinstance(node, yaml.SequenceNode):
                return [build(child, loc + (i,)) for i, child in enumerate(node.value)]
            try:
                return loader.construct_object(node, deep=True)
            except yaml.YAMLError as exc:
                problems.append(Problem(file, jsonpath(loc), f"bad value: {exc}", *_mark(node)))
                return None

        data = build(root, ())
        if problems:
            raise error_cls(problems)
        return Located(file=file, data=data, values=values, keys=keys)
    finally:
        loader.dispose()


def load(path: str | Path, *, error_cls: type = ScenarioError) -> Located:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error_cls([Problem(str(path), "$", "file not found; check the path")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error_cls([Problem(str(path), "$", f"cannot read file: {exc}")]) from None
    return loads(text, str(path), error_cls=error_cls)


def pydantic_problems(exc: Any, doc: Located, prefix: Loc = ()) -> list[Problem]:
    """Turn a pydantic ValidationError into positioned Problems. Loc parts that pydantic adds
    (union tags, validator names) and that do not exist in the document are dropped."""
    problems = []
    for err in exc.errors(include_url=False):
        loc: list = list(prefix)
        node = _get(doc.data, prefix)
        for part in err.get("loc", ()):
            child = _child(node, part)
            if child is _MISSING and not (err["type"] == "extra_forbidden" and part == err["loc"][-1]):
                if err["type"] == "missing" and part == err["loc"][-1]:
                    loc.append(part)
                    break
                continue  # a pydantic-internal loc part (e.g. a union tag)
            loc.append(part)
            node = child
        msg = _message(err)
        is_key = err["type"] == "extra_forbidden"
        line, col = doc.where(tuple(loc), key=is_key)
        problems.append(Problem(doc.file, jsonpath(loc), msg, line, col))
    return problems


_MISSING = object()


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _MISSING


def _get(data: Any, loc: Loc) -> Any:
    for part in loc:
        data = _child(data, part)
    return data


def _message(err: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return f'unknown key "{err["loc"][-1]}"; remove it or check its spelling'
    if kind == "missing":
        return f'required key "{err["loc"][-1]}" is missing; add it'
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        got = err.get("input")
        msg += f" (got {type(got).__name__} {got!r})" if not isinstance(got, (dict, list)) else ""
    return msg
