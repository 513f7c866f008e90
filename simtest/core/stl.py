"""Discrete-time Signal Temporal Logic: requirements over the per-step signals of an episode,
with Boolean and quantitative (robustness) semantics, vectorised with numpy.

Grammar (parsed by hand like simtest.core.expr: no eval, a fixed whitelist of functions):
    formula := implies
    implies := or ("implies" or)?
    or      := and ("or" and)*
    and     := unary ("and" unary)*
    unary   := "not" unary | TEMPORAL interval? "(" formula ")" | cmp
    TEMPORAL:= "always" | "eventually" | "historically" | "once"
    interval:= "[" INT "," (INT | "inf") "]"          control steps, 0 <= a <= b
    cmp     := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum     := prod (("+" | "-") prod)* ;  prod := neg (("*" | "/") neg)* ;  neg := "-" neg | atom
    atom    := NUMBER | NAME | FUNC "(" sum ("," sum)* ")" | "(" formula ")"
    FUNC    := abs | min | max

Semantics (the same as rtamt's offline discrete-time STL; tests cross-check them on random traces):
- A trace is a mapping name -> array of T samples (step 0 is the state after reset).
- Robustness of `a < b` and `a <= b` is b - a; of `a > b` and `a >= b`, a - b; of `a == b`, -|a - b|;
  of `a != b`, |a - b|. `not` negates, `and`/`or` take min/max, `p implies q` is `not p or q`.
- A bare signal used as a formula, e.g. `eventually(goal_reached)`, means `goal_reached > 0.5`
  (booleans are 0/1): robustness `goal_reached - 0.5`.
- `always[a, b](f)` at step t is the min of f over steps t+a .. t+b, clipped to the end of the trace;
  `eventually` the max. A window that lies wholly after the end is +inf for always and -inf for
  eventually (nothing left to violate / to satisfy). Without an interval the window is [0, inf].
  `historically[a, b]` and `once[a, b]` look back over t-b .. t-a, clipped to step 0.
- The requirement's value is its value at step 0. The Boolean verdict is computed with the Boolean
  semantics (`<` is strict), so a robustness of exactly 0 never decides it by accident.
Assumptions: the intervals are in control steps (the harness does not know an env's time step);
signals are finite numbers; NaN signals make the verdict false and the robustness NaN."""

from __future__ import annotations

import functools

import math
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from simtest.core.expr import scan

__all__ = ["STLError", "Formula", "parse", "is_temporal", "trace_from_infos", "TEMPORAL_OPS"]

TEMPORAL_OPS = ("always", "eventually", "historically", "once")
_KEYWORDS = {"and", "or", "not", "implies", "true", "false", "inf", *TEMPORAL_OPS}
_FUNCS = ("abs", "min", "max")
_CMP = ("<=", ">=", "==", "!=", "<", ">")
MAX_LENGTH = 2000
_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|\[|\]|,))"
)
_TEMPORAL_RE = re.compile(r"\b(?:%s)\b" % "|".join(TEMPORAL_OPS))


class STLError(ValueError):
    """The requirement does not parse, or reads a signal the trace lacks; the message says where."""


def is_temporal(text: str) -> bool:
    """Whether a check's text uses a temporal operator (then it is an STL requirement over per-step
    signals; otherwise a plain expression over episode metrics)."""
    return isinstance(text, str) and bool(_TEMPORAL_RE.search(text))


