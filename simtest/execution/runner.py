"""Run one case closed-loop. The worker loads env and agent once and reuses them; each
episode's randomness comes only from the case seed, split into independent streams."""

from __future__ import annotations

import hashlib
import math
import time
import traceback
from typing import Any, Callable

import numpy as np

from simtest.execution.agents import Agent, diagnostics_of, load_agent
from simtest.execution.envadapter import EnvAdapter, make_adapter
from simtest.execution.metrics import evaluate_requirements, generic_metrics
from simtest.execution.modelmetrics import episode_model_metrics
from simtest.contract.registry import ModelRef, env_build, resolve
from simtest.contract.results import CONFIGURATION, EpisodeResult, Outcome
from simtest.contract.cases import Case

__all__ = ["EpisodeWorker", "episode_seeds", "episode_result"]

Observer = Callable[[int, Any, Any, dict, EnvAdapter], None]


def episode_seeds(case_seed: int) -> tuple[int, int]:
    """(env seed, agent seed): independent streams, so a model that draws more random numbers
    never shifts the scene or the sensor noise. This is what makes pairing by case valid."""
    env_ss, agent_ss = np.random.SeedSequence(case_seed).spawn(2)
    return int(env_ss.generate_state(1)[0]), int(agent_ss.generate_state(1)[0])


class _Phase:
    """Which side raised: decides env_error (infrastructure) vs agent_error (the model), and
    whether an env_error is a configuration error (making the env, or configuring it for the case
    in its first reset: deterministic, never retried) or a transient one (stepping: retried)."""

    CONFIG, ENV, AGENT = "config", "env", "agent"


def episode_result(case: Case, model: ModelRef, outcome: Outcome, *, env_build_: str | None = None,
                   **fields: Any) -> EpisodeResult:
    """The one place an EpisodeResult is built (the runner, the watchdog and the Ray driver).
    `env_build_` defaults to the env's build hash ("" when the env cannot be resolved here)."""
    if env_build_ is None:
        try:
            env_build_ = env_build(case.env)
        except Exception:  # noqa: BLE001 - the row must still be written
            env_build_ = ""
    return EpisodeResult(case=case, model=model.name, model_version=model.version, model_digest=model.digest,
                         outcome=outcome, env_build=env_build_, **fields)


def metric_mismatch(spec: Any, returned: Any) -> str:
    """What is wrong between the metrics an env declares and those its episode_metrics returned
    ("" when they agree). Checks on a never-returned metric would fail silently, and an undeclared
    one would be stored without a declaration, so either is an error."""
    declared, got = set(spec.metric_decls), set(returned)
    if declared == got:
        return ""
    parts = []
    if declared - got:
        parts.append(f"declared but never returned: {', '.join(sorted(declared - got))} (every check on them would fail)")
    if got - declared:
        parts.append(f"returned but not declared: {', '.join(sorted(got - declared))}")
    return (f"{spec.id}: episode_metrics does not match the declared metrics: {'; '.join(parts)}; fix the env's "
            f"metrics declaration or its episode_metrics (simtest check-env {spec.id} checks this)")


