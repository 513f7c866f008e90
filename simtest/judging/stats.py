"""The gate's statistics, pure numpy/scipy. Paired binary (exact one-sided McNemar,
Tango score bounds), paired continuous (bootstrap bounds, sign-flip permutation p-values),
multiplicity (Holm, BH), sample-size floors (Connor), and anytime-valid bounds for adaptive seeding.

Conventions: every difference is regression-oriented (positive = the candidate is worse); "lower"
and "upper" are one-sided (1 - alpha) bounds, i.e. the ends of an equal-tailed (1 - 2 alpha)
interval. Everything random takes an explicit seed.

Assumptions:
- Continuous bounds: the hull of the BCa paired bootstrap (scipy.stats.bootstrap) and the t
  interval for n <= BOOT_MAX_N (BCa alone under-covers small samples); above that the t interval, which for a mean of 2,000+ bounded-variance differences
  agrees with the bootstrap to well under the resampling noise and costs O(n) instead of O(n*B).
  p-values likewise: sign-flip permutation for small n, one-sample t above.
- Anytime-valid bounds: binary differences d in {-1, 0, 1} use a uniform mixture of constant bets
  (Waudby-Smith & Ramdas' betting confidence sequence with a discrete mixture over the bet size);
  its wealth depends only on the counts of +1/0/-1, so it is exact, cheap and order-free.
  Continuous differences use the one-sided normal-mixture boundary (Howard et al. 2021) with a
  plug-in variance: an asymptotic confidence sequence (valid as n grows, not for tiny n).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "BOOT_MAX_N", "mcnemar_p", "tango_stat", "tango_bounds", "tango_p", "connor_n", "min_discordant",
    "mean_bounds", "mean_p", "holm", "bh", "bet_grid", "betting_log_wealth", "betting_bounds", "betting_p",
    "normal_mixture_radius", "normal_mixture_bounds", "normal_mixture_p", "normal_mixture_p_from", "continuous_needed_n",
    "check_seed", "sequential_binary_decision", "fixed_binary_decision", "FAIL", "PASS", "UNDECIDED", "CheckStats", "binary_check", "continuous_check",
    "seq_min_discordant", "paired_power", "paired_needed_n",
]

BOOT_MAX_N = 2000
N_RESAMPLES = 2000

# --------------------------------------------------------------------------- binary, fixed n


def mcnemar_p(b, c):
    """Exact one-sided McNemar p-value for 'the candidate regressed': P(X >= b), X ~ Bin(b+c, 1/2).
    b = pairs where only the baseline succeeded, c = pairs where only the candidate did. 1 when
    there is no discordant pair. Equals scipy.stats.binomtest(b, b+c, 0.5, 'greater').pvalue."""
    b = np.asarray(b, dtype=float)
    c = np.asarray(c, dtype=float)
    k = b + c
    p = np.where(k > 0, stats.binom.sf(b - 1, np.maximum(k, 1), 0.5), 1.0)
    return p if p.ndim else float(p)


def tango_stat(b, c, n, d0):
    """Tango's (1998) score statistic for H0: Delta = d0, Delta = (b - c) / n; vectorised.
    Large positive values are evidence that Delta > d0."""
    b, c, n, d0 = (np.asarray(x, dtype=float) for x in (b, c, n, d0))
    A = 2 * n
    B = -b - c + (2 * n - b + c) * d0
    C = -c * d0 * (1 - d0)
    with np.errstate(invalid="ignore", divide="ignore"):
        q21 = (np.sqrt(np.maximum(B * B - 4 * A * C, 0.0)) - B) / (2 * A)
        num = b - c - n * d0
        var = n * (2 * q21 + d0 * (1 - d0))
        t = np.where(var > 0, num / np.sqrt(np.where(var > 0, var, 1.0)), np.sign(num) * np.inf)
    t = np.where(np.abs(num) < 1e-12, 0.0, t)
    return t if t.ndim else float(t)


def tango_bounds(b, c, n, alpha: float = 0.05):
    """One-sided (1 - alpha) lower and upper bounds on Delta (Tango score interval, vectorised by
    bisection; matches the brentq version of the reference notes). Returns (lower, upper)."""
    b, c, n = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (b, c, n)))
    z = stats.norm.ppf(1 - alpha)
    eps = 1e-9
    est = np.where(n > 0, (b - c) / np.maximum(n, 1), 0.0)

    def solve(lo, hi, target):
        # T(d0) decreases in d0; find d0 with T(d0) = target inside [lo, hi].
        lo, hi = lo.copy(), hi.copy()
        for _ in range(60):
            mid = (lo + hi) / 2
            above = tango_stat(b, c, n, mid) > target
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        return (lo + hi) / 2

    lo_edge = np.full_like(est, -1 + eps)
    hi_edge = np.full_like(est, 1 - eps)
    lower = np.where(tango_stat(b, c, n, lo_edge) - z <= 0, -1 + eps, solve(lo_edge, est, z))
    upper = np.where(tango_stat(b, c, n, hi_edge) + z >= 0, 1 - eps, solve(est, hi_edge, -z))
    lower = np.where(n > 0, lower, -1.0)
    upper = np.where(n > 0, upper, 1.0)
    if lower.ndim == 0:
        return float(lower), float(upper)
    return lower, upper


def tango_p(b, c, n, d0, side: str = "greater"):
    """Asymptotic score-test p-value. side='greater': H0 Delta <= d0 (small p = confidently worse
    than d0); side='less': H0 Delta >= d0 (small p = confidently better than d0)."""
    t = tango_stat(b, c, n, d0)
    p = stats.norm.sf(t) if side == "greater" else stats.norm.cdf(t)
    return p if np.ndim(p) else float(p)


def min_discordant(alpha: float) -> int:
    """Fewest discordant pairs with which the exact one-sided McNemar can reach p <= alpha:
    the smallest k with 0.5**k <= alpha."""
    return max(1, math.ceil(math.log2(1.0 / alpha) - 1e-12))


def connor_n(psi: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Pairs needed to detect a paired drop `delta` with discordance `psi` (Connor 1987), one-sided:
    n = [z_a sqrt(psi) + z_b sqrt(psi - delta^2)]^2 / delta^2. psi is raised to at least delta."""
    if delta <= 0:
        raise ValueError("connor_n: delta must be > 0")
    psi = min(1.0, max(psi, delta))
    za, zb = stats.norm.ppf(1 - alpha), stats.norm.ppf(power)
    n = (za * math.sqrt(psi) + zb * math.sqrt(max(psi - delta * delta, 0.0))) ** 2 / delta**2
    return int(math.ceil(n - 1e-9))


