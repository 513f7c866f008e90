"""Benchmark: regression-region discovery (simtest.judging.regions) on synthetic paired data
with planted regions of known extent, side by side with SliceLine (PyPI `sliceline`, the
`bench` extra) on the same data with the new-failure indicator as its error.

Prints, per planted region (1, 2 and 3 conditions) and effect size: recall (the planted region is
found) and precision (the reported regions that match a planted one), for both methods; the
false-discovery proportion on A/A data (no effect anywhere: every discovery is false, so the FDR is
the share of runs with any discovery; target <= q within Monte-Carlo error); and the run time on
100k pairs x 8 parameters (target: seconds). No simulation.

Matching: a reported region matches a planted region P when at least 80 % of its pairs lie in P
and it holds at least 25 % of P (a sub-region of the planted one, or the planted one itself).

Usage: python benchmarks/bench_regions.py [--pairs 5000] [--reps 3] [--aa-reps 40] [--big 100000]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from simtest.judging.regions import PairedData, search

CATS = {"lighting": ("day", "dusk", "night"), "weather": ("clear", "rain", "fog", "snow"), "surface": ("dry", "wet", "ice")}
NUMS = ("x0", "x1", "x2", "x3", "x4")  # 3 categorical + 5 numeric = 8 parameters
PLANTED = {
    1: lambda c, x: c["lighting"] == "night",
    2: lambda c, x: (c["weather"] == "fog") & (x[:, 0] >= 0.5),
    3: lambda c, x: (c["surface"] == "wet") & (x[:, 1] < 0.5) & (x[:, 2] >= 0.5),
}
EFFECTS = (0.1, 0.2, 0.4)


def make(n: int, rng: np.random.Generator, depth: int | None, effect: float, discord: float = 0.05):
    """Paired binary data, exchangeable outside the planted region (A/A): each case has its own
    difficulty p ~ Beta(18, 2) (mean 0.9); the baseline succeeds with probability p, and the
    candidate shares the baseline's draw except for a `discord` share of cases that redraw it
    independently (so both versions fail some cases the other passes, equally often). Inside the
    planted region the candidate additionally loses a success with probability `effect`."""
    cats = {k: rng.choice(v, n) for k, v in CATS.items()}
    x = rng.random((n, len(NUMS))).round(4)
    p = rng.beta(18, 2, n)
    u = rng.random(n)
    u2 = np.where(rng.random(n) < discord, rng.random(n), u)
    base = (u < p).astype(float)
    cand = (u2 < p).astype(float)
    truth = np.zeros(n, bool) if depth is None else PLANTED[depth](cats, x)
    hit = truth & (cand > 0) & (rng.random(n) < effect)
    cand[hit] = 0.0
    params = tuple({**{k: str(cats[k][i]) for k in CATS}, **{name: float(x[i, j]) for j, name in enumerate(NUMS)}}
                   for i in range(n))
    data = PairedData(params, tuple(() for _ in range(n)), "binary", cand, base, base - cand)
    return data, cats, x, truth


def mask_of(region, cats, x) -> np.ndarray:
    m = np.ones(x.shape[0], bool)
    for c in region.conditions:
        if c.feature in CATS:
            m &= cats[c.feature] == c.value
        else:
            col = x[:, NUMS.index(c.feature)]
            m &= (col < c.value) if c.op == "<" else (col >= c.value)
    return m


def matches(m: np.ndarray, truth: np.ndarray) -> bool:
    inter = np.count_nonzero(m & truth)
    return m.any() and truth.any() and inter / m.sum() >= 0.8 and inter / truth.sum() >= 0.25


def binned(cats, x, bins: int = 4) -> np.ndarray:
    """SliceLine takes categorical columns: numeric parameters as quartile bins (its predicates are
    equalities, so `x0>=0.5` is two slices: x0=q3 and x0=q4)."""
    cols = [np.asarray(cats[k]) for k in CATS]
    for j in range(x.shape[1]):
        edges = np.quantile(x[:, j], np.linspace(0, 1, bins + 1)[1:-1])
        cols.append(np.array([f"q{b + 1}" for b in np.searchsorted(edges, x[:, j], side="right")]))
    return np.column_stack(cols).astype(object)


def sliceline_masks(X: np.ndarray, errors: np.ndarray, k: int = 10):
    from sliceline.slicefinder import Slicefinder

    sf = Slicefinder(alpha=0.95, k=k, max_l=3, min_sup=10, verbose=False)
    sf.fit(X, errors)
    out = []
    for s in sf.top_slices_:
        m = np.ones(X.shape[0], bool)
        for j, v in enumerate(s):
            if v is not None:
                m &= X[:, j] == v
        out.append(m)
    return out


def have_sliceline() -> str | None:
    try:
        import sliceline  # noqa: F401  (import check only)
        from sliceline.slicefinder import Slicefinder  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - report why, run the rest
        return f"{type(exc).__name__}: {exc}"
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--aa-reps", type=int, default=40)
    ap.add_argument("--aa-pairs", type=int, default=2000)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--q", type=float, default=0.10)
    args = ap.parse_args()
    missing = have_sliceline()
    if missing:
        print(f"sliceline not available ({missing}): install the bench extra (pip install -e '.[bench]'); "
              "its columns are left out")
    rng = np.random.default_rng(2026)
    print(f"planted regions: {args.pairs} pairs x 8 parameters, {args.reps} reps each; q={args.q}")
    print(f"{'depth':>5} {'effect':>6}  {'regions recall':>14} {'precision':>9} {'top-1':>5}  "
          f"{'sliceline recall':>16} {'precision':>9} {'top-1':>5}")
    for depth in (1, 2, 3):
        for effect in EFFECTS:
            rec = prec = top1 = 0.0
            srec = sprec = stop1 = 0.0
            n_rep = n_srep = 0
            for _ in range(args.reps):
                data, cats, x, truth = make(args.pairs, rng, depth, effect)
                res = search(data, q=args.q)
                found = [mask_of(r, cats, x) for r in res.regressions()]
                ok = [matches(m, truth) for m in found]
                rec += any(ok)
                prec += (sum(ok) / len(ok)) if ok else 1.0
                top1 += bool(ok and ok[0])
                n_rep += 1
                if not missing:
                    errors = ((data.base > 0.5) & (data.cand < 0.5)).astype(float)
                    sl = sliceline_masks(binned(cats, x), errors)
                    sok = [matches(m, truth) for m in sl]
                    srec += any(sok)
                    sprec += (sum(sok) / len(sok)) if sok else 1.0
                    stop1 += bool(sok and sok[0])
                    n_srep += 1
            line = f"{depth:>5} {effect:>6.2f}  {rec / n_rep:>14.2f} {prec / n_rep:>9.2f} {top1 / n_rep:>5.2f}  "
            line += (f"{srec / n_srep:>16.2f} {sprec / n_srep:>9.2f} {stop1 / n_srep:>5.2f}" if n_srep else f"{'n/a':>16}")
            print(line, flush=True)

    any_disc = any_reported = 0
    for _ in range(args.aa_reps):
        data, *_ = make(args.aa_pairs, rng, None, 0.0)
        res = search(data, q=args.q)
        any_disc += res.discoveries > 0
        any_reported += len(res.regions) > 0
    se = math.sqrt(args.q * (1 - args.q) / args.aa_reps)
    print(f"A/A ({args.aa_pairs} pairs, exchangeable versions, {args.aa_reps} reps): FDR (share of runs with any "
          f"discovery) before pruning {any_disc / args.aa_reps:.3f}, reported {any_reported / args.aa_reps:.3f}; "
          f"target <= q={args.q} (+- {2 * se:.3f} at 2 MC s.e.)")

    data, cats, x, truth = make(args.big, rng, 2, 0.2)
    t0 = time.perf_counter()
    res = search(data, q=args.q)
    dt = time.perf_counter() - t0
    top = res.regressions()[0].rule if res.regressions() else "none"
    print(f"run time: {args.big} pairs x 8 parameters, depth 3: {dt:.2f} s ({res.examined} regions examined, "
          f"{res.discoveries} discoveries; top: {top})")
    if not missing:
        X = binned(cats, x)
        errors = ((data.base > 0.5) & (data.cand < 0.5)).astype(float)
        t0 = time.perf_counter()
        sl = sliceline_masks(X, errors)
        dt = time.perf_counter() - t0
        print(f"sliceline on the same data (max_l=3, k=10): {dt:.2f} s; top slice matches the planted region: "
              f"{bool(sl) and matches(sl[0], truth)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
