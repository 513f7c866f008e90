"""The one module that wires planning, execution and judging together. The CI gate and
the cluster sweep are the same pipeline: plan -> run missing cases -> store -> compare -> report."""

from __future__ import annotations

import hashlib
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence, TextIO

from simtest.contract import registry
from simtest.core.errors import ConfigurationError, UsageError
from simtest.contract.registry import ModelRef
from simtest.authoring.sampling import plan
from simtest.contract.cases import Case
from simtest.authoring.spec import LoadedSuite, load_suite

__all__ = ["ExecutionOptions", "run_suite", "run_cases", "gate", "run_behaviour", "compare_runs", "GateOutcome"]

DEFAULT_RESULTS = ".simtest/results"
# A run stops when its first cases all fail with one configuration error (making or configuring
# the env): the rest would fail the same way.
EARLY_STOP_AFTER = 5


@dataclass(frozen=True)
class ExecutionOptions:
    executor: str = "ray"
    workers: int | None = None
    address: str | None = None
    results: str = DEFAULT_RESULTS
    quiet: bool = False
    wall_timeout_s: float | None = 120.0
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    memory_per_worker_gb: float | None = None
    chunk_s: float = 1.0

    def make_executor(self):
        from simtest.execution.executors import make_executor

        opts: dict[str, Any] = {"wall_timeout_s": self.wall_timeout_s}
        if self.executor == "ray":
            memory = int(self.memory_per_worker_gb * 2**30) if self.memory_per_worker_gb else None
            opts.update(workers=self.workers, address=self.address, cpus_per_actor=self.cpus_per_worker,
                        gpus_per_actor=self.gpus_per_worker, memory_per_actor=memory, chunk_s=self.chunk_s)
        return make_executor(self.executor, **opts)


def suite_env_build(loaded: LoadedSuite) -> str:
    envs = sorted({s.env for s in loaded.scenarios})
    h = hashlib.sha256("|".join(f"{e}={registry.env_build(e)}" for e in envs).encode())
    return h.hexdigest()[:12]


def suite_metrics(loaded: LoadedSuite) -> dict[str, dict]:
    """The metrics of the suite's envs (two envs declaring one name differently is an error), plus each
    check's robustness margin as a continuous metric the policy may gate."""
    out = dict(registry.suite_metrics_of({s.env for s in loaded.scenarios}))
    for s in loaded.scenarios:
        for c in s.checks:
            out.setdefault(f"margin_{c.name}", {"kind": "continuous", "better": "higher", "time_like": False,
                                                "doc": f"robustness margin of the check {c.expr}"})
    return out


def run_cases(
    loaded: LoadedSuite,
    model: ModelRef,
    cases: Sequence[Case],
    options: ExecutionOptions,
    *,
    executor: Any = None,
    log: TextIO = sys.stderr,
):
    """Run the cases of `cases` that the model's stored run lacks; return the Run.
    Reuse: a run is keyed by suite, model digest and env build, so unchanged baselines cost nothing."""
    from simtest.contract.results import error_signature
    from simtest.execution.progress import ErrorDigest, Progress
    from simtest.execution.store import RunStore

    store = RunStore(options.results)
    run = store.open_run(loaded.suite.name, model, suite_env_build(loaded), suite_path=loaded.path,
                         extra={"policy": str(Path(loaded.policy_path).resolve()) if loaded.policy_path else None},
                         provenance=_provenance())
    done = run.case_ids()
    missing = [c for c in cases if c.case_id not in done]
    if not missing:
        if not options.quiet:
            print(f"{model.label}: all {len(cases)} cases already stored in {run.location} (reused)", file=log)
        _vouch(store, run, cases)
        return run
    if not options.quiet:
        reused = len(cases) - len(missing)
        print(f"{model.label}: running {len(missing)} cases" + (f" ({reused} reused)" if reused else "")
              + f" with the {options.executor} executor", file=log)
    own = executor is None
    executor = executor or options.make_executor()
    progress = Progress(len(missing), quiet=options.quiet, stream=log, label=model.label)
    errors = ErrorDigest()
    # Configuration errors are held back until something else arrives: if the first cases all fail
    # alike, the run stops and stores none of them, so that a re-run after the fix runs them.
    pending: list = []
    watching, stopped = True, False
    try:
        with run.writer() as writer:
            for result in executor.run(missing, model):
                progress.update(result)
                errors.add(result)
                if watching and result.error_kind:
                    pending.append(result)
                    if len({error_signature(r.error) for r in pending}) > 1:
                        watching = False
                    elif len(pending) >= min(EARLY_STOP_AFTER, len(missing)):
                        stopped = True
                        break
                    else:
                        continue
                watching = False
                for r in pending + [result]:
                    writer.add(r)
                pending = []
            if not stopped:
                for r in pending:
                    writer.add(r)
    finally:
        progress.close(where=run.location)
        if own:
            executor.close()
    if errors.kinds:
        model_arg = model.manifest or model.label
        unstored = {id(r) for r in pending} if stopped else set()

        def see_rest(r) -> str:
            if id(r) in unstored:
                return _save_error(options.results, r)
            return f"simtest replay {r.case.case_id} --model {model_arg} --run {run.location}"

        print("\n".join(errors.lines(see_rest)), file=log)
    if not stopped:
        _vouch(store, run, cases)
    if stopped:
        first = pending[0]
        raise ConfigurationError(
            f"{model.label}: the first {len(pending)} cases all failed the same way while making or configuring "
            f"env {first.case.env} ({error_signature(first.error)}); stopped without running the other "
            f"{len(missing) - len(pending)} and stored none of them. This is a mistake in the scenario's params, "
            "the env's registry entry or its adapter, not infrastructure: fix it and run the same command again")
    return run


def _save_error(results: str, result) -> str:
    """Write a full traceback that no stored row keeps; return the command that shows it."""
    import tempfile

    root = Path(results) / "errors" if "://" not in results else Path(tempfile.gettempdir()) / "simtest-errors"
    try:
        root.mkdir(parents=True, exist_ok=True)
        path = root / f"{result.case.case_id}.txt"
        path.write_text(result.error, encoding="utf-8")
    except OSError:
        return "(the full traceback could not be saved)"
    return f"cat {path.resolve()}"


def _vouch(store: Any, run: Any, cases: Sequence[Case], prov: dict | None = None) -> bool:
    """A job on a branch (clean commit, not a pull request's job) that holds every case it asked
    for records that its branch's code gives this run: the pointer PR gates read (docs/ci.md).
    A job whose commit is older than the pointer's (jobs finishing out of order) leaves it."""
    from simtest.execution.provenance import supersedes, vouches_for

    prov = _provenance() if prov is None else prov
    branch = vouches_for(prov)
    if not branch or run.missing([c.case_id for c in cases]):
        return False
    current = store.branch_run(run.suite, run.model_label, branch)
    if current is not None and not supersedes((prov.get("git") or {}).get("commit"), current.get("commit")):
        return False
    store.set_branch_run(run, branch, prov)
    return True


