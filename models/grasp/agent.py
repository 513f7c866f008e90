"""Agent factory of the grasp model (`simtest_models.grasp.agent:make_agent`, contract section 3):
loads ObjectLocator weights and composes the CNN with the scripted IK grasp controller."""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Any

import numpy as np

from simtest_models.grasp.controller import ControllerConfig, GraspController
from simtest_models.weights import state_dict_mismatch

_CONTROLLER_OPTIONS = {f.name for f in fields(ControllerConfig)}
_AGENT_OPTIONS = {"width", "torch_threads"}


class GraspAgent:
    """Sees only the observation {"image", "joints", "bin"}. The CNN runs when the controller asks
    for the object's position (the first step and before each retry); deterministic: after reset,
    the same observations give the same actions."""

    def __init__(self, net: Any, controller: GraspController) -> None:
        self.net = net
        self.controller = controller
        self.last_estimate: np.ndarray | None = None

    def reset(self, seed: int) -> None:
        del seed  # nothing random
        self.controller.reset()
        self.last_estimate = None

    def perceive(self, image: np.ndarray) -> np.ndarray:
        """uint8 (64, 64, 3) -> the object's (x, y, size) in metres."""
        import torch

        frame = np.ascontiguousarray(image, dtype=np.uint8)[None]
        with torch.inference_mode():
            out = self.net(torch.from_numpy(frame))
        return out[0].numpy().astype(np.float64)

    def act(self, observation: dict) -> np.ndarray:
        target = None
        if self.controller.wants_target:
            target = self.last_estimate = self.perceive(observation["image"])
        return self.controller.act(target, observation["joints"], observation["bin"])


def load_perception(weights: str | os.PathLike, width: int = 16) -> Any:
    """ObjectLocator with the state_dict at `weights`, in eval mode. Never unpickles code."""
    import torch

    from simtest_models.driving.agent import _load_reason
    from simtest_models.grasp.perception import ObjectLocator

    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: weights file not found; fix the 'weights' path in the model manifest "
            "(it is relative to the manifest) or train it with python -m simtest_models.grasp.train")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable or non-tensor payload is a bad weights file
        raise ValueError(f"{path}: not a torch state_dict loadable with weights_only=True ({_load_reason(exc)}); "
                         "save weights with torch.save(model.state_dict(), path)") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: expected a state_dict (dict of tensors), got {type(state).__name__}; "
                         "save weights with torch.save(model.state_dict(), path)")
    net = ObjectLocator(width=width)
    parts = state_dict_mismatch(net.state_dict(), state)
    if parts:
        raise ValueError(f"{path}: weights do not match ObjectLocator(width={width}): {'; '.join(parts)}; fix the "
                         "manifest option width or point it at weights trained for this architecture")
    net.load_state_dict(state)
    net.eval()
    return net


def make_agent(weights: str | None = None, **options: Any) -> GraspAgent:
    """factory(weights, **options) -> Agent. Options: width, torch_threads (default 1, None leaves
    torch's setting alone) and any ControllerConfig field."""
    unknown = sorted(set(options) - _AGENT_OPTIONS - _CONTROLLER_OPTIONS)
    if unknown:
        valid = ", ".join(sorted(_AGENT_OPTIONS | _CONTROLLER_OPTIONS))
        raise ValueError(f"grasp agent: unknown option(s) {unknown}; valid options: {valid}")
    if weights is None:
        raise ValueError("grasp agent: no weights given; set 'weights' in the model manifest to an "
                         "ObjectLocator state_dict (.pt)")
    threads = options.get("torch_threads", 1)
    if threads is not None:
        import torch

        torch.set_num_threads(int(threads))  # the harness parallelises over episodes
    net = load_perception(weights, width=int(options.get("width", 16)))
    config = ControllerConfig(**{k: v for k, v in options.items() if k in _CONTROLLER_OPTIONS})
    return GraspAgent(net, GraspController(config))
