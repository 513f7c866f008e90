"""Benchmark: the gate's power and error rates, through the real `simtest gate` (orchestrate.gate,
local executor, real Parquet store), on a synthetic one-step env with known per-lighting success
rates (benchmarks/gatepower/gatepower_env.py: day 0.90, dusk 0.88, night 0.85; model versions
correlated through the shared case, rho = 0.95).

Per repetition (a fresh suite seed) and configuration, it gates
- drop: a candidate that loses 10 points at night only, and
- A/A: a candidate that is just as good (another noise salt),
against the same baseline, with the policy of the issue (`passed` blocking, 3-point margin
overall and per lighting, lighting slices blocking). Configurations at the same cap (3x the base
allocation of 150 cases per lighting):
- fixed: adaptive disabled, 3 seeds per sample (450 per lighting) in one look;
- group_sequential (the default): 1 seed + up to 2 extra rounds, O'Brien-Fleming spending, targeted extension;
- anytime: the same rounds with anytime-valid bounds (the previous default).
Rows are shared through the store: the fixed design's 3 seeds contain every adaptive case, so each
episode runs once per repetition; episodes per gate count the cases each gate judged.

Prints detection rate, A/A false regressions (a confident `fail` decision), A/A gate failures
(any non-pass verdict) and mean cases per gate per model, each with its Monte-Carlo standard error.
Usage: python benchmarks/bench_gate_power.py [--reps 200] [--per-lighting 150] [--designs ...]
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent / "gatepower"
sys.path.insert(0, str(HERE))

import yaml  # noqa: E402

from simtest.orchestrate import ExecutionOptions, gate  # noqa: E402

DESIGNS = {
    "fixed": {"enabled": False},
    "group_sequential": {"enabled": True, "design": "group_sequential"},
    "anytime": {"enabled": True, "design": "anytime"},
}


def write_suite(dirpath: Path, rep: int, per_lighting: int, design: str) -> tuple[Path, Path]:
    fixed = design == "fixed"
    policy = yaml.safe_load((HERE / "policy.yaml").read_text())
    policy["adaptive"] = {**DESIGNS[design], "cap_factor": 3, "seeds_per_round": 1}
    pol = dirpath / f"policy-{design}.yaml"
    pol.write_text(yaml.safe_dump(policy))
    suite = {
        "name": f"gatepower-{rep}",  # one name per repetition: the designs share the stored rows
        "scenarios": [str(HERE / "scenario.yaml")],
        "sampler": "random",
        "samples": per_lighting,  # per lighting (stratified)
        "seeds": 3 if fixed else 1,
        "seed": 1000 + rep,
        "stratify": ["lighting"],
        "policy": str(pol),
        "max_extra_rounds": 0 if fixed else 2,
    }
    path = dirpath / f"suite-{design}.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path, pol


def one_gate(suite: Path, pol: Path, cand: str, results: str) -> tuple[bool, bool, int]:
    opts = ExecutionOptions(executor="local", quiet=True, results=results, wall_timeout_s=None)
    out = gate(str(suite), str(HERE / f"{cand}.yaml"), str(HERE / "base.yaml"), None, policy_path=str(pol),
               options=opts, out_dir=None, log=io.StringIO(), reports=False)
    v = out.verdict
    confident = any(c.blocking and c.decision == "fail" for c in v.checks)
    return v.verdict != "pass", confident, out.episodes

# "caught" counts any gate failure (a confident regression, or a blocking check still undecided at
# the cap under on_undecided: fail); "confident" counts a blocking check decided `fail`.


def rate(k: int, n: int) -> str:
    p = k / n if n else math.nan
    se = math.sqrt(p * (1 - p) / n) if n else math.nan
    return f"{p:.3f} ± {se:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--per-lighting", type=int, default=150)
    ap.add_argument("--designs", nargs="+", default=list(DESIGNS), choices=list(DESIGNS))
    args = ap.parse_args()
    tally = {d: {"caught": 0, "confident": 0, "aa_fail": 0, "aa_false": 0, "ep_drop": [], "ep_aa": []} for d in args.designs}
    order = sorted(args.designs, key=lambda d: d != "fixed")  # fixed first: it stores every row once
    t0 = time.perf_counter()
    for rep in range(args.reps):
        with tempfile.TemporaryDirectory() as tmp:
            tmpd = Path(tmp)
            for design in order:
                suite, pol = write_suite(tmpd, rep, args.per_lighting, design)
                failed, confident, ep = one_gate(suite, pol, "drop", str(tmpd / "results"))
                tally[design]["caught"] += failed
                tally[design]["confident"] += confident
                tally[design]["ep_drop"].append(ep)
                failed, confident, ep = one_gate(suite, pol, "aa", str(tmpd / "results"))
                tally[design]["aa_fail"] += failed
                tally[design]["aa_false"] += confident
                tally[design]["ep_aa"].append(ep)
        if (rep + 1) % 10 == 0 or rep + 1 == args.reps:
            print(f"  {rep + 1}/{args.reps} repetitions, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    n = args.reps
    fixed_aa = sum(tally["fixed"]["ep_aa"]) / n if "fixed" in tally else math.nan
    print(f"\nbench_gate_power: {n} repetitions, {args.per_lighting} base cases per lighting, cap 3x; "
          "night-only 10-point drop; alpha 0.05, 3-point margins, Holm over overall + 3 lightings")
    print(f"{'design':<17} {'drop caught':>15} {'confidently':>15} {'A/A false regr.':>16} {'A/A gate fail':>15} "
          f"{'cases/gate drop':>16} {'cases/gate A/A':>15} {'A/A vs fixed':>12}")
    for d in args.designs:
        t = tally[d]
        ed, ea = sum(t["ep_drop"]) / n, sum(t["ep_aa"]) / n
        print(f"{d:<17} {rate(t['caught'], n):>15} {rate(t['confident'], n):>15} {rate(t['aa_false'], n):>16} {rate(t['aa_fail'], n):>15} "
              f"{ed:>16.0f} {ea:>15.0f} {ea / fixed_aa:>11.2f}x")
    print(f"({time.perf_counter() - t0:.0f} s; cases per gate are per model version)")


if __name__ == "__main__":
    main()
