"""examples/panda (docs/thirdparty.md): validate, run, gate, replay and check-determinism on
panda-gym's PandaReach-v3 (success from info["is_success"]), plus a run of PandaPush-v3. Skipped,
with the reason, when the `panda` extra is not installed (CI installs it with the `test` extra)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("panda_gym", reason="panda-gym is not installed: pip install -e '.[panda]' (or '.[test]')")

from test_thirdparty_common import assert_quiet_stdout, first_case_id, install_copy, simtest  # noqa: E402

pytestmark = pytest.mark.e2e  # ~45 s: five CLI runs; in make test so that CI runs the recipe (issue 13)


def test_panda_recipe_validate_run_gate_replay_determinism(tmp_path):
    d = install_copy("panda", tmp_path)
    proc = simtest(d, "validate", ".")
    assert proc.returncode == 0 and "file(s) valid" in proc.stdout, proc.stdout + proc.stderr
    proc = simtest(d, "run", "--suite", "push-suite.yaml", "--model", "pusher-1.0.yaml", "--executor", "local",
                   "--results", "results")
    assert proc.returncode == 0 and "3 episodes" in proc.stdout, proc.stdout + proc.stderr
    assert_quiet_stdout(proc)
    proc = simtest(d, "gate", "--suite", "suite.yaml", "--candidate", "reacher-1.1.yaml", "--baseline",
                   "reacher-1.0.yaml", "--executor", "local", "--results", "results", "--out", "report")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the deadband stops short of tight goals
    assert_quiet_stdout(proc)
    verdict = json.loads((d / "report" / "verdict.json").read_text())
    passed = next(c for c in verdict["checks"] if c["metric"] == "passed" and c["slice"] == "overall")
    assert passed["n"] == 24 and passed["delta"] > 0.2
    tight = [c for c in verdict["checks"] if c["slice"] == "distance_threshold=0.015" and c["metric"] == "passed"]
    loose = [c for c in verdict["checks"] if c["slice"] == "distance_threshold=0.05" and c["metric"] == "passed"]
    assert tight and loose and tight[0]["delta"] > loose[0]["delta"]
    case = first_case_id(d / "report" / "summary.md")
    proc = simtest(d, "replay", case, "--model", "reacher-1.1.yaml", "--results", "results")
    assert proc.returncode in (0, 1) and case in proc.stdout, proc.stdout + proc.stderr
    assert_quiet_stdout(proc)
    proc = simtest(d, "check-determinism", "--suite", "suite.yaml", "--model", "reacher-1.0.yaml", "--sample", "3")
    assert proc.returncode == 0 and "3 of 3 cases identical" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert_quiet_stdout(proc)
