"""The Ray executor. A pool of long-lived actors (one per CPU by default), each loading
the env and the model once and running chunks of about a second of episodes; the driver keeps at
most two chunks in flight per actor and owns every fault: chunk deadlines, dead or hung workers,
bounded retries of infrastructure failures. No case is lost, none is reported twice.

When a worker dies, the cases of its unfinished chunks become suspects: each reruns alone on an
idle actor with nothing queued behind it, so a death can be pinned on exactly one case.
Attempt numbers: `attempt` = 1 + the infrastructure failures attributed to that case (an
env_error it raised, or its worker dying while it ran alone). A case that merely shared a chunk
with a culprit keeps its attempt number, so the same sweep gives the same rows whether or not a
neighbour crashed."""

from __future__ import annotations

import collections
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from simtest.core.errors import InfrastructureError, ModelError
from simtest.contract.registry import ModelRef
from simtest.contract.results import EpisodeResult, Outcome
from simtest.contract.cases import Case

__all__ = ["RayExecutor", "init_private_ray"]

log = logging.getLogger("simtest.execution.executors.ray")

DEADLINE_FLOOR_S = 30.0  # slack on every chunk deadline: scheduling, GC pauses, a slow first episode
DEADLINE_FACTOR = 3.0  # deadline = factor x chunk size x p99 episode time (+ the floor)
MAX_CHUNK_CASES = 256
SETTLE_S = 5.0  # how long the replies of a dead actor may take to arrive


# --------------------------------------------------------------------------- the private local Ray

LOOPBACK = "127.0.0.1"