@lru_cache(maxsize=1)
def _provenance_cached(cwd: str) -> str:
    import json

    from simtest.execution.provenance import collect

    return json.dumps(collect(cwd))


def _provenance() -> dict:
    """Git commit/branch/dirty and CI job of this process (simtest.execution.provenance)."""
    import json
    import os

    return json.loads(_provenance_cached(os.getcwd()))


def run_suite(suite_path: str, model_ref: str, options: ExecutionOptions, *, full: bool = False,
              log: TextIO = sys.stderr):
    """Run a suite for one model. `full`: also every extra seed round a gate of this suite may ask
    for, its failure corpus and its behavioural tests, so that a gate taking this model's results as
    its stored baseline (`--baseline REF@main`) never needs to run it (docs/ci.md)."""
    loaded = load_suite(suite_path)
    model = registry.resolve_model(model_ref)
    cases = list(plan(loaded))
    if full:
        from simtest.contract.policy import GatePolicy, load_policy

        policy = load_policy(loaded.policy_path, suite_metrics(loaded)) if loaded.policy_path else GatePolicy.default()
        design = gate_design(loaded, policy)
        for round_ in range(1, design.looks):
            cases.extend(_round_cases(loaded, design, round_))
    run = run_cases(loaded, model, cases, options, log=log)
    if full and loaded.corpus:
        run_corpus(loaded, {"baseline": model}, options, log=log, roles=("baseline",))
    if full and loaded.suite.behaviour:
        from simtest.exploration.behaviour import plan_behaviour

        run_cases(_behaviour_suite(loaded), model, plan_behaviour(loaded).cases, options, log=log)
    return run, _select(run.read(), cases)


def _round_cases(loaded: LoadedSuite, design: Any, round_: int) -> list[Case]:
    """Every case of extra seed round `round_` (1-based): the same samples, the next seeds."""
    p = design.seeds_per_round
    return list(plan(loaded, seed_start=loaded.suite.seeds + (round_ - 1) * p, seeds=p))


def _behaviour_suite(loaded: LoadedSuite) -> LoadedSuite:
    """Behaviour cases are stored in a run of their own, `<suite>+behaviour`."""
    return replace(loaded, suite=loaded.suite.model_copy(update={"name": loaded.suite.name + "+behaviour"}))


def _corpus_suite(loaded: LoadedSuite) -> LoadedSuite:
    from simtest.authoring.spec import Suite

    return LoadedSuite(loaded.path, Suite(name=f"{loaded.suite.name}-corpus", scenarios=loaded.corpus_files),
                       loaded.corpus, None, loaded.corpus_files)


# --------------------------------------------------------------------------- stored baselines


def split_branch(ref: str) -> tuple[str, str | None]:
    """`name@version@branch` -> (`name@version`, `branch`); `path.yaml@branch` -> (`path.yaml`,
    `branch`); anything else -> (ref, None)."""
    head, sep, tail = ref.rpartition("@")
    if sep and tail and ("@" in head or head.endswith((".yaml", ".yml"))):
        return head, tail
    return ref, None


@dataclass(frozen=True)
class StoredSource:
    """Where one role's results come from when they are read, not run: a branch's newest stored
    run (`--baseline REF@main`, suite key `baseline_branch`) or one run (`--baseline-run URI`)."""

    ref: str  # the model reference as given (without @branch)
    branch: str | None = None
    run_uri: str | None = None

    @property
    def what(self) -> str:
        return f"run {self.run_uri}" if self.run_uri else f"branch {self.branch}"


def _label_of(ref: str) -> str:
    try:
        return registry.resolve_model(ref).label
    except Exception:  # noqa: BLE001 - the model may be gone on this branch; a name@version still names it
        return ref


def find_stored_run(results: str, suite: str, source: StoredSource, cases: Sequence[Case], *,
                    make_command: str):
    """The stored run a role's results are read from. `--baseline-run`: that run. A branch: the run
    its pointer names (the run the branch's code gave in its latest job on that branch; it follows
    merges, squashes and reverts), else, for stores without a pointer, the newest clean run whose
    provenance is on the branch, preferring one that holds every planned case. UsageError (exit 2)
    naming `make_command` when there is none; an unreachable store is exit 3."""
    from simtest.core.errors import StoreError, StoreUnavailableError
    from simtest.execution.provenance import on_branch
    from simtest.execution.store import RunStore, open_run_path

    if source.run_uri:
        return open_run_path(source.run_uri)
    label = _label_of(source.ref)
    store = RunStore(results)
    pointer = store.branch_run(suite, label, source.branch)
    if pointer is not None:
        try:
            return store.open_key(pointer["run_key"])
        except StoreUnavailableError:
            raise
        except StoreError as exc:  # removed or damaged since: fall back to the scan, and say so
            print(f"warning: {source.branch}'s pointer for {label} names {pointer['run_key']}, which cannot be "
                  f"read ({exc}); looking for another run made from {source.branch}", file=sys.stderr)
    infos = [i for i in store.runs(suite=suite, model=label) if not i.problem]
    mine = [i for i in infos if on_branch(i.provenance, source.branch)]
    if not mine:
        dirty = sum(1 for i in infos if ((i.provenance.get("git") or {}).get("dirty")))
        seen = (f"; {len(infos)} run(s) of it are stored there, none made from a clean commit on {source.branch}"
                + (f" ({dirty} from a dirty checkout)" if dirty else "")) if infos else ""
        raise UsageError(f"no stored run of {label} for suite {suite} made from branch {source.branch} in "
                         f"{results}{seen}. The gate never re-runs the baseline with this branch's code: make that "
                         f"run on {source.branch} (the push-to-main CI job does) with\n  {make_command}")
    wanted = [c.case_id for c in cases]
    runs = [store.open_run_path(i.path) for i in mine]
    complete = [r for r in runs if not r.missing(wanted)]
    return complete[0] if complete else runs[0]


def _check_stored(role: str, run: Any, loaded: LoadedSuite, source: StoredSource) -> None:
    """A stored run given for a role must be a run of this suite and of that model (exit 2)."""
    from simtest.execution.store import suite_slug

    if suite_slug(run.suite) != suite_slug(loaded.suite.name):
        raise UsageError(f"the stored {role} run {run.location} is a run of suite {run.suite}, not of "
                         f"{loaded.suite.name}; pass a run of this suite")
    label = _label_of(source.ref)
    if "@" in label and run.model_label != label:
        raise UsageError(f"the stored {role} run {run.location} holds {run.model_label}, not {label}; pass a run of "
                         f"{label} or --{role} {run.model_label}")


