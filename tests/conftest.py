"""Shared test set-up: makes tests/ importable (for the small fakes in tests/fakes.py)."""

import sys
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

# Hypothesis: no per-example deadline (2 shared cores make timings noisy); derandomised in CI so a
# red build always reproduces (CI=true is set by .ci/run's environment).
try:
    import os

    from hypothesis import HealthCheck, settings

    settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("ci" if os.environ.get("CI") else "dev")
except ImportError:  # pragma: no cover - hypothesis is a test extra
    pass