# --------------------------------------------------------------------------- continuous, fixed n


def check_seed(seed: int, *key: str) -> np.random.SeedSequence:
    """A resampling stream per check, independent of the order in which checks are computed."""
    return np.random.SeedSequence([int(seed), *[hash_str(k) for k in key]])


def hash_str(text: str) -> int:
    """A stable 32-bit hash of a string (Python's hash() is salted per process)."""
    import hashlib

    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def mean_bounds(d: np.ndarray, alpha: float = 0.05, *, seed: np.random.SeedSequence | int = 0,
                n_resamples: int = N_RESAMPLES) -> tuple[float, float]:
    """One-sided (1 - alpha) bounds on the mean of paired differences d."""
    d = np.asarray(d, dtype=float)
    n = d.size
    if n == 0:
        return (-math.inf, math.inf)
    mean = float(d.mean())
    if n == 1 or np.ptp(d) == 0:
        # No spread: no resampling can say more; the bounds are the mean itself only if n is large
        # enough to trust that the differences really never vary. Stay honest for small n.
        if n >= 2 and np.ptp(d) == 0:
            return (mean, mean) if n >= 30 else (-math.inf, math.inf)
        return (-math.inf, math.inf)
    if n > BOOT_MAX_N:
        se = float(d.std(ddof=1)) / math.sqrt(n)
        t = stats.t.ppf(1 - alpha, n - 1)
        return (mean - t * se, mean + t * se)
    rng = np.random.default_rng(seed)
    res = stats.bootstrap((d,), np.mean, confidence_level=1 - 2 * alpha, n_resamples=n_resamples,
                          method="BCa", rng=rng, vectorized=True, axis=-1)
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # BCa degenerate (e.g. one distinct non-zero)
        res = stats.bootstrap((d,), np.mean, confidence_level=1 - 2 * alpha, n_resamples=n_resamples,
                              method="percentile", rng=np.random.default_rng(seed), vectorized=True, axis=-1)
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    # The hull with the t interval: BCa follows skew, but under-covers by 2-4 points below ~100
    # pairs (measured: 0.86-0.88 for a nominal 0.90); the hull stays within 2 points of nominal.
    se = float(d.std(ddof=1)) / math.sqrt(n)
    t = stats.t.ppf(1 - alpha, n - 1) * se
    return (min(lo, mean - t), max(hi, mean + t))


