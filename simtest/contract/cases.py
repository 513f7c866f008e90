"""The case: everything needed to replay one episode, and its stable id. A value that planning
makes, execution runs, the store keeps and judging pairs on."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

__all__ = ["Case", "canonical_params", "case_seed"]


@dataclass(frozen=True)
class Case:
    """Everything needed to replay one episode. `case_id` is a stable content hash."""

    scenario: str
    scenario_hash: str
    env: str
    params_json: str  # canonical JSON (sorted keys)
    seed: int
    tags: tuple[str, ...] = ()
    horizon: int = 100
    checks: tuple[tuple[str, str], ...] = ()  # (name, expression)
    sample: int = 0  # index of the parameter sample within its scenario
    seed_index: int = 0  # index of the seed within the sample (extra seeds continue the count)

    @cached_property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)

    @cached_property
    def case_id(self) -> str:
        body = json.dumps([self.scenario, self.scenario_hash, self.env, self.params_json, self.seed], separators=(",", ":"))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def __getstate__(self) -> dict:  # do not pickle cached properties
        return {k: v for k, v in self.__dict__.items() if k not in ("params", "case_id")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


def canonical_params(params: dict[str, Any]) -> str:
    return json.dumps(_plain(params), sort_keys=True, separators=(",", ":"))


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError(f"parameter value {v} is not finite")
    return v


def case_seed(suite_seed: int, scenario_id: str, sample: int, seed_index: int) -> int:
    key = int(hashlib.sha256(scenario_id.encode()).hexdigest()[:8], 16)
    return int(np.random.SeedSequence([suite_seed, key, sample, seed_index]).generate_state(1)[0])


