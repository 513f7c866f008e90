"""examples/highway (docs/thirdparty.md): validate, run, gate, replay and check-determinism on
highway-env's highway-fast-v0, configured per episode by the recipe's adapter. Skipped, with the
reason, when the `highway` extra is not installed (CI installs it with the `test` extra)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("highway_env", reason="highway-env is not installed: pip install -e '.[highway]' (or '.[test]')")

from test_thirdparty_common import assert_quiet_stdout, first_case_id, install_copy, simtest  # noqa: E402

pytestmark = pytest.mark.e2e  # ~20 s; in make test so that CI runs the recipe (issue 13)


def test_highway_recipe_validate_run_gate_replay_determinism(tmp_path):
    d = install_copy("highway", tmp_path)
    proc = simtest(d, "validate", ".")
    assert proc.returncode == 0 and "file(s) valid" in proc.stdout, proc.stdout + proc.stderr
    proc = simtest(d, "run", "--suite", "suite.yaml", "--model", "driver-1.0.yaml", "--executor", "local",
                   "--results", "results")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert_quiet_stdout(proc)
    proc = simtest(d, "gate", "--suite", "suite.yaml", "--candidate", "driver-1.1.yaml", "--baseline", "driver-1.0.yaml",
                   "--executor", "local", "--results", "results", "--out", "report")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the tailgating driver crashes more
    assert_quiet_stdout(proc)
    verdict = json.loads((d / "report" / "verdict.json").read_text())
    crashed = next(c for c in verdict["checks"] if c["metric"] == "crashed" and c["slice"] == "overall")
    assert crashed["delta"] > 0  # configured traffic, metrics from info["crashed"]
    speed = next(c for c in verdict["checks"] if c["metric"] == "mean_speed" and c["slice"] == "overall")
    assert speed["n"] == 9
    case = first_case_id(d / "report" / "summary.md")
    proc = simtest(d, "replay", case, "--model", "driver-1.1.yaml", "--results", "results")
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert case in proc.stdout
    assert_quiet_stdout(proc)
    proc = simtest(d, "check-determinism", "--suite", "suite.yaml", "--model", "driver-1.0.yaml", "--sample", "2")
    assert proc.returncode == 0 and "2 of 2 cases identical" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert_quiet_stdout(proc)
