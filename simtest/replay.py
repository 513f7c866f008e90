"""`simtest replay` and `simtest check-determinism`. Re-run a stored case exactly and
confirm that its metrics (and its trace digest) equal the stored ones; when they do not, tell
nondeterminism (two fresh replays disagree: first divergent step) from a changed model or env."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from simtest.core.errors import SimtestError, StoreError, UsageError

__all__ = ["StoredCase", "ReplayReport", "find_stored_case", "replay_case", "differences", "first_divergence",
           "check_determinism", "cmd_replay", "cmd_check_determinism"]

EXIT_IDENTICAL, EXIT_DIFFERS = 0, 1
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".simtest", ".hypothesis", "site-packages"}
_MAX_SCENARIO_FILES = 5000


@dataclass(frozen=True)
class StoredCase:
    """A stored result row and the run that holds it."""

    run: Any  # simtest.execution.store.Run
    row: dict

    @property
    def case_id(self) -> str:
        return str(self.row["case_id"])


@dataclass
class ReplayReport:
    case_id: str
    identical: bool
    lines: list[str] = field(default_factory=list)
    nondeterministic: bool | None = None  # None: not needed (identical) or not decidable
    first_divergent_step: int | None = None  # 1-based, between two fresh replays


# --------------------------------------------------------------------------- finding the row


def _run_dirs(root: Path) -> Iterable[Path]:
    from simtest.execution.store import MANIFEST

    for dirpath, dirnames, filenames in os.walk(root):
        if MANIFEST in filenames:
            dirnames[:] = []  # a run does not nest runs
            yield Path(dirpath)
        else:
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)


def find_stored_case(case_id: str, *, run: str | None = None, results: str = ".simtest/results",
                     model: Any = None) -> StoredCase:
    """The stored row of `case_id`: in `run` when given, else in any run under `results`
    (preferring a run of `model`'s digest, then of its name@version, then the newest)."""
    from simtest.execution.store import open_run_path

    if run is not None:
        candidates = [open_run_path(run)]
    else:
        root = Path(results)
        if not root.is_dir():
            raise UsageError(f'no results directory "{results}"; pass --run RUN or --results DIR')
        candidates = []
        for d in _run_dirs(root):
            try:
                candidates.append(open_run_path(str(d)))
            except StoreError:
                continue
    holding = [r for r in candidates if case_id in r.case_ids()]
    if not holding:
        where = f"run {run}" if run else f"any run under {results} ({len(candidates)} searched)"
        raise UsageError(f'case {case_id} is not stored in {where}; copy the case id from a report, '
                         "or pass --run / --results")
    if model is not None:
        holding.sort(key=lambda r: (r.model_digest != model.digest, r.model_label != model.label,
                                    -_mtime(r)))
    else:
        holding.sort(key=lambda r: -_mtime(r))
    chosen = holding[0]
    frame = chosen.read()
    rows = frame[frame["case_id"] == case_id]
    if rows.empty:  # listed by case_ids() but unreadable since
        raise StoreError(f"{chosen.location}: case {case_id} could not be read back; see the run's problems")
    row = {k: _plain(v) for k, v in rows.iloc[0].to_dict().items()}
    return StoredCase(chosen, row)


def _mtime(run: Any) -> float:
    try:
        return os.path.getmtime(os.path.join(str(run.path), "manifest.json"))
    except OSError:
        return 0.0


def _plain(v: Any) -> Any:
    import numpy as np

    if isinstance(v, np.ndarray):
        return [_plain(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return v.item()
    try:
        import pandas as pd

        if v is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    return v


# --------------------------------------------------------------------------- rebuilding the case


def rebuild_case(stored: StoredCase, *, search: Sequence[Path] = ()) -> tuple[Any, str]:
    """The Case of a stored row and a note on where its horizon and checks came from.

    Rows hold everything that selects the episode (scenario id and hash, env, params, seed); the
    horizon and checks come from the row when it has them, else from the scenario file (found by
    id and hash), else the horizon is the stored step count (enough to reproduce the stored
    episode to its end) and the checks are not re-evaluated."""
    from simtest.contract.results import case_from_row

    row = stored.row
    if row.get("horizon") is not None and row.get("checks") is not None:
        checks = tuple(tuple(c) for c in json.loads(row["checks"])) if isinstance(row["checks"], str) else ()
        case = case_from_row(row, horizon=int(row["horizon"]), checks=checks)
        note = "horizon and checks from the stored row"
    else:
        scenario, note = _find_scenario(row, stored.run, search)
        if scenario is not None:
            case = case_from_row(row, horizon=scenario.horizon, checks=tuple((c.name, c.expr) for c in scenario.checks))
        else:
            case = case_from_row(row, horizon=max(1, int(row.get("steps") or 1)), checks=())
    if case.case_id != row["case_id"]:
        raise StoreError(f"{stored.run.location}: the row of case {row['case_id']} rebuilds to case {case.case_id}; "
                         "the run was written by an incompatible simtest version")
    return case, note


def _find_scenario(row: dict, run: Any, search: Sequence[Path]) -> tuple[Any, str]:
    from simtest.authoring.spec import load_scenario, load_suite

    sid, shash = row["scenario"], row["scenario_hash"]
    changed: list[str] = []
    manifest = getattr(run, "manifest", {}) or {}
    for key in ("suite_path", "suite_file", "suite"):
        value = manifest.get(key)
        if isinstance(value, str) and value.endswith((".yaml", ".yml")) and Path(value).is_file():
            try:
                loaded = load_suite(value)
            except SimtestError:
                continue
            for s, f in zip(loaded.scenarios, loaded.files):
                if s.id == sid and s.hash == shash:
                    return s, f"horizon and checks from {f}"
                if s.id == sid:
                    changed.append(f)
    seen = 0
    for root in list(search) or [Path.cwd()]:
        for f in _yaml_files(root):
            seen += 1
            if seen > _MAX_SCENARIO_FILES:
                break
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if sid not in text:
                continue
            try:
                s = load_scenario(f, check_env=False)
            except SimtestError:
                continue
            if s.id == sid and s.hash == shash:
                return s, f"horizon and checks from {f}"
            if s.id == sid:
                changed.append(str(f))
    why = (f"scenario {sid} changed since the run (hash {shash} not found; {', '.join(changed[:3])} differ)"
           if changed else f"scenario file of {sid} not found under {', '.join(map(str, search or [Path.cwd()]))}")
    return None, f"{why}: horizon = the stored step count, checks not re-evaluated"


def _yaml_files(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith((".yaml", ".yml")):
                yield Path(dirpath) / name


# --------------------------------------------------------------------------- comparing


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def differences(result: Any, row: dict, labels: tuple[str, str] = ("stored", "replayed")) -> list[str]:
    """What differs between a fresh EpisodeResult and a stored row (empty: identical)."""
    from simtest.contract.results import CHECK_PREFIX, METRIC_PREFIX

    a, b = labels
    out: list[str] = []
    if result.outcome.value != row.get("outcome"):
        out.append(f"outcome: {a} {row.get('outcome')}, {b} {result.outcome.value}")
    if int(result.steps) != int(row.get("steps") or 0):
        out.append(f"steps: {a} {row.get('steps')}, {b} {result.steps}")
    metrics = result.metric_dict
    names = sorted(set(metrics) | {k[len(METRIC_PREFIX):] for k, v in row.items()
                                   if k.startswith(METRIC_PREFIX) and v is not None and not _isnan(v)})
    for name in names:
        stored = row.get(METRIC_PREFIX + name)
        stored = float(stored) if stored is not None else math.nan
        replayed = float(metrics.get(name, math.nan))
        if not _same(stored, replayed):
            out.append(f"metric {name}: {a} {stored!r}, {b} {replayed!r}")
    for name, ok in result.checks:
        stored = row.get(CHECK_PREFIX + name)
        if stored is not None and bool(stored) != bool(ok):
            out.append(f"check {name}: {a} {'pass' if stored else 'fail'}, {b} {'pass' if ok else 'fail'}")
    stored_digest = row.get("trace_digest") or ""
    if stored_digest and result.trace_digest != stored_digest:
        out.append(f"trace digest: {a} {stored_digest}, {b} {result.trace_digest or '(none)'}")
    return out


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def first_divergence(a: Sequence[str], b: Sequence[str]) -> int | None:
    """1-based index of the first step whose running digest differs (None: identical)."""
    for i, (x, y) in enumerate(zip(a, b), start=1):
        if x != y:
            return i
    if len(a) != len(b):
        return min(len(a), len(b)) + 1
    return None


def _run_fresh(model: Any, case: Any, observer: Any = None, *, rendering: bool = False) -> tuple[Any, list[str]]:
    """One episode in a fresh worker (a fresh env, as in another process)."""
    from simtest.execution.envadapter import make_adapter, rendering_adapter
    from simtest.execution.runner import EpisodeWorker

    worker = EpisodeWorker(model, adapter_factory=rendering_adapter if rendering else make_adapter)
    try:
        result = worker.run(case, observer=observer)
        return result, list(worker.last_step_digests)
    finally:
        worker.close()


# --------------------------------------------------------------------------- replay


def replay_case(case_id: str, model_ref: str, *, run: str | None = None, results: str = ".simtest/results",
                video: str | None = None, search: Sequence[Path] = ()) -> ReplayReport:
    from simtest.contract.registry import env_build, resolve_model

    model = resolve_model(model_ref)
    stored = find_stored_case(case_id, run=run, results=results, model=model)
    row = stored.row
    case, note = rebuild_case(stored, search=search)
    lines = [f"case {case_id}: {case.scenario} seed={case.seed} (run {stored.run.location})",
             f"params: {case.params_json}", f"({note})"]
    if row.get("model_digest") and row["model_digest"] != model.digest:
        lines.append(f"note: the stored row was produced by {row.get('model')}@{row.get('model_version')} "
                     f"(digest {str(row['model_digest'])[:12]}); {model.label} has digest {model.digest[:12]}")
    first, digests = _run_fresh(model, case)
    diffs = differences(first, row)
    lines.append(f"replayed with {model.label}: {first.outcome.value}, {first.steps} steps, "
                 f"trace digest {first.trace_digest or '-'}")
    lines += _metric_table(first, row)
    if first.error:
        lines.append(f"{first.outcome.value} of the replay:")
        lines += ["  " + ln for ln in first.error.rstrip().splitlines()]
    report = ReplayReport(case_id, identical=not diffs)
    if not diffs:
        lines.append("IDENTICAL: outcome, steps, every metric and the trace digest equal the stored row")
    else:
        lines.append("DIFFERS from the stored row:")
        lines += [f"  {d}" for d in diffs]
        second, digests2 = _run_fresh(model, case)
        step = first_divergence(digests, digests2)
        if step is not None or differences(second, first.to_row()):
            report.nondeterministic = True
            report.first_divergent_step = step
            lines.append(f"NONDETERMINISTIC: two fresh replays diverge at step {step}; the env or the agent "
                         "draws randomness outside the case seed (or reads the clock); see simtest check-determinism")
        else:
            report.nondeterministic = False
            causes = []
            if row.get("model_digest") and row["model_digest"] != model.digest:
                causes.append(f"model digest {str(row['model_digest'])[:12]} -> {model.digest[:12]}")
            build = env_build(case.env)
            if row.get("env_build") and row["env_build"] != build:
                causes.append(f"env build {row['env_build']} -> {build}")
            if causes:
                lines.append("REPRODUCIBLE but changed since the run: " + "; ".join(causes)
                             + ". The stored run keeps only the final trace digest, so the first divergent step "
                             "against it is unknown")
            else:
                lines.append("REPRODUCIBLE here (two fresh replays agree) but not equal to the stored run, with "
                             "the same model digest and env build: the env or agent likely carries state from one "
                             "episode to the next (run simtest check-determinism), or the platform differs")
    if video:
        lines.append(_write_video(model, case, Path(video)))
    report.lines = lines
    return report


def _metric_table(result: Any, row: dict) -> list[str]:
    from simtest.contract.results import METRIC_PREFIX

    out = [f"  {'metric':<22} {'stored':>14} {'replayed':>14}"]
    for name, value in result.metrics:
        stored = row.get(METRIC_PREFIX + name)
        mark = "" if _same(float(stored) if stored is not None else math.nan, float(value)) else "  <- differs"
        out.append(f"  {name:<22} {_fmt(stored):>14} {_fmt(value):>14}{mark}")
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    try:
        return f"{float(v):.6g}"
    except (TypeError, ValueError):
        return str(v)


def _write_video(model: Any, case: Any, path: Path) -> str:
    from simtest.preview import frame, write_video

    frames: list = []
    problem: list[str] = []

    def observe(step: int, obs: Any, action: Any, info: dict, adapter: Any) -> None:
        if problem:
            return
        try:
            frames.append(frame(adapter, obs, 192))
        except UsageError as exc:
            problem.append(str(exc))

    _run_fresh(model, case, observer=observe, rendering=True)
    if not frames:
        return f"no video: {problem[0] if problem else 'the episode produced no frames'}"
    write_video(path, frames)
    return f"wrote {path} ({len(frames)} steps)"


def cmd_replay(args: argparse.Namespace) -> int:
    report = replay_case(args.case_id, args.model, run=args.run, results=args.results, video=args.video)
    print("\n".join(report.lines))
    return EXIT_IDENTICAL if report.identical else EXIT_DIFFERS


# --------------------------------------------------------------------------- determinism


@dataclass(frozen=True)
class DeterminismResult:
    case: Any
    steps: tuple[int, int]
    first_divergent_step: int | None
    differences: tuple[str, ...] = ()

    @property
    def identical(self) -> bool:
        return self.first_divergent_step is None and not self.differences


def pick(cases: Sequence[Any], n: int) -> list[Any]:
    """`n` cases spread evenly over the plan (every scenario and stratum, not just the first)."""
    if n >= len(cases):
        return list(cases)
    return [cases[(i * len(cases)) // n] for i in range(n)]


def check_determinism(cases: Sequence[Any], model: Any) -> list[DeterminismResult]:
    """Run `cases` twice: in order in one worker, then in reverse order in a fresh one. Equal
    step digests = same trajectory; state carried between episodes shows up as a divergence."""
    from simtest.execution.runner import EpisodeWorker

    def one_pass(order: Sequence[Any]) -> dict[str, tuple[Any, list[str]]]:
        worker = EpisodeWorker(model)
        out = {}
        try:
            for case in order:
                result = worker.run(case)
                out[case.case_id] = (result, list(worker.last_step_digests))
        finally:
            worker.close()
        return out

    a = one_pass(cases)
    b = one_pass(list(reversed(cases)))
    out = []
    for case in cases:
        (ra, da), (rb, db) = a[case.case_id], b[case.case_id]
        step = first_divergence(da, db)
        diffs = tuple(differences(rb, ra.to_row(), ("run 1", "run 2")))
        out.append(DeterminismResult(case, (ra.steps, rb.steps), step, diffs))
    return out


def cmd_check_determinism(args: argparse.Namespace) -> int:
    from simtest.contract.registry import resolve_model
    from simtest.authoring.sampling import plan
    from simtest.authoring.spec import load_suite

    if args.sample < 1:
        raise UsageError("--sample must be at least 1")
    model = resolve_model(args.model)
    cases = pick(plan(load_suite(args.suite)), args.sample)
    results = check_determinism(cases, model)
    bad = 0
    for r in results:
        if r.identical:
            print(f"{r.case.case_id}  {r.case.scenario:<32} identical ({r.steps[0]} steps)")
        else:
            bad += 1
            where = (f"diverges at step {r.first_divergent_step}" if r.first_divergent_step
                     else "same trajectory, different results")
            extra = f" ({r.differences[0]})" if r.differences else ""
            print(f"{r.case.case_id}  {r.case.scenario:<32} DIVERGES: {where}{extra}")
    print(f"{len(results) - bad} of {len(results)} cases identical across two runs with {model.label}",
          file=sys.stderr)
    return EXIT_IDENTICAL if bad == 0 else EXIT_DIFFERS
