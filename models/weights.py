"""Shared by the shipped model versions: how a loaded state_dict differs from the architecture a
manifest asks for, in words for a one-line error (torch only; never imports simtest)."""

from __future__ import annotations

from typing import Mapping


def state_dict_mismatch(expected: Mapping, state: Mapping) -> list[str]:
    """Empty when `state` fits `expected` (keys and shapes); else the differences, most telling first."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k} has shape {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    parts = []
    if missing:
        parts.append(f"missing keys {missing[:3]}{' ...' if len(missing) > 3 else ''}")
    if unexpected:
        parts.append(f"unexpected keys {unexpected[:3]}{' ...' if len(unexpected) > 3 else ''}")
    if shapes:
        parts.append(shapes[0] + (f" (and {len(shapes) - 1} more)" if len(shapes) > 1 else ""))
    return parts
