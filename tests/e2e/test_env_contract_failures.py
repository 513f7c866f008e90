"""The five failures a new user met with third-party envs (issue 12), each through the CLI with a
tiny fake env package (tests/plugin_fakes.py) standing in for highway-env / panda-gym: the message
they now get and the exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin_fakes import break_plugin, make_site, simtest_cli, write_suite

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def site(tmp_path):
    return make_site(tmp_path)


def _no_traceback(proc):
    assert "Traceback (most recent call last)" not in proc.stderr.split("see the rest")[0].split("    ")[0]


# 1. ------------------------------------------------------------- env failures show their reason


def test_wrong_make_keyword_stops_the_run_with_the_reason_and_exit_2(tmp_path, site):
    suite = write_suite(tmp_path, "CartPole-v1", {"gravity": 9.8}, seeds=7)
    proc = simtest_cli("run", "--suite", str(suite), "--model", str(tmp_path / "toyagent-1.0.yaml"),
                       "--executor", "local", "--quiet", cwd=tmp_path, site=site)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr
    # the first error of its kind, once, with the exception type, the last frame and a tail
    assert err.count("env_error in 5 cases (configuration: not retried): TypeError at ") == 1, err
    assert "unexpected keyword argument 'gravity'" in err
    assert "see the rest: cat " in err
    assert "the first 5 cases all failed the same way while making or configuring env CartPole-v1" in err
    assert "without running the other 2 and stored none of them" in err
    saved = Path(err.split("see the rest: cat ")[1].split()[0])
    assert "Traceback" in saved.read_text()  # the full traceback is one command away
    # nothing stored: a re-run after the fix runs the cases
    runs = list((tmp_path / ".simtest" / "results").rglob("*.parquet"))
    assert runs == []


def test_adapter_typo_is_named_with_its_entry_point_and_distribution(tmp_path, site):
    suite = write_suite(tmp_path, "toy/Typo-v0")
    proc = simtest_cli("run", "--suite", str(suite), "--model", str(tmp_path / "toyagent-1.0.yaml"),
                       "--executor", "local", cwd=tmp_path, site=site)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert '$.env: env "toy/Typo-v0" (simtest.envs entry point "toyplug = toyplug.envs:simtest_envs" of ' \
           'distribution toyplug 0.1) $.adapter: cannot resolve "toyplug.envs:NoSuchAdapter": AttributeError' \
           in proc.stderr


# 2. ------------------------------------------------------------- agent code is part of the run key


def _code_column(tmp_path, site) -> str:
    out = simtest_cli("models", cwd=tmp_path, site=site).stdout.splitlines()
    assert out[0].split()[:3] == ["model", "digest", "code"]
    (row,) = [ln for ln in out if ln.startswith("toyagent@1.0")]
    return row.split()[2]


def test_editing_the_agent_code_gives_a_new_run(tmp_path, site):
    suite = write_suite(tmp_path, "CartPole-v1", seeds=2)
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "toyagent-1.0.yaml"  # ./models: listed by `simtest models`
    (tmp_path / "toyagent-1.0.yaml").rename(model)
    args = ("run", "--suite", str(suite), "--model", "toyagent@1.0", "--executor", "local")
    first = simtest_cli(*args, cwd=tmp_path, site=site)
    assert first.returncode == 0, first.stderr
    assert "toyagent@1.0: running 2 cases" in first.stderr
    again = simtest_cli(*args, cwd=tmp_path, site=site)
    assert "all 2 cases already stored" in again.stderr and "(reused)" in again.stderr
    code_before = _code_column(tmp_path, site)
    agent = site / "toyagent.py"
    agent.write_text(agent.read_text().replace("return 0", "return 1"))  # the controller changed
    edited = simtest_cli(*args, cwd=tmp_path, site=site)
    assert edited.returncode == 0, edited.stderr
    assert "toyagent@1.0: running 2 cases" in edited.stderr, edited.stderr
    assert _code_column(tmp_path, site) != code_before  # `simtest models` shows the new code digest


# 3. ------------------------------------------------------------- a broken plugin breaks one thing


def test_a_broken_plugin_is_one_warning_line_and_other_envs_still_work(tmp_path, site):
    break_plugin(site)
    proc = simtest_cli("validate", str(REPO / "scenarios" / "driving"), cwd=tmp_path, site=site)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if "brokenplug" in ln]
    assert len(warnings) == 1, proc.stderr
    assert warnings[0].startswith("simtest: warning: simtest.envs entry point "
                                  '"broken = brokenplug_gone.registry:simtest_envs" of distribution brokenplug 0.1 '
                                  "is broken: ModuleNotFoundError: No module named 'brokenplug_gone'")


def test_a_command_that_needs_the_broken_plugin_exits_2_naming_it(tmp_path, site):
    break_plugin(site)
    suite = write_suite(tmp_path, "broken/Env-v0")
    proc = simtest_cli("validate", str(suite), cwd=tmp_path, site=site)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert 'unknown env id "broken/Env-v0"' in proc.stderr
    assert "note: simtest.envs entry point \"broken = brokenplug_gone.registry:simtest_envs\" of distribution " \
           "brokenplug 0.1 is broken: ModuleNotFoundError" in proc.stderr


# 4. ------------------------------------------------------------- silent no-op configuration


def test_check_env_catches_params_the_env_never_reads(tmp_path, site):
    proc = simtest_cli("check-env", "toy/Lanes-v0", cwd=tmp_path, site=site)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ('FAIL  params change the env: "lanes_count": 3 and 5 give the same initial observation and views '
            '(seed 0); the env ignores it as passed by reset(options={"params": ...}). If the env reads another '
            "options key, set options_key in its registry entry") in proc.stdout
    fixed = simtest_cli("check-env", "toy/LanesFixed-v0", cwd=tmp_path, site=site)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "all checks passed" in fixed.stdout


# 5. ------------------------------------------------------------- declared vs returned metrics


def test_declared_and_returned_metrics_are_cross_checked(tmp_path, site):
    proc = simtest_cli("check-env", "toy/WrongMetrics-v0", cwd=tmp_path, site=site)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "FAIL  episodes and metrics:" in proc.stdout
    assert "declared but never returned: crashed (every check on them would fail)" in proc.stdout
    assert "returned but not declared: speed" in proc.stdout
    suite = write_suite(tmp_path, "toy/WrongMetrics-v0")
    run = simtest_cli("run", "--suite", str(suite), "--model", str(tmp_path / "toyagent-1.0.yaml"),
                      "--executor", "local", "--quiet", cwd=tmp_path, site=site)
    assert run.returncode == 2, run.stderr
    assert "toy/WrongMetrics-v0: episode_metrics does not match the declared metrics" in run.stderr


# 6. ------------------------------------------------------------- module:EnvId is suggested


def test_unknown_id_suggests_the_module_prefix(tmp_path, site):
    suite = write_suite(tmp_path, "toyhighway-v0")
    proc = simtest_cli("validate", str(suite), cwd=tmp_path, site=site)
    assert proc.returncode == 2, proc.stderr
    assert 'unknown env id "toyhighway-v0" (did you mean "toyhighway_env:toyhighway-v0"?' in proc.stderr
    fixed = write_suite(tmp_path, "toyhighway_env:toyhighway-v0")
    assert simtest_cli("validate", str(fixed), cwd=tmp_path, site=site).returncode == 0
