"""Per-document features from a `simtest/RecsysSession-v0` observation (numpy only): what the
ranker sees. Shared by the agent and the training script so both compute them identically."""

from __future__ import annotations

import numpy as np

__all__ = ["FEATURES", "doc_features"]

FEATURES = (
    "history_share",  # the user's past clicks on the document's topic / all past clicks
    "history_relative",  # the same, relative to the user's most-clicked topic (0..1)
    "recent_topic",  # recency-weighted session clicks on the topic (topic fatigue proxy)
    "popularity",  # observed document popularity (0..1)
    "rating",  # observed rating (noisy quality)
    "consumed",  # the user already consumed this document (0/1)
    "history_size",  # log(1 + past clicks) / 5: how much is known about the user (cold start)
)


def doc_features(obs: dict) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the catalogue's documents, float32 features (n_docs, len(FEATURES)))."""
    idx = np.flatnonzero(obs["doc_mask"])
    topic = obs["doc_topic"][idx]
    history = np.asarray(obs["history"], np.float32)
    total = float(history.sum())
    top = float(history.max())
    x = np.empty((len(idx), len(FEATURES)), np.float32)
    x[:, 0] = history[topic] / total if total > 0 else 0.0
    x[:, 1] = history[topic] / top if top > 0 else 0.0
    x[:, 2] = np.asarray(obs["recent"], np.float32)[topic]
    x[:, 3] = obs["doc_popularity"][idx]
    x[:, 4] = obs["doc_rating"][idx]
    x[:, 5] = obs["doc_consumed"][idx]
    x[:, 6] = np.log1p(total) / 5.0
    return idx, x