def _stored_model(run: Any) -> ModelRef:
    """The model of a stored run as that run's manifest records it (main's digest and offline
    figures), never re-resolved from this checkout, whose manifest or code may be the PR's."""
    import json

    m = run.manifest.get("model", {})
    return ModelRef(name=str(m.get("name", "?")), version=str(m.get("version", "?")),
                    entry_point=str(m.get("entry_point", "?:?")), digest=str(m.get("digest", "")),
                    manifest=m.get("manifest"), training_json=json.dumps(m.get("training") or {}, sort_keys=True))


def _stored_rounds(run: Any, loaded: LoadedSuite, design: Any) -> int:
    """How many extra seed rounds of the design a stored run holds completely (fixed before any
    look: the gate's design may not depend on the data it judges)."""
    have = run.case_ids()
    rounds = 0
    for round_ in range(1, design.looks):
        if any(c.case_id not in have for c in _round_cases(loaded, design, round_)):
            break
        rounds = round_
    return rounds


def _origin(run: Any) -> str:
    prov = run.manifest.get("provenance") or {}
    git = prov.get("git") or {}
    ci = prov.get("ci") or {}
    where = f"commit {str(git.get('commit'))[:10]}" if git.get("commit") else "no recorded commit"
    if git.get("branch"):
        where += f" on {git['branch']}"
    if ci.get("url"):
        where += f", CI job {ci['url']}"
    return where


def _stored_origin(run: Any) -> str:
    return f"the stored run of {run.model_label} from {_origin(run)}"


def _describe_stored(role: str, run: Any, source: StoredSource, env_build: str) -> str:
    differs = (f"; its env build {run.env_build} differs from this checkout's {env_build}: the env changed too"
               if run.env_build != env_build else "")
    return (f"{role}: {run.model_label} read from the stored run {run.location} ({_origin(run)}; {len(run)} episodes, "
            f"none re-run), selected by {source.what}{differs}")


def _select(frame, cases: Sequence[Case]):
    ids = {c.case_id for c in cases}
    return frame[frame["case_id"].isin(ids)].reset_index(drop=True)


@dataclass
class GateOutcome:
    verdict: Any
    exit_code: int
    out_dir: Path
    reports: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)
    episodes: int = 0
    corpus: Any = None  # CorpusOutcome when the suite has a failure corpus


def _exit_code(verdict: Any) -> int:
    return {"pass": 0, "fail": 1, "invalid": 3}[verdict.verdict]


def gate(
    suite_path: str,
    candidate: str,
    baseline: str,
    reference: str | None,
    *,
    policy_path: str | None,
    options: ExecutionOptions,
    out_dir: str | None,
    log: TextIO = sys.stderr,
    reports: bool = True,
    baseline_run: str | None = None,
    baseline_branch: str | None = None,
) -> GateOutcome:
    """`reports=False` skips writing summary/verdict/junit/html (benchmarks that run hundreds of gates).

    Stored baselines (docs/ci.md): `baseline` (and `reference`) written `REF@BRANCH`, or
    `baseline_branch` (else the suite's `baseline_branch`; "none" turns it off), or `baseline_run`
    (a run directory or URI) make the gate read that role's results from a stored run made from
    that branch's code, never run it with this checkout's code."""
    from simtest.judging.compare import cases_in_slices, compare
    from simtest.contract.policy import GatePolicy, load_policy

    loaded = load_suite(suite_path)
    metrics = suite_metrics(loaded)
    policy_file = policy_path or loaded.policy_path
    policy = load_policy(policy_file, metrics) if policy_file else GatePolicy.default()
    cases = list(plan(loaded))
    default_branch = loaded.suite.baseline_branch if baseline_branch is None else baseline_branch
    default_branch = None if default_branch in ("", "none") else default_branch
    sources: dict[str, StoredSource] = {}
    for role, ref in (("baseline", baseline), ("reference", reference)):
        if not ref:
            continue
        bare, branch = split_branch(ref)
        if role == "baseline" and baseline_run:
            sources[role] = StoredSource(bare, run_uri=baseline_run)
        elif branch or default_branch:
            sources[role] = StoredSource(bare, branch=branch or default_branch)
    make = {role: (f"simtest run --suite {loaded.path} --model {src.ref} --full --results {options.results}")
            for role, src in sources.items()}
    stored = {role: find_stored_run(options.results, loaded.suite.name, src, cases, make_command=make[role])
              for role, src in sources.items()}
    for role, run in stored.items():
        _check_stored(role, run, loaded, sources[role])
    models = {"candidate": registry.resolve_model(candidate)}
    for role, ref in (("baseline", baseline), ("reference", reference)):
        if ref:
            models[role] = _stored_model(stored[role]) if role in stored else registry.resolve_model(ref)
    design = gate_design(loaded, policy)
    if stored:  # the design is fixed before any look: only rounds every stored run holds
        design = replace(design, looks=1 + min(_stored_rounds(r, loaded, design) for r in stored.values()))
        if not options.quiet:
            for role, run in stored.items():
                print(_describe_stored(role, run, sources[role], suite_env_build(loaded)), file=log)
    # the corpus and behaviour parts of stored roles, found before anything runs
    stored_corpus = _stored_siblings(_corpus_suite(loaded), stored, sources, options, make) if loaded.corpus else {}
    stored_behaviour = (_stored_siblings(_behaviour_suite(loaded), stored, sources, options, make)
                        if loaded.suite.behaviour else {})
    executor = options.make_executor()
    runs: dict[str, Any] = dict(stored)
    corpus = None

    def run_missing(role: str):
        return stored[role] if role in stored else run_cases(loaded, models[role], cases, options,
                                                                 executor=executor, log=log)

    try:
        if loaded.corpus:  # the failure corpus runs first: known, fixed or newly failing (see run_corpus)
            corpus = run_corpus(loaded, models, options, executor=executor, log=log, stored=stored_corpus)
        for role in ("baseline", "reference", "candidate"):
            if role in models:
                runs[role] = run_missing(role)
        frames = {role: _select(run.read(), cases) for role, run in runs.items()}
        verdict = compare(frames["candidate"], frames["baseline"], frames.get("reference"), policy, metrics,
                          design=design)
        for round_ in range(1, design.looks):
            # extra seeds only where a blocking decision is open (judging says which slices)
            slices = list(verdict.extend)
            if not slices:
                break
            wanted = cases_in_slices(frames["baseline"], slices, policy)
            extra = [c for c in _round_cases(loaded, design, round_) if (c.scenario, c.sample) in wanted]
            if not extra:
                break
            if not options.quiet:
                print(f"open: {', '.join(slices)} -> {len(extra)} more cases per model "
                      f"(look {round_ + 1} of {design.looks})", file=log)
            cases.extend(extra)
            for role in models:
                runs[role] = run_missing(role)
            frames = {role: _select(run.read(), cases) for role, run in runs.items()}
            verdict = compare(frames["candidate"], frames["baseline"], frames.get("reference"), policy, metrics,
                              design=design)
        if loaded.suite.behaviour:  # behavioural tests: their own pairs, in the gate's Holm family
            verdict = run_behaviour(loaded, models, verdict, policy, metrics, options, executor=executor, log=log,
                                    stored=stored_behaviour)
    finally:
        executor.close()
    verdict = _with_findings(verdict, frames, policy, metrics, loaded)  # regions, coverage (judging.findings)
    verdict = _with_model_metrics(verdict, frames, policy, metrics, models)  # model vs system metric
    verdict = corpus.apply(verdict) if corpus is not None else verdict
    out = Path(out_dir or default_out_dir())
    written = _write_reports(out, verdict, frames, models, runs, loaded,
                             extra={"videos": 3, "cases": cases, "metrics": metrics,
                                    "stored": {role: _stored_origin(run) for role, run in stored.items()}}
                             ) if reports else {}
    if corpus is not None:
        written.update(corpus.write(out) if reports else {})
    return GateOutcome(verdict, _exit_code(verdict), out, written, runs, episodes=len(cases), corpus=corpus)