class EpisodeWorker:
    """Runs cases for one model inside one process (a Ray actor or the local executor)."""

    def __init__(self, model: ModelRef, *, wall_timeout_s: float | None = None, step_budget: int | None = None,
                 adapter_factory: Callable[[str], EnvAdapter] = make_adapter, agent: Agent | None = None):
        self.model = model
        self.adapter_factory = adapter_factory  # e.g. envadapter.rendering_adapter for videos
        self.wall_timeout_s = wall_timeout_s
        self.step_budget = step_budget
        self._agent: Agent | None = agent  # given: used as is (check-env's random agent), else built from model
        self._adapters: dict[str, EnvAdapter] = {}
        self._metric_fns: dict[str, Callable | None] = {}
        self.last_step_digests: list[str] = []

    @property
    def agent(self) -> Agent:
        if self._agent is None:
            self._agent = load_agent(self.model)
        return self._agent

    def _adapter(self, env_id: str) -> EnvAdapter:
        if env_id not in self._adapters:
            adapter = self.adapter_factory(env_id)
            self._adapters[env_id] = adapter
            ref = adapter.info.episode_metrics
            self._metric_fns[env_id] = resolve(ref) if ref else None
        return self._adapters[env_id]

    def close(self) -> None:
        for a in self._adapters.values():
            a.close()
        self._adapters.clear()

    def run(self, case: Case, *, attempt: int = 1, observer: Observer | None = None) -> EpisodeResult:
        t0 = time.perf_counter()
        infos: list[dict] = []
        rewards: list[float] = []
        digests: list[str] = []
        self.last_step_digests = digests
        terminated = False
        phase = _Phase.CONFIG
        outcome, error, error_kind = Outcome.COMPLETED, "", ""
        steps = 0
        budget = self.step_budget if self.step_budget is not None else case.horizon
        adapter: EnvAdapter | None = None
        predictions: list[dict] = []  # the agent's diagnostics after each act (model metrics)
        # A model that cannot be built (missing or mismatched weights) is bad input, not an episode
        # outcome: the ModelError propagates and stops the run with one clear message.
        agent = self.agent
        diagnose = None
        try:
            adapter = self._adapter(case.env)
            env_seed, agent_seed = episode_seeds(case.seed)
            obs, info = adapter.reset(case.params, case.params_json, env_seed)
            infos.append(adapter.signals(info, 0.0))
            phase = _Phase.AGENT
            agent.reset(agent_seed)
            if adapter.info.model_metric_decls:  # only envs that declare model metrics ask for predictions
                diagnose = diagnostics_of(agent)
            h = hashlib.blake2b(digest_size=8)
            while steps < case.horizon:
                if steps >= budget:
                    outcome, error = Outcome.TIMEOUT, f"step budget of {budget} exhausted"
                    break
                if self.wall_timeout_s is not None and time.perf_counter() - t0 > self.wall_timeout_s:
                    outcome, error = Outcome.TIMEOUT, f"wall-clock watchdog: episode exceeded {self.wall_timeout_s:g} s"
                    break
                phase = _Phase.AGENT
                action = agent.act(obs)
                if diagnose is not None:
                    predictions.append({k: np.array(v, copy=True) for k, v in dict(diagnose()).items()})
                phase = _Phase.ENV
                obs, reward, terminated, truncated, info = adapter.step(action)
                steps += 1
                rewards.append(float(reward))
                infos.append(adapter.signals(info, float(reward)))
                _update(h, action, obs, reward)
                digests.append(h.hexdigest())
                if observer is not None:
                    observer(steps, obs, action, info, adapter)
                if terminated or truncated:
                    break
        except Exception as exc:  # noqa: BLE001 - classified below, never swallowed silently
            outcome = Outcome.AGENT_ERROR if phase == _Phase.AGENT else Outcome.ENV_ERROR
            error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]
            if phase == _Phase.CONFIG:
                error_kind = CONFIGURATION
                error = (f"configuration error: making or configuring {case.env} for this case failed "
                         f"(not retried)\n{error}")[-4000:]
            if phase != _Phase.AGENT and adapter is not None:
                adapter.close()  # a broken simulator is rebuilt for the next case
                self._adapters.pop(case.env, None)
        metrics: dict[str, float] = {}
        if outcome is not Outcome.ENV_ERROR or infos:
            try:
                fn = self._metric_fns.get(case.env)
                if fn is not None and infos:
                    returned = {k: float(v) for k, v in fn(infos, case.params).items()}
                    mismatch = metric_mismatch(adapter.info, returned) if adapter is not None else ""
                    if mismatch:
                        outcome, error, error_kind = Outcome.ENV_ERROR, mismatch, CONFIGURATION
                    metrics.update(returned)
                metrics.update(generic_metrics(rewards, terminated))
            except Exception as exc:  # noqa: BLE001 - metric code belongs to the env package
                outcome = Outcome.ENV_ERROR
                error = "episode_metrics failed: " + "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if predictions and adapter is not None and outcome is not Outcome.ENV_ERROR:
            try:  # in-the-loop model metrics: the agent's declared predictions vs the env's labels
                metrics.update(episode_model_metrics(adapter.info.model_metric_decls, predictions, infos))
            except ValueError as exc:  # a broken env or agent contract: deterministic, never retried
                outcome, error_kind = Outcome.ENV_ERROR, CONFIGURATION
                error = f"{case.env}: model metrics failed: {exc}"
        checks, margins = (), ()
        if outcome is not Outcome.ENV_ERROR:  # verdict and robustness margin of every check
            checks, margins = evaluate_requirements(case.checks, metrics, infos, self._declared(case.env))
        return episode_result(
            case, self.model, outcome, metrics=tuple(sorted(metrics.items())), checks=checks, steps=steps,
            wall_s=time.perf_counter() - t0, error=error, attempt=attempt, error_kind=error_kind,
            trace_digest=digests[-1] if digests else "", margins=margins,
        )

    def _declared(self, env_id: str) -> dict:
        try:
            return self._adapter(env_id).info.metrics
        except Exception:  # noqa: BLE001 - declarations only refine margins
            return {}


def _update(h: Any, action: Any, obs: Any, reward: float) -> None:
    h.update(np.asarray(action, dtype=np.float64).tobytes())
    if isinstance(obs, dict):
        for k in sorted(obs):
            h.update(np.ascontiguousarray(obs[k]).tobytes())
    else:
        h.update(np.ascontiguousarray(obs).tobytes())
    h.update(np.float64(reward).tobytes() if math.isfinite(reward) else b"nan")