def mean_p(d: np.ndarray, m: float = 0.0, side: str = "greater", *,
           seed: np.random.SeedSequence | int = 0, n_resamples: int = N_RESAMPLES) -> float:
    """p-value for H0: mean(d) <= m (side='greater') or >= m (side='less'): sign-flip permutation
    of d - m for small n (exact when 2^n <= n_resamples), one-sample t above BOOT_MAX_N."""
    x = np.asarray(d, dtype=float) - m
    n = x.size
    if n == 0:
        return 1.0
    if np.all(x == 0):
        return 1.0
    if n > BOOT_MAX_N:
        mean, sd = float(x.mean()), float(x.std(ddof=1))
        if sd == 0:
            return 0.0 if (mean > 0) == (side == "greater") else 1.0
        t = mean / (sd / math.sqrt(n))  # the one-sample t-test, without scipy's per-call overhead
        return float(stats.t.sf(t, n - 1) if side == "greater" else stats.t.cdf(t, n - 1))
    res = stats.permutation_test((x,), np.mean, permutation_type="samples", alternative=side,
                                 n_resamples=n_resamples, vectorized=True, axis=-1,
                                 rng=np.random.default_rng(seed))
    return float(res.pvalue)


def continuous_needed_n(sd: float, effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Pairs needed to detect a mean shift `effect` of differences with sd `sd` (normal approx)."""
    if effect <= 0 or not math.isfinite(sd) or sd <= 0:
        return 0
    za, zb = stats.norm.ppf(1 - alpha), stats.norm.ppf(power)
    return int(math.ceil(((za + zb) * sd / effect) ** 2))


# --------------------------------------------------------------------------- multiplicity


def holm(p) -> np.ndarray:
    """Holm step-down adjusted p-values (valid under any dependence), along the last axis."""
    p = np.asarray(p, dtype=float)
    m = p.shape[-1] if p.ndim else 0
    if m == 0:
        return p.copy()
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    adj = np.minimum(np.maximum.accumulate((m - np.arange(m)) * ranked, axis=-1), 1.0)
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, axis=-1)
    return out


def bh(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (scipy.stats.false_discovery_control)."""
    p = np.asarray(p, dtype=float)
    if p.size == 0:
        return p.copy()
    return np.asarray(stats.false_discovery_control(p, method="bh"), dtype=float)


# --------------------------------------------------------------------------- anytime-valid (binary)

def bet_grid(scale: float = 0.05) -> np.ndarray:
    """Bet sizes, as fractions of the largest bet that keeps wealth positive, for a check whose
    margin (the effect it must resolve) is `scale`. The growth-optimal fraction for a paired
    difference of size ~scale with discordance psi is about scale / psi >= scale, so the grid runs
    geometrically (ratio 0.6) from 0.9 down to `scale`: a uniform mixture over a few points loses
    only log(len(grid)) against the best of them, while a wide grid would waste weight. Fixed
    before the data (it depends on the policy margin only), so validity is untouched."""
    scale = min(max(float(scale), 0.01), 0.9)
    k = max(3, int(math.floor(math.log(scale / 0.9) / math.log(0.6))) + 1)
    return 0.9 * 0.6 ** np.arange(k)


DEFAULT_GRID = bet_grid(0.05)


def betting_log_wealth(n_pos, n_zero, n_neg, m, side: str = "greater", grid: np.ndarray | None = None):
    """log of the mixture wealth for differences in {-1, 0, +1} with the given counts, testing
    H0: mean <= m (side='greater') or H0: mean >= m (side='less'). Under H0 the wealth is a
    nonnegative supermartingale, so P(ever >= 1/alpha) <= alpha (Ville). Vectorised."""
    n_pos, n_zero, n_neg, m = (np.asarray(x, dtype=float)[..., None] for x in (n_pos, n_zero, n_neg, m))
    fractions = DEFAULT_GRID if grid is None else np.asarray(grid, dtype=float)
    if side == "greater":
        lam = fractions / (1.0 + m)  # factor 1 + lam (x - m) > 0 for x >= -1
        sgn = 1.0
    else:
        lam = fractions / (1.0 - m)  # factor 1 - lam (x - m) > 0 for x <= 1
        sgn = -1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        lw = (n_pos * np.log1p(sgn * lam * (1 - m)) + n_zero * np.log1p(sgn * lam * (-m))
              + n_neg * np.log1p(sgn * lam * (-1 - m)))
    lw = np.where(np.isnan(lw), -np.inf, lw)
    top = np.max(lw, axis=-1, keepdims=True)  # a hand-written logsumexp: scipy's costs 100 us a call
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(lw - top), axis=-1)) + top[..., 0] - math.log(lam.shape[-1])
    return out if np.ndim(out) else float(out)


