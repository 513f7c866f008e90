"""The simulated-user recommender environment `simtest/RecsysSession-v0`: one user session per
episode, slates in, choices out. Light on import: `env` (gymnasium) loads only when made."""
