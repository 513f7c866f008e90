"""The gate's group-sequential design end to end, through `simtest gate` on the synthetic one-step
env of benchmarks/gatepower (known per-lighting success rates, model versions correlated through
the shared case): extra seeds go only where a blocking decision is open, and a safety guardrail
trending toward a regression gets them too. The rows of every look are read back from the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simtest.execution.store import open_run_path

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
GATEPOWER = REPO / "benchmarks" / "gatepower"


def simtest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(GATEPOWER) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "simtest.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def project(tmp: Path, passed: dict, night_drop: float, seed: int = 1) -> Path:
    policy = yaml.safe_load((GATEPOWER / "policy.yaml").read_text())
    policy["metrics"] = {"passed": passed}
    (tmp / "policy.yaml").write_text(yaml.safe_dump(policy))
    (tmp / "cand.yaml").write_text(yaml.safe_dump({"name": "cand", "version": "1", "entry_point": "gatepower_env:make_agent",
                                                   "options": {"salt": 1, "night_drop": night_drop}}))
    (tmp / "suite.yaml").write_text(yaml.safe_dump({
        "name": "gp", "scenarios": [str(GATEPOWER / "scenario.yaml")], "sampler": "random", "samples": 100,
        "seeds": 1, "seed": seed, "stratify": ["lighting"], "policy": "policy.yaml", "max_extra_rounds": 2}))
    return tmp


def gate(tmp: Path) -> tuple[subprocess.CompletedProcess, dict, dict]:
    r = simtest("gate", "--suite", "suite.yaml", "--candidate", "cand.yaml", "--baseline", str(GATEPOWER / "base.yaml"),
                "--executor", "local", "--results", "results", "--out", "out", cwd=tmp)
    assert r.returncode in (0, 1), r.stderr
    verdict = json.loads((tmp / "out" / "verdict.json").read_text())
    (cand_dir,) = [p.parent for p in (tmp / "results").rglob("manifest.json") if "cand@1" in str(p)]
    rows = open_run_path(str(cand_dir)).read()
    lighting = rows["params"].map(lambda s: json.loads(s)["lighting"])
    extra = rows[rows["seed_index"] >= 1]
    return r, verdict, lighting[extra.index].value_counts().to_dict()


def check(verdict: dict, slice_: str) -> dict:
    (c,) = [c for c in verdict["checks"] if c["metric"] == "passed" and c["slice"] == slice_
            and c["comparison"] == "baseline"]
    return c


def test_an_open_overall_check_with_one_open_slice_extends_only_that_slice(tmp_path):
    # 3 points overall, 8 per lighting: day and dusk pass at the first look; a 12-point night drop
    # leaves night (and so the overall check) open.
    proj = project(tmp_path, {"margin_baseline": 0.03, "slice_margin_baseline": 0.08, "blocking": True}, 0.12, seed=2)
    r, verdict, extra = gate(proj)
    assert "open: lighting=night -> 100 more cases per model (look 2 of 3)" in r.stderr
    assert set(extra) == {"night"} and extra["night"] >= 100  # no day or dusk case was added
    assert check(verdict, "lighting=day")["decision"] == "pass"
    assert verdict["design"] == "group_sequential"
    # the overall estimate is design-weighted: night's extra seeds do not inflate the regression
    overall = check(verdict, "overall")
    assert "design-weighted" in overall["note"]
    night, day, dusk = (check(verdict, f"lighting={x}") for x in ("night", "day", "dusk"))
    assert overall["delta"] == pytest.approx((night["delta"] + day["delta"] + dusk["delta"]) / 3, abs=1e-9)


def test_a_safety_guardrail_trending_toward_regression_gets_seeds(tmp_path):
    guard = {"margin_baseline": 0.03, "slice_margin_baseline": 0.08, "blocking": True, "safety": True,
             "prove_within_margin": False}
    (tmp_path / "worse").mkdir()
    (tmp_path / "better").mkdir()
    worse = project(tmp_path / "worse", guard, 0.03)
    r, verdict, extra = gate(worse)
    assert "open: lighting=night" in r.stderr and extra.get("night", 0) >= 100
    assert set(extra) == {"night"}
    # the same guardrail pointing the other way (the candidate is better at night) gets none
    better = project(tmp_path / "better", guard, -0.05)
    r, verdict, extra = gate(better)
    assert "open:" not in r.stderr and extra == {}
    assert verdict["verdict"] == "pass"


def test_a_stored_baseline_bounds_the_design_by_the_rounds_it_holds(tmp_path):
    """`--baseline-run`: the baseline is read, never run. Its stored rounds fix the design before
    any look: a base-plan-only run gives a one-look gate (no extension, all alpha at look 1); after
    `simtest run --full` the gate extends the open slice again, reading those extra baseline seeds."""
    proj = project(tmp_path, {"margin_baseline": 0.03, "slice_margin_baseline": 0.08, "blocking": True}, 0.12, seed=2)
    made = simtest("run", "--suite", "suite.yaml", "--model", str(GATEPOWER / "base.yaml"), "--executor", "local",
                   "--results", "results", "--quiet", cwd=proj)
    assert made.returncode == 0, made.stderr
    (base_dir,) = [p.parent for p in (proj / "results").rglob("manifest.json") if "base@" in str(p)]
    args = ("gate", "--suite", "suite.yaml", "--candidate", "cand.yaml", "--baseline", str(GATEPOWER / "base.yaml"),
            "--baseline-run", str(base_dir), "--executor", "local", "--results", "results", "--out", "out")
    r = simtest(*args, cwd=proj)
    assert r.returncode in (0, 1), r.stderr
    assert f"baseline: gatepower-base@1 read from the stored run {base_dir}" in r.stderr
    assert "open:" not in r.stderr and "cand@1: running 300 cases" in r.stderr  # one look
    assert "gatepower-base@1: running" not in r.stderr
    assert len(open_run_path(str(base_dir))) == 300
    night = check(json.loads((proj / "out" / "verdict.json").read_text()), "lighting=night")
    assert night["n"] == 100

    full = simtest("run", "--suite", "suite.yaml", "--model", str(GATEPOWER / "base.yaml"), "--full", "--executor",
                   "local", "--results", "results", "--quiet", cwd=proj)
    assert full.returncode == 0, full.stderr
    assert len(open_run_path(str(base_dir))) == 900  # base seeds + the two extra rounds of every sample
    r = simtest(*args, cwd=proj)
    assert r.returncode in (0, 1), r.stderr
    assert "open: lighting=night -> 100 more cases per model (look 2 of 3)" in r.stderr
    assert "gatepower-base@1: running" not in r.stderr  # the baseline's extra seeds are read, not run
    assert r.stderr.count("cand@1: running ") == r.stderr.count("open: ") >= 1
    assert len(open_run_path(str(base_dir))) == 900
    night = check(json.loads((proj / "out" / "verdict.json").read_text()), "lighting=night")
    assert night["n"] >= 200