def _stored_siblings(sub: LoadedSuite, stored: dict, sources: dict, options: ExecutionOptions, make: dict) -> dict:
    """The stored runs of a suite's corpus or behaviour part for the roles read from storage: the
    sibling of the chosen run (same model digest and env build), else the branch's newest."""
    from simtest.core.errors import StoreError, StoreUnavailableError
    from simtest.execution.store import RunStore, suite_slug

    out = {}
    for role, run in stored.items():
        _, model, leaf = run.key.split("/")
        try:  # the same model digest and env build, under the sibling suite of the same results root
            sibling = RunStore(results_root(run.location, run.key)).open_key(f"{suite_slug(sub.suite.name)}/{model}/{leaf}")
        except StoreUnavailableError:
            raise
        except (StoreError, UsageError):  # no sibling (or a moved run): look the branch up instead
            sibling = None
        if sibling is None:
            if sources[role].run_uri:
                raise UsageError(f"the stored {role} run {sources[role].run_uri} has no {sub.suite.name} run beside "
                                 f"it; make it with\n  {make[role]}")
            sibling = find_stored_run(options.results, sub.suite.name, sources[role], [], make_command=make[role])
        out[role] = sibling
    return out


def run_behaviour(loaded: LoadedSuite, models: dict, verdict: Any, policy: Any, metrics: dict,
                  options: ExecutionOptions, *, executor: Any = None, log: TextIO = sys.stderr,
                  stored: dict | None = None):
    """Plan the suite's behavioural tests (metamorphic groups), run their cases for every model
    version of the gate (stored in a run of their own, `<suite>+behaviour`, so that `simtest
    compare` of the gate's runs never sees them), judge them with the candidate's blocking tests in
    the gate's Holm family, and return the verdict with the results attached (a GateVerdict)."""
    from simtest.contract.policy import metric_declarations
    from simtest.exploration.behaviour import plan_behaviour
    from simtest.judging.behaviour import judge_behaviour, with_behaviour

    bplan = plan_behaviour(loaded)
    store_as = _behaviour_suite(loaded)
    stored = stored or {}
    if not options.quiet:
        print(f"behaviour: {len(bplan.tests)} tests, {len(bplan.cases)} cases per model", file=log)
    frames, runs = {}, {}
    for role, model in models.items():
        run = stored[role] if role in stored else run_cases(store_as, model, bplan.cases, options,
                                                            executor=executor, log=log)
        frames[role] = _select(run.read(), bplan.cases)
        runs[role] = (_model_arg(model), run.location)
    decls = metric_declarations(metrics)
    binary = {name: d.get("kind") == "binary" for name, d in decls.items()}
    result = judge_behaviour(bplan.tests, frames, {role: m.label for role, m in models.items()},
                             gate_p_values=[c.p_value for c in verdict.checks if c.blocking],
                             alpha=policy.alpha, bh_q=policy.bh_q, binary=binary, seed=policy.seed)
    shown = {c for r in result.results if r.role == "candidate" for c in r.worst}
    return with_behaviour(verdict, result, runs, {c.case_id: c for c in bplan.cases if c.case_id in shown})


def _model_arg(model: ModelRef) -> str:
    return model.manifest if model.manifest and not _is_shipped(model) else model.label


def gate_design(loaded: LoadedSuite, policy: Any):
    """The gate's sequential design: at most 1 + extra rounds looks (the suite's max_extra_rounds,
    capped so that no parameter sample gets more than cap_factor x its base seeds)."""
    from simtest.judging.sequential import SequentialDesign

    s = loaded.suite
    p = policy.adaptive.seeds_per_round
    rounds = 0
    if policy.adaptive.enabled:
        rounds = min(s.max_extra_rounds, int(math.floor((policy.adaptive.cap_factor - 1) * s.seeds / p + 1e-9)))
    return SequentialDesign(looks=1 + max(0, rounds), base_seeds=s.seeds, seeds_per_round=p,
                            spending=policy.adaptive.spending, pass_spending=policy.adaptive.pass_spending)


@dataclass(frozen=True)
class OfflineOutcome:
    evaluations: tuple
    out: Path
    written: dict
    episodes: int


def evaluate_offline(suite_path: str, models: Sequence[str], driver: str, options: ExecutionOptions,
                     out_dir: str | None, *, log: TextIO = sys.stderr) -> OfflineOutcome:
    """`simtest evaluate-offline`: the suite's cases driven by `driver`, with every model in `models`
    shadowing it (seeing the same observations; only its predictions count), so the envs' model
    metrics compare the models on the same frames (simtest.execution.agents.ShadowAgent). Nothing
    is stored as a run; offline.md and offline.json go to `out_dir`."""
    import json

    import pandas as pd

    from simtest.contract.policy import GatePolicy, load_policy
    from simtest.execution.agents import shadow_ref
    from simtest.judging.modelmetrics import offline_evaluation
    from simtest.report.modelmetrics import offline_lines

    loaded = load_suite(suite_path)
    metrics = suite_metrics(loaded)
    decls: dict = {}
    for env in sorted({s.env for s in loaded.scenarios}):
        decls.update(registry.env_info(env).model_metric_decls)
    if not decls:
        raise UsageError(f"{suite_path}: the suite's envs declare no model_metrics, so there is nothing to evaluate; "
                         "see docs/contracts.md section 1.4")
    policy = load_policy(loaded.policy_path, metrics) if loaded.policy_path else GatePolicy.default()
    drive = registry.resolve_model(driver)
    refs = {m.label: m for m in (registry.resolve_model(x) for x in models)}
    cases = list(plan(loaded))
    executor = options.make_executor()
    frames = {}
    try:
        for label, model in refs.items():
            if not options.quiet:
                print(f"{label} shadowing {drive.label}: {len(cases)} cases", file=log)
            rows = [r.to_row() for r in executor.run(cases, shadow_ref(drive, model))]
            frames[label] = pd.DataFrame(rows)
    finally:
        executor.close()
    evaluations = offline_evaluation(frames, policy, decls, {k: m.training for k, m in refs.items()}, drive.label)
    out = Path(out_dir or default_out_dir())
    out.mkdir(parents=True, exist_ok=True)
    (out / "offline.md").write_text("\n".join(offline_lines(evaluations)) + "\n")
    (out / "offline.json").write_text(json.dumps({"suite": suite_path, "driver": drive.label,
                                                  "evaluations": [e.to_json() for e in evaluations]}, indent=2) + "\n")
    return OfflineOutcome(evaluations, out, {"offline.md": str(out / "offline.md"),
                                             "offline.json": str(out / "offline.json")}, len(cases) * len(refs))


