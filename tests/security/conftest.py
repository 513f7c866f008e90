"""Security tests: each mitigation in docs/security.md, shown against the real thing (a real
private Ray, real YAML loaders, real torch checkpoints, real Parquet runs, real renderers)."""

from __future__ import annotations

import sys
from pathlib import Path

RAY_TESTS = str(Path(__file__).resolve().parent.parent / "ray")
if RAY_TESTS not in sys.path:  # the toy env and agent of tests/ray (simtest_toyenv)
    sys.path.insert(0, RAY_TESTS)
