"""simtest's gymnasium environments (import name `simtest_envs`); never imports simtest.

Importing the package registers the ids with gymnasium; the env classes load lazily on make()."""

from __future__ import annotations


def _register() -> None:
    try:
        import gymnasium
    except ImportError:  # the light registry (registry.py) must work without gymnasium
        return
    if "simtest/Driving-v0" not in gymnasium.envs.registry:
        gymnasium.register(id="simtest/Driving-v0", entry_point="simtest_envs.driving.env:DrivingEnv")
    if "simtest/RecsysSession-v0" not in gymnasium.envs.registry:
        gymnasium.register(id="simtest/RecsysSession-v0", entry_point="simtest_envs.recsys.env:RecsysSessionEnv")
    if "simtest/Grasp-v0" not in gymnasium.envs.registry:
        gymnasium.register(id="simtest/Grasp-v0", entry_point="simtest_envs.grasp.env:GraspEnv")


_register()
