"""`simtest search` end to end. Fast: the synthetic planted-failure env (benchmarks/searchenv, no
pybullet): search -> shrink -> corpus -> resume -> gate with the corpus reporting the failure as
newly failing (and as fixed the other way round), exit codes and report files. Slow: the same
on the driving env with driving-perception@1.2 against @1.1 (pybullet + torch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"
PLANTED = BENCH / "searchenv" / "planted.yaml"


def simtest(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """The CLI in a subprocess (the slow driving test: Ray workers need PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]),
           "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "simtest.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """simtest.cli.main in this process (fast: no interpreter start per command), from tmp_path."""
    from simtest.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(BENCH))

    def run(*args: str) -> subprocess.CompletedProcess:
        rc = main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, rc, out.out, out.err)

    return run


def _rows(results: Path) -> int:
    import pandas as pd

    return sum(len(pd.read_parquet(p)) for p in results.rglob("*.parquet"))


def test_search_shrinks_saves_a_corpus_resumes_and_the_gate_replays_it_first(tmp_path, cli):
    model_new = str(BENCH / "searchenv" / "idle-1.1.yaml")
    model_old = str(BENCH / "searchenv" / "idle-1.0.yaml")
    args = ["search", "--scenario", str(PLANTED), "--model", model_new, "--budget", "24", "--shrink-budget", "16", "--executor", "local",
            "--target-failures", "1", "--results", "results", "--save-corpus", "corpus", "--out", "report", "--quiet"]
    r = cli(*args)
    assert r.returncode == 1, r.stdout + r.stderr  # found a failure
    assert "Traceback" not in r.stderr
    assert "FOUND:" in r.stdout and "mattered: x=" in r.stdout, r.stdout
    files = sorted((tmp_path / "corpus").glob("*.yaml"))
    assert len(files) == 1
    doc = yaml.safe_load(files[0].read_text())
    assert "found" in doc["tags"] and doc["found"]["model"] == "planted-idle@1.1" and len(doc["seeds"]) == 1
    assert doc["params"]["clutter"] == 0 and doc["params"]["weather"] == "clear"  # shrunk to nominal
    report = json.loads((tmp_path / "report" / "search.json").read_text())
    assert report["first_failure"] is not None and report["failures"][0]["replay"].startswith("simtest replay ")
    assert (tmp_path / "report" / "report.html").read_text().count("data:image/png;base64") == 1
    stored = _rows(tmp_path / "results")
    assert stored >= report["first_failure"]

    # the same command again resumes: every proposal is found stored, nothing runs
    r2 = cli(*args)
    assert r2.returncode == 1 and _rows(tmp_path / "results") == stored, r2.stderr

    # the shrunk failure replays as a failure
    replay = report["failures"][0]["replay"].split()[2]
    r3 = cli("replay", replay, "--model", model_new, "--run", report["run"])
    assert r3.returncode in (0, 1) and "Traceback" not in r3.stderr, r3.stderr

    (tmp_path / "suite.yaml").write_text(textwrap.dedent(f"""\
        name: planted-smoke
        scenarios: [{PLANTED}]
        sampler: halton
        samples: 4
        max_extra_rounds: 0
        corpus: [corpus]
        policy: policy.yaml
        """))
    # "near misses got nearer": each check's margin is a continuous metric the gate can judge
    (tmp_path / "policy.yaml").write_text(textwrap.dedent("""        metrics:
          passed: {margin_baseline: 0.5, margin_reference: 0.5, blocking: true}
          margin_gap_positive: {margin_baseline: 0.05, margin_reference: 0.05, blocking: true}
        """))
    g = cli("gate", "--suite", "suite.yaml", "--candidate", model_new, "--baseline", model_old,
                "--executor", "local", "--results", "results", "--out", "gate", "--quiet")
    assert g.returncode == 1, g.stdout + g.stderr
    corpus = json.loads((tmp_path / "gate" / "corpus.json").read_text())
    assert [c["status"] for c in corpus["cases"]] == ["newly failing"]
    verdict = json.loads((tmp_path / "gate" / "verdict.json").read_text())
    assert verdict["verdict"] == "fail" and any("corpus" in r for r in verdict["reasons"])
    assert "## Failure corpus (run first)" in (tmp_path / "gate" / "summary.md").read_text()
    assert "newly failing" in g.stdout
    margin_checks = [c for c in verdict["checks"] if c["metric"] == "margin_gap_positive" and c["slice"] == "overall"]
    assert margin_checks and margin_checks[0]["delta"] == pytest.approx(0.1, abs=1e-6)  # 1.1 is 0.1 nearer everywhere

    back = cli("gate", "--suite", "suite.yaml", "--candidate", model_old, "--baseline", model_new,
                   "--executor", "local", "--results", "results", "--out", "gate2", "--quiet")
    corpus = json.loads((tmp_path / "gate2" / "corpus.json").read_text())
    assert [c["status"] for c in corpus["cases"]] == ["fixed"], back.stdout + back.stderr


