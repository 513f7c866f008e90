"""Shared, stdlib-only checking of declared scenario parameters for the simtest envs (the
harness validates scenarios before they run; this is the env's own guard at reset)."""

from __future__ import annotations

import difflib
import math
from typing import Any, Callable, Mapping

__all__ = ["resolve", "check_value"]

ListCheck = Callable[[Any], "tuple[Any, str | None]"]


def resolve(declared: Mapping[str, Mapping[str, Any]], env_id: str, overrides: Mapping[str, Any] | None,
            base: Mapping[str, Any], where: str = "params", list_check: ListCheck | None = None) -> dict[str, Any]:
    """Merge `overrides` over `base` and check every value. All problems are reported at once in
    one ValueError naming `where`, the key and the fix; unknown names get a suggestion."""
    merged = dict(base)
    problems: list[str] = []
    for name, value in dict(overrides or {}).items():
        if name not in declared:
            close = difflib.get_close_matches(str(name), list(declared), n=1)
            hint = f'; did you mean "{close[0]}"?' if close else f"; known: {', '.join(declared)}"
            problems.append(f"{where}.{name}: unknown parameter of {env_id}{hint}")
            continue
        checked, problem = check_value(declared[name], value, list_check)
        if problem:
            problems.append(f"{where}.{name}: {problem}")
        else:
            merged[name] = checked
    if problems:
        raise ValueError(f"invalid {env_id} scenario parameters:\n  " + "\n  ".join(problems))
    return merged


def check_value(spec: Mapping[str, Any], value: Any, list_check: ListCheck | None = None) -> tuple[Any, str | None]:
    """(the value, coerced to the declared type, None) or (None, what is wrong)."""
    kind = spec["type"]
    if kind == "str":
        if value not in spec["choices"]:
            close = difflib.get_close_matches(str(value), spec["choices"], n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            return None, f"{value!r} is not one of {spec['choices']}{hint}"
        return value, None
    if kind == "list":
        if list_check is None:
            return (list(value), None) if isinstance(value, (list, tuple)) else (None, f"expected a list, got {value!r}")
        return list_check(value)
    if isinstance(value, bool):
        return None, f"expected a number, got {value!r}"
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif hasattr(value, "__index__"):  # int and numpy integers
            value = int(value)
        else:
            return None, f"expected an integer, got {value!r}"
    else:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None, f"expected a number, got {value!r}"
        if not math.isfinite(value):
            return None, f"expected a finite number, got {value!r}"
    lo, hi = spec.get("min"), spec.get("max")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        return None, f"{value!r} is outside [{lo}, {hi}] {spec.get('unit', '')}".rstrip()
    return value, None
