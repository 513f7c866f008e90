"""The perception half of `recsys-ranker`: torch scorers mapping document features to a click
logit and an engagement logit, and their weights_only loading with clear mismatch errors."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from simtest_models.recsys.features import FEATURES
from simtest_models.weights import state_dict_mismatch

__all__ = ["RankerNet", "LinearScorer", "build", "load_scorer"]


class RankerNet(nn.Module):
    """MLP with two heads: logit of P(click | shown) and logit of E[engagement | click]."""

    def __init__(self, n_features: int = len(FEATURES), hidden: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.click = nn.Linear(hidden, 1)
        self.engagement = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.click(h).squeeze(-1), self.engagement(h).squeeze(-1)


class LinearScorer(nn.Module):
    """Linear click logit over the features; engagement is not modelled (a constant logit)."""

    def __init__(self, n_features: int = len(FEATURES), hidden: int = 0) -> None:
        super().__init__()
        del hidden
        self.click = nn.Linear(n_features, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logit = self.click(x).squeeze(-1)
        return logit, torch.zeros_like(logit)


ARCHITECTURES = {"mlp": RankerNet, "linear": LinearScorer}


def build(architecture: str = "mlp", hidden: int = 32) -> nn.Module:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {architecture!r}; use one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[architecture](len(FEATURES), hidden)


def load_scorer(weights: str | os.PathLike, architecture: str = "mlp", hidden: int = 32) -> nn.Module:
    """The scorer with the state_dict at `weights`, in eval mode. Never unpickles code."""
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: weights file not found; fix the 'weights' path in the model manifest "
                                "(relative to the manifest) or regenerate it with python -m simtest_models.recsys.train")
    try:
        state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable or non-tensor payload is a bad weights file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: not a torch state_dict loadable with weights_only=True ({first}); "
                         "save weights with torch.save(model.state_dict(), path)") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state_dict (dict of tensors), got {type(state).__name__}; "
                         "save weights with torch.save(model.state_dict(), path)")
    net = build(architecture, hidden)
    parts = state_dict_mismatch(net.state_dict(), state)
    if parts:
        raise ValueError(f"{path}: weights do not match architecture={architecture!r} hidden={hidden}: "
                         f"{'; '.join(parts)}; fix the manifest options or point it at matching weights")
    net.load_state_dict(state)
    net.eval()
    return net