def betting_p(n_pos, n_zero, n_neg, m, side: str = "greater", grid: np.ndarray | None = None):
    """Anytime-valid p-value min(1, 1 / wealth)."""
    lw = betting_log_wealth(n_pos, n_zero, n_neg, m, side, grid)
    p = np.minimum(1.0, np.exp(-np.asarray(lw)))
    return p if np.ndim(p) else float(p)


def betting_bounds(n_pos, n_zero, n_neg, alpha_lower: float = 0.05, alpha_upper: float | None = None,
                   grid: np.ndarray | None = None):
    """Anytime-valid one-sided bounds on the mean of d in {-1,0,1}: lower = smallest m not
    rejected by the 'greater' test at alpha_lower; upper likewise at alpha_upper. Vectorised."""
    alpha_upper = alpha_lower if alpha_upper is None else alpha_upper
    n_pos, n_zero, n_neg = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (n_pos, n_zero, n_neg)))
    n = n_pos + n_zero + n_neg
    est = np.where(n > 0, (n_pos - n_neg) / np.maximum(n, 1), 0.0)
    thr_lo, thr_hi = math.log(1 / alpha_lower), math.log(1 / alpha_upper)
    eps = 1e-9
    # lower: wealth('greater', m) decreases in m; find where it crosses 1/alpha on [-1, est]
    lo, hi = np.full_like(est, -1 + eps), est.copy()
    rejected_edge = betting_log_wealth(n_pos, n_zero, n_neg, lo, "greater", grid) >= thr_lo
    for _ in range(50):
        mid = (lo + hi) / 2
        rej = betting_log_wealth(n_pos, n_zero, n_neg, mid, "greater", grid) >= thr_lo
        lo, hi = np.where(rej, mid, lo), np.where(rej, hi, mid)
    lower = np.where(rejected_edge, hi, -1.0)
    lo, hi = est.copy(), np.full_like(est, 1 - eps)
    rejected_edge = betting_log_wealth(n_pos, n_zero, n_neg, hi, "less", grid) >= thr_hi
    for _ in range(50):
        mid = (lo + hi) / 2
        rej = betting_log_wealth(n_pos, n_zero, n_neg, mid, "less", grid) >= thr_hi
        lo, hi = np.where(rej, lo, mid), np.where(rej, mid, hi)
    upper = np.where(rejected_edge, lo, 1.0)
    if np.ndim(lower) == 0:
        return float(lower), float(upper)
    return lower, upper


