"""`simtest/RecsysSession-v0`: one simulated user session per episode. Each step the agent shows a
slate of documents; the user clicks one or none (conditional logit), engages, drifts toward what it
consumed, and churns when satisfaction reaches zero. Ground truth goes to `info` only."""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from simtest_envs.recsys import dynamics as dyn
from simtest_envs.recsys.params import MAX_CATALOGUE, MAX_SLATE, MAX_TOPICS, PARAMS, resolve_params

__all__ = ["RecsysSessionEnv", "SESSION_FIELDS", "INFO_KEYS", "RATING_NOISE", "RATING_CLIP"]

# Columns of observation["session"].
SESSION_FIELDS = ("step", "clicks", "last_clicked", "last_engagement", "slate_size")
INFO_KEYS = ("step", "interests", "interest_entropy", "satisfaction", "slate", "slate_topics", "choice",
             "clicked", "engagement", "p_click", "churned", "cohort", "n_topics", "catalogue_size", "doc_value")
RATING_NOISE = 0.5  # std of the observed rating around a document's latent quality
RATING_CLIP = 10.0  # observed ratings are clipped to [-10, 10] (over 3 std at the widest quality spread)


class RecsysSessionEnv(gymnasium.Env):
    """Observation (what a production recommender sees; shapes padded to the constructor maxima):

    - `history` float32 (max_topics,): clicks per topic, before and during the session
    - `recent` float32 (max_topics,): clicks per topic during the session, decayed by 0.7 per step
    - `session` float32 (5,): step, clicks so far, last step clicked (0/1), last engagement, slate size
    - `doc_topic` uint8 (max_catalogue,), `doc_popularity` float32 in [0, 1], `doc_rating` float32
      (latent quality + noise, clipped to +-10), `doc_consumed` int8 (0/1), `doc_mask` int8 (1 = in the catalogue)

    Action: MultiDiscrete([max_catalogue] * max_slate), document indices. Only the first `slate_size`
    entries are shown; an index outside the catalogue leaves its slot empty and a repeated index is
    shown once (both reported in info, so a buggy policy shows up as lost clicks, not a crash).

    Reward: the engagement of the step (0 without a click). terminated = churn (satisfaction hit
    0); truncated = max_steps reached. The user's interests and satisfaction are in `info` only.
    """

    metadata = {"render_modes": []}

    def __init__(self, max_topics: int = MAX_TOPICS, max_catalogue: int = MAX_CATALOGUE,
                 max_slate: int = MAX_SLATE, **params: Any) -> None:
        for name, value, hi in (("max_topics", max_topics, MAX_TOPICS), ("max_catalogue", max_catalogue, MAX_CATALOGUE),
                                ("max_slate", max_slate, MAX_SLATE)):
            if int(value) != value or not 1 <= value <= hi:
                raise ValueError(f"RecsysSessionEnv: {name} must be an integer in [1, {hi}], got {value!r}")
        self.max_topics, self.max_catalogue, self.max_slate = int(max_topics), int(max_catalogue), int(max_slate)
        self.default_params = resolve_params(params, where="RecsysSessionEnv(...)")
        self._check_fits(self.default_params, "RecsysSessionEnv(...)")
        t, n = self.max_topics, self.max_catalogue
        steps_cap = PARAMS["max_steps"]["max"]
        clicks_cap = PARAMS["history_length"]["max"] + steps_cap
        recent_cap = 1.0 / (1.0 - dyn.CONSTANTS.fatigue_decay)  # geometric series of decayed clicks
        self.observation_space = spaces.Dict({
            "history": spaces.Box(0.0, clicks_cap, (t,), np.float32),
            "recent": spaces.Box(0.0, recent_cap, (t,), np.float32),
            "session": spaces.Box(np.zeros(len(SESSION_FIELDS), np.float32),
                                  np.array([steps_cap, steps_cap, 1.0, 1.0, self.max_slate], np.float32)),
            "doc_topic": spaces.Box(0, t - 1, (n,), np.uint8),  # max_topics <= 32: one byte per document
            "doc_popularity": spaces.Box(0.0, 1.0, (n,), np.float32),
            "doc_rating": spaces.Box(-RATING_CLIP, RATING_CLIP, (n,), np.float32),
            "doc_consumed": spaces.MultiBinary(n),
            "doc_mask": spaces.MultiBinary(n),
        })
        self.action_space = spaces.MultiDiscrete(np.full(self.max_slate, n, dtype=np.int64))
        self.params: dict[str, Any] = dict(self.default_params)
        self._static: dict[str, np.ndarray] = {}

    def _check_fits(self, p: dict, where: str) -> None:
        for name, cap, kwarg in (("n_topics", self.max_topics, "max_topics"),
                                 ("catalogue_size", self.max_catalogue, "max_catalogue"),
                                 ("slate_size", self.max_slate, "max_slate")):
            if p[name] > cap:
                raise ValueError(f"{where}: {name}={p[name]} exceeds this env's max {cap}; "
                                 f"lower it or construct the env with a larger {kwarg}")

    # ------------------------------------------------------------------ episode

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = sorted(set(options) - {"params"})
        if unknown:
            raise ValueError(f"RecsysSessionEnv.reset: unknown option(s) {unknown}; the only option is 'params'")
        p = resolve_params(options.get("params"), base=self.default_params, where="reset(options={'params'})")
        self._check_fits(p, "reset(options={'params'})")
        self.params = p
        if seed is None:  # continue gymnasium's generator: still reproducible from the first seed
            seed = int(self.np_random.integers(2**63))
        cat_ss, user_ss, choice_ss, noise_ss = np.random.SeedSequence(seed).spawn(4)
        cat_rng = np.random.default_rng(cat_ss)
        self.catalogue = dyn.sample_catalogue(cat_rng, p["catalogue_size"], p["n_topics"], p["quality_spread"])
        rating = np.clip(self.catalogue.quality + cat_rng.normal(0.0, RATING_NOISE, p["catalogue_size"]),
                         -RATING_CLIP, RATING_CLIP)
        self.user = dyn.sample_user(np.random.default_rng(user_ss), p["cohort"], p["n_topics"],
                                    p["interest_concentration"], p["history_length"])
        self._choice_rng = np.random.default_rng(choice_ss)
        self._noise_rng = np.random.default_rng(noise_ss)

        k, n = p["catalogue_size"], self.max_catalogue
        self.interests = self.user.interests.copy()
        self.satisfaction = self.user.satisfaction
        self.fatigue = np.zeros(p["n_topics"])
        self.consumed = np.zeros(k, dtype=bool)
        self.history = np.bincount(self.user.history, minlength=p["n_topics"]).astype(np.float64)
        self.step_count, self.clicks = 0, 0
        self.last_clicked, self.last_engagement = 0.0, 0.0
        self.churned = False

        def padded(values: np.ndarray, dtype: Any) -> np.ndarray:
            out = np.zeros(n, dtype=dtype)
            out[:k] = values
            return out

        self._static = {
            "doc_topic": padded(self.catalogue.topic, np.uint8),
            "doc_popularity": padded(self.catalogue.popularity, np.float32),
            "doc_rating": padded(rating, np.float32),
            "doc_mask": padded(np.ones(k), np.int8),
        }
        empty = np.zeros(0, dtype=np.int64)
        return self._obs(), self._info(empty, -1, 0.0, 0.0)

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if not self._static:
            raise RuntimeError("RecsysSessionEnv.step called before reset")
        if self.churned or self.step_count >= self.params["max_steps"]:
            raise RuntimeError("RecsysSessionEnv.step called after the episode ended; call reset")
        p = self.params
        slate = self._slate(action)
        topics = self.catalogue.topic[slate]
        aff = dyn.affinity(self.interests, topics)
        consumed = self.consumed[slate]
        u = dyn.click_utilities(aff, self.catalogue.popularity[slate], consumed, p["popularity_bias"])
        p_docs, p_none = dyn.choice_probabilities(u, p["no_click_utility"])
        # One draw from each stream every step, whatever happens: paired runs stay aligned.
        pos = dyn.draw_choice(p_docs, float(self._choice_rng.random()))
        noise = float(self._noise_rng.normal(0.0, 1.0)) * p["engagement_noise"]
        choice, topic, e = -1, None, 0.0
        if pos >= 0:
            choice, topic = int(slate[pos]), int(topics[pos])
            e = dyn.engagement(float(self.catalogue.quality[choice]), float(aff[pos]), float(self.fatigue[topic]),
                               p["satiation"], bool(consumed[pos]))
            e = float(min(max(e + noise, 0.0), 1.0))
            self.interests = dyn.drift(self.interests, topic, p["drift_rate"])
            self.consumed[choice] = True
            self.history[topic] += 1.0
            self.clicks += 1
        self.fatigue = dyn.decay_fatigue(self.fatigue, topic)
        self.satisfaction = dyn.update_satisfaction(self.satisfaction, pos >= 0, e)
        self.step_count += 1
        self.last_clicked, self.last_engagement = float(pos >= 0), e
        self.churned = self.satisfaction <= 0.0
        truncated = not self.churned and self.step_count >= p["max_steps"]
        return self._obs(), e, self.churned, truncated, self._info(slate, choice, e, 1.0 - p_none)

    def _slate(self, action: Any) -> np.ndarray:
        a = np.asarray(action)
        if a.shape != (self.max_slate,) or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"RecsysSessionEnv.step: action must be {self.max_slate} integer document "
                             f"indices (MultiDiscrete), got shape {a.shape} dtype {a.dtype}")
        head = a[: self.params["slate_size"]].astype(np.int64)
        head = head[(head >= 0) & (head < self.params["catalogue_size"])]
        _, first = np.unique(head, return_index=True)
        return head[np.sort(first)]

    def _obs(self) -> dict[str, np.ndarray]:
        t, n, k = self.max_topics, self.max_catalogue, self.params["catalogue_size"]
        history = np.zeros(t, np.float32)
        history[: len(self.history)] = self.history
        recent = np.zeros(t, np.float32)
        recent[: len(self.fatigue)] = self.fatigue  # the click log's recency profile: a recommender can compute it
        consumed = np.zeros(n, np.int8)
        consumed[:k] = self.consumed
        session = np.array([self.step_count, self.clicks, self.last_clicked, self.last_engagement,
                            self.params["slate_size"]], np.float32)
        # Fresh arrays every call: callers may keep or modify what they are given.
        static = {k: v.copy() for k, v in self._static.items()}
        return {"history": history, "recent": recent, "session": session, "doc_consumed": consumed, **static}

    def _info(self, slate: np.ndarray, choice: int, e: float, p_click: float) -> dict[str, Any]:
        return {
            "step": self.step_count,
            "interests": self.interests.copy(),
            "interest_entropy": dyn.normalized_entropy(self.interests),
            "satisfaction": self.satisfaction,
            "slate": slate,
            "slate_topics": self.catalogue.topic[slate],
            "choice": choice,
            "clicked": choice >= 0,
            "engagement": e,
            "p_click": p_click,
            "churned": self.churned,
            "cohort": self.params["cohort"],
            "n_topics": self.params["n_topics"],
            "catalogue_size": self.params["catalogue_size"],
            # per catalogue document: P(click | shown alone) x E[engagement | click], the label of a ranker's scores
            "doc_value": dyn.expected_values(self.interests, self.catalogue, self.consumed, self.fatigue,
                                             self.params["popularity_bias"], self.params["no_click_utility"],
                                             self.params["satiation"]),
        }
