"""Shared, stdlib-only helpers for the pybullet envs: keeping native C output off stdout."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

__all__ = ["native_stdout_silenced"]


@contextlib.contextmanager
def native_stdout_silenced() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null while C code runs (pybullet prints "argv[0]=" on every
    connect). Python's own output is flushed first and is unaffected afterwards. A no-op where fd 1
    cannot be duplicated."""
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
