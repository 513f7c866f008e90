"""The recsys acceptance test, end to end through the CLI: `simtest gate` fails the click-chasing
candidate recsys-ranker@1.2 against 1.1 on a long-horizon guardrail (engagement or retention)
while its click-through gain is reported, with the shipped policy and scenarios."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RECSYS = ROOT / "scenarios" / "recsys"

# A smaller cut of the smoke suite: one scenario, every cohort, 8 samples each (24 cases per model).
SUITE = f"""\
name: recsys-gate-e2e
scenarios: ["{RECSYS / 'mixed-cohorts.yaml'}"]
sampler: halton
samples: 8
seed: 2026
stratify: [cohort]
policy: "{RECSYS / 'policy.yaml'}"
max_extra_rounds: 1
"""


def test_gate_fails_click_chasing_candidate_on_a_long_horizon_metric_and_shows_its_click_gain(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "simtest.cli", "gate", "--suite", str(suite),
         "--candidate", "recsys-ranker@1.2", "--baseline", "recsys-ranker@1.1", "--reference", "recsys-ranker@1.0",
         "--executor", "local", "--results", str(tmp_path / "results"), "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["verdict"] == "fail"
    checks = verdict["checks"]

    def check(metric, comparison="baseline", slice_="overall"):
        return next(c for c in checks if c["metric"] == metric and c["comparison"] == comparison
                    and c["slice"] == slice_)

    long_horizon = [check(m) for m in ("total_engagement", "retained")]
    assert any(c["decision"] == "fail" for c in long_horizon), long_horizon
    ctr = check("click_through_rate")
    assert ctr["decision"] != "fail" and ctr["delta"] < 0, ctr  # regression scale: negative = the candidate clicks more
    # The console table shows the trade: the click-through gain next to the guardrail failures.
    ctr_line = next(line for line in proc.stdout.splitlines() if "click_through_rate" in line and "overall" in line)
    assert ctr_line.split()[0] == "baseline" and ctr_line.split()[-1] == "pass", ctr_line
    assert "total_engagement" in (out / "summary.md").read_text()
    assert (out / "junit.xml").is_file() and (out / "report.html").is_file()
    # Model metric vs system metric (issue 17): in-the-loop ranking quality falls with the outcome,
    # while the click-through objective rises; the panel says so in a generated sentence.
    (panel,) = [p for p in verdict["findings"]["model_metrics"] if p["comparison"] == "baseline"]
    overall = next(r for r in panel["rows"] if r["slice"] == "overall")
    assert panel["metric"] == "model_ndcg" and overall["model"][0] < overall["model"][1]
    assert overall["objective"][0] > overall["objective"][1] and overall["outcome_worse"] > 0
    assert panel["sentences"][0].startswith("1.2 raises click_through_rate overall"), panel["sentences"]
    assert "but total_engagement falls" in panel["sentences"][0] and "in-the-loop NDCG@10 overall is" in panel["sentences"][0]
    assert panel["rows"] and all(r["offline"] is None for r in panel["rows"])  # the recsys manifests carry none
