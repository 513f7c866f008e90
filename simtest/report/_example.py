"""A synthetic, seeded verdict and result frames shaped like the driving
demo, to preview the report layout and to test the writers without simulation:
`python -m simtest.report._example OUT_DIR` writes a full report there."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

__all__ = ["example_frames", "example_verdict", "handmade_verdict", "handmade_findings", "example_space",
           "example_context", "POLICY", "METRICS"]

MODELS = {"reference": "driving-perception@1.0", "baseline": "driving-perception@1.1", "candidate": "driving-perception@1.2"}
# success probability per lighting for each version: the candidate loses ~25 points at night
P_SUCCESS = {
    "reference": {"day": 0.85, "dusk": 0.78, "night": 0.70},
    "baseline": {"day": 0.90, "dusk": 0.84, "night": 0.80},
    "candidate": {"day": 0.91, "dusk": 0.83, "night": 0.55},
}


def example_frames(n_samples: int = 60, seeds: int = 2, seed: int = 0) -> dict[str, Any]:
    """Three paired result frames (same case ids) with the columns of simtest.contract.results."""
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


POLICY = {
    "confidence": 0.95, "max_infra_error_rate": 0.05, "on_undecided": "fail",
    "metrics": {
        "passed": {"margin_baseline": 0.05, "margin_reference": 0.08, "slice_margin_baseline": 0.10,
                   "slice_margin_reference": 0.15, "blocking": True},
        "collision": {"safety": True, "margin_baseline": 0.03, "margin_reference": 0.05, "blocking": True},
        "errors": {"safety": True, "margin_baseline": 0.02, "margin_reference": 0.05, "blocking": True,
                   "blocking_in_slices": False},
        "success": {"margin_baseline": 0.05, "margin_reference": 0.08},
        "min_clearance": {"margin_baseline": 0.05, "margin_reference": 0.10},
    },
    "slices": {"tags": True, "params": {"lighting": {}, "n_obstacles": {"bins": [0, 2, 4, 6]}}},
    "blocking_slices": ["lighting=night"],
    "slice_gaps": [{"name": "night-vs-day", "better": "lighting=day", "worse": "lighting=night", "metric": "success",
                    "margin": 0.10, "against": "reference"}],
}
METRICS = {
    "success": {"kind": "binary", "better": "higher", "time_like": False},
    "collision": {"kind": "binary", "better": "lower", "time_like": False},
    "time_to_goal": {"kind": "continuous", "better": "lower", "time_like": True, "unit": "s"},
    "min_clearance": {"kind": "continuous", "better": "higher", "time_like": False, "unit": "m"},
}


def example_verdict(frames: dict[str, Any] | None = None, *, invalid: bool = False) -> Any:
    """The real simtest.judging.compare verdict on the example frames (`invalid`: the candidate run gets
    10% env errors, over the policy's 5% limit)."""
    from simtest.judging.compare import compare
    from simtest.contract.policy import policy_from_dict

    frames = dict(frames or example_frames())
    if invalid:
        cand = frames["candidate"].copy()
        hit = cand.index % 10 == 3
        cand.loc[hit, "outcome"] = "env_error"
        cand.loc[hit, "passed"] = False
        frames["candidate"] = cand
    from simtest.judging.findings import attach

    policy = policy_from_dict(POLICY, METRICS)
    verdict = compare(frames["candidate"], frames["baseline"], frames.get("reference"), policy, METRICS)
    return attach(verdict, frames, policy, METRICS, example_space())


def example_space() -> tuple:
    """The cell space of the example scenarios (one per lighting, as the example frames name them)."""
    from simtest.contract.space import Axis, ScenarioSpace

    axes = (Axis("fog_density", edges=(0.0, 0.15, 0.3, 0.45, 0.6)), Axis("n_obstacles", values=(0, 1, 2, 3, 4, 5)))
    return tuple(ScenarioSpace(f"driving/{light}-obstacles-v1", axes) for light in ("day", "dusk", "night"))


def handmade_verdict(kind: str = "fail", *, extra_slices: int = 0, failures: int = 3,
                     frames: dict[str, Any] | None = None) -> Any:
    """A simtest.judging.compare.Verdict built by hand (no statistics run): one check of every decision
    (fail, undecided, warn, too_small, pass), `extra_slices` more passing slices, `failures` new
    failures (case ids from `frames` when given). kind: "fail" | "pass" | "invalid"."""
    from simtest.judging.compare import CheckResult, NewFailure, RunStats, ScenarioChange, Verdict

    def check(comparison, metric, slice_, delta, lo, hi, decision, margin=0.05, blocking=False, n=40,
              cand=0.6, other=0.7, needed=None, kind_="binary", safety=False, note=""):
        return CheckResult(comparison, metric, slice_, n, delta, lo, hi, 0.01 if decision == "fail" else 0.4,
                           decision, margin, blocking, cand, other, needed, note, None, safety, kind_)

    checks = [
        check("baseline", "passed", "overall", 0.02, -0.01, 0.04, "pass", blocking=True, n=120, cand=0.7, other=0.72),
        check("reference", "passed", "overall", 0.01, -0.03, 0.05, "pass", margin=0.08, blocking=True, n=120,
              cand=0.7, other=0.71),
        check("baseline", "passed", "lighting=night", 0.30, 0.12, 0.45, "fail" if kind == "fail" else "pass",
              margin=0.10, blocking=True, cand=0.275, other=0.575),
        check("reference", "passed", "lighting=night", 0.20, 0.01, 0.38, "undecided" if kind == "fail" else "pass",
              margin=0.15, blocking=True, cand=0.275, other=0.475),
        check("baseline", "passed", "lighting=day", -0.02, -0.1, 0.05, "pass", margin=0.10, cand=0.75, other=0.73),
        check("baseline", "passed", "n_obstacles=[4,6]", 0.05, -0.2, 0.3, "too_small", margin=0.10, n=9, needed=85),
        check("baseline", "success", "lighting=dusk", 0.08, 0.01, 0.14, "warn", cand=0.6, other=0.68),
        check("baseline", "min_clearance", "overall", 0.03, -0.01, 0.07, "pass", margin=0.05, n=120,
              cand=0.61, other=0.64, kind_="continuous"),
        check("baseline", "collision", "overall", 0.0, -0.02, 0.02, "pass", margin=0.03, blocking=True, n=120,
              cand=0.1, other=0.1, safety=True),
    ]
    for i in range(extra_slices):
        checks.append(check("baseline", "passed", f"goal_distance=[{i},{i + 1})", 0.0, -0.05, 0.04, "pass",
                            margin=0.10, cand=0.7, other=0.7))
    ids = list(frames["candidate"]["case_id"]) if frames else [f"case{i:012d}" for i in range(max(failures, 1))]
    new = tuple(
        NewFailure(case_id=str(ids[i % len(ids)]), scenario="driving/night-obstacles-v1",
                   params={"lighting": "night", "fog_density": 0.1 * (i % 7), "n_obstacles": i % 5},
                   seed=1000 + i, sample=i, seed_index=0, outcome="agent_error" if i == 1 else "completed",
                   failed_checks=("outcome=agent_error",) if i == 1 else ("reached_goal",))
        for i in range(failures)
    )
    stats = RunStats(rows=120, completed=118, agent_error=1, timeout=1, env_error=0)
    infra = {"candidate": stats, "baseline": stats, "reference": stats}
    reasons: tuple[str, ...] = ()
    verdict = "pass"
    if kind == "invalid":
        infra["candidate"] = RunStats(rows=120, completed=100, agent_error=0, timeout=8, env_error=12)
        reasons = ("candidate run: 12 env_error + 8 timeout of 120 episodes (16.7%) exceeds the policy limit 5.0%; "
                   "the run is invalid (infrastructure), rerun it",)
        verdict = "invalid"
    elif kind == "fail":
        reasons = ("passed regressed vs baseline in lighting=night: delta +0.300 [+0.120, +0.450], margin 0.1",
                   "passed vs reference in lighting=night is undecided (n=40, delta +0.200, upper bound +0.380 vs margin 0.15)")
        verdict = "fail"
    changes = (ScenarioChange("baseline", "driving/fog-v1", ("aaa",), ("bbb",)),) if kind != "pass" else ()
    return Verdict(verdict=verdict, checks=tuple(checks), reasons=reasons, infra=infra, new_failures=new,
                   scenario_changes=changes, alpha=0.05, sequential=True,
                   findings=handmade_findings(kind, invalid=("candidate",) if kind == "invalid" else ()))


def handmade_findings(kind: str = "fail", invalid: tuple[str, ...] = ()) -> Any:
    """Findings built by hand (no statistics run): one regression region (two for "fail"), one
    improvement, and a 2 x 3 coverage grid with one empty cell."""
    from simtest.contract.space import Axis, ScenarioSpace
    from simtest.judging.coverage import Coverage, PairGrid
    from simtest.judging.findings import Findings
    from simtest.judging.regions import Condition, Region, RegionSearch

    def region(conds, direction, n, delta, lo, hi, p, decision="diagnostic", similar=()):
        rule = " & ".join(c.label for c in conds)
        return Region(rule=rule, conditions=conds, direction=direction, metric="passed", comparison="baseline", n=n,
                      delta=delta, lower=lo, upper=hi, p_value=p / 10, p_adjusted=p, candidate_value=0.5 - delta / 2,
                      baseline_value=0.5 + delta / 2, parent_p=1e-4, decision=decision, similar=similar)

    night, fog = Condition("lighting", "=", "night"), Condition("fog_density", ">=", 0.15)
    regions = [region((night, fog), "regression", 72, 0.41, 0.28, 0.52, 1e-6, similar=("fog_density>=0.15",))]
    if kind == "fail":
        regions.append(region((Condition("n_obstacles", ">=", 4),), "regression", 40, 0.12, 0.02, 0.25, 0.04))
    regions.append(region((Condition("lighting", "=", "dusk"),), "improvement", 80, -0.1, -0.18, -0.03, 0.01))
    search = RegionSearch(metric="passed", comparison="baseline", kind="binary", n_pairs=240, examined=412,
                          discoveries=9, q=0.1, fdr="bh", alpha=0.05, bounds_level=0.9989, max_depth=3, min_support=10,
                          margin=0.0, blocking=False, regions=tuple(regions))
    space = ScenarioSpace("driving/night-obstacles-v1",
                          (Axis("lighting", values=("day", "night")), Axis("fog_density", edges=(0.0, 0.1, 0.2, 0.3))))
    grid = PairGrid(space.scenario, "lighting", "fog_density", ("day", "night"), ("[0,0.1)", "[0.1,0.2)", "[0.2,0.3]"),
                    counts=((20, 20, 20), (20, 20, 0)),
                    rates={"baseline": ((0.9, 0.85, 0.8), (0.85, 0.8, None)),
                           "candidate": ((0.9, 0.85, 0.8), (0.7, 0.3, None))})
    cov = Coverage(metric="passed", cells=6, visited=5, per_scenario={space.scenario: (5, 6)},
                   empty=("driving/night-obstacles-v1: lighting=night & fog_density=[0.2,0.3]",), n_empty=1,
                   grids=(grid,), highlights=(0,), cases=120)
    kinds = {**{k: str(v["kind"]) for k, v in METRICS.items()}, "passed": "binary", "errors": "binary"}
    return Findings(regions=(search,), coverage=cov, metric_kinds=kinds,
                    units={k: v["unit"] for k, v in METRICS.items() if "unit" in v}, invalid_runs=invalid,
                    outcome_counts={"candidate": {"completed": 118, "agent_error": 1, "timeout": 1, "passed": 80},
                                    "baseline": {"completed": 118, "agent_error": 1, "timeout": 1, "passed": 90}})


def example_context(run_root: str = "/tmp/runs") -> dict:
    return {
        "models": dict(MODELS),
        "runs": {role: f"{run_root}/{role}" for role in MODELS},
        "replay_command": lambda cid: f"simtest replay {cid} --model driving-perception@1.2 --run {run_root}/candidate",
        "metrics": METRICS,
        "history": [{"model": "driving-perception@0.9",
                     "metrics": {"passed": 0.52, "success": 0.6, "collision": 0.2, "errors": 0.01, "min_clearance": 0.55}}],
    }


if __name__ == "__main__":  # pragma: no cover - a preview helper
    from simtest.report import write_reports

    frames = example_frames()
    paths = write_reports(sys.argv[1] if len(sys.argv) > 1 else "example-report", example_verdict(frames), frames,
                          example_context())
    for name, path in paths.items():
        print(f"{name}: {path}")
