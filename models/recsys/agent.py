"""Agent factory of `recsys-ranker` (`simtest_models.recsys.agent:make_agent`, contract section 3):
loads the scorer's state_dict and composes it with the slate policy. Sees observations only."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np

from simtest_models.recsys.features import doc_features
from simtest_models.recsys.policy import SlatePolicy, SlatePolicyConfig

__all__ = ["RecsysAgent", "make_agent"]

_POLICY_OPTIONS = {f.name for f in fields(SlatePolicyConfig)}
_AGENT_OPTIONS = {"architecture", "hidden", "max_slate", "torch_threads"}


class RecsysAgent:
    """Deterministic given its seed: the only randomness is the exploration stream from reset(seed)."""

    def __init__(self, net: Any, policy: SlatePolicy, max_slate: int = 10) -> None:
        self.net = net
        self.policy = policy
        self.max_slate = int(max_slate)
        self.rng = np.random.default_rng(0)
        self._scores: np.ndarray | None = None  # the ranking scores of the last act, per catalogue document

    def diagnostics(self) -> dict[str, np.ndarray]:
        """What the ranker predicted at the last act (the optional diagnostics hook of the Agent
        contract): {"scores": (catalogue_size,)}, the scores it ranks by before diversity re-ranking
        and exploration; the env labels them with each document's true expected engagement."""
        return {} if self._scores is None else {"scores": self._scores}

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng(np.random.SeedSequence(seed))
        self._scores = None

    def predict(self, obs: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(catalogue indices, P(click | shown), E[engagement | click]) for every document."""
        import torch

        idx, x = doc_features(obs)
        with torch.inference_mode():
            click, engage = self.net(torch.from_numpy(x))
        return idx, torch.sigmoid(click).numpy(), torch.sigmoid(engage).numpy()

    def act(self, obs: dict) -> np.ndarray:
        idx, p_click, engage = self.predict(obs)
        slate_size = min(int(obs["session"][4]), self.max_slate)
        scores = self.policy.scores(p_click, engage)
        self._scores = scores
        slate = self.policy.select(idx, obs["doc_topic"][idx], scores, obs["doc_consumed"][idx], slate_size, self.rng)
        # Slots past slate_size are ignored by the env; a repeated index is shown once, so a
        # catalogue smaller than the slate pads with its best document.
        action = np.full(self.max_slate, slate[0] if len(slate) else 0, np.int64)
        action[: len(slate)] = slate
        return action


def make_agent(weights: str | None = None, **options: Any) -> RecsysAgent:
    """factory(weights, **options) -> Agent. Options: architecture ("mlp" | "linear"), hidden,
    max_slate (the env's action length, default 10), torch_threads (default 1; None leaves torch
    alone) and the SlatePolicyConfig fields objective, diversity, exploration, filter_consumed."""
    unknown = sorted(set(options) - _AGENT_OPTIONS - _POLICY_OPTIONS)
    if unknown:
        raise ValueError(f"recsys agent: unknown option(s) {unknown}; valid options: "
                         f"{', '.join(sorted(_AGENT_OPTIONS | _POLICY_OPTIONS))}")
    if weights is None:
        raise ValueError("recsys agent: no weights given; set 'weights' in the model manifest to a scorer "
                         "state_dict (.pt)")
    import torch

    from simtest_models.recsys.ranker import load_scorer

    threads = options.get("torch_threads", 1)
    if threads is not None:
        # One thread per worker: the harness parallelises over episodes, not inside a step.
        torch.set_num_threads(int(threads))
    net = load_scorer(weights, architecture=options.get("architecture", "mlp"), hidden=int(options.get("hidden", 32)))
    config = SlatePolicyConfig(**{k: v for k, v in options.items() if k in _POLICY_OPTIONS})
    return RecsysAgent(net, SlatePolicy(config), max_slate=int(options.get("max_slate", 10)))