def init_private_ray(ray: Any, **kwargs: Any) -> None:
    """Start a private single-node Ray whose every process listens on loopback only, with no
    dashboard, and Ray's token authentication left as Ray sets it (on by default for a new local
    cluster; RAY_AUTH_MODE, if the user set it, is respected). See docs/security.md.

    Why the switch: `ray.init(_node_ip_address="127.0.0.1")` alone is not enough. On Linux Ray
    treats every node as part of a possible multi-machine cluster and rewrites a loopback node
    address to the machine's external IP (`services.resolve_ip_for_localhost`), and its servers
    (GCS, raylet, core workers, the runtime-env agent) then bind to that IP or to all interfaces.
    `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` (read into `ray_constants.ENABLE_RAY_CLUSTER` at
    import, and by the child processes from their environment) keeps the node on 127.0.0.1, and
    each server binds to the node IP. Both are set only while Ray starts; the started processes
    keep the environment they inherited. Measured with Ray 2.60 (pyproject.toml allows >= 2.9):
    tests/security/test_ray_loopback.py measures the sockets, so a Ray that behaves differently
    fails that test instead of silently listening on the network."""
    from ray._private import ray_constants

    auth = os.environ.get("RAY_AUTH_MODE")
    if auth is not None and auth.lower() != "token":
        log.warning("RAY_AUTH_MODE=%s: the private local Ray starts without token authentication; any local "
                    "user or process can then use it through its loopback ports (unset it to keep Ray's default)", auth)
    env_var = getattr(ray_constants, "ENABLE_RAY_CLUSTERS_ENV_VAR", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    had_const = hasattr(ray_constants, "ENABLE_RAY_CLUSTER")
    old_const = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    old_env = os.environ.get(env_var)
    os.environ[env_var] = "0"
    if had_const:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(address="local", include_dashboard=False, _node_ip_address=LOOPBACK, **kwargs)
    finally:
        if had_const:
            ray_constants.ENABLE_RAY_CLUSTER = old_const
        if old_env is None:
            os.environ.pop(env_var, None)
        else:
            os.environ[env_var] = old_env


# --------------------------------------------------------------------------- the actor


class _EpisodeActor:
    """Runs inside a Ray worker process: one EpisodeWorker (env + model loaded once)."""

    def __init__(self, model: ModelRef, wall_timeout_s: float | None, step_budget: int | None, threads: int):
        # One CPU per actor means one compute thread: N actors x M BLAS threads would oversubscribe.
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
        from simtest.execution.runner import EpisodeWorker

        self.threads = threads
        self.tainted = False
        self.worker = EpisodeWorker(model, wall_timeout_s=wall_timeout_s, step_budget=step_budget)

    def ready(self) -> dict:
        """Load the model now, so that a broken model fails the run at once (not per case)."""
        import socket
        import sys
        import traceback

        import ray

        info: dict[str, Any] = {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(),
                                "host": socket.gethostname(), "error": None}
        try:
            self.worker.agent
        except Exception as exc:  # noqa: BLE001 - reported to the driver as a model error
            info["error"] = str(exc) or "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if "torch" in sys.modules:
            import torch

            torch.set_num_threads(self.threads)
        return info

    def run_chunk(self, items: list[tuple[Case, int]]) -> tuple[list[EpisodeResult], bool]:
        """Results in order, and whether the hard watchdog fired. After a hard interrupt the
        chunk stops there: this process's state is suspect, so the driver replaces the actor and
        reruns the rest elsewhere."""
        from simtest.execution.executors.local import run_guarded

        out: list[EpisodeResult] = []
        if self.tainted:  # a chunk queued behind the interrupted one: run nothing, it is requeued
            return out, True
        for case, attempt in items:
            result, hard = run_guarded(self.worker, case, attempt)
            out.append(result)
            if hard:
                self.tainted = True
                return out, True
        return out, False

    def shutdown(self) -> None:
        self.worker.close()


_ACTOR_CLASS: Any = None


def _actor_class() -> Any:
    global _ACTOR_CLASS  # the ray.remote wrapper is built once per process, lazily (ray import)
    if _ACTOR_CLASS is None:
        import ray

        _ACTOR_CLASS = ray.remote(_EpisodeActor)
    return _ACTOR_CLASS


# --------------------------------------------------------------------------- driver-side state


@dataclass(eq=False)
class _Item:
    case: Case
    attempt: int = 1
    suspect: bool = False  # its chunk's worker died or hung: run it alone to find the culprit


@dataclass(eq=False)
class _Chunk:
    items: list[_Item]
    ref: Any
    submitted: float
    started: float | None = None  # when it reached the head of its actor's queue
    deadline_s: float = math.inf
    isolated: bool = False  # a suspect alone on its actor: a death while it runs is its doing


@dataclass(eq=False)
class _Slot:
    """One actor as the driver sees it."""

    handle: Any
    ready_ref: Any
    spawned: float
    pid: int | None = None
    node_id: str | None = None
    inflight: collections.deque = field(default_factory=collections.deque)
    episodes: int = 0
    retiring: bool = False
    tainted: bool = False

    @property
    def ready(self) -> bool:
        return self.ready_ref is None


class RayExecutor:
    """Executor over a pool of Ray actors; see the module docstring for the fault model.

    workers: actors (default: one per CPU of the local machine or of the cluster).
    address: join an existing cluster ("auto", "host:6379", "ray://host:10001"); RAY_ADDRESS
      (set by `ray job submit`) works too. Otherwise a private local Ray starts with every
      process listening on 127.0.0.1 only (init_private_ray).
    chunk_s: target seconds of work per remote call (chunk size adapts to measured episode time).
    wall_timeout_s: per-episode wall-clock watchdog inside the worker.
    chunk_deadline_s: minimum per-chunk deadline in the driver (default derived from
      wall_timeout_s and measured episode times); on expiry the actor is killed and replaced.
    max_env_retries: reruns of a case after env_error or after its worker died running it.
    recycle_after: replace an actor after this many episodes (sheds leaks).
    max_actor_restarts: replacements of failed actors before the run is declared infrastructure-failed.
    """

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        *,
        cpus_per_actor: float = 1,
        gpus_per_actor: float = 0,
        memory_per_actor: int | None = None,
        chunk_s: float = 1.0,
        max_in_flight_per_actor: int = 2,
        max_chunk_cases: int = MAX_CHUNK_CASES,
        recycle_after: int = 1000,
        wall_timeout_s: float | None = 120.0,
        episode_wall_timeout_s: float | None = None,
        step_budget: int | None = None,
        chunk_deadline_s: float | None = None,
        max_env_retries: int = 2,
        max_actor_restarts: int | None = None,
        startup_timeout_s: float = 600.0,
        log_to_driver: bool = False,
        object_store_memory: int | None = 256 * 1024 * 1024,
        runtime_env: dict | None = None,
        **_ignored: Any,
    ):
        if workers is not None and workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self.address = address
        self.cpus_per_actor = cpus_per_actor
        self.gpus_per_actor = gpus_per_actor
        self.memory_per_actor = memory_per_actor
        self.chunk_s = chunk_s
        self.max_in_flight = max(1, max_in_flight_per_actor)
        self.max_chunk_cases = max(1, max_chunk_cases)
        self.recycle_after = recycle_after
        self.wall_timeout_s = episode_wall_timeout_s if episode_wall_timeout_s is not None else wall_timeout_s
        self.step_budget = step_budget
        self.chunk_deadline_s = chunk_deadline_s
        self.max_env_retries = max_env_retries
        self.max_actor_restarts = max_actor_restarts
        self.startup_timeout_s = startup_timeout_s
        self.log_to_driver = log_to_driver
        self.object_store_memory = object_store_memory
        self.runtime_env = runtime_env
        self._ray: Any = None
        self._owns_ray = False
        self._model: ModelRef | None = None
        self._slots: list[_Slot] = []
        self._episode_s: collections.deque = collections.deque(maxlen=512)
        self._env_builds: dict[str, str] = {}
        self.stats: dict[str, Any] = self._fresh_stats()

    @staticmethod
    def _fresh_stats() -> dict[str, Any]:
        return {"episodes": 0, "chunks": 0, "actors_started": 0, "actor_failures": 0, "recycled": 0,
                "deadline_kills": 0, "env_retries": 0, "requeued": 0, "episodes_by_node": collections.Counter(),
                "first_result_s": None, "last_error": ""}

    # ------------------------------------------------------------------ ray runtime

    def _ensure_ray(self) -> Any:
        if self._ray is not None:
            return self._ray
        import ray

        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            common = dict(log_to_driver=self.log_to_driver, logging_level=logging.ERROR,
                          runtime_env=self.runtime_env)
            address = self.address or os.environ.get("RAY_ADDRESS")
            try:
                if address:
                    ray.init(address=address, **common)
                else:
                    n = self.workers or os.cpu_count() or 1
                    init_private_ray(ray, num_cpus=max(1, math.ceil(n * self.cpus_per_actor)),
                                     object_store_memory=self.object_store_memory, **common)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {address}" if address else "a local Ray runtime"
                raise InfrastructureError(f"cannot start or join {where}: {exc}; check --address "
                                          "(auto, host:6379 or ray://host:10001) and that the cluster is up") from None
            self._owns_ray = True
        self._ray = ray
        return ray

    def _pool_size(self) -> int:
        if self.workers:
            return self.workers
        cpus = float(self._ray.cluster_resources().get("CPU", 1))
        return max(1, int(cpus // max(self.cpus_per_actor, 1e-9)))

    def _spawn(self) -> _Slot:
        assert self._model is not None
        opts: dict[str, Any] = {"num_cpus": self.cpus_per_actor, "num_gpus": self.gpus_per_actor,
                                "max_restarts": 0, "max_task_retries": 0, "max_concurrency": 1,
                                "scheduling_strategy": "SPREAD"}
        if self.memory_per_actor:
            opts["memory"] = int(self.memory_per_actor)
        threads = max(1, int(self.cpus_per_actor))
        handle = _actor_class().options(**opts).remote(self._model, self.wall_timeout_s, self.step_budget, threads)
        self.stats["actors_started"] += 1
        slot = _Slot(handle=handle, ready_ref=handle.ready.remote(), spawned=time.monotonic())
        self._slots.append(slot)
        return slot

    def _kill(self, slot: _Slot) -> None:
        if slot in self._slots:
            self._slots.remove(slot)
        try:
            self._ray.kill(slot.handle, no_restart=True)
        except Exception:  # noqa: BLE001 - already dead is fine
            pass

    def _ensure_pool(self, model: ModelRef) -> None:
        for slot in list(self._slots):
            # Another model's workers, or chunks left over by an abandoned run(): start afresh.
            if slot.inflight or (self._model is not None and self._model.digest != model.digest):
                self._kill(slot)
        self._model = model
        target = self._pool_size()
        while len(self._slots) < target:
            self._spawn()

    def worker_pids(self, *, busy_only: bool = False) -> dict[int, str]:
        """pid -> node id of the ready actors (busy_only: those with a chunk in flight)."""
        return {s.pid: s.node_id for s in self._slots
                if s.ready and s.pid is not None and (s.inflight or not busy_only)}

    # ------------------------------------------------------------------ sizing and deadlines

    def _episode_p(self, q: float) -> float | None:
        if not self._episode_s:
            return None
        xs = sorted(self._episode_s)
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    def _chunk_size(self, queued: int, actors: int) -> int:
        mean = (sum(self._episode_s) / len(self._episode_s)) if self._episode_s else None
        size = 1 if mean is None else max(1, int(self.chunk_s / max(mean, 1e-6)))
        # Near the end, split what is left so that every actor stays busy.
        share = math.ceil(queued / max(1, actors * self.max_in_flight))
        return max(1, min(size, share, self.max_chunk_cases))

    def _deadline(self, k: int) -> float:
        p99 = self._episode_p(0.99)
        if self.wall_timeout_s is not None:
            floor = self.wall_timeout_s + 2 + DEADLINE_FLOOR_S
        else:
            floor = 10 * DEADLINE_FLOOR_S
        if self.chunk_deadline_s is not None:
            floor = self.chunk_deadline_s
        measured = 0.0 if p99 is None else DEADLINE_FACTOR * k * p99
        return max(floor, measured + (0.0 if self.chunk_deadline_s is not None else DEADLINE_FLOOR_S))

    def _restart_budget(self) -> int:
        if self.max_actor_restarts is not None:
            return self.max_actor_restarts
        return 4 * max(1, len(self._slots)) + 8

    # ------------------------------------------------------------------ result rows made by the driver

    def _driver_result(self, item: _Item, outcome: Outcome, error: str) -> EpisodeResult:
        m = self._model
        assert m is not None
        build = self._env_builds.get(item.case.env)
        if build is None:
            try:
                from simtest.contract.registry import env_build

                build = env_build(item.case.env)
            except Exception:  # noqa: BLE001 - the env may only be importable on the workers
                build = ""
        from simtest.execution.runner import episode_result

        return episode_result(item.case, m, outcome, error=error[-4000:], env_build_=build, attempt=item.attempt)

    # ------------------------------------------------------------------ the loop

    def run(self, cases: Sequence[Case], model: ModelRef) -> Iterator[EpisodeResult]:
        ray = self._ensure_ray()
        self._ensure_pool(model)
        t_start = time.monotonic()
        outstanding: dict[str, _Item] = {}
        queue: collections.deque[_Item] = collections.deque()
        for c in cases:
            if c.case_id not in outstanding:  # one final result per distinct case
                item = _Item(c)
                outstanding[c.case_id] = item
                queue.append(item)
        failures_at_start = self.stats["actor_failures"]
        last_ready_seen = time.monotonic()

        def requeue(items: list[_Item], *, suspect: bool) -> None:
            for it in reversed(items):
                if it.case.case_id in outstanding:
                    it.suspect = suspect or it.suspect
                    queue.appendleft(it)
                    self.stats["requeued"] += 1

        def replace(slot: _Slot, why: str) -> None:
            self._kill(slot)
            self.stats["actor_failures"] += 1
            self.stats["last_error"] = why
            if self.stats["actor_failures"] - failures_at_start > self._restart_budget():
                raise InfrastructureError(
                    f"Ray workers failed {self.stats['actor_failures'] - failures_at_start} times in this run "
                    f"(last: {why}); stored results are kept, re-run the same command to resume")
            self._spawn()

        def take_chunk(actors: int) -> list[_Item]:
            if queue[0].suspect:
                return [queue.popleft()]
            n = self._chunk_size(len(queue), actors)
            out: list[_Item] = []
            while queue and len(out) < n and not queue[0].suspect:
                out.append(queue.popleft())
            return out

        def submit() -> None:
            ready = [s for s in self._slots if s.ready and not s.retiring]
            for depth in range(self.max_in_flight):  # breadth first: spread work before stacking it
                for slot in ready:
                    if not queue:
                        return
                    if len(slot.inflight) > depth or any(c.isolated for c in slot.inflight):
                        continue
                    if queue[0].suspect and slot.inflight:
                        continue  # a suspect runs alone on an idle actor, nothing queued behind it
                    items = take_chunk(len(ready))
                    now = time.monotonic()
                    ref = slot.handle.run_chunk.remote([(it.case, it.attempt) for it in items])
                    chunk = _Chunk(items=items, ref=ref, submitted=now, deadline_s=self._deadline(len(items)),
                                   isolated=items[0].suspect)
                    if not slot.inflight:
                        chunk.started = now
                    slot.inflight.append(chunk)
                    self.stats["chunks"] += 1

        def finish_chunk(slot: _Slot, chunk: _Chunk, value: Any) -> list[EpisodeResult]:
            results, interrupted = value
            if len(results) < len(chunk.items):  # stopped early by a hard interrupt: never started
                requeue(chunk.items[len(results):], suspect=False)
            done: list[EpisodeResult] = []
            retry: list[_Item] = []
            for item, r in zip(chunk.items, results):
                cid = item.case.case_id
                if cid not in outstanding or r.case.case_id != cid:
                    continue  # never report a case twice
                self._env_builds.setdefault(r.case.env, r.env_build)
                if r.outcome is Outcome.ENV_ERROR and not r.error_kind and item.attempt <= self.max_env_retries:
                    item.attempt += 1
                    retry.append(item)
                    self.stats["env_retries"] += 1
                    continue
                if r.outcome is Outcome.COMPLETED:
                    self._episode_s.append(r.wall_s)
                del outstanding[cid]
                done.append(r)
            requeue(retry, suspect=False)
            slot.episodes += len(results)
            if slot.node_id:
                self.stats["episodes_by_node"][slot.node_id] += len(done)
            if interrupted:
                slot.tainted = True  # replaced right away, see below
            if slot.episodes >= self.recycle_after:
                slot.retiring = True  # shed leaks: replaced once its queue drains
            return done

        def worker_lost(slot: _Slot, why: str) -> list[EpisodeResult]:
            """The actor died (or was killed): collect what finished, requeue the rest."""
            done: list[EpisodeResult] = []
            # Let every reply of the dead actor arrive first: a chunk that finished just before
            # the death must count as finished.
            refs = [c.ref for c in slot.inflight]
            settled = set(ray.wait(refs, num_returns=len(refs), timeout=SETTLE_S)[0]) if refs else set()
            for chunk in list(slot.inflight):
                value = None
                if chunk.ref in settled:
                    try:
                        value = ray.get(chunk.ref)
                    except Exception:  # noqa: BLE001 - the death itself, reported below
                        value = None
                if value is not None:
                    done += finish_chunk(slot, chunk, value)
                    continue
                if not (chunk.isolated and len(chunk.items) == 1):
                    # Which case killed the worker is unknown (a reply can be lost in the crash):
                    # rerun each case alone, where a death can be pinned on it.
                    requeue(chunk.items, suspect=True)
                    continue
                item = chunk.items[0]
                if item.case.case_id not in outstanding:
                    continue
                if item.attempt <= self.max_env_retries:
                    item.attempt += 1
                    requeue([item], suspect=True)
                else:
                    del outstanding[item.case.case_id]
                    done.append(self._driver_result(
                        item, Outcome.ENV_ERROR,
                        f"worker process died while running this case ({item.attempt} attempts): {why}"))
            slot.inflight.clear()
            replace(slot, why)
            return done

        def chunk_expired(slot: _Slot, head: _Chunk, now: float) -> list[EpisodeResult]:
            waited = now - (head.started or head.submitted)
            self.stats["deadline_kills"] += 1
            done: list[EpisodeResult] = []
            slot.inflight.popleft()
            if len(head.items) == 1 and head.items[0].case.case_id in outstanding:
                item = head.items[0]
                del outstanding[item.case.case_id]
                done.append(self._driver_result(
                    item, Outcome.TIMEOUT,
                    f"chunk deadline: no result after {waited:.1f} s (limit {head.deadline_s:.1f} s); "
                    "the worker was killed and replaced"))
            else:
                requeue(head.items, suspect=True)
            for chunk in slot.inflight:  # queued behind the hung chunk: never started
                requeue(chunk.items, suspect=False)
            slot.inflight.clear()
            replace(slot, f"chunk deadline of {head.deadline_s:.1f} s expired (pid {slot.pid})")
            return done

        while outstanding:
            submit()
            refs: list[Any] = []
            owner: dict[Any, tuple[_Slot, _Chunk | None]] = {}
            for slot in self._slots:
                if not slot.ready:
                    refs.append(slot.ready_ref)
                    owner[slot.ready_ref] = (slot, None)
                for chunk in slot.inflight:
                    refs.append(chunk.ref)
                    owner[chunk.ref] = (slot, chunk)
            now = time.monotonic()
            heads = [(s, s.inflight[0]) for s in self._slots if s.inflight]
            wait_s = 1.0
            for _, h in heads:
                wait_s = min(wait_s, max(0.0, (h.started or now) + h.deadline_s - now))
            ready_refs: list[Any] = []
            if refs:
                ready_refs, rest = ray.wait(refs, num_returns=1, timeout=wait_s)
                if ready_refs and rest:  # collect everything already finished in one go
                    more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                    ready_refs += more
            else:
                time.sleep(wait_s)
            handled: set[int] = set()
            for ref in ready_refs:
                slot, chunk = owner[ref]
                if id(slot) in handled or slot not in self._slots:
                    continue
                if chunk is None:  # an actor finished starting
                    try:
                        info = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - died in its constructor
                        handled.add(id(slot))
                        for r in worker_lost(slot, f"actor failed to start: {_first_line(exc)}"):
                            yield self._stamp(r, t_start)
                        continue
                    if info.get("error"):
                        hint = ("" if self._owns_ray else
                                " (on a cluster, weights and code must be readable on every node)")
                        self.close()
                        raise ModelError(f"{model.manifest or model.label}: the model cannot be loaded in a "
                                         f"Ray worker on {info.get('host')}: {info['error']}{hint}")
                    slot.ready_ref = None
                    slot.pid, slot.node_id = info["pid"], info["node_id"]
                    continue
                if chunk not in slot.inflight:
                    continue
                try:
                    value = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - RayActorError, OOM, worker crash, ...
                    handled.add(id(slot))
                    for r in worker_lost(slot, _first_line(exc)):
                        yield self._stamp(r, t_start)
                    continue
                # Results of one actor arrive in order; mark the next chunk as running.
                slot.inflight.remove(chunk)
                if slot.inflight and slot.inflight[0].started is None:
                    slot.inflight[0].started = time.monotonic()
                done = finish_chunk(slot, chunk, value)
                if slot.tainted:  # a step was interrupted in this process: retire it now
                    for queued in slot.inflight:
                        requeue(queued.items, suspect=False)
                    slot.inflight.clear()
                    handled.add(id(slot))
                    self._kill(slot)
                    self.stats["recycled"] += 1
                    self._spawn()
                for r in done:
                    yield self._stamp(r, t_start)
            now = time.monotonic()
            for slot in list(self._slots):
                if slot.inflight:
                    head = slot.inflight[0]
                    if head.started is None:
                        head.started = now
                    if now - head.started > head.deadline_s:
                        for r in chunk_expired(slot, head, now):
                            yield self._stamp(r, t_start)
                elif slot.retiring and slot in self._slots:
                    self._kill(slot)
                    self.stats["recycled"] += 1
                    self._spawn()
            if any(s.ready for s in self._slots):
                last_ready_seen = now
            elif now - last_ready_seen > self.startup_timeout_s:
                need = f"{self.cpus_per_actor} CPU" + (f", {self.gpus_per_actor} GPU" if self.gpus_per_actor else "")
                raise InfrastructureError(
                    f"no Ray worker started within {self.startup_timeout_s:g} s (each needs {need}; cluster has "
                    f"{dict(ray.available_resources())}); lower --workers or the resources per actor")

    def _stamp(self, r: EpisodeResult, t_start: float) -> EpisodeResult:
        self.stats["episodes"] += 1
        if self.stats["first_result_s"] is None:
            self.stats["first_result_s"] = time.monotonic() - t_start
        return r

    def close(self) -> None:
        for slot in list(self._slots):
            self._kill(slot)
        self._slots.clear()
        self._model = None
        if self._owns_ray and self._ray is not None:
            self._ray.shutdown()
            self._owns_ray = False
        self._ray = None

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    head = f"{type(exc).__name__}: " + (lines[0] if lines else "")
    # Ray's actor-death messages put the useful cause (OOM, SIGKILL, exit code) further down.
    for ln in lines[1:]:
        if any(k in ln.lower() for k in ("memory", "killed", "exit", "sigsegv", "signal")):
            return (head + " / " + ln.strip())[:500]
    return head[:500]
