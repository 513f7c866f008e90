"""YAML loading that remembers where every value came from (file:line:col), so that
validation errors can point at the exact place. Only the safe loader is ever used."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from simtest.core.errors import Problem, ScenarioError

__all__ = ["Located", "loads", "load", "merge", "jsonpath", "pydantic_problems", "MAX_NODES"]

Loc = tuple  # a path into the document: ("params", "lighting", 0)

# libyaml's parser when present (5x faster: `simtest validate` should take about a second); both
# give nodes with marks and use the same safe constructor.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}

# Aliases let a few lines expand into billions of nodes ("billion laughs"); an authored file
# never comes close to this many.
MAX_NODES = 100_000


@dataclass(frozen=True)
class Located:
    """A parsed YAML document plus the position of each value and each mapping key.

    `files` names the file a value came from when it is not `file` (a value inherited through
    `extends:` points into the parent file)."""

    file: str
    data: Any
    values: dict = field(default_factory=dict)  # Loc -> (line, col), 1-based
    keys: dict = field(default_factory=dict)  # Loc -> (line, col) of the key naming that value
    files: dict = field(default_factory=dict)  # Loc -> file, for values from another file

    def _anchor(self, loc: Sequence, key: bool) -> tuple[Loc | None, dict]:
        loc = tuple(loc)
        while True:
            if key and loc in self.keys:
                return loc, self.keys
            if loc in self.values:
                return loc, self.values
            if not loc:
                return None, self.values
            loc = loc[:-1]

    def where(self, loc: Sequence, *, key: bool = False) -> tuple[int | None, int | None]:
        """Position of `loc`, or of its nearest ancestor that exists in the document."""
        anchor, table = self._anchor(loc, key)
        return table[anchor] if anchor is not None else (None, None)

    def origin(self, loc: Sequence, *, key: bool = False) -> str:
        """The file that holds `loc` (or its nearest ancestor)."""
        anchor, _ = self._anchor(loc, key)
        return self.files.get(anchor, self.file) if anchor is not None else self.file

    def problem(self, loc: Sequence, message: str, *, key: bool = False) -> Problem:
        line, col = self.where(loc, key=key)
        return Problem(self.origin(loc, key=key), jsonpath(loc), message, line, col)


def jsonpath(loc: Iterable) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def loads(text: str, file: str = "<string>", *, error_cls: type = ScenarioError) -> Located:
    """Parse one YAML document. Syntax errors, duplicate keys, recursive aliases and alias bombs
    raise `error_cls` with positions; nothing else escapes."""
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:
        raise error_cls([Problem(file, "$", f"cannot read the file as YAML text: {_first_line(exc)}")]) from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
            what = exc.problem or "invalid YAML"
            if exc.context and "expected a single document" in exc.context:
                what = "more than one YAML document (---) in the file; keep one document per file"
            elif exc.context and exc.context_mark is not None and exc.context_mark is not mark:
                what += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
            raise error_cls([Problem(file, "$", f"YAML syntax error: {what}", line, col)]) from None
        except yaml.reader.ReaderError as exc:
            pos = exc.position if isinstance(exc.position, int) else 0
            line = text.count("\n", 0, pos) + 1
            col = pos - (text.rfind("\n", 0, pos) + 1) + 1
            ch = f"{exc.character:#x}" if isinstance(exc.character, int) else repr(exc.character)
            raise error_cls([Problem(file, "$", f"character {ch} is not allowed in YAML ({exc.reason}); "
                                     "remove it", line, col)]) from None
        except yaml.YAMLError as exc:
            raise error_cls([Problem(file, "$", f"YAML error: {_first_line(exc)}")]) from None
        except RecursionError:
            raise error_cls([Problem(file, "$", "the document is nested too deeply to read")]) from None
        return _build_document(loader, root, file, error_cls)
    finally:
        loader.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _build_document(loader: Any, root: yaml.Node | None, file: str, error_cls: type) -> Located:
    values: dict = {}
    keys: dict = {}
    problems: list[Problem] = []
    active: set[int] = set()  # nodes on the current path: an alias to one of them is a cycle
    count = [0]

    class _TooBig(Exception):
        pass

    def build(node: yaml.Node | None, loc: Loc) -> Any:
        if node is None:
            return None
        count[0] += 1
        if count[0] > MAX_NODES:
            raise _TooBig
        values[loc] = _mark(node)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if node.tag not in _PLAIN_TAGS:  # e.g. !!python/object: never constructed, never ignored
                problems.append(Problem(file, jsonpath(loc), f"unsupported YAML tag {node.tag}; remove it",
                                        *_mark(node)))
                return None
            if id(node) in active:
                problems.append(Problem(file, jsonpath(loc), "an alias refers to a value that contains it "
                                        "(a recursive structure); replace the alias with a copy", *_mark(node)))
                return None
            active.add(id(node))
            try:
                return build_mapping(node, loc) if isinstance(node, yaml.MappingNode) else [
                    build(child, loc + (i,)) for i, child in enumerate(node.value)]
            finally:
                active.discard(id(node))
        try:
            return loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            problems.append(Problem(file, jsonpath(loc), f"bad value: {_first_line(exc)}", *_mark(node)))
            return None

    def build_mapping(node: yaml.MappingNode, loc: Loc) -> dict:
        try:
            loader.flatten_mapping(node)  # YAML merge keys (<<: *base)
        except yaml.YAMLError as exc:
            problems.append(Problem(file, jsonpath(loc), f"bad merge key (<<): {_first_line(exc)}", *_mark(node)))
            return {}
        out: dict = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(file, jsonpath(loc), "mapping keys must be plain scalars "
                                        "(a name, not a list or mapping)", *_mark(key_node)))
                continue
            try:
                key = loader.construct_object(key_node, deep=True)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
                problems.append(Problem(file, jsonpath(loc), f"bad key: {_first_line(exc)}", *_mark(key_node)))
                continue
            if key is None or not isinstance(key, (str, int, float, bool)):
                problems.append(Problem(file, jsonpath(loc), f"mapping key {_short(key)} is not a name; "
                                        "write keys as plain words", *_mark(key_node)))
                continue
            key = key if isinstance(key, str) else str(key)
            if key in out:
                problems.append(Problem(
                    file, jsonpath(loc + (key,)),
                    f'duplicate key "{key}" (the first one is on line {keys[loc + (key,)][0]}); remove one of them',
                    *_mark(key_node)))
                continue
            keys[loc + (key,)] = _mark(key_node)
            out[key] = build(value_node, loc + (key,))
        return out

    try:
        data = build(root, ())
    except _TooBig:
        raise error_cls([Problem(file, "$", f"the document expands to more than {MAX_NODES} values "
                                 "(aliases repeated too often); write it out plainly")]) from None
    except RecursionError:
        raise error_cls([Problem(file, "$", "the document is nested too deeply to read")]) from None
    if problems:
        raise error_cls(problems)
    return Located(file=file, data=data, values=values, keys=keys)


def load(path: str | Path, *, error_cls: type = ScenarioError) -> Located:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error_cls([Problem(str(path), "$", "file not found; check the path")]) from None
    except IsADirectoryError:
        raise error_cls([Problem(str(path), "$", "is a directory, not a YAML file")]) from None
    except UnicodeDecodeError as exc:
        raise error_cls([Problem(str(path), "$", f"not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                 "save the file as UTF-8")]) from None
    except (OSError, ValueError) as exc:
        raise error_cls([Problem(str(path), "$", f"cannot read file: {exc}")]) from None
    return loads(text, str(path), error_cls=error_cls)


def merge(base: Located, over: Located, *, drop: Sequence[str] = (), deep: Sequence[str] = ()) -> Located:
    """`over` laid on top of `base` (both top-level mappings): keys of `over` replace those of
    `base`, except the mappings named in `deep`, which merge entry by entry. Keys in `drop` are
    removed from `over` first. Every value keeps the position (and file) it came from."""
    assert isinstance(base.data, dict) and isinstance(over.data, dict)
    own = {k: v for k, v in over.data.items() if k not in drop}
    data: dict = dict(base.data)
    replaced: set[Loc] = set()
    for k, v in own.items():
        if k in deep and isinstance(v, dict) and isinstance(data.get(k), dict):
            data[k] = {**data[k], **v}
            replaced.update((k, name) for name in v)
        else:
            data[k] = v
            replaced.add((k,))

    def inherited(loc: Loc) -> bool:
        return bool(loc) and not any(loc[: len(r)] == r for r in replaced)

    values: dict = {}
    keys: dict = {}
    files: dict = {}
    for table, out in ((base.values, values), (base.keys, keys)):
        for loc, pos in table.items():
            if inherited(loc):
                out[loc] = pos
                files[loc] = base.files.get(loc, base.file)
    for table, out in ((over.values, values), (over.keys, keys)):
        for loc, pos in table.items():
            if not (loc and loc[0] in drop):
                out[loc] = pos
                if loc in over.files:
                    files[loc] = over.files[loc]
                else:
                    files.pop(loc, None)
    return Located(file=over.file, data=data, values=values, keys=keys, files=files)


def pydantic_problems(exc: Any, doc: Located, prefix: Loc = (), *, model: Any = None) -> list[Problem]:
    """Turn a pydantic ValidationError into positioned Problems. Loc parts that pydantic adds
    (union tags, validator names) and that do not exist in the document are dropped. With
    `model` (the pydantic model validated), tags of discriminated unions are recognised even
    when they look like document keys, and unknown keys list the keys allowed there."""
    problems = []
    for err in exc.errors(include_url=False):
        loc, allowed = _document_loc(err, doc.data, prefix, model)
        is_key = err["type"] == "extra_forbidden"
        problems.append(doc.problem(tuple(loc), _message(err, allowed), key=is_key))
    return list(dict.fromkeys(problems))


def _document_loc(err: Mapping, data: Any, prefix: Loc, model: Any) -> tuple[list, list[str] | None]:
    loc: list = list(prefix)
    node = _get(data, prefix)
    tp = model
    allowed: list[str] | None = None
    err_loc = tuple(err.get("loc", ()))
    for i, part in enumerate(err_loc):
        last = i == len(err_loc) - 1
        tags = _union_tags(tp)
        if tags is not None and part in tags:  # a discriminated union names the member it tried
            tp = tags[part]
            continue
        fields = _model_fields(tp)
        child = _child(node, part)
        if child is _MISSING and not (err["type"] == "extra_forbidden" and last):
            if err["type"] == "missing" and last:
                loc.append(part)
                break
            continue  # a pydantic-internal loc part (e.g. a validator or union member name)
        if last and err["type"] == "extra_forbidden" and fields is not None:
            allowed = [f.alias or name for name, f in fields.items() if not f.exclude]
        loc.append(part)
        node = child
        tp = _child_type(tp, part)
    return loc, allowed


def _strip(tp: Any) -> Any:
    import typing

    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_tags(tp: Any) -> dict | None:
    """{tag: member type} when `tp` is a discriminated union built from Tag()-annotated members."""
    import typing

    if tp is None or typing.get_origin(tp) is not typing.Annotated:
        return None
    base = _strip(tp)
    if typing.get_origin(base) not in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return None
    out = {}
    for member in typing.get_args(base):
        if typing.get_origin(member) is typing.Annotated:
            for meta in typing.get_args(member)[1:]:
                tag = getattr(meta, "tag", None)
                if isinstance(tag, str):
                    out[tag] = typing.get_args(member)[0]
    return out or None


def _model_fields(tp: Any) -> dict | None:
    tp = _strip(tp)
    fields = getattr(tp, "model_fields", None)
    return fields if isinstance(fields, dict) else None


def _child_type(tp: Any, part: Any) -> Any:
    import typing

    tp = _strip(tp)
    if tp is None:
        return None
    fields = _model_fields(tp)
    if fields is not None:
        f = fields.get(part)
        return f.annotation if f is not None else None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin in (list, tuple, set, frozenset) and args:
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis) and isinstance(part, int):
            return args[min(part, len(args) - 1)]
        return args[0]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        members = [a for a in args if a is not type(None)]
        return members[0] if len(members) == 1 else None
    return None


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


def _message(err: Mapping, allowed: Sequence[str] | None = None) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        from simtest.core.errors import did_you_mean

        key = str(err["loc"][-1])
        if allowed:
            return f'unknown key "{key}"{did_you_mean(key, allowed)}; allowed here: {", ".join(allowed)}'
        return f'unknown key "{key}"; remove it or check its spelling'
    if kind == "missing":
        return f'required key "{err["loc"][-1]}" is missing; add it'
    ctx = err.get("ctx") or {}
    if kind == "too_short" and not err.get("input"):
        return f"is empty; give at least {ctx.get('min_length', 1)} item(s)"
    if kind == "literal_error":
        import re

        from simtest.core.errors import did_you_mean

        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        got = err.get("input")
        return (f"{_short(got)} is not one of: {', '.join(options)}"
                + (did_you_mean(got, options) if isinstance(got, str) else ""))
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if msg.startswith("Input should be "):
        msg = "must be " + msg[len("Input should be "):]
        if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of"):
            msg += f" (got {_short(err.get('input'))})"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        got = err.get("input")
        if not isinstance(got, (dict, list)):
            msg += f" (got {type(got).__name__} {_short(got)})"
    return msg
