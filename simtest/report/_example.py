"""Layer 6 (report internals): a synthetic, seeded verdict and result frames shaped like the driving
demo, to preview the report layout and to test the writers without simulation:
`python -m simtest.report._example OUT_DIR` writes a full report there."""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ExampleCheck", "ExampleVerdict", "example_frames", "example_verdict", "example_context"]

MODELS = {"reference": "driving-perception@1.0", "baseline": "driving-perception@1.1", "candidate": "driving-perception@1.2"}
# success probability per lighting for each version: the candidate loses ~25 points at night
P_SUCCESS = {
    "reference": {"day": 0.85, "dusk": 0.78, "night": 0.70},
    "baseline": {"day": 0.90, "dusk": 0.84, "night": 0.80},
    "candidate": {"day": 0.91, "dusk": 0.83, "night": 0.55},
}


@dataclass(frozen=True)
class ExampleCheck:
    comparison: str
    metric: str
    slice: str
    n: int
    delta: float
    lower: float
    upper: float
    p_value: float
    decision: str
    margin: float
    blocking: bool
    candidate_value: float
    baseline_value: float
    needed_n: int | None = None
    note: str = ""


@dataclass(frozen=True)
class ExampleVerdict:
    verdict: str
    checks: tuple[ExampleCheck, ...]
    reasons: tuple[str, ...] = ()
    infra: dict = field(default_factory=dict)
    new_failures: tuple[dict, ...] = ()
    scenario_changes: tuple = ()
    confidence: float = 0.95

    def to_json(self) -> dict:
        return {
            "verdict": self.verdict, "reasons": list(self.reasons), "confidence": self.confidence,
            "checks": [asdict(c) for c in self.checks], "infra": self.infra,
            "new_failures": list(self.new_failures), "scenario_changes": list(self.scenario_changes),
        }


