"""The system under test. An Agent sees observations only; it is built inside the
worker from a ModelRef by calling the manifest's entry point `factory(weights, **options)`."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from simtest.core.errors import ModelError
from simtest.contract.registry import ModelRef, resolve

__all__ = ["Agent", "Diagnosing", "load_agent", "diagnostics_of"]


@runtime_checkable
class Agent(Protocol):
    def reset(self, seed: int) -> None: ...

    def act(self, observation: Any) -> Any: ...


@runtime_checkable
class Diagnosing(Protocol):
    """Optional part of the Agent contract (docs/contracts.md section 3.1): what the model predicted
    for the observation of the last `act`, as name -> array or float (the driving agent:
    {"proximity": (n_bins,)}). The env's `model_metrics` name which prediction a label scores."""

    def diagnostics(self) -> Mapping[str, Any]: ...


def diagnostics_of(agent: Any) -> Callable[[], Mapping[str, Any]] | None:
    """The agent's diagnostics hook, or None for an agent without one (no model metrics then)."""
    return agent.diagnostics if isinstance(agent, Diagnosing) and callable(agent.diagnostics) else None


def load_agent(model: ModelRef) -> Agent:
    where = model.manifest or model.label
    try:
        factory = resolve(model.entry_point)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ModelError(f"{where}: entry_point {model.entry_point!r} cannot be imported ({exc}); "
                         "fix the entry_point key (module:factory) or install the module") from None
    try:
        agent = factory(model.weights, **model.options)
    except FileNotFoundError as exc:
        raise ModelError(f"{where}: {exc}") from None
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{where}: cannot build the agent: {first}") from None
    if not isinstance(agent, Agent):
        raise ModelError(f"{where}: {model.entry_point} returned {type(agent).__name__}, which lacks reset(seed) / act(obs)")
    return agent
