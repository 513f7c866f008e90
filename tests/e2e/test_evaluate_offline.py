"""`simtest evaluate-offline` end to end on the recsys env (numpy, fast): every model shadows one
driver, so the model metrics compare models on the same frames. A model shadowing itself reproduces,
case by case, the in-the-loop metric of its own closed-loop run; the click-chasing 1.2 ranks those
frames worse than 1.1 does."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
RECSYS = Path(__file__).resolve().parents[2] / "scenarios" / "recsys"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simtest.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_evaluate_offline_scores_every_model_on_the_drivers_frames(tmp_path):
    (tmp_path / "suite.yaml").write_text(textwrap.dedent(f"""\
        name: recsys-offline-e2e
        scenarios: ["{RECSYS / 'mixed-cohorts.yaml'}"]
        sampler: halton
        samples: 6
        seed: 11
        stratify: [cohort]
        policy: "{RECSYS / 'policy.yaml'}"
        max_extra_rounds: 0
        """))
    common = ("--executor", "local", "--quiet", "--results", "results")
    proc = _cli("evaluate-offline", "--suite", "suite.yaml", "--driver", "recsys-ranker@1.1", "--model",
                "recsys-ranker@1.1", "--model", "recsys-ranker@1.2", "--out", "off", *common, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "off" / "offline.json").read_text())
    (ev,) = doc["evaluations"]
    assert ev["metric"] == "model_ndcg" and ev["driver"] == "recsys-ranker@1.1"
    assert ev["models"] == ["recsys-ranker@1.1", "recsys-ranker@1.2"]
    overall = next(r for r in ev["rows"] if r["slice"] == "overall")
    assert overall["n"] == 18 and overall["values"][1] < overall["values"][0]
    assert "| overall | 18 |" in proc.stdout and (tmp_path / "off" / "offline.md").is_file()

    # 1.1 shadowing itself saw exactly the frames of its own closed-loop run: the same value per case
    run = _cli("run", "--suite", "suite.yaml", "--model", "recsys-ranker@1.1", *common, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    from simtest.execution.store import open_run_path

    (manifest,) = (tmp_path / "results").rglob("manifest.json")  # evaluate-offline stored no run
    rows = open_run_path(str(manifest.parent)).read()
    assert len(rows) == 18  # 6 samples per cohort
    assert overall["values"][0] == pytest.approx(rows["metric_model_ndcg"].mean(), rel=1e-12)

    bad = _cli("evaluate-offline", "--suite", "suite.yaml", "--driver", "recsys-ranker@9", "--model",
               "recsys-ranker@1.1", *common, cwd=tmp_path)
    assert bad.returncode == 2 and 'unknown model "recsys-ranker@9"' in bad.stderr and "Traceback" not in bad.stderr
