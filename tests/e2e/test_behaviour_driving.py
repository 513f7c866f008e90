"""`simtest gate` with a `behaviour:` section on the driving smoke suite (real pybullet episodes,
the shipped model versions), slow: about 1,000 episodes (18 min on 2 contended cores, local executor).

The suite is scenarios/driving/smoke.yaml as shipped (scenarios, sampler, samples, stratification,
policy) plus a behaviour section, with max_extra_rounds 0 to bound the run. Acceptance of issue 11:
- colour invariance (obstacle_colour blue vs red) passes for 1.1 and fails for 1.3, whose weights
  learned that red is not an obstacle; a red obstacle dead ahead by day is a trivial case 1.3 fails;
- fog: no version violates "more fog must not raise success" (diagnostic); what separates 1.2 from
  1.1 is graceful degradation, "fog 0 -> 0.25 must not lower success by more than 15 points",
  which 1.2 violates at night (its training lost the foggy night frames);
- the clear road by day passes in every seed for every version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
DRIVING = ROOT / "scenarios" / "driving"


def _suite(tmp: Path) -> Path:
    import yaml

    smoke = yaml.safe_load((DRIVING / "smoke.yaml").read_text())
    s = {**smoke, "scenarios": [str(DRIVING / f) for f in smoke["scenarios"]], "policy": str(DRIVING / smoke["policy"]),
         "max_extra_rounds": 0}
    path = tmp / "smoke-behaviour.yaml"
    path.write_text(yaml.safe_dump(s, sort_keys=False) + textwrap.dedent(f"""\
        behaviour:
          - invariance: {{param: obstacle_colour, values: [blue, red], metric: passed, margin: 0.15,
                          scenarios: [{DRIVING}/obstacles.yaml, {DRIVING}/fog.yaml], name: colour-invariance}}
          - directional: {{param: fog_density, from: 0.0, to: 0.25, metric: success, expect: not_lower, margin: 0.15,
                           by: lighting, scenarios: [{DRIVING}/fog.yaml], name: fog-degrades-gracefully}}
          - directional: {{param: fog_density, from: 0.0, to: 0.25, metric: success, expect: not_higher,
                           by: lighting, scenarios: [{DRIVING}/fog.yaml], blocking: false, name: fog-never-helps}}
          - minimum: {{scenario: {DRIVING}/clear-road.yaml, set: {{lighting: day, n_obstacles: 0, goal_distance: 6.0}},
                       seeds: 10, name: clear-day-road}}
          - minimum: {{scenario: {DRIVING}/obstacles.yaml, set: {{lighting: day, n_obstacles: 1, obstacle_spread: 0.0,
                       obstacle_colour: red, goal_distance: 8.0}}, seeds: 10, name: red-obstacle-ahead}}
        """))
    return path


def _gate(tmp: Path, suite: Path, candidate: str, out: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run([sys.executable, "-m", "simtest.cli", "gate", "--suite", str(suite), "--candidate", candidate,
                           "--baseline", "driving-perception@1.1", "--executor", "local", "--quiet", "--out", out],
                          cwd=tmp, capture_output=True, text=True, timeout=3600, env=dict(os.environ))
    path = tmp / out / "verdict.json"
    return proc, (json.loads(path.read_text()) if path.is_file() else {})


def _result(doc: dict, role: str, test: str, slice_: str = "overall") -> dict:
    return next(r for r in doc["behaviour"]["results"] if r["role"] == role and r["test"] == test and r["slice"] == slice_)


def test_driving_behaviour_gate(tmp_path):
    suite = _suite(tmp_path)
    proc, doc = _gate(tmp_path, suite, "driving-perception@1.3", "out-1.3")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    print(proc.stdout)
    inv13, inv11 = _result(doc, "candidate", "colour-invariance"), _result(doc, "baseline", "colour-invariance")
    assert inv13["decision"] == "fail" and inv13["upper"] < -0.15, inv13["statement"]
    assert inv11["decision"] == "pass", inv11["statement"]
    assert "colour-invariance in overall" in doc["behaviour"]["newly_violated"]
    assert _result(doc, "candidate", "red-obstacle-ahead")["decision"] == "fail"
    assert _result(doc, "baseline", "red-obstacle-ahead")["decision"] == "pass"
    for role in ("candidate", "baseline"):
        assert _result(doc, role, "clear-day-road")["decision"] == "pass"
    assert "driving-perception@1.3 violates colour-invariance" in proc.stdout
    html = (tmp_path / "out-1.3" / "report.html").read_text()
    assert "<h2 id='behaviour'>Behavioural tests</h2>" in html and html.count("data:image/gif;base64,") >= 2

    proc, doc = _gate(tmp_path, suite, "driving-perception@1.2", "out-1.2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    print(proc.stdout)
    night12 = _result(doc, "candidate", "fog-degrades-gracefully", "lighting=night")
    night11 = _result(doc, "baseline", "fog-degrades-gracefully", "lighting=night")
    assert night12["decision"] == "fail", night12["statement"]
    assert night11["decision"] != "fail", night11["statement"]
    assert night12["delta"] > night11["delta"]  # 1.2 loses more to fog at night than 1.1
    assert "driving-perception@1.2 violates fog-degrades-gracefully in lighting=night" in proc.stdout
    # honest: more fog never *raises* success for either version
    for role in ("candidate", "baseline"):
        assert _result(doc, role, "fog-never-helps")["decision"] not in ("fail", "warn")
