"""The controller half of `recsys-ranker`: turns per-document predictions into a slate. Top-k by
score, with a greedy diversity re-ranking and epsilon exploration as knobs (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SlatePolicyConfig", "SlatePolicy"]


@dataclass(frozen=True)
class SlatePolicyConfig:
    objective: str = "engagement"  # "click": rank by P(click); "engagement": by P(click) * E[engagement | click]
    diversity: float = 0.0  # 0..1: each earlier pick of the same topic multiplies a score by (1 - diversity)
    exploration: float = 0.0  # 0..1: chance that a slot shows a random not-yet-consumed document instead
    filter_consumed: bool = True  # never re-show what the user already consumed (unless nothing else is left)

    def __post_init__(self) -> None:
        if self.objective not in ("click", "engagement"):
            raise ValueError(f'objective must be "click" or "engagement", got {self.objective!r}')
        for name in ("diversity", "exploration"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v!r}")


class SlatePolicy:
    def __init__(self, config: SlatePolicyConfig = SlatePolicyConfig()) -> None:
        self.config = config

    def scores(self, p_click: np.ndarray, engagement: np.ndarray) -> np.ndarray:
        if self.config.objective == "click":
            return p_click.astype(np.float64)
        return p_click.astype(np.float64) * engagement

    def select(self, docs: np.ndarray, topics: np.ndarray, scores: np.ndarray, consumed: np.ndarray,
               slate_size: int, rng: np.random.Generator) -> np.ndarray:
        """Catalogue indices of the slate (len <= slate_size), best first. Ties break by index."""
        c = self.config
        s = scores.astype(np.float64).copy()
        if c.filter_consumed and (~consumed.astype(bool)).sum() >= slate_size:
            s[consumed.astype(bool)] = -np.inf
        k = min(slate_size, len(docs))
        order = np.argsort(-s, kind="stable")
        if c.diversity > 0.0:
            picks = self._diverse(order, topics, s, k)
        else:
            picks = order[:k]
        if c.exploration > 0.0:
            picks = self._explore(picks, s, rng)
        return docs[picks]

    def _diverse(self, order: np.ndarray, topics: np.ndarray, s: np.ndarray, k: int) -> np.ndarray:
        # Greedy re-ranking over a shortlist: the candidates a diverse slate could draw from.
        short = order[: max(8 * k, 32)]
        base = s[short]
        factor = np.ones(len(short))
        picks: list[int] = []
        taken = np.zeros(len(short), bool)
        for _ in range(k):
            adjusted = np.where(taken, -np.inf, np.where(base > 0, base * factor, base / np.maximum(factor, 1e-12)))
            j = int(np.argmax(adjusted))
            picks.append(int(short[j]))
            taken[j] = True
            factor[topics[short] == topics[short[j]]] *= 1.0 - self.config.diversity
        return np.asarray(picks, np.int64)

    def _explore(self, picks: np.ndarray, s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = picks.copy()
        flips = rng.random(len(out)) < self.config.exploration  # fixed draws per step: stable stream use
        pool = np.flatnonzero(np.isfinite(s))
        pool = np.setdiff1d(pool, out)
        for i in np.flatnonzero(flips):
            if len(pool) == 0:
                break
            j = int(rng.integers(len(pool)))
            out[i] = pool[j]
            pool = np.delete(pool, j)
        return out
