"""Pytest plugin (entry point `pytest11`). With `--simtest-model REF`, scenario YAML files
(top level `env:` or `extends:`) are collected as test items, one per sampled case, so pytest's
selection (-k on case and scenario ids, -m on tags, -x) and reporting (JUnit) apply. Without
that option it collects nothing and imports nothing of simtest: other test suites are unaffected."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

_TOP_LEVEL = re.compile(r"^(env|extends)\s*:", re.MULTILINE)
_BEHAVIOUR = re.compile(r"^behaviour\s*:", re.MULTILINE)
_SAMPLERS = ("random", "sobol", "halton", "grid")


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("simtest", "simtest scenarios as tests")
    group.addoption("--simtest-model", metavar="REF", default=None,
                    help="collect scenario YAML files and run their cases with this model "
                         "(name@version or a manifest path); without it no YAML is collected")
    group.addoption("--simtest-samples", type=int, default=3, metavar="N",
                    help="parameter samples per scenario (default: %(default)s)")
    group.addoption("--simtest-seeds", type=int, default=1, metavar="N", help="seeds per sample (default: %(default)s)")
    group.addoption("--simtest-seed", type=int, default=0, metavar="S", help="base seed of the sampling (default: %(default)s)")
    group.addoption("--simtest-sampler", choices=_SAMPLERS, default="random",
                    help="how samples are drawn (default: %(default)s)")
    group.addoption("--simtest-results", default=".simtest/results", metavar="DIR",
                    help="where episode rows are stored, so every failure's replay command works (default: %(default)s)")


def _enabled(config: Any) -> bool:
    return bool(config.getoption("simtest_model", default=None))


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "simtest: a case of a simtest scenario")
    if not _enabled(config):
        return
    from simtest.core.errors import SimtestError
    from simtest.contract.registry import resolve_model

    for name in ("simtest_samples", "simtest_seeds"):
        if config.getoption(name) < 1:
            raise pytest.UsageError(f"--{name.replace('_', '-')} must be at least 1")
    ref = config.getoption("simtest_model")
    try:
        config.stash[_STATE] = _State(resolve_model(ref), ref, config.getoption("simtest_results"))
    except SimtestError as exc:
        raise pytest.UsageError(f"--simtest-model: {exc}") from None


def pytest_collect_file(parent: Any, file_path: Path) -> Any:
    if not _enabled(parent.config) or file_path.suffix not in (".yaml", ".yml"):
        return None
    try:
        head = file_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if _BEHAVIOUR.search(head) and not _TOP_LEVEL.search(head):
        return BehaviourSuiteFile.from_parent(parent, path=file_path)
    if not _TOP_LEVEL.search(head):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


def pytest_sessionfinish(session: Any) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is not None:
        state.close()


# --------------------------------------------------------------------------- state


class _State:
    """One worker per session (env and agent load once) and the runs rows are stored in."""

    def __init__(self, model: Any, ref: str, results: str):
        self.model, self.ref, self.results = model, ref, results
        self._worker: Any = None
        self._writers: dict[str, Any] = {}

    @property
    def worker(self) -> Any:
        if self._worker is None:
            from simtest.execution.runner import EpisodeWorker

            self._worker = EpisodeWorker(self.model)
        return self._worker

    def store(self, result: Any) -> str:
        """Keep the row (committed at the end of the session); returns the run directory."""
        env = result.case.env
        if env not in self._writers:
            from simtest.contract.registry import env_build
            from simtest.execution.store import RunStore

            run = RunStore(self.results).open_run("pytest", self.model, env_build(env))
            self._writers[env] = run.writer(flush_rows=50)
        writer = self._writers[env]
        writer.add(result)
        return writer.run.location

    def replay_command(self, case_id: str, run_dir: str) -> str:
        return f"simtest replay {case_id} --model {self.ref} --run {run_dir}"

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()
        if self._worker is not None:
            self._worker.close()
            self._worker = None


_STATE = pytest.StashKey[_State]()


# --------------------------------------------------------------------------- collection


class ScenarioFile(pytest.File):
    """A scenario file: one item per sampled case."""

    def collect(self):
        from simtest.authoring.sampling import plan_scenario
        from simtest.authoring.spec import load_scenario

        config = self.config
        scenario = load_scenario(self.path)
        cases = plan_scenario(scenario, sampler=config.getoption("simtest_sampler"),
                              samples=config.getoption("simtest_samples"), seeds=config.getoption("simtest_seeds"),
                              seed=config.getoption("simtest_seed"))
        markers = [_marker_name(t) for t in scenario.tags]
        for m in markers:
            config.addinivalue_line("markers", f"{m}: scenario tag")
        for case in cases:
            item = ScenarioCase.from_parent(self, name=f"{scenario.id}[{case.case_id}]", case=case)
            item.add_marker("simtest")
            for m in markers:
                item.add_marker(m)
            # -k also matches categorical parameter values (e.g. -k night) and the case id alone
            item.extra_keyword_matches.update(str(v) for v in case.params.values() if isinstance(v, (str, bool)))
            item.extra_keyword_matches.add(case.case_id)
            yield item

    def repr_failure(self, excinfo: Any) -> Any:  # type: ignore[override]
        from simtest.core.errors import SimtestError

        if isinstance(excinfo.value, SimtestError):  # the file's problems, not a traceback
            return str(excinfo.value)
        return super().repr_failure(excinfo)


def _marker_name(tag: str) -> str:
    name = re.sub(r"\W", "_", tag)
    return name if name and not name[0].isdigit() else f"tag_{name}"


class CaseFailed(Exception):
    """A case completed but a check failed, or it ended in an error."""

    def __init__(self, result: Any, run_dir: str, replay: str):
        super().__init__(result.case.case_id)
        self.result, self.run_dir, self.replay = result, run_dir, replay


class ScenarioCase(pytest.Item):
    def __init__(self, *, case: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.case = case
        self.user_properties += [("case_id", case.case_id), ("scenario", case.scenario), ("seed", str(case.seed)),
                                 ("params", case.params_json)]

    def runtest(self) -> None:
        state = self.config.stash[_STATE]
        result = state.worker.run(self.case)
        run_dir = state.store(result)
        replay = state.replay_command(self.case.case_id, run_dir)
        self.user_properties.append(("replay", replay))
        if not result.passed:
            raise CaseFailed(result, run_dir, replay)

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseFailed):
            return failure_text(excinfo.value.result, excinfo.value.replay)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.case.scenario} case {self.case.case_id} (seed {self.case.seed})"


def failure_text(result: Any, replay: str) -> str:
    """What a failed case shows: which checks failed with the metric values they read, every
    metric, and the one line that replays it."""
    from simtest.core import expr as expr_lang

    case = result.case
    metrics = result.metric_dict
    lines = [f"scenario {case.scenario}  case {case.case_id}  seed {case.seed}", f"params: {case.params_json}"]
    outcome = result.outcome.value
    if outcome != "completed":
        kind = "infrastructure" if result.outcome.is_infrastructure else "the model"
        lines.append(f"outcome: {outcome} ({kind}) after {result.steps} steps")
        if result.error:
            lines.append("error: " + result.error.strip().splitlines()[-1])
    else:
        lines.append(f"outcome: completed after {result.steps} steps")
    failed = [(name, text) for (name, text), (_, ok) in zip(case.checks, result.checks) if not ok]
    if failed:
        lines.append("failed checks:")
        for name, text in failed:
            reads = ", ".join(f"{n} = {_fmt(metrics.get(n))}" for n in sorted(expr_lang.parse(text).names))
            lines.append(f"  {name}: {text}    ({reads})")
    if metrics:
        lines.append("metrics: " + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(metrics.items())))
    lines.append(f"replay: {replay}")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if v is None:
        return "?"
    try:
        return f"{float(v):.4g}"
    except (TypeError, ValueError):
        return str(v)


# --------------------------------------------------------------------------- behavioural tests


class BehaviourSuiteFile(pytest.File):
    """A suite with a `behaviour:` section: one item per behavioural test. The tests' cases run
    once per file (the first item runs them all), with the session's model, and are judged
    together: Holm over the suite's blocking tests, as in a gate without gate checks."""

    def collect(self):
        from simtest.authoring.behaviour_spec import test_kind, test_name
        from simtest.authoring.spec import load_suite

        self.loaded = load_suite(self.path)
        self._judged: Any = None
        for t in self.loaded.suite.behaviour:
            item = BehaviourItem.from_parent(self, name=f"{self.loaded.suite.name}::{test_name(t)}", test=test_name(t))
            item.add_marker("simtest")
            item.extra_keyword_matches.update({test_kind(t), "behaviour"})
            yield item

    def judged(self) -> Any:
        if self._judged is None:
            from simtest.contract.policy import GatePolicy, load_policy
            from simtest.exploration.behaviour import plan_behaviour
            from simtest.judging.behaviour import judge_behaviour
            from simtest.orchestrate import suite_metrics

            state = self.config.stash[_STATE]
            bplan = plan_behaviour(self.loaded)
            rows, run_dir = [], ""
            for case in bplan.cases:
                result = state.worker.run(case)
                run_dir = state.store(result)
                rows.append(result.to_row())
            import pandas as pd

            metrics = suite_metrics(self.loaded)
            policy = load_policy(self.loaded.policy_path, metrics) if self.loaded.policy_path else GatePolicy.default()
            binary = {k: v.get("kind") == "binary" for k, v in metrics.items()}
            verdict = judge_behaviour(bplan.tests, {"candidate": pd.DataFrame(rows)}, {"candidate": state.model.label},
                                      alpha=policy.alpha, bh_q=policy.bh_q, binary=binary, seed=policy.seed)
            self._judged = (verdict, run_dir)
        return self._judged

    def repr_failure(self, excinfo: Any) -> Any:  # type: ignore[override]
        from simtest.core.errors import SimtestError

        if isinstance(excinfo.value, SimtestError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class BehaviourViolated(Exception):
    pass


class BehaviourItem(pytest.Item):
    """One behavioural test: fails when the model violates it (overall or in a `by:` slice)."""

    def __init__(self, *, test: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.test = test

    def runtest(self) -> None:
        verdict, run_dir = self.parent.judged()
        state = self.config.stash[_STATE]
        mine = [r for r in verdict.results if r.test == self.test]
        for r in mine:
            self.user_properties.append((f"{r.slice}", f"{r.decision}: {r.statement}"))
        bad = [r for r in mine if r.decision == "fail"]
        if bad:
            lines = [r.statement for r in mine]
            for r in bad:
                for cid in (r.failures or r.worst)[:10]:
                    lines.append(f"replay: {state.replay_command(cid, run_dir)}")
            raise BehaviourViolated("\n".join(lines))

    def repr_failure(self, excinfo: Any, style: Any = None) -> Any:
        if isinstance(excinfo.value, BehaviourViolated):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"behaviour test {self.test}"