@dataclass(frozen=True)
class Formula:
    """A parsed requirement. `names` are the signals it reads."""

    text: str
    tree: tuple
    names: frozenset

    def robustness(self, trace: Mapping[str, Sequence[float]]) -> float:
        """Quantitative value at step 0: > 0 holds with that margin, < 0 fails by that much."""
        return float(self.evaluate(trace)[0][0])

    def holds(self, trace: Mapping[str, Sequence[float]]) -> bool:
        """Boolean verdict at step 0."""
        return bool(self.evaluate(trace)[1][0])

    def evaluate(self, trace: Mapping[str, Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
        """(robustness, verdict) at every step of the trace."""
        signals = {}
        length = None
        for name in sorted(self.names):
            if name not in trace:
                raise STLError(f'requirement "{self.text}" reads signal "{name}", which the episode does not record')
            arr = np.asarray(trace[name], dtype=float).reshape(-1)
            if length is None:
                length = arr.size
            elif arr.size != length:
                raise STLError(f'signal "{name}" has {arr.size} samples, others {length}')
            signals[name] = arr
        if length is None:  # a formula over constants only
            length = max((np.asarray(v).size for v in trace.values()), default=1) or 1
        if length == 0:
            raise STLError(f'requirement "{self.text}" needs at least one sample of each signal')
        rob, sat = _bool(self.tree, signals, length)
        nan = np.isnan(rob)
        return rob, sat & ~nan


def parse(text: str) -> Formula:
    """Parse a requirement; STLError (a ValueError) saying where when it is not one."""
    if not isinstance(text, str):
        raise STLError(f"a requirement must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise STLError(f"requirement is {len(text)} characters long; keep it under {MAX_LENGTH}")
    if not text.strip():
        raise STLError("empty requirement; write one such as `always(clearance > 0.3)`")
    return _parse(text)


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Formula:
    # checks are parsed in the worker for every episode: a text's tree is an immutable value, parse it once
    tokens = _tokenize(text)
    p = _Parser(text, tokens)
    try:
        tree = p.formula()
        if p.pos != len(tokens):
            raise STLError(f'unexpected "{tokens[p.pos][1]}" at column {tokens[p.pos][2]} in "{text}"')
        tree = _as_formula(tree, text)
        names = frozenset(_names(tree))
    except RecursionError:
        raise STLError(f'"{text[:40]}..." is nested too deeply') from None
    return Formula(text, tree, names)


def trace_from_infos(infos: Sequence[Mapping], names: frozenset | set) -> dict[str, np.ndarray]:
    """The signals `names` from an episode's per-step infos (infos[0] from reset). Booleans become
    0/1; a step that lacks a signal, or gives a non-scalar, is an STLError naming it."""
    out: dict[str, np.ndarray] = {}
    for name in sorted(names):
        values = np.empty(len(infos))
        for i, info in enumerate(infos):
            if name not in info:
                raise STLError(f'signal "{name}" is missing from step {i} of the episode; '
                               f"recorded: {', '.join(sorted(k for k in info if _scalar(info[k])))}")
            v = info[name]
            if not _scalar(v):
                raise STLError(f'signal "{name}" is not a number at step {i} (got {type(v).__name__})')
            values[i] = float(v)
        out[name] = values
    return out


def _scalar(v) -> bool:
    return isinstance(v, (bool, int, float, np.bool_, np.integer, np.floating)) or (
        isinstance(v, np.ndarray) and v.ndim == 0)


# --------------------------------------------------------------------------- parsing


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    return scan(text, _TOKEN, STLError)


class _Parser:
    def __init__(self, text: str, tokens: list[tuple[str, str, int]]):
        self.text, self.tokens, self.pos = text, tokens, 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def at(self, *values: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[1] in values and tok[0] in ("op", "name")

    def take(self, value: str | None = None):
        tok = self.peek()
        if tok is None:
            raise STLError(f'"{self.text}" ends too early' + (f' (expected "{value}")' if value else ""))
        if value is not None and tok[1] != value:
            raise STLError(f'expected "{value}" but found "{tok[1]}" at column {tok[2]} in "{self.text}"')
        self.pos += 1
        return tok

    def formula(self):
        node = self.or_()
        if self.at("implies"):
            self.take()
            node = ("or", ("not", _as_formula(node, self.text)), _as_formula(self.or_(), self.text))
        return node

    def or_(self):
        node = self.and_()
        while self.at("or"):
            self.take()
            node = ("or", _as_formula(node, self.text), _as_formula(self.and_(), self.text))
        return node

    def and_(self):
        node = self.unary()
        while self.at("and"):
            self.take()
            node = ("and", _as_formula(node, self.text), _as_formula(self.unary(), self.text))
        return node

    def unary(self):
        if self.at("not"):
            self.take()
            return ("not", _as_formula(self.unary(), self.text))
        if self.at(*TEMPORAL_OPS):
            op = self.take()[1]
            lo, hi = 0, math.inf
            if self.at("["):
                lo, hi = self.interval(op)
            elif not self.at("("):
                tok = self.peek()
                raise STLError(f'"{op}" needs a parenthesised formula, e.g. {op}(clearance > 0.3)'
                               + (f'; found "{tok[1]}" at column {tok[2]}' if tok else ""))
            self.take("(")
            body = _as_formula(self.formula(), self.text)
            self.take(")")
            return ("temporal", op, lo, hi, body)
        return self.cmp()

    def interval(self, op: str) -> tuple[int, float]:
        start = self.take("[")
        bounds = []
        for i in range(2):
            tok = self.take()
            if tok[0] == "name" and tok[1] == "inf" and i == 1:
                bounds.append(math.inf)
            elif tok[0] == "num" and re.fullmatch(r"\d+", tok[1]):
                bounds.append(int(tok[1]))
            else:
                raise STLError(f'bad interval of "{op}" at column {start[2]} in "{self.text}": bounds are whole '
                               f'control steps, e.g. {op}[0, 15](...); found "{tok[1]}"')
            if i == 0:
                self.take(",")
        self.take("]")
        lo, hi = bounds
        if lo > hi:
            raise STLError(f'bad interval [{lo}, {hi}] of "{op}" at column {start[2]} in "{self.text}": '
                           "write [a, b] with a <= b")
        return lo, hi

    def cmp(self):
        node = self.sum()
        if self.at(*_CMP):
            op = self.take()[1]
            node = ("cmp", op, _as_value(node, self.text), _as_value(self.sum(), self.text))
            if self.at(*_CMP):
                raise STLError(f'chained comparison in "{self.text}"; combine two comparisons with "and"')
        return node

    def sum(self):
        node = self.prod()
        while self.at("+", "-"):
            op = self.take()[1]
            node = ("arith", op, _as_value(node, self.text), _as_value(self.prod(), self.text))
        return node

    def prod(self):
        node = self.neg()
        while self.at("*", "/"):
            op = self.take()[1]
            node = ("arith", op, _as_value(node, self.text), _as_value(self.neg(), self.text))
        return node

    def neg(self):
        if self.at("-"):
            self.take()
            return ("neg", _as_value(self.neg(), self.text))
        return self.atom()

    def atom(self):
        kind, value, col = self.take()
        if kind == "num":
            number = float(value)
            if not math.isfinite(number):
                raise STLError(f'number "{value[:20]}" is out of range in "{self.text[:60]}"')
            return ("const", number)
        if kind == "name":
            if value in ("true", "false"):
                return ("bool", value == "true")
            if value in _KEYWORDS:
                raise STLError(f'"{value}" at column {col} is missing an operand in "{self.text}"')
            if self.at("("):
                if value not in _FUNCS:
                    raise STLError(f'unknown operator "{value}" at column {col} in "{self.text}"; temporal operators: '
                                   f"{', '.join(TEMPORAL_OPS)}; functions: {', '.join(_FUNCS)}")
                self.take("(")
                args = [_as_value(self.sum(), self.text)]
                while self.at(","):
                    self.take()
                    args.append(_as_value(self.sum(), self.text))
                self.take(")")
                if value == "abs" and len(args) != 1:
                    raise STLError(f'abs takes one argument in "{self.text}"')
                return ("call", value, tuple(args))
            return ("name", value)
        if value == "(":
            node = self.formula()
            self.take(")")
            return node
        raise STLError(f'unexpected "{value}" at column {col} in "{self.text}"')


_VALUE_KINDS = ("const", "name", "arith", "neg", "call")


def _as_formula(node: tuple, text: str) -> tuple:
    """A value where a formula is expected: a bare signal means `signal > 0.5`; other values are errors."""
    if node[0] == "name":
        return ("cmp", ">", node, ("const", 0.5))
    if node[0] in _VALUE_KINDS:
        raise STLError(f'"{text}": a number is not a requirement; compare it, e.g. speed < 5')
    return node


def _as_value(node: tuple, text: str) -> tuple:
    if node[0] not in _VALUE_KINDS:
        raise STLError(f'"{text}": a formula (comparison or temporal operator) is used as a number')
    return node


def _names(tree: tuple):
    if tree[0] == "name":
        yield tree[1]
        return
    for child in tree[1:]:
        if isinstance(child, tuple) and child and isinstance(child[0], str):
            yield from _names(child)
        elif isinstance(child, tuple):
            for sub in child:
                if isinstance(sub, tuple):
                    yield from _names(sub)


# --------------------------------------------------------------------------- semantics


def _value(node: tuple, signals: dict, n: int) -> np.ndarray:
    kind = node[0]
    if kind == "const":
        return np.full(n, float(node[1]))
    if kind == "name":
        return signals[node[1]]
    if kind == "neg":
        return -_value(node[1], signals, n)
    if kind == "arith":
        a, b = _value(node[2], signals, n), _value(node[3], signals, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[node[1]](a, b)
    if kind == "call":
        args = [_value(a, signals, n) for a in node[2]]
        if node[1] == "abs":
            return np.abs(args[0])
        fn = np.minimum if node[1] == "min" else np.maximum
        out = args[0]
        for a in args[1:]:
            out = fn(out, a)
        return out
    raise STLError(f"bad value node {kind}")  # pragma: no cover


def _bool(node: tuple, signals: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    kind = node[0]
    if kind == "bool":
        return np.full(n, math.inf if node[1] else -math.inf), np.full(n, bool(node[1]))
    if kind == "cmp":
        op, a, b = node[1], _value(node[2], signals, n), _value(node[3], signals, n)
        with np.errstate(invalid="ignore"):
            if op in ("<", "<="):
                rob = b - a
            elif op in (">", ">="):
                rob = a - b
            elif op == "==":
                rob = -np.abs(a - b)
            else:
                rob = np.abs(a - b)
            sat = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
                   "==": np.equal, "!=": np.not_equal}[op](a, b)
        return rob, sat
    if kind == "not":
        rob, sat = _bool(node[1], signals, n)
        return -rob, ~sat
    if kind in ("and", "or"):
        ra, sa = _bool(node[1], signals, n)
        rb, sb = _bool(node[2], signals, n)
        if kind == "and":
            return np.minimum(ra, rb), sa & sb
        return np.maximum(ra, rb), sa | sb
    if kind == "temporal":
        _, op, lo, hi, body = node
        rob, sat = _bool(body, signals, n)
        future = op in ("always", "eventually")
        if op in ("always", "historically"):
            return _window(rob, lo, hi, np.minimum, math.inf, future), _window_bool(sat, lo, hi, np.logical_and, True, future)
        return _window(rob, lo, hi, np.maximum, -math.inf, future), _window_bool(sat, lo, hi, np.logical_or, False, future)
    raise STLError(f"bad formula node {kind}")  # pragma: no cover


def _window(x: np.ndarray, lo: int, hi: float, fn, empty: float, future: bool) -> np.ndarray:
    """out[t] = fn over x[t+lo .. t+hi] (future) or x[t-hi .. t-lo] (past), clipped to the trace;
    `empty` where the window holds no sample. NaN propagates (numpy's minimum/maximum do)."""
    n = x.size
    if not future:  # a past window is a future window of the reversed trace
        return _window(x[::-1], lo, hi, fn, empty, True)[::-1]
    out = np.full(n, empty)
    if lo >= n:
        return out
    if math.isinf(hi) or hi - lo + 1 >= n:  # reaches the end from every step: a reverse running fn
        out[: n - lo] = fn.accumulate(x[::-1])[::-1][lo:]
        return out
    width = int(hi) - lo + 1
    padded = np.concatenate([x[lo:], np.full(width - 1 + lo, empty)])
    return fn.reduce(np.lib.stride_tricks.sliding_window_view(padded, width)[:n], axis=1)


def _window_bool(x: np.ndarray, lo: int, hi: float, fn, empty: bool, future: bool) -> np.ndarray:
    as_num = np.where(x, 1.0, -1.0)
    reducer = np.minimum if fn is np.logical_and else np.maximum
    return _window(as_num, lo, hi, reducer, 1.0 if empty else -1.0, future) > 0
