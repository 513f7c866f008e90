"""`simtest plan --detect`: power planning per blocking slice through the CLI, on the synthetic
one-step env of benchmarks/gatepower; and the power formula against a simulation of the test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from simtest.judging import stats
from simtest.judging.power import slice_power

REPO = Path(__file__).resolve().parents[2]
GATEPOWER = REPO / "benchmarks" / "gatepower"


def simtest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(GATEPOWER) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "simtest.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    policy = yaml.safe_load((GATEPOWER / "policy.yaml").read_text())
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(policy))
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump({
        "name": "gp-plan", "scenarios": [str(GATEPOWER / "scenario.yaml")], "sampler": "random", "samples": 40,
        "seeds": 1, "seed": 3, "stratify": ["lighting"], "policy": "policy.yaml", "max_extra_rounds": 2}))
    return tmp_path


@pytest.mark.e2e
def test_plan_detect_prints_power_and_cases_needed_per_blocking_slice(suite):
    r = simtest("plan", "--suite", "suite.yaml", "--detect", "0.10", cwd=suite)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "Holm over 5 blocking check(s)" in lines[0]  # passed x 4 slices + errors overall and "3 look(s)" in lines[0]
    night = next(line for line in lines if "lighting=night:" in line)
    m = re.search(r"(\d+) cases -> power ([0-9.]+) .*cap (\d+) -> ([0-9.]+)\); 80% power needs about (\d+)", night)
    n_base, p_base, n_cap, p_cap, needed = int(m[1]), float(m[2]), int(m[3]), float(m[4]), int(m[5])
    assert (n_base, n_cap) == (40, 120)  # 40 samples per lighting, 1 seed, cap 3 seeds
    assert p_base < p_cap < 0.8 < 1 and needed > n_cap and "UNDERPOWERED" in night
    # a larger drop needs fewer cases
    r2 = simtest("plan", "--suite", "suite.yaml", "--detect", "0.20", cwd=suite)
    night2 = next(line for line in r2.stdout.splitlines() if "lighting=night:" in line)
    assert int(re.search(r"needs about (\d+)", night2)[1]) < needed


@pytest.mark.e2e
def test_plan_detect_uses_a_stored_run(suite):
    r = simtest("run", "--suite", "suite.yaml", "--model", str(GATEPOWER / "base.yaml"), "--executor", "local",
                "--results", "results", "--quiet", cwd=suite)
    assert r.returncode == 0, r.stderr
    (run_dir,) = [p.parent for p in (suite / "results").rglob("manifest.json")]
    r = simtest("plan", "--suite", "suite.yaml", "--detect", "0.10", "--from", str(run_dir), cwd=suite)
    assert r.returncode == 0, r.stderr
    assert "from the run's success rate, phi=0.5" in r.stdout
    # two runs: discordance measured on their paired cases
    r = simtest("run", "--suite", "suite.yaml", "--model", str(GATEPOWER / "aa.yaml"), "--executor", "local",
                "--results", "results", "--quiet", cwd=suite)
    other = [p.parent for p in (suite / "results").rglob("manifest.json") if p.parent != run_dir][0]
    r = simtest("plan", "--suite", "suite.yaml", "--detect", "0.10", "--from", str(run_dir), "--from", str(other),
                cwd=suite)
    assert "measured between the two stored runs" in r.stdout


@pytest.mark.e2e
def test_plan_detect_rejects_a_drop_outside_0_1(suite):
    r = simtest("plan", "--suite", "suite.yaml", "--detect", "10", cwd=suite)
    assert r.returncode == 2 and "--detect 10" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("n,psi,delta,margin", [(150, 0.15, 0.10, 0.03), (300, 0.12, 0.06, 0.0), (80, 0.3, 0.15, 0.05)])
def test_power_formula_matches_a_simulation_of_the_paired_test(n, psi, delta, margin):
    """Independent check: simulate paired differences d in {-1,0,1} with discordance psi and mean
    delta, apply the one-sided z test at the margin, and count rejections."""
    rng = np.random.default_rng(11)
    p_pos, p_neg = (psi + delta) / 2, (psi - delta) / 2
    u = rng.random((20_000, n))
    d = np.where(u < p_pos, 1.0, np.where(u < p_pos + p_neg, -1.0, 0.0))
    z = (d.mean(1) - margin) / np.sqrt(d.var(1, ddof=1) / n)
    z_a = 2.0
    simulated = float(np.mean(z >= z_a))
    sp = slice_power("s", "passed", n_base=n, n_cap=n, psi0=psi - delta, margin=margin, safety=False, detect=delta,
                     target=0.8, alpha_eff=0.05, z_final=z_a)
    assert sp.power_cap == pytest.approx(simulated, abs=0.03)
    assert stats.paired_power(delta - margin, psi, delta, sp.needed_n, z_a) >= 0.8
