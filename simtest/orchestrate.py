"""The one module that wires planning, execution and judging together. The CI gate and
the cluster sweep are the same pipeline: plan -> run missing cases -> store -> compare -> report."""

from __future__ import annotations

import hashlib
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence, TextIO

from simtest.contract import registry
from simtest.core.errors import UsageError
from simtest.contract.registry import ModelRef
from simtest.authoring.sampling import plan
from simtest.contract.cases import Case
from simtest.authoring.spec import LoadedSuite, load_suite

__all__ = ["ExecutionOptions", "run_suite", "run_cases", "gate", "run_behaviour", "compare_runs", "GateOutcome"]

DEFAULT_RESULTS = ".simtest/results"


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
    out: dict[str, dict] = {}
    for env in sorted({s.env for s in loaded.scenarios}):
        out.update(registry.env_info(env).metrics)
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
    from simtest.execution.progress import Progress
    from simtest.execution.store import RunStore

    store = RunStore(options.results)
    run = store.open_run(loaded.suite.name, model, suite_env_build(loaded), suite_path=loaded.path,
                         extra={"policy": str(Path(loaded.policy_path).resolve()) if loaded.policy_path else None})
    done = run.case_ids()
    missing = [c for c in cases if c.case_id not in done]
    if not missing:
        if not options.quiet:
            print(f"{model.label}: all {len(cases)} cases already stored in {run.path} (reused)", file=log)
        return run
    if not options.quiet:
        reused = len(cases) - len(missing)
        print(f"{model.label}: running {len(missing)} cases" + (f" ({reused} reused)" if reused else "")
              + f" with the {options.executor} executor", file=log)
    own = executor is None
    executor = executor or options.make_executor()
    progress = Progress(len(missing), quiet=options.quiet, stream=log, label=model.label)
    try:
        with run.writer() as writer:
            for result in executor.run(missing, model):
                writer.add(result)
                progress.update(result)
    finally:
        progress.close(where=str(run.path))
        if own:
            executor.close()
    return run


def run_suite(suite_path: str, model_ref: str, options: ExecutionOptions, *, log: TextIO = sys.stderr):
    loaded = load_suite(suite_path)
    model = registry.resolve_model(model_ref)
    cases = plan(loaded)
    run = run_cases(loaded, model, cases, options, log=log)
    return run, _select(run.read(), cases)


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
) -> GateOutcome:
    """`reports=False` skips writing summary/verdict/junit/html (benchmarks that run hundreds of gates)."""
    from simtest.judging.compare import cases_in_slices, compare
    from simtest.contract.policy import GatePolicy, load_policy

    loaded = load_suite(suite_path)
    metrics = suite_metrics(loaded)
    policy_file = policy_path or loaded.policy_path
    policy = load_policy(policy_file, metrics) if policy_file else GatePolicy.default()
    models = {"candidate": registry.resolve_model(candidate), "baseline": registry.resolve_model(baseline)}
    if reference:
        models["reference"] = registry.resolve_model(reference)
    cases = list(plan(loaded))
    design = gate_design(loaded, policy)
    executor = options.make_executor()
    runs: dict[str, Any] = {}
    try:
        for role in ("baseline", "reference", "candidate"):
            if role in models:
                runs[role] = run_cases(loaded, models[role], cases, options, executor=executor, log=log)
        frames = {role: _select(run.read(), cases) for role, run in runs.items()}
        verdict = compare(frames["candidate"], frames["baseline"], frames.get("reference"), policy, metrics,
                          design=design)
        s = loaded.suite
        p = design.seeds_per_round
        for round_ in range(1, design.looks):
            # extra seeds only where a blocking decision is open (judging says which slices)
            slices = list(verdict.extend)
            if not slices:
                break
            extra_all = plan(loaded, seed_start=s.seeds + (round_ - 1) * p, seeds=p)
            wanted = cases_in_slices(frames["baseline"], slices, policy)
            extra = [c for c in extra_all if (c.scenario, c.sample) in wanted]
            if not extra:
                break
            if not options.quiet:
                print(f"open: {', '.join(slices)} -> {len(extra)} more cases per model "
                      f"(look {round_ + 1} of {design.looks})", file=log)
            cases.extend(extra)
            for role, model in models.items():
                runs[role] = run_cases(loaded, model, cases, options, executor=executor, log=log)
            frames = {role: _select(run.read(), cases) for role, run in runs.items()}
            verdict = compare(frames["candidate"], frames["baseline"], frames.get("reference"), policy, metrics,
                              design=design)
        if loaded.suite.behaviour:  # behavioural tests: their own pairs, in the gate's Holm family
            verdict = run_behaviour(loaded, models, verdict, policy, metrics, options, executor=executor, log=log)
    finally:
        executor.close()
    out = Path(out_dir or default_out_dir())
    written = _write_reports(out, verdict, frames, models, runs, loaded,
                             extra={"videos": 3, "cases": cases, "metrics": metrics}) if reports else {}
    return GateOutcome(verdict, _exit_code(verdict), out, written, runs, episodes=len(cases))


