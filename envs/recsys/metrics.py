"""Metric declarations and per-episode metrics of `simtest/RecsysSession-v0` (contract section 1).
Pure numpy over the info trace; the long-horizon metrics (engagement, retention, satisfaction,
diversity) sit next to click-through so a gate can see the trade."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["METRICS", "MODEL_METRICS", "episode_metrics"]

METRICS: dict[str, dict[str, Any]] = {
    "click_through_rate": {
        "kind": "continuous", "better": "higher", "time_like": False, "unit": "clicks/step",
        "doc": "steps with a click / steps of the session (the short-term objective)",
    },
    "total_engagement": {
        "kind": "continuous", "better": "higher", "time_like": False, "unit": "engagement",
        "doc": "sum of the engagement (0..1) of every click in the session: the long-term objective",
    },
    "session_length": {
        "kind": "continuous", "better": "higher", "time_like": False, "unit": "steps",
        "doc": "steps before the user churned or the horizon ended the session",
    },
    "retained": {
        "kind": "binary", "better": "higher", "time_like": False, "unit": "",
        "doc": "1 if the user did not churn before the horizon, else 0",
    },
    "intra_slate_diversity": {
        "kind": "continuous", "better": "higher", "time_like": False, "unit": "",
        "doc": "mean over steps of the share of slate document pairs with different topics (0 for a "
               "slate of one)",
    },
    "catalogue_coverage": {
        "kind": "continuous", "better": "higher", "time_like": False, "unit": "",
        "doc": "distinct documents shown during the session / catalogue size",
    },
    "interest_entropy_change": {
        "kind": "continuous", "better": "higher", "time_like": False, "unit": "",
        "doc": "normalised entropy of the user's interests at the end minus at the start; negative = "
               "the interests narrowed (filter bubble)",
    },
    "final_satisfaction": {
        "kind": "continuous", "better": "higher", "time_like": False, "unit": "",
        "doc": "the user's satisfaction (0..1, 0 = churned) when the session ended",
    },
}


# In-the-loop model metrics (contract section 1.4): the ranker's scores (agent.diagnostics()["scores"])
# against each document's true value to the user (info doc_value), every step.
MODEL_METRICS: dict[str, dict[str, Any]] = {
    "model_ndcg": {
        "score": "ndcg", "prediction": "scores", "label": "doc_value", "k": 10,
        "outcome": "total_engagement", "objective": "click_through_rate",
        "doc": "NDCG@10 of the ranker's scores against the user's true P(click) x E[engagement] per "
               "document, mean over the session's steps",
    },
}


def episode_metrics(infos: Sequence[dict], params: dict) -> dict[str, float]:
    """infos[0] is the reset info, infos[i] the info of step i."""
    del params  # everything needed is in the trace (the env resolves defaults)
    first, steps = infos[0], infos[1:]
    n = len(steps)
    clicks = sum(1 for i in steps if i["clicked"])
    engagement = float(sum(i["engagement"] for i in steps))
    diversity = [_pair_diversity(np.asarray(i["slate_topics"])) for i in steps]
    shown = np.unique(np.concatenate([np.asarray(i["slate"], np.int64) for i in steps])) if n else np.zeros(0)
    last = steps[-1] if n else first
    return {
        "click_through_rate": clicks / n if n else 0.0,
        "total_engagement": engagement,
        "session_length": float(n),
        "retained": 0.0 if last["churned"] else 1.0,
        "intra_slate_diversity": float(np.mean(diversity)) if n else 0.0,
        "catalogue_coverage": len(shown) / float(first["catalogue_size"]),
        "interest_entropy_change": float(last["interest_entropy"] - first["interest_entropy"]),
        "final_satisfaction": float(last["satisfaction"]),
    }


def _pair_diversity(topics: np.ndarray) -> float:
    k = len(topics)
    if k < 2:
        return 0.0
    same = (topics[:, None] == topics[None, :]).sum() - k  # ordered pairs, diagonal removed
    return float(1.0 - same / (k * (k - 1)))
