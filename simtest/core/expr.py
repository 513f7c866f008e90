"""A tiny, safe expression language for checks and parameter constraints.

Grammar (no eval, no attribute access, no calls except a fixed whitelist):
    expr   := or
    or     := and ("or" and)*
    and    := not ("and" not)*
    not    := "not" not | cmp
    cmp    := sum (("<" | "<=" | ">" | ">=" | "==" | "!=") sum)?
    sum    := prod (("+" | "-") prod)*
    prod   := unary (("*" | "/") unary)*
    unary  := "-" unary | atom
    atom   := NUMBER | STRING | NAME | "true" | "false" | FUNC "(" expr ("," expr)* ")" | "(" expr ")"
"""

from __future__ import annotations

import functools

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|<|>|\+|-|\*|/|\(|\)|,))"
)
_FUNCS: dict[str, Callable[..., Any]] = {"abs": abs, "min": min, "max": max, "isnan": math.isnan}
_CMP = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_ARITH = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}


class ExprError(ValueError):
    """The expression text does not parse; the message says where."""


@dataclass(frozen=True)
class Expr:
    """A parsed expression: `names` lists the variables it reads."""

    text: str
    tree: tuple
    names: frozenset

    def __call__(self, env: Mapping[str, Any]) -> Any:
        """Evaluate with `env` naming the variables. Unknown names raise ExprError; a type
        mismatch (comparing text with a number) raises TypeError."""
        return _eval(self.tree, env)


MAX_LENGTH = 2000  # an authored check is a line, not a program


def parse(text: str) -> Expr:
    """Parse `text`; ExprError (a ValueError) saying where when it is not an expression."""
    if not isinstance(text, str):
        raise ExprError(f"an expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression is {len(text)} characters long; keep it under {MAX_LENGTH}")
    if not text.strip():
        raise ExprError("empty expression; write a condition such as `collision == 0`")
    return _parse(text)


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> Expr:
    # checks are parsed in the worker for every episode: a text's tree is an immutable value, parse it once
    tokens = _tokenize(text)
    parser = _Parser(text, tokens)
    try:
        tree = parser.expr()
        if parser.pos != len(tokens):
            raise ExprError(f'unexpected "{tokens[parser.pos][1]}" in "{text}"')
        names = frozenset(_names(tree))
    except RecursionError:
        raise ExprError(f'"{text[:40]}..." is nested too deeply') from None
    return Expr(text, tree, names)


def scan(text: str, pattern: re.Pattern, error: type[Exception]) -> list[tuple[str, str, int]]:
    """Tokens (kind, text, 1-based column) of `text` by the named groups of `pattern`; raises
    `error` naming the column where it cannot read. Shared by this grammar and simtest.core.stl."""
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = pattern.match(text, pos)
        if not m or m.end() == pos:
            raise error(f'cannot read "{text[pos:].strip()[:20]}" in "{text}" (column {pos + 1})')
        kind = m.lastgroup
        tokens.append((kind, m.group(kind), m.start(kind) + 1))
        pos = m.end()
    return tokens


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    return scan(text, _TOKEN, ExprError)


class _Parser:
    def __init__(self, text: str, tokens: list[tuple[str, str, int]]):
        self.text, self.tokens, self.pos = text, tokens, 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise ExprError(f'"{self.text}" ends too early' + (f' (expected "{value}")' if value else ""))
        if value is not None and tok[1] != value:
            raise ExprError(f'expected "{value}" but found "{tok[1]}" in "{self.text}"')
        self.pos += 1
        return tok

    def at(self, *values: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[1] in values and tok[0] in ("op", "name")

    def expr(self) -> tuple:
        return self.or_()

    def or_(self) -> tuple:
        node = self.and_()
        while self.at("or"):
            self.take()
            node = ("or", node, self.and_())
        return node

    def and_(self) -> tuple:
        node = self.not_()
        while self.at("and"):
            self.take()
            node = ("and", node, self.not_())
        return node

    def not_(self) -> tuple:
        if self.at("not"):
            self.take()
            return ("not", self.not_())
        return self.cmp()

    def cmp(self) -> tuple:
        node = self.sum()
        if self.at(*_CMP):
            op = self.take()[1]
            node = ("cmp", op, node, self.sum())
            if self.at(*_CMP):
                raise ExprError(f'chained comparison in "{self.text}"; combine two comparisons with "and"')
        return node

    def sum(self) -> tuple:
        node = self.prod()
        while self.at("+", "-"):
            op = self.take()[1]
            node = ("arith", op, node, self.prod())
        return node

    def prod(self) -> tuple:
        node = self.unary()
        while self.at("*", "/"):
            op = self.take()[1]
            node = ("arith", op, node, self.unary())
        return node

    def unary(self) -> tuple:
        if self.at("-"):
            self.take()
            return ("neg", self.unary())
        return self.atom()

    def atom(self) -> tuple:
        kind, value = self.take()[:2]
        if kind == "num":
            try:
                number = float(value) if any(c in value for c in ".eE") else int(value)
            except (ValueError, OverflowError):
                raise ExprError(f'number "{value[:20]}" is too long in "{self.text[:60]}"') from None
            if isinstance(number, float) and not math.isfinite(number):
                raise ExprError(f'number "{value[:20]}" is out of range in "{self.text[:60]}"')
            return ("const", number)
        if kind == "str":
            return ("const", value[1:-1])
        if kind == "name":
            if value in ("true", "True"):
                return ("const", True)
            if value in ("false", "False"):
                return ("const", False)
            if value in ("and", "or", "not"):
                raise ExprError(f'"{value}" is missing an operand in "{self.text}"')
            if self.at("(") and value in _FUNCS:
                self.take("(")
                args = [self.expr()]
                while self.at(","):
                    self.take()
                    args.append(self.expr())
                self.take(")")
                return ("call", value, tuple(args))
            if self.at("("):
                raise ExprError(f'unknown function "{value}" in "{self.text}"; allowed: {", ".join(sorted(_FUNCS))}')
            return ("name", value)
        if value == "(":
            node = self.expr()
            self.take(")")
            return node
        raise ExprError(f'unexpected "{value}" in "{self.text}"')


def _names(tree: tuple):
    if tree[0] == "name":
        yield tree[1]
    for child in tree[1:]:
        if isinstance(child, tuple) and child and isinstance(child[0], str):
            yield from _names(child)
        elif isinstance(child, tuple):
            for sub in child:
                if isinstance(sub, tuple):
                    yield from _names(sub)


def _eval(tree: tuple, env: Mapping[str, Any]) -> Any:
    kind = tree[0]
    if kind == "const":
        return tree[1]
    if kind == "name":
        try:
            return env[tree[1]]
        except KeyError:
            raise ExprError(f'unknown name "{tree[1]}"') from None
    if kind == "and":
        return bool(_eval(tree[1], env)) and bool(_eval(tree[2], env))
    if kind == "or":
        return bool(_eval(tree[1], env)) or bool(_eval(tree[2], env))
    if kind == "not":
        return not _eval(tree[1], env)
    if kind == "cmp":
        return bool(_CMP[tree[1]](_eval(tree[2], env), _eval(tree[3], env)))
    if kind == "arith":
        return _ARITH[tree[1]](_eval(tree[2], env), _eval(tree[3], env))
    if kind == "neg":
        return -_eval(tree[1], env)
    if kind == "call":
        return _FUNCS[tree[1]](*(_eval(a, env) for a in tree[2]))
    raise ExprError(f"bad expression node {kind}")  # pragma: no cover