# --------------------------------------------------------------------------- anytime-valid (continuous)

# The mixture is tuned to be tightest around this many pairs; any fixed value keeps validity.
NM_TUNE_N = 200


def normal_mixture_radius(n, sd, alpha: float = 0.05, tune_n: int = NM_TUNE_N):
    """One-sided normal-mixture boundary (Howard et al. 2021, eq. for the one-sided mixture) on
    the mean of n differences with standard deviation sd: the CS is mean -/+ radius. Asymptotic."""
    n = np.asarray(n, dtype=float)
    sd = np.asarray(sd, dtype=float)
    # rho is fixed by (tune_n, alpha 0.05), not by the queried alpha, so that one mixture serves
    # every level and p-values from it are monotone.
    la = math.log(1 / (2 * 0.05))
    rho = tune_n / (2 * la + math.log(1 + 2 * la))
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.sqrt(2 * (n + rho) * np.log(np.sqrt((n + rho) / rho) / (2 * alpha) + 1))
        r = np.where(n > 0, sd * u / np.maximum(n, 1), np.inf)
    return r if r.ndim else float(r)


def normal_mixture_bounds(d: np.ndarray, alpha_lower: float = 0.05, alpha_upper: float | None = None,
                          tune_n: int = NM_TUNE_N) -> tuple[float, float]:
    alpha_upper = alpha_lower if alpha_upper is None else alpha_upper
    d = np.asarray(d, dtype=float)
    if d.size < 2:
        return (-math.inf, math.inf)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    return (mean - normal_mixture_radius(d.size, sd, alpha_lower, tune_n),
            mean + normal_mixture_radius(d.size, sd, alpha_upper, tune_n))


def normal_mixture_p(d: np.ndarray, m: float, side: str = "greater", tune_n: int = NM_TUNE_N) -> float:
    """Smallest alpha at which the normal-mixture CS excludes m on the given side (bisection on
    alpha; the radius is monotone in alpha)."""
    d = np.asarray(d, dtype=float)
    if d.size < 2:
        return 1.0
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    gap = (mean - m) if side == "greater" else (m - mean)
    return normal_mixture_p_from(gap, d.size, sd, tune_n)


def normal_mixture_p_from(gap: float, n: float, sd: float, tune_n: int = NM_TUNE_N) -> float:
    """normal_mixture_p from summary values: gap = estimate minus the null value on the tested side."""
    if gap <= 0:
        return 1.0
    if sd == 0:
        return 0.0
    lo, hi = 1e-16, 0.5
    if normal_mixture_radius(n, sd, hi, tune_n) >= gap:
        return 1.0
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if normal_mixture_radius(n, sd, mid, tune_n) < gap:
            hi = mid
        else:
            lo = mid
    return float(hi)


# --------------------------------------------------------------------------- decisions, vectorised

FAIL, PASS, UNDECIDED = 2, 1, 0


def sequential_binary_decision(n_pos, n_zero, n_neg, margin: float, *, alpha: float = 0.05,
                               alpha_pass: float = 0.2, safety: bool = True):
    """The sequential gate's decision for one binary check from its counts (vectorised over any
    shape, e.g. simulated gates x looks): FAIL when the anytime-valid test of 'regression <= m'
    (m = 0 for safety checks, else the margin) rejects at alpha; PASS when the test of
    'regression >= margin' rejects at alpha_pass; else UNDECIDED. Same rule as compare() in
    sequential mode for a check outside any multiplicity family."""
    grid = bet_grid(margin if margin > 0 else 0.05)
    m_fail = 0.0 if safety else margin
    fail = betting_log_wealth(n_pos, n_zero, n_neg, m_fail, "greater", grid) >= math.log(1 / alpha)
    ok = betting_log_wealth(n_pos, n_zero, n_neg, margin, "less", grid) >= math.log(1 / alpha_pass)
    return np.where(fail, FAIL, np.where(ok, PASS, UNDECIDED))