def compare_runs(candidate_dir: str, baseline_dir: str, reference_dir: str | None, *, policy_path: str | None,
                 out_dir: str | None) -> GateOutcome:
    """Judge stored runs: no simulation. The same inputs give the same verdict.json. The rows are
    judged as a final look (all alpha spent): a gate that stopped early at an interim look judged
    with stricter boundaries, so this verdict can only be more decisive than that gate's."""
    from simtest.judging.compare import compare
    from simtest.contract.policy import GatePolicy, load_policy
    from simtest.execution.store import open_run_path

    runs = {"candidate": open_run_path(candidate_dir), "baseline": open_run_path(baseline_dir)}
    if reference_dir:
        runs["reference"] = open_run_path(reference_dir)
    frames = {role: run.read() for role, run in runs.items()}
    metrics = registry.suite_metrics_of(set(frames["candidate"]["env"]))
    # the policy: --policy, else the one the candidate run was gated with, else the built-in one
    recorded = (runs["candidate"].manifest.get("extra") or {}).get("policy")
    policy_file = policy_path or (recorded if recorded and Path(recorded).is_file() else None)
    policy = load_policy(policy_file, metrics) if policy_file else GatePolicy.default()
    # stored runs are a final analysis: no more seeds will come, so every check spends all its alpha
    verdict = compare(frames["candidate"], frames["baseline"], frames.get("reference"), policy, metrics)
    verdict = _with_findings(verdict, frames, policy, metrics, runs["candidate"].manifest.get("suite_path"))
    models = {role: _model_from_manifest(run) for role, run in runs.items()}
    verdict = _with_model_metrics(verdict, frames, policy, metrics, models)
    out = Path(out_dir or default_out_dir())
    reports = _write_reports(out, verdict, frames, models, runs, None, extra={"metrics": metrics})
    return GateOutcome(verdict, _exit_code(verdict), out, reports, runs)


def _with_findings(verdict: Any, frames: dict, policy: Any, metrics: dict, suite: Any) -> Any:
    """Regions and coverage after the verdict (simtest.judging.findings); the suite (loaded, or the
    path a run recorded) gives the coverage space; a suite that no longer loads gives no coverage."""
    from simtest.authoring.sampling import suite_space
    from simtest.core.errors import SimtestError
    from simtest.judging.findings import attach

    loaded = suite if isinstance(suite, LoadedSuite) else None
    try:
        if isinstance(suite, str) and Path(suite).is_file():
            loaded = load_suite(suite)
    except SimtestError:
        loaded = None
    return attach(verdict, frames, policy, metrics, suite_space(loaded) if loaded is not None else None)


def _with_model_metrics(verdict: Any, frames: dict, policy: Any, metrics: dict, models: dict) -> Any:
    """The model-metric panels (simtest.judging.modelmetrics): the envs' model metric declarations
    and the manifests' offline figures go in; envs without declarations give no panel."""
    from simtest.core.errors import SimtestError
    from simtest.judging import modelmetrics

    decls: dict = {}
    for env in sorted(set(frames["candidate"]["env"])) if "env" in frames["candidate"].columns else ():
        try:
            decls.update(registry.env_info(env).model_metric_decls)
        except SimtestError:  # an env not installed here (compare of stored runs): no panel for it
            continue
    if not decls:
        return verdict
    panels = modelmetrics.model_metric_panels(
        frames, policy, metrics, decls, {role: m.label for role, m in models.items()},
        {role: getattr(m, "training", {}) for role, m in models.items()})
    return modelmetrics.attach(verdict, panels)


def _model_from_manifest(run: Any) -> Any:
    m = run.manifest.get("model", {})
    try:
        return registry.resolve_model(m.get("manifest") or m.get("label", ""))
    except Exception:  # noqa: BLE001 - the model may not be installed here; labels suffice for reports
        return ModelRef(name=m.get("name", "?"), version=m.get("version", "?"), entry_point=m.get("entry_point", "?:?"),
                        digest=m.get("digest", ""), manifest=m.get("manifest"))


def default_out_dir() -> str:
    return str(Path(".simtest/reports") / time.strftime("%Y%m%d-%H%M%S"))


def _write_reports(out: Path, verdict: Any, frames: dict, models: dict, runs: dict, loaded: LoadedSuite | None,
                   extra: dict | None = None) -> dict:
    from simtest.report import write_reports

    cand = models["candidate"]
    cand_arg = cand.manifest if cand.manifest and not _is_shipped(cand) else cand.label
    run_dir = runs["candidate"].location

    def replay_command(case_id: str) -> str:
        return f"simtest replay {case_id} --model {cand_arg} --run {run_dir}"

    context = {
        "models": {role: m.label for role, m in models.items()},
        "model_refs": models,
        "runs": {role: r.location for role, r in runs.items()},
        "suite": loaded.path if loaded else None,
        "replay_command": replay_command,
        **(extra or {}),
    }
    from simtest.report import behaviour as behaviour_report

    # the behaviour section (when the verdict carries one) reaches the summary and HTML renderers
    with behaviour_report.attached(getattr(verdict, "behaviour", None), verdict, out, models,
                                   videos=int((extra or {}).get("videos", 0))):
        return write_reports(out, verdict, frames, context)


def _is_shipped(model: ModelRef) -> bool:
    try:
        return registry.resolve_model(model.label).digest == model.digest
    except Exception:  # noqa: BLE001
        return False


