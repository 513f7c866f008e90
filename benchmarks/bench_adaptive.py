"""Benchmark: episodes used by adaptive seeding (anytime-valid betting confidence sequence, more
pairs only while undecided, capped at 3x) against the fixed design (the reference table's n,
exact one-sided McNemar), on A/A and at the design drop, with both designs' error rates.
Synthetic paired outcomes with known success probabilities; seeded. No simulation of physics.
Usage: python benchmarks/bench_adaptive.py [--gates N]."""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from simtest.judging import stats

ALPHA = 0.05
# (baseline success, design drop, phi correlation, fixed n from statistics.md section 3.2, exact one-sided)
DESIGNS = [(0.9, 0.10, 0.5, 94), (0.9, 0.05, 0.5, 300), (0.7, 0.10, 0.5, 156), (0.9, 0.10, 0.3, 126)]


def paired(rng, gates, n, p_base, p_cand, rho):
    p11 = p_base * p_cand + rho * math.sqrt(p_base * (1 - p_base) * p_cand * (1 - p_cand))
    p10, p01 = p_base - p11, p_cand - p11
    u = rng.random((gates, n))
    return np.where(u < p10, 1, np.where(u < p10 + p01, -1, 0)).astype(np.int8)


def fixed(d, n, margin):
    b = (d[:, :n] == 1).sum(1)
    c = (d[:, :n] == -1).sum(1)
    return stats.fixed_binary_decision(b, c, n, margin, alpha=ALPHA, safety=True) == stats.FAIL


def adaptive(d, margin, batch, cap):
    looks = np.arange(batch, cap + 1, batch)
    pos = np.cumsum(d == 1, axis=1)[:, looks - 1]
    neg = np.cumsum(d == -1, axis=1)[:, looks - 1]
    dec = stats.sequential_binary_decision(pos, looks - pos - neg, neg, margin, alpha=ALPHA, alpha_pass=0.2, safety=True)
    first = np.argmax(dec != stats.UNDECIDED, axis=1)
    rows = np.arange(d.shape[0])
    decided = dec[rows, first] != stats.UNDECIDED
    return np.where(decided, dec[rows, first] == stats.FAIL, True), np.where(decided, looks[first], looks[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gates", type=int, default=10_000)
    args = ap.parse_args()
    rng = np.random.default_rng(2026)
    t0 = time.perf_counter()
    print("one slice; fixed = table n, exact McNemar; adaptive = looks every `batch` pairs, cap 3x, "
          "undecided at the cap = fail")
    print(f"{'design':26s} {'batch':>5s} | {'A/A fail':>8s} {'A/A E[n]':>8s} {'vs fixed':>8s} | "
          f"{'power':>6s} {'E[n]':>6s} | {'fixed A/A':>9s} {'fixed power':>11s}")
    for p, drop, rho, n_fixed in DESIGNS:
        cap = 3 * n_fixed
        d_aa = paired(rng, args.gates, cap, p, p, rho)
        d_drop = paired(rng, args.gates, cap, p, p - drop, rho)
        f_aa, f_pow = fixed(d_aa, n_fixed, drop).mean(), fixed(d_drop, n_fixed, drop).mean()
        for batch in (1, 10, n_fixed // 3):
            a_fail, a_used = adaptive(d_aa, drop, batch, cap)
            p_fail, p_used = adaptive(d_drop, drop, batch, cap)
            name = f"{p:.1f}->{p - drop:.2f} rho={rho} n={n_fixed}"
            print(f"{name:26s} {batch:5d} | {a_fail.mean():8.3f} {a_used.mean():8.1f} {a_used.mean() / n_fixed:8.2f} | "
                  f"{p_fail.mean():6.3f} {p_used.mean():6.1f} | {f_aa:9.3f} {f_pow:11.3f}")

    # A whole gate: three slices (day/dusk/night) of the first design, each stopping on its own.
    p, drop, rho, n_fixed = DESIGNS[0]
    cap = 3 * n_fixed
    slices = {"day": 0.0, "dusk": 0.0, "night": drop}
    for label, drops in (("A/A", {s: 0.0 for s in slices}), ("night -10 pts", slices)):
        ds = {s: paired(rng, args.gates, cap, p, p - dd, rho) for s, dd in drops.items()}
        fixed_fail = np.any([fixed(d, n_fixed, drop) for d in ds.values()], axis=0)
        runs = [adaptive(d, drop, 10, cap) for d in ds.values()]
        adaptive_fail = np.any([r[0] for r in runs], axis=0)
        used = np.sum([r[1] for r in runs], axis=0)
        print(f"gate of 3 slices, {label:14s}: fixed {3 * n_fixed} pairs, P(fail)={fixed_fail.mean():.3f} | adaptive "
              f"E[pairs]={used.mean():.1f} ({used.mean() / (3 * n_fixed):.2f}x), P(fail)={adaptive_fail.mean():.3f}")
    print(f"({args.gates} simulated gates per row, {time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