def fixed_binary_decision(b, c, n, margin: float, *, alpha: float = 0.05, safety: bool = True):
    """The fixed-n gate's decision for one binary check (vectorised): FAIL when the exact McNemar
    (safety or margin 0) or the Tango score test at the margin rejects 'regression <= m' and the
    Tango lower bound clears m; PASS when the Tango upper bound is below the margin; else
    UNDECIDED. Same rule as compare() in fixed-n mode for a check outside any family."""
    m_fail = 0.0 if safety else margin
    lower, upper = tango_bounds(b, c, n, alpha)
    p = mcnemar_p(b, c) if m_fail == 0 else tango_p(b, c, n, m_fail, "greater")
    clears = (np.asarray(lower) > 0) if safety else (np.asarray(lower) >= margin)
    fail = (np.asarray(p) <= alpha) & clears
    return np.where(fail, FAIL, np.where(np.asarray(upper) < margin, PASS, UNDECIDED))


# --------------------------------------------------------------------------- one check


@dataclass(frozen=True)
class CheckStats:
    """One check's numbers before multiplicity: regression-oriented delta and one-sided bounds,
    the p-value of the fail hypothesis, both runs' means, the pairs a fixed design would need, and
    whether the sample is below the floor at which the check could ever fail."""

    n: int
    delta: float
    lower: float
    upper: float
    p_fail: float
    cand_value: float
    other_value: float
    needed_n: int | None
    small: bool
    note: str
    p_nominal: float | None = None  # the one-look p-value of the latest look (None: same as p_fail)


def binary_check(g_cand: np.ndarray, g_other: np.ndarray, margin: float, safety: bool, alpha: float,
                  alpha_eff: float, sequential: bool, alpha_pass: float, raw_cand: np.ndarray,
                  raw_other: np.ndarray) -> CheckStats:
    """Paired binary check. g_*: 1 = the good outcome per pair; raw_*: the metric values (for the
    reported means). Fixed-n: Tango bounds, exact McNemar (margin 0 or safety) or Tango score p;
    sequential: betting bounds (upper at alpha_pass) and p. alpha_eff sets the too-small floor."""
    n = int(g_cand.size)
    b = int(np.sum((g_other == 1) & (g_cand == 0)))  # only the comparator was good: regression
    c = int(np.sum((g_other == 0) & (g_cand == 1)))  # only the candidate was good
    cv = float(raw_cand.mean()) if n else math.nan
    ov = float(raw_other.mean()) if n else math.nan
    if n == 0:
        return CheckStats(0, math.nan, math.nan, math.nan, 1.0, cv, ov, None, True, "no paired episodes")
    delta = (b - c) / n
    m_fail = 0.0 if safety else margin
    if sequential:
        grid = bet_grid(margin if margin > 0 else 0.05)
        lower, upper = betting_bounds(b, n - b - c, c, alpha, alpha_pass, grid)
        p = betting_p(b, n - b - c, c, m_fail, "greater", grid)
        k_min = seq_min_discordant(alpha_eff, margin)
        note = f"anytime-valid; {b} worse / {c} better of {n} pairs"
    else:
        lower, upper = tango_bounds(b, c, n, alpha)
        p = mcnemar_p(b, c) if m_fail == 0 else tango_p(b, c, n, m_fail, "greater")
        k_min = min_discordant(alpha_eff)
        note = f"{b} worse / {c} better of {n} pairs"
    psi = (b + c) / n
    effect = margin if margin > 0 else 0.05
    needed = max(connor_n(psi, effect, alpha_eff), math.ceil(k_min / max(psi, effect)))
    small = (b + c) < k_min
    return CheckStats(n, delta, float(lower), float(upper), float(p), cv, ov, int(needed), small, note)