def run_behaviour(loaded: LoadedSuite, models: dict, verdict: Any, policy: Any, metrics: dict,
                  options: ExecutionOptions, *, executor: Any = None, log: TextIO = sys.stderr):
    """Plan the suite's behavioural tests (metamorphic groups), run their cases for every model
    version of the gate (stored in a run of their own, `<suite>+behaviour`, so that `simtest
    compare` of the gate's runs never sees them), judge them with the candidate's blocking tests in
    the gate's Holm family, and return the verdict with the results attached (a GateVerdict)."""
    from simtest.contract.policy import metric_declarations
    from simtest.exploration.behaviour import plan_behaviour
    from simtest.judging.behaviour import judge_behaviour, with_behaviour

    bplan = plan_behaviour(loaded)
    store_as = replace(loaded, suite=loaded.suite.model_copy(update={"name": loaded.suite.name + "+behaviour"}))
    if not options.quiet:
        print(f"behaviour: {len(bplan.tests)} tests, {len(bplan.cases)} cases per model", file=log)
    frames, runs = {}, {}
    for role, model in models.items():
        run = run_cases(store_as, model, bplan.cases, options, executor=executor, log=log)
        frames[role] = _select(run.read(), bplan.cases)
        runs[role] = (_model_arg(model), str(run.path))
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
                            spending=policy.adaptive.spending)


def compare_runs(candidate_dir: str, baseline_dir: str, reference_dir: str | None, *, policy_path: str | None,
                 out_dir: str | None) -> GateOutcome:
    """Judge stored runs: no simulation. The same inputs give the same verdict.json."""
    from simtest.judging.compare import compare
    from simtest.contract.policy import GatePolicy, load_policy
    from simtest.execution.store import open_run_path

    runs = {"candidate": open_run_path(candidate_dir), "baseline": open_run_path(baseline_dir)}
    if reference_dir:
        runs["reference"] = open_run_path(reference_dir)
    frames = {role: run.read() for role, run in runs.items()}
    envs = sorted(set(frames["candidate"]["env"]))
    metrics: dict[str, dict] = {}
    for env in envs:
        metrics.update(registry.env_info(env).metrics)
    # the policy: --policy, else the one the candidate run was gated with, else the built-in one
    recorded = (runs["candidate"].manifest.get("extra") or {}).get("policy")
    policy_file = policy_path or (recorded if recorded and Path(recorded).is_file() else None)
    policy = load_policy(policy_file, metrics) if policy_file else GatePolicy.default()
    verdict = compare(frames["candidate"], frames["baseline"], frames.get("reference"), policy, metrics,
                      design=_recorded_design(runs["candidate"], policy))
    models = {role: _model_from_manifest(run) for role, run in runs.items()}
    out = Path(out_dir or default_out_dir())
    reports = _write_reports(out, verdict, frames, models, runs, None, extra={"metrics": metrics})
    return GateOutcome(verdict, _exit_code(verdict), out, reports, runs)


def _recorded_design(run: Any, policy: Any):
    """The design the gate used, rebuilt from the suite the run records, so that `simtest compare`
    reproduces the gate's verdict; without the suite, the stored rows are one final look."""
    suite_path = run.manifest.get("suite_path")
    if suite_path and Path(suite_path).is_file():
        try:
            return gate_design(load_suite(suite_path), policy)
        except Exception:  # noqa: BLE001 - a suite that no longer loads: judge the rows as final
            pass
    return None


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
    run_dir = str(runs["candidate"].path)

    def replay_command(case_id: str) -> str:
        return f"simtest replay {case_id} --model {cand_arg} --run {run_dir}"

    context = {
        "models": {role: m.label for role, m in models.items()},
        "model_refs": models,
        "runs": {role: str(r.path) for role, r in runs.items()},
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
    cases = plan(loaded)
    # <results>/<suite>/<model@version>/<digest-build>: the results root is three levels up
    run = run_cases(loaded, model, cases, replace(options, results=str(Path(run_dir).resolve().parents[2])), log=log)
    return run, _select(run.read(), cases)


MAX_CONSOLE_WARNINGS = 8


def console_summary(verdict: Any, reports: dict) -> str:
    """What `simtest gate` / `compare` print: the verdict, why, the blocking checks, the reports."""
    lines = [f"VERDICT: {verdict.verdict.upper()}"]
    lines += [f"  {r}" for r in verdict.reasons]
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