def example_frames(n_samples: int = 60, seeds: int = 2, seed: int = 0) -> dict[str, Any]:
    """Three paired result frames (same case ids) with the columns of simtest.results."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_samples):
        lighting = ("day", "dusk", "night")[i % 3]
        params = {
            "lighting": lighting, "fog_density": round(float(rng.uniform(0, 0.6)), 3),
            "n_obstacles": int(rng.integers(0, 6)), "goal_distance": 8.0, "obstacle_shape": "mixed",
        }
        for k in range(seeds):
            rows.append((f"{i:04d}{k:02d}".rjust(16, "c"), params, int(rng.integers(2**31)), i, k))
    u = rng.random((len(rows), 3))  # common random numbers: one draw per case, shared by versions
    frames = {}
    for r, role in enumerate(("reference", "baseline", "candidate")):
        out = []
        for j, (cid, params, s, sample, k) in enumerate(rows):
            p = P_SUCCESS[role][params["lighting"]] - 0.25 * params["fog_density"] - 0.02 * params["n_obstacles"]
            success = float(u[j, 0] < p)
            collision = float(not success and u[j, 1] < 0.6)
            outcome = "completed"
            if role == "candidate" and j == 7:
                outcome, success, collision = "agent_error", 0.0, 0.0
            elif u[j, 2] < 0.01:
                outcome = "timeout"
            out.append({
                "case_id": cid, "scenario": f"driving/{params['lighting']}-obstacles-v1", "scenario_hash": "h" * 12,
                "env": "simtest/Driving-v0", "seed": s, "sample": sample, "seed_index": k,
                "params": json.dumps(params, sort_keys=True, separators=(",", ":")),
                "tags": [params["lighting"]], "model": "driving-perception", "model_version": MODELS[role].split("@")[1],
                "model_digest": f"d{r}" * 8, "env_build": "e" * 12, "outcome": outcome,
                "passed": bool(outcome == "completed" and success == 1.0), "steps": 40 + (j % 50),
                "wall_s": 0.5, "error": "", "attempt": 1, "trace_path": None, "trace_digest": f"t{j}",
                "metric_success": success, "metric_collision": collision,
                "metric_time_to_goal": 6.0 + 4 * u[j, 1] if success else math.nan,
                "metric_min_clearance": round(0.1 + 1.5 * u[j, 1] * (1.0 if success else 0.3), 3),
                "check_reached_goal": bool(success == 1.0),
            })
        frames[role] = pd.DataFrame(out)
    return frames


def _check(comparison: str, metric: str, slice_: str, cand: Any, other: Any, margin: float, blocking: bool,
           better: str, safety: bool) -> ExampleCheck:
    import numpy as np

    c, o = cand.to_numpy(dtype=float), other.to_numpy(dtype=float)
    ok = ~(np.isnan(c) | np.isnan(o))
    c, o = c[ok], o[ok]
    n = int(len(c))
    diff = (o - c) if better == "higher" else (c - o)
    delta = float(diff.mean()) if n else math.nan
    se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    lo, hi = delta - 1.645 * se, delta + 1.645 * se
    if n < 12:
        decision = "too_small"
    elif (safety and lo > 0) or lo >= margin:
        decision = "fail"
    elif hi < margin:
        decision = "pass" if not (lo > 0 and not blocking) else "warn"
    else:
        decision = "undecided"
    z = delta / se if se and se > 0 else 0.0
    p = 0.5 * math.erfc(z / math.sqrt(2))
    return ExampleCheck(comparison, metric, slice_, n, delta, lo, hi, p, decision, margin, blocking,
                        float(c.mean()) if n else math.nan, float(o.mean()) if n else math.nan,
                        needed_n=120 if decision == "too_small" else None)


def example_verdict(frames: dict[str, Any] | None = None, *, invalid: bool = False) -> ExampleVerdict:
    frames = frames or example_frames()
    cand = frames["candidate"]
    lighting = cand["params"].map(lambda p: json.loads(p)["lighting"])
    obstacles = cand["params"].map(lambda p: json.loads(p)["n_obstacles"])
    slices = {"overall": cand.index == cand.index, "lighting=day": lighting == "day", "lighting=dusk": lighting == "dusk",
              "lighting=night": lighting == "night", "n_obstacles=5": obstacles == 5}
    spec = {  # metric: (better, margin vs baseline, margin vs reference, safety)
        "success": ("higher", 0.03, 0.08, False), "collision": ("lower", 0.02, 0.05, True),
        "min_clearance": ("higher", 0.1, 0.2, False),
    }
    checks = []
    for comparison, margin_i in (("baseline", 1), ("reference", 2)):
        other = frames[comparison]
        for metric, (better, mb, mr, safety) in spec.items():
            for name, mask in slices.items():
                blocking = name in ("overall", "lighting=night") and (metric != "min_clearance")
                checks.append(_check(comparison, metric, name, cand.loc[mask, f"metric_{metric}"],
                                     other.loc[mask, f"metric_{metric}"], (mb, mr)[margin_i - 1], blocking, better, safety))
    base = frames["baseline"]
    new = cand[~cand["passed"] & cand["case_id"].isin(base.loc[base["passed"], "case_id"])]
    failures = tuple(
        {"case_id": r.case_id, "scenario": r.scenario, "params": json.loads(r.params), "seed": int(r.seed),
         "failed_checks": ["reached_goal"] if r.outcome == "completed" else [], "outcome": r.outcome}
        for r in new.itertuples()
    )
    infra = {role: {"episodes": len(f), "env_error": int((f["outcome"] == "env_error").sum()),
                    "timeout": int((f["outcome"] == "timeout").sum()), "limit": 0.05, "valid": not invalid}
             for role, f in frames.items()}
    bad = [c for c in checks if c.blocking and c.decision in ("fail", "undecided")]
    if invalid:
        verdict, reasons = "invalid", ("candidate run: env_error + timeout rate 12.5% exceeds the policy limit 5.0%",)
        infra["candidate"]["valid"] = False
        infra["baseline"]["valid"] = infra["reference"]["valid"] = True
    elif bad:
        c = bad[0]
        verdict = "fail"
        reasons = tuple(f"{x.metric} regressed on {x.slice} vs {x.comparison}: {100 * x.delta:+.1f} pp "
                        f"[{100 * x.lower:+.1f}, {100 * x.upper:+.1f}] (margin {100 * x.margin:.0f} pp)" for x in bad)
        del c
    else:
        verdict, reasons = "pass", ()
    return ExampleVerdict(verdict, tuple(checks), reasons, infra, failures)


def example_context(run_root: str = "/tmp/runs") -> dict:
    return {
        "models": dict(MODELS),
        "runs": {role: f"{run_root}/{role}" for role in MODELS},
        "replay_command": lambda cid: f"simtest replay {cid} --model driving-perception@1.2 --run {run_root}/candidate",
        "metrics": {"success": {"kind": "binary"}, "collision": {"kind": "binary"},
                    "min_clearance": {"kind": "continuous", "unit": "m"}, "time_to_goal": {"kind": "continuous", "unit": "s"}},
        "history": [{"model": "driving-perception@0.9", "metrics": {"success": 0.74, "collision": 0.12, "min_clearance": 0.55}}],
    }


if __name__ == "__main__":  # pragma: no cover - a preview helper
    from simtest.report import write_reports

    frames = example_frames()
    paths = write_reports(sys.argv[1] if len(sys.argv) > 1 else "example-report", example_verdict(frames), frames,
                          example_context())
    for name, path in paths.items():
        print(f"{name}: {path}")