def resume_run(run_dir: str, options: ExecutionOptions, *, log: TextIO = sys.stderr):
    """Run the missing cases of an existing run: the suite and model recorded in its manifest."""
    from simtest.execution.store import open_run_path

    run = open_run_path(run_dir)
    suite_path = run.manifest.get("suite_path")
    model_ref = run.manifest.get("model", {}).get("manifest") or run.manifest.get("model", {}).get("label")
    if not suite_path or not model_ref:
        raise UsageError(f"{run_dir}: the run manifest records no suite_path/model; re-run with --suite and --model")
    loaded = load_suite(suite_path)
    model = registry.resolve_model(model_ref)
    if model.digest != run.model_digest:
        raise UsageError(f"{run_dir}: model {model.label} changed since the run started (digest "
                         f"{model.digest[:8]} != {run.model_digest[:8]}); start a new run instead")
    from simtest.execution.store import run_key

    key = run_key(loaded.suite.name, model, suite_env_build(loaded))
    if key != run.key:
        raise UsageError(f"{run.location}: the suite or its envs changed since the run started (it is {run.key}, "
                         f"the suite now gives {key}); run `simtest run --suite ... --model ...` for a new run")
    cases = plan(loaded)
    results = results_root(run_dir, run.key)
    run = run_cases(loaded, model, cases, replace(options, results=results), log=log)
    return run, _select(run.read(), cases)


def results_root(run_dir: str, key: str) -> str:
    """The results root a run lives under: `run_dir` is `<root>/<key>` (key =
    `<suite>/<model@version>/<digest-build>`, from the manifest). A URI keeps its query
    (`?endpoint_override=...`), so the resumed run writes to the same store."""
    if "://" in run_dir:
        base, sep, query = run_dir.partition("?")
        base = base.rstrip("/")
    else:
        base, sep, query = os.path.abspath(os.path.expanduser(run_dir)), "", ""
        if os.sep != "/":  # pragma: no cover - Windows
            base = base.replace(os.sep, "/")
    if not base.endswith("/" + key):
        raise UsageError(f"{run_dir}: a run is resumed where it was written, <results>/{key}; this one was "
                         "moved or renamed: move it back, or pass --suite, --model and --results")
    return base[: -len(key) - 1] + sep + query


MAX_CONSOLE_WARNINGS = 8


def console_summary(verdict: Any, reports: dict) -> str:
    """What `simtest gate` / `compare` print: the verdict, why, the blocking checks, the reports."""
    lines = [f"VERDICT: {verdict.verdict.upper()}"]
    lines += [f"  {r}" for r in verdict.reasons]
    g = verdict.blocking  # the same grouping as summary.md's headline and table
    if g.total:
        parts = [f"{len(x)} {name}" for x, name in ((g.failed, "failed"), (g.open, "not decided"),
                                                     (g.unproven, "not decided, not holding the gate")) if x]
        lines.append(f"  blocking checks: {len(g.passed)} of {g.total} passed against {g.against}"
                     + (f"; {len(g.not_passed)} not passed ({', '.join(parts)})" if parts else ""))
    warns = sorted((c for c in verdict.checks if c.decision == "warn"), key=lambda c: (c.p_value, c.slice))
    shown = [c for c in verdict.checks if c.blocking or c.decision == "fail"] + warns[:MAX_CONSOLE_WARNINGS]
    if shown:
        lines.append("")
        lines.append(f"  {'vs':<9} {'metric':<18} {'slice':<28} {'n':>5} {'delta':>7}  {'bounds':<17} {'margin':>6}  decision")
        for c in shown:
            bounds = f"[{_num(c.lower)}, {_num(c.upper)}]"
            lines.append(f"  {c.comparison[:9]:<9} {c.metric[:18]:<18} {c.slice[:28]:<28} {c.n:>5} "
                         f"{_num(c.delta):>7}  {bounds:<17} {_num(c.margin):>6}  {c.decision}")
    if len(warns) > MAX_CONSOLE_WARNINGS:
        lines.append(f"  + {len(warns) - MAX_CONSOLE_WARNINGS} more diagnostic warnings (non-blocking, "
                     "Benjamini-Hochberg): see report.html")
    if reports:
        lines.append("")
        lines.append("reports: " + ", ".join(str(p) for p in reports.values()))
    return "\n".join(lines)


def _num(x: Any) -> str:
    try:
        return f"{float(x):+.3f}"
    except (TypeError, ValueError):
        return "-"


@dataclass(frozen=True)
class PowerPlan:
    """`simtest plan --detect`: per blocking slice, the power of the suite as written and the cases
    needed, under the policy's design, margins and multiplicity."""

    suite: str
    detect: float
    family: int
    looks: int
    source: str
    slices: tuple


def power_plan(suite_path: str, detect: float, *, from_runs: Sequence[str] = (), phi: float = 0.5,
               target: float | None = None, with_reference: bool = False) -> PowerPlan:
    """Plan the suite's cases, count them per blocking slice, and ask judging.power what they buy.
    Background discordance: measured between two stored runs (paired on case_id), or from one
    run's success rate with phi correlation between versions, or an assumed 0.10."""
    import pandas as pd

    from simtest.contract.policy import GatePolicy, load_policy, metric_declarations
    from simtest.judging import sequential as gs
    from simtest.judging.power import background_discordance, slice_power
    from simtest.judging.slicing import slice_masks

    loaded = load_suite(suite_path)
    metrics = suite_metrics(loaded)
    policy = load_policy(loaded.policy_path, metrics) if loaded.policy_path else GatePolicy.default()
    design = gate_design(loaded, policy)
    cases = plan(loaded)
    frame = pd.DataFrame({"case_id": [c.case_id for c in cases], "scenario": [c.scenario for c in cases],
                          "params": [c.params_json for c in cases], "tags": [list(c.tags) for c in cases]})
    masks = slice_masks(frame, policy)
    decls = metric_declarations(metrics)
    comparisons = 2 if with_reference else 1
    wanted: list[tuple[str, str]] = []
    for name in policy.judged_metrics():
        mp = policy.metric(name)
        if not mp.blocking:
            continue
        for s in ("overall", *policy.blocking_slices):
            if s == "overall" or mp.blocking_in_slices:
                wanted.append((name, s))
    family = max(1, len(wanted) * comparisons + sum(1 for g in policy.slice_gaps if g.blocking))
    alpha_eff = policy.alpha / family
    z_final = gs.boundary_at(alpha_eff, tuple((k + 1) / design.looks for k in range(design.looks)), design.spending)
    runs = [_frame_of(r) for r in from_runs]
    out = []
    source = "assumed background discordance 0.10 (give --from RUN for a measured one)"
    for name, s in wanted:
        if decls.get(name, {}).get("kind") != "binary" or s not in masks:
            continue
        mp = policy.metric(name)
        n_base = int(masks[s].sum())
        psi0 = 0.10
        if len(runs) >= 2:
            a = runs[0][_in_slice(runs[0], s, policy)]
            joined = a.merge(runs[1], on="case_id", suffixes=("_a", "_b"))
            if len(joined):
                va, vb = _binary(joined, name, "_a"), _binary(joined, name, "_b")
                psi0 = float((va != vb).mean())
                source = "discordance measured between the two stored runs on their paired cases"
        elif len(runs) == 1:
            r = runs[0][_in_slice(runs[0], s, policy)]
            if len(r):
                p = float(_binary(r, name, "").mean())
                psi0 = background_discordance(p, phi)
                source = f"background discordance 2p(1-p)(1-phi) from the run's success rate, phi={phi:g}"
        out.append(slice_power(s, name, n_base=n_base, n_cap=n_base * design.max_seeds // max(1, design.base_seeds),
                               psi0=psi0, margin=mp.margin("baseline", s == "overall"), safety=mp.safety, detect=detect,
                               target=target or policy.power.target, alpha_eff=alpha_eff, z_final=z_final,
                               psi_source=source))
    return PowerPlan(loaded.path, detect, family, design.looks, source, tuple(out))


