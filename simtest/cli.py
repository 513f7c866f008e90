"""The `simtest` command. Parses arguments, calls one function per command, maps errors
to exit codes: 0 pass/success, 1 regression, 2 bad input or usage, 3 infrastructure failure.
Heavy modules are imported inside the commands so `validate` and `compare` start fast."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from simtest.core.errors import SimtestError, UsageError

EXIT_PASS, EXIT_REGRESSION, EXIT_BAD_INPUT, EXIT_INFRA = 0, 1, 2, 3


def _exec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=("ray", "local"), default="ray",
                   help="where episodes run: ray (default; starts a local Ray on 127.0.0.1) or local (in-process)")
    p.add_argument("--workers", type=int, default=None, help="Ray actors (default: one per CPU)")
    p.add_argument("--address", default=None, help="join an existing Ray cluster (e.g. ray://head:10001 or auto)")
    p.add_argument("--results", default=".simtest/results", help="results directory or URI (default: %(default)s)")
    p.add_argument("--cpus-per-worker", type=float, default=1.0, help="Ray: CPUs per actor (default: %(default)s)")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="Ray: GPUs per actor (default: %(default)s)")
    p.add_argument("--memory-per-worker", type=float, default=None, metavar="GB",
                   help="Ray: memory reserved per actor, in GB (default: none)")
    p.add_argument("--chunk-s", type=float, default=1.0,
                   help="Ray: seconds of episodes per chunk (default: %(default)s; ~30 on large clusters)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _exec_options(args: argparse.Namespace):
    from simtest.orchestrate import ExecutionOptions

    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    for flag in ("cpus_per_worker", "chunk_s"):
        if getattr(args, flag) <= 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be positive")
    return ExecutionOptions(executor=args.executor, workers=args.workers, address=args.address,
                            results=args.results, quiet=args.quiet, cpus_per_worker=args.cpus_per_worker,
                            gpus_per_worker=args.gpus_per_worker, memory_per_worker_gb=args.memory_per_worker,
                            chunk_s=args.chunk_s)


# --------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    from simtest.contract.results import failed_checks
    from simtest.orchestrate import run_suite

    if args.resume:
        from simtest.orchestrate import resume_run

        run, frame = resume_run(args.resume, _exec_options(args))
    else:
        if not args.suite or not args.model:
            raise UsageError("simtest run needs --suite PATH and --model REF (or --resume RUN)")
        run, frame = run_suite(args.suite, args.model, _exec_options(args), full=args.full)
    counts = frame["outcome"].value_counts().to_dict()
    passed = int(frame["passed"].sum())
    print(f"{len(frame)} episodes: {passed} passed checks, "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + f"; results in {run.location}")
    failed = failed_checks(frame)
    if failed:
        print("failed checks: " + "; ".join(f"{name}: {n} failed" for name, n in failed))
    infra = counts.get("env_error", 0) + counts.get("timeout", 0)
    return EXIT_INFRA if len(frame) and infra / len(frame) > 0.5 else EXIT_PASS


def cmd_gate(args: argparse.Namespace) -> int:
    from simtest.orchestrate import gate

    outcome = gate(args.suite, args.candidate, args.baseline, args.reference, policy_path=args.policy,
                   options=_exec_options(args), out_dir=args.out, baseline_run=args.baseline_run,
                   baseline_branch=args.baseline_branch)
    _print_verdict(outcome)
    if outcome.corpus is not None:
        print(outcome.corpus.markdown())
    return outcome.exit_code


def cmd_compare(args: argparse.Namespace) -> int:
    from simtest.orchestrate import compare_runs

    outcome = compare_runs(args.candidate, args.baseline, args.reference, policy_path=args.policy, out_dir=args.out)
    _print_verdict(outcome)
    return outcome.exit_code


def cmd_evaluate_offline(args: argparse.Namespace) -> int:
    from simtest.orchestrate import evaluate_offline
    from simtest.report.modelmetrics import offline_lines

    outcome = evaluate_offline(args.suite, args.model, args.driver, _exec_options(args), args.out)
    print("\n".join(offline_lines(outcome.evaluations)).rstrip())
    print(f"reports: {', '.join(outcome.written.values())}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from simtest.orchestrate import search

    outcome = search(args.scenario, args.model, budget=args.budget, method=args.method, options=_exec_options(args),
                     out_dir=args.out, save_corpus=args.save_corpus, target_failures=args.target_failures,
                     seed=args.seed, batch=args.batch, shrink_budget=args.shrink_budget)
    n = len(outcome.history)
    if outcome.first_failure:
        print(f"FOUND: {len(outcome.failures)} failure(s) of {outcome.scenario} in {n} episodes (first at episode "
              f"{outcome.first_failure}), {len(outcome.distinct)} distinct after shrinking")
    else:
        best = min((h["score"] for h in outcome.history if h["score"] is not None), default=float("nan"))
        print(f"no failure of {outcome.scenario} in {n} episodes; smallest margin {best:+.4g}")
    for f in outcome.distinct:
        mattered = ", ".join(f"{k}={f.shrunk_params[k]}" for k in f.mattered) or "nothing (fails at nominal)"
        print(f"  {f.shrunk_case_id}  margin {f.shrunk_score:+.4g}  mattered: {mattered}")
    for path in outcome.corpus_files:
        print(f"  corpus: {path}")
    if outcome.reports:
        print("reports: " + ", ".join(str(p) for p in outcome.reports.values()))
    return outcome.exit_code


def _print_verdict(outcome) -> None:
    from simtest.orchestrate import console_summary

    print(console_summary(outcome.verdict, outcome.reports))


def cmd_validate(args: argparse.Namespace) -> int:
    from simtest.authoring.validate import validate_paths

    problems, n_files = validate_paths(args.paths)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {n_files} file(s)", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{n_files} file(s) valid")
    return EXIT_PASS


def cmd_models(args: argparse.Namespace) -> int:
    from simtest.contract.registry import list_models

    models = list_models()
    if not models:
        print("no model manifests found (searched $SIMTEST_MODELS, ./models and the shipped models)")
        return EXIT_PASS
    width = max(len(m.label) for m in models)
    print(f"{'model':<{width}}  {'digest':<12}  {'code':<12}  entry point  trained on")
    for m in models:
        code = m.code_digest[:12] or "not found"
        print(f"{m.label:<{width}}  {m.digest[:12]}  {code:<12}  {m.entry_point}  {m.trained_on}")
    return EXIT_PASS


def cmd_plan(args: argparse.Namespace) -> int:
    from simtest.authoring.sampling import case_counts, plan
    from simtest.authoring.spec import load_suite

    if args.detect is not None:
        return _plan_power(args)
    loaded = load_suite(args.suite)
    cases = plan(loaded)
    if args.count:
        by = case_counts(loaded, cases)
        print(f"{len(cases)} cases")
        for k, v in sorted(by.items()):
            print(f"  {k:<40} {v}")
        return EXIT_PASS
    for c in cases:
        print(f"{c.case_id}  {c.scenario}  seed={c.seed}  {c.params_json}")
    print(f"{len(cases)} cases", file=sys.stderr)
    return EXIT_PASS


def _plan_power(args: argparse.Namespace) -> int:
    from simtest.orchestrate import power_plan

    if not 0 < args.detect < 1:
        raise UsageError(f"--detect {args.detect}: give the drop to catch as a rate difference in (0, 1), "
                         "e.g. 0.10 for 10 points")
    pp = power_plan(args.suite, args.detect, from_runs=args.from_runs or (), phi=args.correlation,
                    target=args.power, with_reference=args.with_reference)
    print(f"{pp.suite}: power to catch a {args.detect * 100:g}-point drop (a confident fail), "
          f"{pp.looks} look(s) at most, Holm over {pp.family} blocking check(s)")
    print(f"  {pp.source}")
    if not pp.slices:
        print("  no blocking binary check in the policy: nothing to plan")
    for sp in pp.slices:
        flag = "  UNDERPOWERED" if sp.underpowered else ""
        print(f"  {sp.metric:<10} {sp.line()}{flag}")
    return EXIT_PASS


def cmd_coverage(args: argparse.Namespace) -> int:
    """Pairwise coverage of a suite's parameter space: by its plan (default), by the given runs, or by
    every run stored for the suite under --results (--all-runs). Prints the share and the empty cells."""
    import pandas as pd

    from simtest.authoring.sampling import plan, suite_space
    from simtest.authoring.spec import load_suite
    from simtest.execution.store import open_run_path, suite_slug
    from simtest.judging.coverage import coverage

    loaded = load_suite(args.suite)
    paths = list(args.runs or ())
    if args.all_runs:
        from pathlib import Path

        root = Path(args.results) / suite_slug(loaded.suite.name)
        paths += sorted(str(m.parent) for m in root.glob("*/*/manifest.json"))
        if not paths:
            raise UsageError(f"no stored run of suite {loaded.suite.name} under {args.results}; run it first or "
                             "drop --all-runs to measure the plan")
    if paths:
        frames = {f"run{i}": open_run_path(p).read() for i, p in enumerate(paths)}
        where = f"{len(paths)} run(s)"
    else:
        cases = plan(loaded)
        frames = {"plan": pd.DataFrame({"case_id": [c.case_id for c in cases], "scenario": [c.scenario for c in cases],
                                        "params": [c.params_json for c in cases]})}
        where = f"the plan ({len(cases)} cases)"
    cov = coverage(suite_space(loaded), frames, visits="all")
    print(f"pairwise coverage of {loaded.suite.name} by {where}: {100 * cov.share:.1f}% "
          f"({cov.visited} of {cov.cells} cells, {cov.n_empty} empty; {loaded.suite.coverage_bins} buckets per numeric "
          "parameter)")
    for scen, (v, t) in cov.per_scenario.items():
        print(f"  {scen:<40} {v:>5} / {t:<5} {100 * v / t if t else 100:5.1f}%")
    if cov.n_empty:
        print("empty cells:")
        for e in cov.empty[: args.limit]:
            print(f"  {e}")
        if cov.n_empty > args.limit:
            print(f"  ... {cov.n_empty - args.limit} more (--limit N)")
    return EXIT_PASS


def _lazy(module: str, func: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        return importlib.import_module(module).__dict__[func](args)

    return run


# --------------------------------------------------------------------------- parser


def cmd_runs(args: argparse.Namespace) -> int:
    from simtest.runs import list_runs, runs_gc

    if args.action == "gc":
        if args.keep is None or args.keep < 1:
            raise UsageError("simtest runs gc needs --keep N (N >= 1): the newest N runs of each suite, model and "
                             "branch are kept")
        print(runs_gc(args.results, keep=args.keep, suite=args.suite, model=args.model, dry_run=args.dry_run,
                      grace_s=args.grace_h * 3600.0))
        return EXIT_PASS
    if args.action not in (None, "list"):
        raise UsageError(f'unknown action "{args.action}" for simtest runs: use `simtest runs` (list) or '
                         "`simtest runs gc --keep N`")
    print(list_runs(args.results, suite=args.suite, model=args.model, as_json=args.json))
    return EXIT_PASS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simtest",
        description="Simulation regression harness: run scenario suites closed-loop and gate model versions.",
        epilog="Exit codes: 0 pass, 1 regression, 2 bad input or usage, 3 infrastructure failure (run invalid).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run a suite for one model version (reuses stored episodes)")
    p.add_argument("--suite", help="suite YAML, e.g. scenarios/driving/smoke.yaml")
    p.add_argument("--model", help="name@version (see `simtest models`) or a manifest path")
    p.add_argument("--resume", metavar="RUN", help="run the missing cases of an existing run directory")
    p.add_argument("--full", action="store_true",
                   help="also every extra seed round a gate may ask for, the failure corpus and the behavioural "
                        "tests: what a push-to-main job stores so that PR gates read the baseline (docs/ci.md)")
    _exec_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("gate", help="run candidate, baseline and reference on a suite and judge the candidate")
    p.add_argument("--suite", required=True)
    p.add_argument("--candidate", required=True, metavar="REF")
    p.add_argument("--baseline", required=True, metavar="REF",
                   help="the previous version; REF@BRANCH (e.g. driving-perception@1.1@main) reads its results from "
                        "the newest stored run made from BRANCH's code instead of running it")
    p.add_argument("--baseline-run", metavar="URI",
                   help="read the baseline's results from this stored run (directory or URI); nothing is re-run")
    p.add_argument("--baseline-branch", metavar="BRANCH",
                   help="like REF@BRANCH for the baseline and the reference (overrides the suite's baseline_branch; "
                        "`none` runs them here)")
    p.add_argument("--reference", metavar="REF", help="the pinned older version (cumulative margins); REF@BRANCH as for --baseline")
    p.add_argument("--policy", help="gate policy YAML (default: the suite's `policy`)")
    p.add_argument("--out", help="report directory (default: .simtest/reports/<timestamp>)")
    _exec_args(p)
    p.set_defaults(func=cmd_gate)

    p = sub.add_parser("search", help="search a scenario's domains for failures; shrink them; save a corpus")
    p.add_argument("--scenario", required=True, help="scenario YAML whose checks to falsify")
    p.add_argument("--model", required=True, metavar="REF")
    p.add_argument("--budget", type=int, default=200, help="search episodes (default: %(default)s)")
    p.add_argument("--method", default="bayes", choices=("bayes", "cross-entropy", "tpe", "random", "halton"),
                   help="proposal method (default: %(default)s: Gaussian-process falsification; tpe = optuna TPE)")
    p.add_argument("--target-failures", type=int, default=None, metavar="N",
                   help="stop after N distinct failures (default: spend the budget)")
    p.add_argument("--batch", type=int, default=4, help="proposals per batch (run in parallel; default: %(default)s)")
    p.add_argument("--shrink-budget", type=int, default=48, help="episodes to shrink each failure (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="search seed (same seed = same proposals: resumable)")
    p.add_argument("--save-corpus", metavar="DIR", help="write each distinct shrunk failure as a scenario file")
    p.add_argument("--out", help="report directory (default: .simtest/reports/<timestamp>)")
    _exec_args(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("compare", help="judge stored runs (no simulation)")
    p.add_argument("--candidate", required=True, metavar="RUN", help="run directory")
    p.add_argument("--baseline", required=True, metavar="RUN")
    p.add_argument("--reference", metavar="RUN")
    p.add_argument("--policy", help="gate policy YAML (default: the policy the candidate run was gated with, else the built-in one)")
    p.add_argument("--out", help="report directory (default: .simtest/reports/<timestamp>)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("runs", help="list stored runs with provenance, size and age; `runs gc --keep N` removes old ones")
    p.add_argument("action", nargs="?", choices=("list", "gc"), default=None, help="list (default) or gc")
    p.add_argument("--results", default=".simtest/results", help="results directory or URI (default: %(default)s)")
    p.add_argument("--suite", help="only this suite (name or file stem slug)")
    p.add_argument("--model", metavar="REF", help="only this model (name@version or name)")
    p.add_argument("--json", action="store_true", help="list as JSON lines")
    p.add_argument("--keep", type=int, help="gc: keep the newest N runs of each suite, model and branch")
    p.add_argument("--grace-h", type=float, default=1.0,
                   help="gc: never remove a run updated less than this many hours ago (default: %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="gc: say what would be removed, remove nothing")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("evaluate-offline", help="score several models' predictions on the same frames (one driver "
                                                "drives every episode; the envs' model metrics)")
    p.add_argument("--suite", required=True, help="suite YAML whose envs declare model_metrics")
    p.add_argument("--model", required=True, action="append", metavar="REF",
                   help="name@version or manifest path; repeat for each model to score")
    p.add_argument("--driver", required=True, metavar="REF", help="the model that drives every episode")
    p.add_argument("--out", help="report directory (default: .simtest/reports/<timestamp>)")
    _exec_args(p)
    p.set_defaults(func=cmd_evaluate_offline)

    p = sub.add_parser("validate", help="check scenario, suite and policy files; report every problem")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("models", help="list the model versions found")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("plan", help="print the cases a suite expands to, without running anything")
    p.add_argument("--suite", required=True)
    p.add_argument("--count", action="store_true", help="print counts per scenario, tag and categorical value")
    p.add_argument("--detect", type=float, metavar="DROP",
                   help="power planning: cases per blocking slice to catch a drop of DROP (e.g. 0.10) with 80%% power")
    p.add_argument("--from", dest="from_runs", action="append", metavar="RUN",
                   help="stored run(s) to measure success rates (one run) or discordance (two runs) from")
    p.add_argument("--correlation", type=float, default=0.5,
                   help="with one --from run: phi correlation of two versions' outcomes (default %(default)s)")
    p.add_argument("--power", type=float, default=None, help="target power (default: the policy's power.target, 0.8)")
    p.add_argument("--with-reference", action="store_true",
                   help="count the reference comparison in the blocking family (Holm) too")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("coverage", help="pairwise coverage of a suite's parameter space and its empty cells")
    p.add_argument("--suite", required=True)
    p.add_argument("--runs", nargs="+", metavar="RUN", help="stored run directories (default: the suite's plan)")
    p.add_argument("--all-runs", action="store_true", help="every run of the suite stored under --results")
    p.add_argument("--results", default=".simtest/results", help="results directory (default: %(default)s)")
    p.add_argument("--limit", type=int, default=40, help="empty cells listed (default: %(default)s)")
    p.set_defaults(func=cmd_coverage)

    p = sub.add_parser("schema", help="print the JSON Schema of scenario, suite, policy or model files")
    p.add_argument("kind", nargs="?", default="scenario", choices=("scenario", "suite", "policy", "model"))
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(func=_lazy("simtest.authoring.schema", "cmd_schema"))

    p = sub.add_parser("preview", help="render the initial scene of a scenario (PNG) or a short rollout (GIF)")
    p.add_argument("scenario", help="scenario YAML")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="fix a parameter")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rollout", action="store_true", help="write a GIF of an episode instead of a PNG")
    p.add_argument("--model", metavar="REF", help="agent for --rollout (default: none -> zero actions)")
    p.add_argument("--out", required=True, help="output file (.png, or .gif with --rollout)")
    p.set_defaults(func=_lazy("simtest.preview", "cmd_preview"))

    p = sub.add_parser("replay", help="re-run one stored case exactly and compare with the stored metrics")
    p.add_argument("case_id")
    p.add_argument("--model", required=True, metavar="REF")
    p.add_argument("--run", metavar="RUN", help="run directory holding the case (default: search --results)")
    p.add_argument("--results", default=".simtest/results")
    p.add_argument("--video", metavar="FILE", help="also write a GIF of the episode")
    p.set_defaults(func=_lazy("simtest.replay", "cmd_replay"))

    p = sub.add_parser("check-env", help="check an env against the contract: spec, gymnasium check_env, "
                                         "metrics, params, views, replay")
    p.add_argument("env_id", help="a simtest.envs id, a gymnasium id or module:EnvId")
    p.add_argument("--episodes", type=int, default=3, help="seeded random-agent episodes (default: %(default)s)")
    p.add_argument("--horizon", type=int, default=40, help="steps per episode at most (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_lazy("simtest.execution.checkenv", "cmd_check_env"))

    p = sub.add_parser("check-determinism", help="rerun cases twice and report the first divergent step")
    p.add_argument("--suite", required=True)
    p.add_argument("--model", required=True, metavar="REF")
    p.add_argument("--sample", type=int, default=5, help="number of cases to check (default: %(default)s)")
    p.set_defaults(func=_lazy("simtest.replay", "cmd_check_determinism"))
    return parser


def _print_plugin_warnings() -> None:
    """Broken `simtest.envs` plugins, one line each, when this command read the registry. Commands
    that need one of their envs fail with exit 2; the others work, and say so here."""
    registry = sys.modules.get("simtest.contract.registry")
    if registry is None:
        return
    for line in registry.plugin_warnings():
        print(f"simtest: warning: {line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args))
    except SimtestError as exc:
        print(f"simtest {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("simtest: interrupted; stored chunks are kept - re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_PASS
    finally:
        _print_plugin_warnings()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
