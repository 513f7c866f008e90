"""A one-step synthetic env for behavioural tests whose effects are known exactly (fast: numpy only).

- The case's seed draws the scene latent z_case; `colour` (irrelevant to a sound model) reseeds
  the sensor-noise latent z_noise, so two members of an invariance pair differ at random but are
  equally likely to succeed: their true paired difference is exactly 0, as in closed loop, where a
  repaint changes every pixel but not what a sound model should do.
- success = Phi(RHO z_case + sqrt(1 - RHO^2) z_noise) < rate - shift, rate = BASE - FOG_COST * fog
  (1 on a trivial scene: fog 0 and clutter 0),
  where the agent chooses `shift`: a sound version 0; a planted one loses `red_drop` on red scenes,
  gains `fog_gain * fog` (more fog raises success: a directional violation), or loses `easy_drop`
  on trivial scenes (fog 0, clutter 0: minimum functionality).
- Registered with gymnasium as `behaviour_env:BehaviourToy-v0` (importing the module registers it).
"""

from __future__ import annotations

import math
import statistics

import gymnasium
import numpy as np

COLOURS = ("red", "blue", "grey")
BASE = 0.85
FOG_COST = 0.5
RHO = 0.8


def phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(float(x) / math.sqrt(2.0)))


def _normal(*key: int) -> float:
    """A standard normal from integer keys (splitmix64 + inverse cdf): deterministic and cheap."""
    x = 0x9E3779B97F4A7C15
    for k in key:
        x = (x ^ (int(k) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        x = (x ^ (x >> 31)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 29
    return _ND.inv_cdf(((x >> 11) + 0.5) / 2.0**53)


_ND = statistics.NormalDist()


def latents(seed: int, colour: str) -> tuple[float, float]:
    """(z_case, z_noise) of a case: the scene from the seed, the sensor noise from seed and colour."""
    return _normal(seed, 1), _normal(seed, 2, COLOURS.index(colour))


def succeeds(seed: int, colour: str, fog: float, clutter: float, shift: float) -> bool:
    z_case, z_noise = latents(seed, colour)
    u = phi(RHO * z_case + math.sqrt(1 - RHO**2) * z_noise)
    trivial = float(fog) == 0.0 and float(clutter) == 0.0  # an empty, clear scene: a sound model never fails
    return u < (1.0 if trivial else BASE - FOG_COST * float(fog)) - float(shift)


class BehaviourToyEnv(gymnasium.Env):
    metadata = {"render_modes": ["rgb_array"]}
    observation_space = gymnasium.spaces.Box(-10.0, 10.0, (3,), np.float32)
    action_space = gymnasium.spaces.Box(-10.0, 10.0, (1,), np.float32)

    def __init__(self, colour: str = "blue", fog: float = 0.0, clutter: float = 0.0, render_mode=None):
        if colour not in COLOURS:
            raise ValueError(f"colour must be one of {COLOURS}, got {colour!r}")
        self.colour, self.fog, self.clutter = colour, float(fog), float(clutter)
        self.render_mode = render_mode
        self.seed_ = 0
        self.ok: bool | None = None

    def render(self):
        """A 32 px tile: the obstacle's paint, washed out by fog, with a green (success) or red bar."""
        paint = {"red": (220, 40, 30), "blue": (40, 80, 230), "grey": (128, 128, 128)}[self.colour]
        img = np.full((32, 32, 3), paint, dtype=np.float32)
        img += self.fog * (np.array([200, 200, 200], np.float32) - img)
        if self.ok is not None:
            img[-6:] = (40, 200, 60) if self.ok else (230, 30, 30)
        return img.astype(np.uint8)

    def _obs(self) -> np.ndarray:
        return np.array([COLOURS.index(self.colour), self.fog, self.clutter], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.seed_ = int(seed or 0)
        self.ok = None
        return self._obs(), {}

    def step(self, action):
        ok = succeeds(self.seed_, self.colour, self.fog, self.clutter, float(action[0]))
        self.ok = ok
        return self._obs(), float(ok), True, False, {"success": ok}


class Agent:
    """A "model version": a shift of its success rate on red scenes, with fog, or on trivial scenes."""

    def __init__(self, red_drop: float = 0.0, fog_gain: float = 0.0, easy_drop: float = 0.0):
        self.red_drop, self.fog_gain, self.easy_drop = float(red_drop), float(fog_gain), float(easy_drop)

    def reset(self, seed: int) -> None:
        pass

    def act(self, observation) -> np.ndarray:
        colour, fog, clutter = (float(x) for x in observation)
        shift = self.red_drop if int(round(colour)) == 0 else 0.0
        shift -= self.fog_gain * fog
        if fog == 0.0 and clutter == 0.0:
            shift += self.easy_drop
        return np.array([shift], dtype=np.float32)


def make_agent(weights=None, **options) -> Agent:
    return Agent(**options)


if "BehaviourToy-v0" not in gymnasium.envs.registry:
    gymnasium.register("BehaviourToy-v0", entry_point=BehaviourToyEnv, max_episode_steps=1)