def test_search_bad_input_exits_2_without_traceback(tmp_path, cli):
    (tmp_path / "fixed.yaml").write_text("id: bench/fixed-v1\nenv: searchenv:Planted-v0\nhorizon: 10\n"
                                         "params: {x: 0.5, y: 0.5}\nchecks: ['always(gap > 0)']\n")
    (tmp_path / "broken.yaml").write_text("id: bench/broken-v1\nenv: searchenv:Planted-v0\nhorizon: 10\n"
                                          "params: {x: {uniform: [0, 1]}}\nchecks: ['always[5, 2](gap > 0)']\n")
    model = str(BENCH / "searchenv" / "idle-1.0.yaml")
    for name, message in [("fixed.yaml", "every parameter of bench/fixed-v1 is fixed"),
                          ("broken.yaml", "broken.yaml:5:10 $.checks[0]: bad interval [5, 2]")]:
        r = cli("search", "--scenario", name, "--model", model, "--budget", "5", "--executor", "local")
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.slow
@pytest.mark.sim
def test_driving_search_finds_shrinks_and_gates_a_fog_failure_of_1_2(tmp_path):
    """On the driving env: search 1.2 on the fog scenario within 200 episodes, shrink, save the
    corpus; the gate of 1.2 against 1.1 with that corpus reports it as newly failing."""
    fog = REPO / "scenarios" / "driving" / "fog.yaml"
    r = simtest("search", "--scenario", str(fog), "--model", "driving-perception@1.2", "--budget", "200",
                "--target-failures", "1", "--shrink-budget", "24", "--executor", "ray", "--workers", "2",
                "--results", "results", "--save-corpus", "corpus", "--out", "report", "--quiet",
                cwd=tmp_path, timeout=3000)
    assert r.returncode == 1, r.stdout + r.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "search.json").read_text())
    assert report["first_failure"] <= 200
    assert list((tmp_path / "corpus").glob("*.yaml"))
    (tmp_path / "suite.yaml").write_text(textwrap.dedent(f"""\
        name: fog-corpus
        scenarios: [{fog}]
        sampler: halton
        samples: 2
        max_extra_rounds: 0
        corpus: [corpus]
        """))
    g = simtest("gate", "--suite", "suite.yaml", "--candidate", "driving-perception@1.2", "--baseline",
                "driving-perception@1.1", "--executor", "ray", "--workers", "2", "--results", "results", "--out",
                "gate", "--quiet", cwd=tmp_path, timeout=3000)
    corpus = json.loads((tmp_path / "gate" / "corpus.json").read_text())
    statuses = [c["status"] for c in corpus["cases"]]
    assert statuses and set(statuses) == {"newly failing"}, statuses  # 1.1 passes what 1.2 fails
    assert g.returncode == 1, g.stdout + g.stderr[-2000:]
    verdict = json.loads((tmp_path / "gate" / "verdict.json").read_text())
    assert any(r.startswith("corpus:") for r in verdict["reasons"])