def _frame_of(run_dir: str):
    from simtest.execution.store import open_run_path

    return open_run_path(run_dir).read()


def _in_slice(frame, slice_name: str, policy: Any):
    import numpy as np

    from simtest.judging.slicing import slice_masks

    masks = slice_masks(frame, policy)
    return masks.get(slice_name, np.zeros(len(frame), bool))


def _binary(frame, metric: str, suffix: str):
    import numpy as np
    import pandas as pd

    if metric == "passed":
        return frame["passed" + suffix].astype(bool).to_numpy()
    if metric == "errors":
        return np.isin(frame["outcome" + suffix].astype(str), ("agent_error", "timeout"))
    return pd.to_numeric(frame["metric_" + metric + suffix], errors="coerce").fillna(0).to_numpy() >= 0.5


# --------------------------------------------------------------------------- search and failure corpus


@dataclass
class SearchOutcome:
    """What `simtest search` found: every episode scored, the failures shrunk, the distinct ones."""

    scenario: str
    method: str
    budget: int
    history: list  # one dict per search episode: index, case_id, params, score, passed, outcome
    first_failure: int | None  # 1-based episode index of the first failure (None: none found)
    failures: list  # Failure per shrunk failure
    distinct: list  # the distinct ones among them
    run_dir: str
    out_dir: Path | None = None
    corpus_files: list = field(default_factory=list)
    reports: dict = field(default_factory=dict)
    shrink_episodes: int = 0

    @property
    def exit_code(self) -> int:
        """1 when the search found a failure (the model fails a requirement), else 0."""
        return 1 if self.failures else 0


def search(
    scenario_path: str,
    model_ref: str,
    *,
    budget: int,
    method: str = "bayes",
    options: ExecutionOptions,
    out_dir: str | None = None,
    save_corpus: str | None = None,
    target_failures: int | None = None,
    seed: int = 0,
    batch: int = 4,
    shrink_budget: int = 48,
    max_shrink: int = 5,
    log: TextIO = sys.stderr,
    reports: bool = True,
) -> SearchOutcome:
    """Minimise the robustness margin of a scenario's checks over its parameter domains.

    Batches of `batch` proposals run through run_cases (same executors, same store: the run is keyed
    by scenario, method and seed, so the same command resumes and re-runs nothing). Stops at `budget`
    episodes or at `target_failures` distinct failures. Then each distinct failure is shrunk toward
    the nominal values (at most `shrink_budget` more episodes each, same seed; at most `target_failures`
    or `max_shrink` failures), the shrunk failures
    are de-duplicated by the scenario's distance, and, with `save_corpus`, written as scenario files."""
    from simtest.authoring.spec import Suite, load_scenario
    from simtest.exploration import search as xs

    if budget < 1:
        raise UsageError("--budget must be at least 1 episode")
    if batch < 1:
        raise UsageError("--batch must be at least 1")
    if method not in xs.METHODS:
        raise UsageError(f'unknown --method "{method}"; choose one of: {", ".join(xs.METHODS)}')
    scenario = load_scenario(scenario_path)
    space = xs.SearchSpace.of(scenario)
    if space.d == 0:
        raise UsageError(f"{scenario_path}: every parameter of {scenario.id} is fixed; a search needs at least one "
                         "domain (uniform, normal, int_range, choice or grid) to vary")
    if not scenario.checks:
        raise UsageError(f"{scenario_path}: {scenario.id} has no checks; a search minimises their margins")
    model = registry.resolve_model(model_ref)
    name = f"search-{scenario.id.replace('/', '-')}-{method}-seed{seed}"
    loaded = LoadedSuite(str(scenario_path), Suite(name=name, scenarios=(str(scenario_path),)), (scenario,), None,
                         (str(scenario_path),))
    quiet = replace(options, quiet=True)
    proposer = xs.make_proposer(method, space.d, seed)
    history: list[dict] = []
    cases: list[Case] = []
    found: list[dict] = []
    executor = options.make_executor()
    run = None

    def run_and_score(new: list[Case]) -> list[tuple[float | None, dict]]:
        nonlocal run
        cases.extend(new)
        run = run_cases(loaded, model, cases, quiet, executor=executor, log=log)
        frame = run.read().set_index("case_id", drop=False)
        out = []
        for c in new:
            row = frame.loc[c.case_id]
            margins = [row[k] for k in frame.columns if k.startswith("margin_")]
            infra = str(row["outcome"]) in ("timeout", "env_error")
            out.append((xs.episode_score(bool(row["passed"]), margins, infra), row))
        return out

    try:
        while len(history) < budget:
            if target_failures and len(_distinct_raw(space, found)) >= target_failures:
                break
            n = min(batch, budget - len(history))
            U = proposer.ask(n)
            new = [space.case(space.params(u), index=len(history) + i, seed=seed) for i, u in enumerate(U)]
            scored = run_and_score(new)
            proposer.tell(U, [s for s, _ in scored])
            for c, (score, row) in zip(new, scored):
                entry = {"index": len(history) + 1, "case_id": c.case_id, "params": c.params, "seed": c.seed,
                         "score": score, "passed": bool(row["passed"]), "outcome": str(row["outcome"])}
                history.append(entry)
                if score is not None and not entry["passed"]:
                    found.append(entry)
            if not options.quiet:
                best = min((h["score"] for h in history if h["score"] is not None), default=math.nan)
                print(f"search {scenario.id} [{method}]: {len(history)}/{budget} episodes, best margin {best:+.4g}, "
                      f"{len(found)} failing", file=log)
        # shrink the distinct raw failures (in the order found), then de-duplicate the shrunk ones
        failures = []
        shrink_episodes = 0
        nominal = space.nominal()
        for raw in _distinct_raw(space, found):
            if len(failures) >= (target_failures or max_shrink):
                break
            if any(xs.same_failure(space, raw["params"], f, nominal) for f in failures):
                continue  # differs from a shrunk failure only in parameters that did not matter
            current, current_score, current_id = dict(raw["params"]), raw["score"], raw["case_id"]
            spent, progress = 0, True
            while spent < shrink_budget and progress:
                progress = False
                variants = xs.shrink_candidates(space, current, nominal)
                for at in range(0, len(variants), batch):  # a batch at a time, in the order given
                    chunk = variants[at: at + min(batch, shrink_budget - spent)]
                    if not chunk:
                        break
                    new = [space.case(v, index=10_000_000 + shrink_episodes + i, seed=seed, case_seed_=raw["seed"])
                           for i, v in enumerate(chunk)]
                    scored = run_and_score(new)
                    spent += len(new)
                    shrink_episodes += len(new)
                    still = [(c, s) for c, (s, row) in zip(new, scored) if s is not None and not bool(row["passed"])]
                    if still:
                        c, s = min(still, key=lambda cs: space.distance(cs[0].params, nominal))
                        current, current_score, current_id = c.params, s, c.case_id
                        progress = True
                        break
            mattered = tuple(d.name for d in space.dims if current[d.name] != nominal[d.name])
            failures.append(xs.Failure(raw["case_id"], raw["params"], raw["seed"], raw["score"], current_id, current,
                                       current_score, mattered))
    finally:
        executor.close()
    distinct = xs.distinct_failures(space, failures)
    first = next((h["index"] for h in history if h["score"] is not None and not h["passed"]), None)
    outcome = SearchOutcome(scenario.id, method, budget, history, first, failures, distinct, run.location,
                            shrink_episodes=shrink_episodes)
    if save_corpus:
        outcome.corpus_files = _write_corpus(Path(save_corpus), scenario, distinct, model)
    if reports:
        from simtest.report.search import write_search_report

        outcome.out_dir = Path(out_dir or default_out_dir())
        cand_arg = model.manifest if model.manifest and not _is_shipped(model) else model.label
        units = [list(map(float, space.unit(h["params"]))) for h in history]
        outcome.reports = write_search_report(outcome.out_dir, {
            "scenario": scenario.id, "scenario_path": str(scenario_path), "method": method, "budget": budget,
            "model": model.label, "run": outcome.run_dir, "history": history, "first_failure": first,
            "dims": [d.name for d in space.dims], "units": units,
            "influential": xs.influential_dims(units, [h["score"] for h in history], [d.name for d in space.dims]),
            "failures": [_failure_dict(f, f in distinct, cand_arg, outcome.run_dir) for f in failures],
            "corpus_files": outcome.corpus_files, "shrink_episodes": shrink_episodes,
        })
    return outcome