@functools.lru_cache(maxsize=256)
def seq_min_discordant(alpha: float, margin: float) -> int:
    """Fewest discordant pairs (all regressions) with which the sequential test can reject."""
    grid = bet_grid(margin if margin > 0 else 0.05)
    k = 1
    while betting_log_wealth(k, 0, 0, 0.0, "greater", grid) < math.log(1 / alpha) and k < 10_000:
        k += 1
    return k


def continuous_check(d: np.ndarray, margin: float, safety: bool, alpha: float, alpha_eff: float,
                      sequential: bool, alpha_pass: float, seed: np.random.SeedSequence,
                      raw_cand: np.ndarray, raw_other: np.ndarray) -> CheckStats:
    """Paired continuous check on regression-oriented differences d. Fixed-n: bootstrap/t hull
    bounds, sign-flip permutation p; sequential: normal-mixture bounds and p."""
    n = int(d.size)
    cv = float(np.nanmean(raw_cand)) if n and np.isfinite(raw_cand).any() else math.nan
    ov = float(np.nanmean(raw_other)) if n and np.isfinite(raw_other).any() else math.nan
    if n == 0:
        return CheckStats(0, math.nan, math.nan, math.nan, 1.0, cv, ov, None, True, "no paired episodes")
    delta = float(d.mean())
    m_fail = 0.0 if safety else margin
    s_boot, s_perm = seed.spawn(2)
    if sequential:
        lower, _ = normal_mixture_bounds(d, alpha, alpha)
        _, upper = normal_mixture_bounds(d, alpha_pass, alpha_pass)
        p = normal_mixture_p(d, m_fail, "greater")
        n_min = 10  # the asymptotic sequence needs a handful of pairs before it means anything
        note = "anytime-valid (asymptotic)"
    else:
        lower, upper = mean_bounds(d, alpha, seed=s_boot)
        p = mean_p(d, m_fail, "greater", seed=s_perm)
        n_min = max(2, math.ceil(math.log2(1 / alpha_eff)))  # sign-flip p >= 2^-n
        note = "bootstrap" if n <= BOOT_MAX_N else "normal approximation (large n)"
    sd = float(d.std(ddof=1)) if n > 1 else math.nan
    effect = margin if margin > 0 else (0.5 * sd if math.isfinite(sd) and sd > 0 else 0.0)
    needed = continuous_needed_n(sd, effect, alpha_eff) if math.isfinite(sd) else None
    return CheckStats(n, delta, float(lower), float(upper), float(p), cv, ov, needed, n < n_min, note)


# --------------------------------------------------------------------------- power planning


def paired_power(effect: float, psi: float, delta: float, n: int, z_alpha: float) -> float:
    """Normal-approximation power of a one-sided paired binary test: the chance that the estimate
    clears the null by z_alpha standard errors when the true regression exceeds the null by
    `effect`. psi: discordance (share of pairs that differ, >= delta); delta: the true paired
    difference, so var(d) = psi - delta^2."""
    if effect <= 0 or n <= 0:
        return 0.0
    var = max(psi - delta * delta, 1e-12)
    return float(stats.norm.cdf(effect / math.sqrt(var / n) - z_alpha))


def paired_needed_n(effect: float, psi: float, delta: float, power: float, z_alpha: float) -> int:
    """Pairs for `power` in paired_power (the same approximation, solved for n)."""
    if effect <= 0:
        raise ValueError("paired_needed_n: the effect beyond the null must be > 0")
    var = max(psi - delta * delta, 1e-12)
    return int(math.ceil((z_alpha + stats.norm.ppf(power)) ** 2 * var / effect**2))
