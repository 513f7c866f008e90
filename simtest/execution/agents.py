"""The system under test. An Agent sees observations only; it is built inside the
worker from a ModelRef by calling the manifest's entry point `factory(weights, **options)`."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from simtest.core.errors import ModelError
from simtest.contract.registry import ModelRef, resolve

__all__ = ["Agent", "Diagnosing", "ShadowAgent", "load_agent", "diagnostics_of", "shadow_agent", "shadow_ref"]


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


class ShadowAgent:
    """`simtest evaluate-offline`: `driver` drives; `model` sees the same observations (its actions
    are dropped) and only its diagnostics are reported. Every model shadowing one driver is scored
    on the same frames, whatever its own driving would have led to."""

    def __init__(self, driver: Agent, model: Agent) -> None:
        self.driver, self.model = driver, model
        self._hook = diagnostics_of(model)

    def reset(self, seed: int) -> None:
        self.driver.reset(seed)
        self.model.reset(seed)

    def act(self, observation: Any) -> Any:
        self.model.act(observation)
        return self.driver.act(observation)

    def diagnostics(self) -> Mapping[str, Any]:
        return dict(self._hook()) if self._hook is not None else {}


def shadow_agent(weights: str | None = None, *, driver: str, model: str) -> ShadowAgent:
    """Factory of a ShadowAgent (options name both models by manifest path or name@version)."""
    from simtest.contract.registry import resolve_model

    del weights
    return ShadowAgent(load_agent(resolve_model(driver)), load_agent(resolve_model(model)))


def shadow_ref(driver: ModelRef, model: ModelRef) -> ModelRef:
    """The ModelRef executors run for `model` shadowing `driver` (cheap to pickle, like any ref)."""
    import hashlib
    import json

    options = {"driver": driver.manifest or driver.label, "model": model.manifest or model.label}
    digest = hashlib.sha256(f"shadow|{driver.digest}|{model.digest}".encode()).hexdigest()[:16]
    return ModelRef(name=model.name, version=model.version, entry_point="simtest.execution.agents:shadow_agent",
                    digest=digest, options_json=json.dumps(options, sort_keys=True), manifest=model.manifest,
                    training_json=model.training_json)
