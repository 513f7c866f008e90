"""Declared scenario parameters of `simtest/RecsysSession-v0` (contract section 1): plain data plus
a stdlib-only validator, so the harness can read and check them without numpy or gymnasium."""

from __future__ import annotations

from typing import Any, Mapping

__all__ = ["PARAMS", "COHORTS", "defaults", "resolve_params", "MAX_TOPICS", "MAX_CATALOGUE", "MAX_SLATE"]

# Upper bounds of the per-episode parameters; they also fix the (padded) observation and action
# shapes, which gymnasium needs at construction while these parameters change per episode. The
# catalogue is the candidate pool a ranker scores (after candidate generation), hence at most 500.
MAX_TOPICS = 32
MAX_CATALOGUE = 500
MAX_SLATE = 10
COHORTS = ("new", "niche", "mainstream")

PARAMS: dict[str, dict[str, Any]] = {
    "cohort": {
        "type": "str", "choices": list(COHORTS), "default": "mainstream", "unit": "",
        "doc": "who the user is. mainstream: interests lean toward the popular topics, known click "
               "history. niche: interests lean toward the least popular topics, known history. new: "
               "cold start, no history, interests drawn without a lean and lower initial satisfaction",
    },
    "n_topics": {
        "type": "int", "min": 2, "max": MAX_TOPICS, "default": 10, "unit": "topics",
        "doc": "number of topics; topic t has popularity weight proportional to 1/(t+1) (Zipf)",
    },
    "catalogue_size": {
        "type": "int", "min": 20, "max": MAX_CATALOGUE, "default": 200, "unit": "documents",
        "doc": "documents in the catalogue; each has a topic (drawn by topic popularity), a latent "
               "quality and an observed popularity",
    },
    "interest_concentration": {
        "type": "float", "min": 0.05, "max": 20.0, "default": 1.0, "unit": "",
        "doc": "Dirichlet concentration per topic of the user's latent interest vector: small values "
               "give a few strong interests, large values spread interest evenly",
    },
    "drift_rate": {
        "observable": False,  # acts during the episode, not on the initial scene
        "type": "float", "min": 0.0, "max": 1.0, "default": 0.05, "unit": "per click",
        "doc": "feedback loop: after a click on topic t, interests <- (1 - drift_rate) * interests "
               "+ drift_rate * onehot(t)",
    },
    "quality_spread": {
        "type": "float", "min": 0.0, "max": 3.0, "default": 1.0, "unit": "",
        "doc": "standard deviation of the documents' latent quality (drives engagement, not clicks)",
    },
    "popularity_bias": {
        "observable": False,  # acts during the episode, not on the initial scene
        "type": "float", "min": 0.0, "max": 6.0, "default": 2.0, "unit": "utility",
        "doc": "weight of a document's popularity (0..1) in the user's click utility; popularity is "
               "independent of quality, so a high bias makes click-bait possible",
    },
    "satiation": {
        "observable": False,  # acts during the episode, not on the initial scene
        "type": "float", "min": 0.0, "max": 5.0, "default": 0.4, "unit": "",
        "doc": "engagement penalty per unit of topic fatigue (fatigue decays by 0.7 per step and "
               "grows by 1 per consumed document of that topic): repetitive slates bore the user",
    },
    "no_click_utility": {
        "observable": False,  # acts during the episode, not on the initial scene
        "type": "float", "min": -5.0, "max": 10.0, "default": 4.5, "unit": "utility",
        "doc": "utility of the no-click option in the conditional logit choice model",
    },
    "engagement_noise": {
        "observable": False,  # acts during the episode, not on the initial scene
        "type": "float", "min": 0.0, "max": 0.5, "default": 0.05, "unit": "",
        "doc": "standard deviation of gaussian noise on the engagement of a click (clipped to [0, 1])",
    },
    "history_length": {
        "type": "int", "min": 0, "max": 200, "default": 20, "unit": "clicks",
        "doc": "clicks before this session that the recommender can see (drawn from the user's "
               "interests); always 0 for the new cohort",
    },
    "slate_size": {
        "type": "int", "min": 1, "max": MAX_SLATE, "default": 5, "unit": "documents",
        "doc": "documents shown per step: the first slate_size entries of the action",
    },
    "max_steps": {
        "observable": False,  # acts during the episode, not on the initial scene
        "type": "int", "min": 1, "max": 1000, "default": 50, "unit": "steps",
        "doc": "horizon: the session is truncated after this many steps unless the user churns first",
    },
}


def defaults() -> dict[str, Any]:
    """Every parameter at its declared default."""
    return {name: spec["default"] for name, spec in PARAMS.items()}


def resolve_params(overrides: Mapping[str, Any] | None, base: Mapping[str, Any] | None = None,
                   where: str = "params") -> dict[str, Any]:
    """Merge `overrides` over `base` (default: the declared defaults) and check every value.

    All problems are reported at once in one ValueError naming `where`, the key and the fix;
    unknown names get a suggestion.
    """
    from simtest_envs import paramcheck  # lazily: this module stays plain data for the harness

    return paramcheck.resolve(PARAMS, "simtest/RecsysSession-v0", overrides, defaults() if base is None else base, where)


