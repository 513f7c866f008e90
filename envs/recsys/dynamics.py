"""The user model of `simtest/RecsysSession-v0` as pure numpy functions: catalogue and user
sampling, the conditional-logit choice, engagement, interest drift and satisfaction. The env
composes them; tests check each one by hand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Constants", "CONSTANTS", "Catalogue", "User", "topic_popularity", "sample_catalogue", "sample_user",
    "affinity", "click_utilities", "choice_probabilities", "draw_choice", "engagement", "drift",
    "decay_fatigue", "update_satisfaction", "normalized_entropy", "expected_values",
]


@dataclass(frozen=True)
class Constants:
    """Fixed shape of the user model (scenario parameters are the knobs a test varies; these are
    not meant to be varied per case)."""

    interest_weight: float = 3.0  # click utility per unit of affinity (0..1)
    repeat_penalty: float = 2.0  # click utility lost by a document the user already consumed
    quality_weight: float = 1.0  # engagement logit per unit of quality
    affinity_weight: float = 2.0  # engagement logit per unit of affinity above 0.5
    repeat_engagement: float = 0.5  # engagement factor of a re-consumed document
    fatigue_decay: float = 0.7  # per step
    satisfaction_gain: float = 0.5  # satisfaction change per unit of engagement above the reference
    engagement_ref: float = 0.5  # engagement that leaves satisfaction unchanged
    no_click_cost: float = 0.02  # satisfaction lost by a step without a click
    initial_satisfaction: tuple[tuple[str, float], ...] = (("new", 0.5), ("niche", 0.7), ("mainstream", 0.7))
    popularity_noise: float = 1.0  # std of a document's popularity logit around its topic's


CONSTANTS = Constants()


@dataclass(frozen=True)
class Catalogue:
    topic: np.ndarray  # int64 (n,)
    quality: np.ndarray  # float64 (n,), latent
    popularity: np.ndarray  # float64 (n,) in (0, 1), observed


@dataclass(frozen=True)
class User:
    interests: np.ndarray  # float64 (n_topics,), sums to 1, latent
    history: np.ndarray  # int64 (history_length,): topics of clicks before the session, oldest first
    satisfaction: float


def topic_popularity(n_topics: int) -> np.ndarray:
    """Zipf weights 1/(t+1), normalised: topic 0 is the most popular."""
    w = 1.0 / np.arange(1, n_topics + 1, dtype=np.float64)
    return w / w.sum()


def sample_catalogue(rng: np.random.Generator, n_docs: int, n_topics: int, quality_spread: float,
                     c: Constants = CONSTANTS) -> Catalogue:
    pi = topic_popularity(n_topics)
    topic = rng.choice(n_topics, size=n_docs, p=pi).astype(np.int64)
    quality = rng.normal(0.0, 1.0, n_docs) * quality_spread
    # Popularity follows the topic's popularity plus document-level luck, independent of quality.
    logit = np.log(pi[topic] * n_topics) + rng.normal(0.0, c.popularity_noise, n_docs)
    popularity = 1.0 / (1.0 + np.exp(-logit))
    return Catalogue(topic=topic, quality=quality, popularity=popularity)


def sample_user(rng: np.random.Generator, cohort: str, n_topics: int, concentration: float,
                history_length: int, c: Constants = CONSTANTS) -> User:
    """mainstream leans toward popular topics, niche toward unpopular ones, new has no lean and
    no visible history (cold start)."""
    pi = topic_popularity(n_topics)
    if cohort == "mainstream":
        lean = pi
    elif cohort == "niche":
        lean = pi[::-1].copy()
    elif cohort == "new":
        lean = np.full(n_topics, 1.0 / n_topics)
    else:
        raise ValueError(f"unknown cohort {cohort!r}")
    alpha = np.maximum(concentration * n_topics * lean, 1e-3)
    interests = rng.dirichlet(alpha)
    interests = np.maximum(interests, 1e-12)  # keep entropy finite and every topic reachable
    interests = interests / interests.sum()
    n_hist = 0 if cohort == "new" else int(history_length)
    history = rng.choice(n_topics, size=n_hist, p=interests).astype(np.int64)
    return User(interests=interests, history=history, satisfaction=dict(c.initial_satisfaction)[cohort])


def affinity(interests: np.ndarray, topics: np.ndarray) -> np.ndarray:
    """Interest in each document's topic relative to the user's favourite topic: in [0, 1]."""
    return interests[topics] / interests.max()


def click_utilities(aff: np.ndarray, popularity: np.ndarray, consumed: np.ndarray, popularity_bias: float,
                    c: Constants = CONSTANTS) -> np.ndarray:
    """Utility of clicking each slate document. Quality is not visible before the click."""
    return c.interest_weight * aff + popularity_bias * popularity - c.repeat_penalty * consumed


def choice_probabilities(utilities: np.ndarray, no_click_utility: float) -> tuple[np.ndarray, float]:
    """Conditional logit over the slate plus a no-click option: p_i = exp(u_i) / (exp(u_0) + sum_j exp(u_j)).
    Returns (per-document probabilities, no-click probability)."""
    u = np.concatenate(([no_click_utility], np.asarray(utilities, np.float64)))
    z = np.exp(u - u.max())
    p = z / z.sum()
    return p[1:], float(p[0])


def draw_choice(p_docs: np.ndarray, uniform: float) -> int:
    """Slate position chosen by one uniform draw in [0, 1), or -1 for no click. One draw per step
    whatever the slate: paired runs share their click luck (common random numbers)."""
    cum = np.cumsum(p_docs)
    pos = int(np.searchsorted(cum, uniform, side="right"))
    return pos if pos < len(p_docs) else -1


def engagement(quality: float, aff: float, fatigue: float, satiation: float, repeat: bool,
               c: Constants = CONSTANTS) -> float:
    """Engagement in [0, 1] with a clicked document: quality and interest raise it, fatigue with
    the topic lowers it, and a document seen before is worth less."""
    logit = c.quality_weight * quality + c.affinity_weight * (aff - 0.5) - satiation * fatigue
    e = 1.0 / (1.0 + np.exp(-logit))
    return float(e * (c.repeat_engagement if repeat else 1.0))


def drift(interests: np.ndarray, topic: int, rate: float) -> np.ndarray:
    """Interests move toward the consumed topic: (1 - rate) * interests + rate * onehot(topic)."""
    out = (1.0 - rate) * interests
    out[topic] += rate
    return out


def decay_fatigue(fatigue: np.ndarray, topic: int | None, c: Constants = CONSTANTS) -> np.ndarray:
    out = fatigue * c.fatigue_decay
    if topic is not None:
        out[topic] += 1.0
    return out


def update_satisfaction(satisfaction: float, clicked: bool, engagement_value: float,
                        c: Constants = CONSTANTS) -> float:
    """A click moves satisfaction by gain * (engagement - reference); a step without a click costs
    no_click_cost. Clipped to [0, 1]; 0 means the user churns."""
    if clicked:
        s = satisfaction + c.satisfaction_gain * (engagement_value - c.engagement_ref)
    else:
        s = satisfaction - c.no_click_cost
    # Snap float residue (0.5 - 25 * 0.02 = 1e-17) to zero: churn happens when the arithmetic says so.
    if s < 1e-9:
        return 0.0
    return float(min(s, 1.0))


def normalized_entropy(p: np.ndarray) -> float:
    """Shannon entropy divided by log(len(p)): 1 = uniform interests, 0 = a single topic."""
    p = np.asarray(p, np.float64)
    if len(p) < 2:
        return 0.0
    q = p[p > 0]
    return float(-(q * np.log(q)).sum() / np.log(len(p)))


def expected_values(interests: np.ndarray, catalogue: Catalogue, consumed: np.ndarray, fatigue: np.ndarray,
                    popularity_bias: float, no_click_utility: float, satiation: float,
                    c: Constants = CONSTANTS) -> np.ndarray:
    """Each document's true value to the user now: P(click | shown alone) x E[engagement | click]
    (before noise). The ground truth a ranker's scores are judged against (info "doc_value")."""
    aff = affinity(interests, catalogue.topic)
    u = click_utilities(aff, catalogue.popularity, consumed.astype(np.float64), popularity_bias, c)
    p_click = 1.0 / (1.0 + np.exp(no_click_utility - u))
    logit = c.quality_weight * catalogue.quality + c.affinity_weight * (aff - 0.5) - satiation * fatigue[catalogue.topic]
    e = 1.0 / (1.0 + np.exp(-logit)) * np.where(consumed, c.repeat_engagement, 1.0)
    return p_click * e