def _distinct_raw(space: Any, found: list[dict]) -> list[dict]:
    threshold = space.scenario.search.distinct if space.scenario.search else 0.1
    kept: list[dict] = []
    for f in found:
        if all(space.distance(f["params"], k["params"]) > threshold for k in kept):
            kept.append(f)
    return kept


def _failure_dict(f: Any, distinct: bool, model_arg: str, run_dir: str) -> dict:
    return {"case_id": f.case_id, "params": f.params, "seed": f.seed, "score": f.score, "shrunk_case_id": f.shrunk_case_id,
            "shrunk_params": f.shrunk_params, "shrunk_score": f.shrunk_score, "mattered": list(f.mattered),
            "distinct": distinct, "replay": f"simtest replay {f.shrunk_case_id} --model {model_arg} --run {run_dir}",
            "replay_original": f"simtest replay {f.case_id} --model {model_arg} --run {run_dir}"}


def _write_corpus(folder: Path, scenario: Any, distinct: list, model: ModelRef) -> list[str]:
    import datetime

    import yaml

    from simtest.exploration.search import corpus_document

    folder.mkdir(parents=True, exist_ok=True)
    date = datetime.date.today().isoformat()
    written = []
    for f in distinct:
        fname, doc = corpus_document(scenario, f, model=model.label, date=date)
        path = folder / fname
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text("# simtest failure corpus: written by `simtest search --save-corpus`; replayed first by the gate\n"
                       + yaml.safe_dump(doc, sort_keys=False))
        tmp.replace(path)
        written.append(str(path))
    return written


@dataclass(frozen=True)
class CorpusOutcome:
    """The gate's corpus section: each corpus case under baseline and candidate."""

    rows: tuple  # dicts: case_id, scenario, status (newly failing | known | fixed | passing), params
    blocking: bool

    @property
    def newly_failing(self) -> tuple:
        return tuple(r for r in self.rows if r["status"] == "newly failing")

    def apply(self, verdict: Any) -> Any:
        """A blocking corpus with a newly failing case fails a passing verdict (a fixed failure came back)."""
        if not (self.blocking and self.newly_failing) or verdict.verdict == "invalid":
            return verdict
        reason = (f"corpus: {len(self.newly_failing)} previously found failure(s) that the baseline passes fail again "
                  f"in the candidate: {', '.join(r['scenario'] for r in self.newly_failing[:3])}")
        return replace(verdict, verdict="fail", reasons=tuple(verdict.reasons) + (reason,))

    def write(self, out: Path) -> dict:
        """corpus.json, and the corpus section appended to summary.md."""
        import json

        out.mkdir(parents=True, exist_ok=True)
        path = out / "corpus.json"
        path.write_text(json.dumps({"blocking": self.blocking, "cases": list(self.rows)}, indent=1, sort_keys=True))
        summary = out / "summary.md"
        if summary.is_file():
            summary.write_text(summary.read_text() + self.markdown())
        return {"corpus": path}

    def markdown(self) -> str:
        lines = ["", "## Failure corpus (run first)", "",
                 f"{len(self.rows)} corpus case(s): " + ", ".join(
                     f"{sum(r['status'] == s for r in self.rows)} {s}" for s in ("newly failing", "known", "fixed", "passing")),
                 "", "| status | scenario | case | params |", "|---|---|---|---|"]
        for r in self.rows:
            lines.append(f"| {r['status']} | {r['scenario']} | `{r['case_id']}` | `{r['params']}` |")
        return "\n".join(lines) + "\n"


def run_corpus(loaded: LoadedSuite, models: dict, options: ExecutionOptions, *, executor: Any = None,
               log: TextIO = sys.stderr, stored: dict | None = None,
               roles: tuple[str, ...] = ("baseline", "candidate")) -> CorpusOutcome | None:
    """Run the suite's corpus cases (pinned parameters and seeds) for the baseline and the candidate
    and classify each (simtest.exploration.search.classify_corpus). `stored`: roles whose corpus
    results are read from a stored run. With one role only (`simtest run --full`) nothing is judged."""
    from simtest.authoring.sampling import plan_scenario
    from simtest.exploration.search import classify_corpus

    corpus = _corpus_suite(loaded)
    stored = stored or {}
    cases = [c for s in loaded.corpus for c in plan_scenario(s, sampler="grid", samples=1, seeds=1)]
    frames = {role: _select((stored[role] if role in stored else
                             run_cases(corpus, models[role], cases, options, executor=executor, log=log)).read(), cases)
              for role in roles}
    if "candidate" not in frames:
        return None
    return CorpusOutcome(tuple(classify_corpus(frames["candidate"], frames["baseline"])), loaded.suite.corpus_blocking)
