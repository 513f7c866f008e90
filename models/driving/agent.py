"""Agent factory of the driving model (`simtest_models.driving.agent:make_agent`, contract section 3):
loads ProximityNet weights and composes the CNN with the histogram controller."""

from __future__ import annotations

import os
import re
from dataclasses import fields
from typing import Any

import numpy as np

from simtest_models.driving.controller import ControllerConfig, HistogramController
from simtest_models.weights import state_dict_mismatch

_CONTROLLER_OPTIONS = {f.name for f in fields(ControllerConfig)}
_AGENT_OPTIONS = {"n_bins", "width", "torch_threads"}


class DrivingAgent:
    """Sees only the observation {"image", "ego"}; deterministic: after reset, the same observations
    give the same actions."""

    def __init__(self, net: Any, controller: HistogramController) -> None:
        self.net = net
        self.controller = controller
        self._last: np.ndarray | None = None  # the proximity the CNN predicted at the last act

    def diagnostics(self) -> dict[str, np.ndarray]:
        """What the model predicted for the last observation (the optional diagnostics hook of the
        Agent contract): {"proximity": (n_bins,) in [0, 1]}; the env labels it with ray_proximity."""
        return {} if self._last is None else {"proximity": self._last}

    def reset(self, seed: int) -> None:
        # Nothing random: the seed is accepted for the protocol; only the controller's memory of
        # obstacles beside the car is cleared.
        del seed
        self.controller.reset()
        self._last = None

    def perceive(self, image: np.ndarray) -> np.ndarray:
        """uint8 (64, 64, 3) -> proximity (n_bins,) float32."""
        import torch

        frame = np.ascontiguousarray(image, dtype=np.uint8)[None]
        with torch.inference_mode():
            out = self.net(torch.from_numpy(frame))
        return out[0].numpy().astype(np.float32)

    def act(self, observation: dict) -> np.ndarray:
        proximity = self.perceive(observation["image"])
        self._last = proximity
        return self.controller.act(proximity, observation["ego"])


def load_perception(weights: str | os.PathLike, n_bins: int = 9, width: int = 16) -> Any:
    """ProximityNet with the state_dict at `weights`, in eval mode. Never unpickles code."""
    import torch

    from simtest_models.driving.perception import ProximityNet

    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: weights file not found; fix the 'weights' path in the model manifest "
            "(it is relative to the manifest) or train it with python -m simtest_models.driving.train"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable or non-tensor payload is a bad weights file
        raise ValueError(
            f"{path}: not a torch state_dict loadable with weights_only=True ({_load_reason(exc)}); "
            "save weights with torch.save(model.state_dict(), path)"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(
            f"{path}: expected a state_dict (dict of tensors), got {type(state).__name__}; "
            "save weights with torch.save(model.state_dict(), path)"
        )
    net = ProximityNet(n_bins=n_bins, width=width)
    parts = state_dict_mismatch(net.state_dict(), state)
    if parts:
        raise ValueError(
            f"{path}: weights do not match ProximityNet(n_bins={n_bins}, width={width}): "
            f"{'; '.join(parts)}; fix the manifest options (n_bins, width) or point it at "
            "weights trained for this architecture"
        )
    net.load_state_dict(state)
    net.eval()
    return net


def _load_reason(exc: Exception) -> str:
    """The useful part of torch's error: which global or opcode the safe unpickler refused. Its
    advice to retry with weights_only=False is dropped on purpose: we never unpickle code."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text) or re.search(r"(Unsupported operand \d+)", text)
    if found:
        return found.group(0).replace("GLOBAL ", "")
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def make_agent(weights: str | None = None, **options: Any) -> DrivingAgent:
    """factory(weights, **options) -> Agent. Options: n_bins, width, torch_threads (default 1, None
    leaves torch's setting alone) and any ControllerConfig field."""
    unknown = sorted(set(options) - _AGENT_OPTIONS - _CONTROLLER_OPTIONS)
    if unknown:
        valid = ", ".join(sorted(_AGENT_OPTIONS | _CONTROLLER_OPTIONS))
        raise ValueError(f"driving agent: unknown option(s) {unknown}; valid options: {valid}")
    if weights is None:
        raise ValueError(
            "driving agent: no weights given; set 'weights' in the model manifest to a "
            "ProximityNet state_dict (.pt)"
        )
    n_bins = int(options.get("n_bins", 9))
    width = int(options.get("width", 16))
    threads = options.get("torch_threads", 1)
    if threads is not None:
        import torch

        # One thread per worker: the harness parallelises over episodes, not inside a frame.
        torch.set_num_threads(int(threads))
    net = load_perception(weights, n_bins=n_bins, width=width)
    config = ControllerConfig(**{k: v for k, v in options.items() if k in _CONTROLLER_OPTIONS})
    return DrivingAgent(net, HistogramController(n_bins=n_bins, config=config))
