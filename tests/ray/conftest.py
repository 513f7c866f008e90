"""Ray test fixtures: one private local Ray per module (starting Ray costs seconds on 2 cores)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from simtest_toyenv import RUNTIME_ENV  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
             logging_level=logging.ERROR, object_store_memory=128 * 1024 * 1024, runtime_env=RUNTIME_ENV)
    yield ray
    ray.shutdown()
