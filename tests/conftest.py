"""Shared test set-up: makes tests/ importable (for the small fakes in tests/fakes.py)."""

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)
