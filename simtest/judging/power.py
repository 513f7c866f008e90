"""Power planning for blocking binary checks: how many paired cases catch a drop of a given size,
and what a suite as written achieves. Pure: numbers in, numbers out; `simtest plan --detect` and
the Verdict's underpowered-slice notes both use it.

Assumptions (normal approximation of the paired test, which the gate's boundaries also use):
- "Catching" a drop means a confident fail: the lower bound clears the margin (0 for safety
  checks) at the last look, at the Holm level alpha / (size of the blocking family).
- A true drop `detect` adds new failures on top of the background discordance psi_0 between two
  equally good versions: psi = psi_0 + detect, and var(d) = psi - detect^2.
- psi_0 comes from stored runs (two runs: measured on their paired cases; one run: from its success
  rate p and an assumed phi correlation between versions, 2 p (1 - p) (1 - phi)).
- The design's final look has boundary b_K (group-sequential) instead of z_(1-alpha); the power at
  the cap uses it, the power of the base allocation uses the one-look z.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from scipy import stats as sps

from simtest.judging import stats

__all__ = ["SlicePower", "slice_power", "background_discordance"]


@dataclass(frozen=True)
class SlicePower:
    slice: str
    metric: str
    margin: float
    n_base: int
    n_cap: int
    psi: float
    detect: float
    power_base: float
    power_cap: float
    needed_n: int | None  # pairs for `target` power at the cap's boundary; None: the drop is within the margin
    target: float
    psi_source: str = ""

    @property
    def underpowered(self) -> bool:
        return self.power_cap < self.target

    def line(self) -> str:
        drop = f"{self.detect * 100:g}-point drop"
        if self.needed_n is None:
            return (f"{self.slice}: a {drop} is within the margin ({self.margin:g}); it can never fail this "
                    "check, lower the margin or detect a larger drop")
        return (f"{self.slice}: {self.n_base} cases -> power {self.power_base:.2f} for a {drop} "
                f"(cap {self.n_cap} -> {self.power_cap:.2f}); {self.target:.0%} power needs about "
                f"{self.needed_n} cases")

    def to_json(self) -> dict:
        return {**asdict(self), "underpowered": self.underpowered}


def background_discordance(p: float, phi: float) -> float:
    """Share of discordant pairs between two equally good versions with success rate p and phi
    correlation of their outcomes."""
    p = min(max(float(p), 0.0), 1.0)
    return max(0.0, 2 * p * (1 - p) * (1 - float(phi)))


def slice_power(slice_: str, metric: str, *, n_base: int, n_cap: int, psi0: float, margin: float, safety: bool,
                detect: float, target: float, alpha_eff: float, z_final: float, psi_source: str = "") -> SlicePower:
    psi = min(1.0, max(psi0 + detect, detect))
    effect = detect - (0.0 if safety else margin)
    z_one = float(sps.norm.isf(alpha_eff))
    if effect <= 0:
        return SlicePower(slice_, metric, margin, n_base, n_cap, psi, detect, 0.0, 0.0, None, target, psi_source)
    power_base = stats.paired_power(effect, psi, detect, n_base, z_one)
    power_cap = stats.paired_power(effect, psi, detect, n_cap, z_final)
    needed = stats.paired_needed_n(effect, psi, detect, target, z_final)
    return SlicePower(slice_, metric, margin, int(n_base), int(n_cap), psi, detect, power_base, power_cap,
                      int(needed), target, psi_source)
