"""Entry point `simtest.envs` (contract section 1): env ids -> strings naming the env, its params,
metrics and views. Imports nothing: the harness reads it without pybullet."""

from __future__ import annotations


def simtest_envs() -> dict[str, dict]:
    return {
        "simtest/Driving-v0": {
            "entry_point": "simtest_envs.driving.env:DrivingEnv",
            "params": "simtest_envs.driving.params:PARAMS",
            "metrics": "simtest_envs.driving.metrics:METRICS",
            "episode_metrics": "simtest_envs.driving.metrics:episode_metrics",
            "configure": "reset_options",
            "views": {"topdown": "render_topdown", "camera": "render_camera"},
        },
        "simtest/RecsysSession-v0": {
            "entry_point": "simtest_envs.recsys.env:RecsysSessionEnv",
            "params": "simtest_envs.recsys.params:PARAMS",
            "metrics": "simtest_envs.recsys.metrics:METRICS",
            "episode_metrics": "simtest_envs.recsys.metrics:episode_metrics",
            "configure": "reset_options",
        },
        "simtest/Grasp-v0": {
            "entry_point": "simtest_envs.grasp.env:GraspEnv",
            "params": "simtest_envs.grasp.params:PARAMS",
            "metrics": "simtest_envs.grasp.metrics:METRICS",
            "episode_metrics": "simtest_envs.grasp.metrics:episode_metrics",
            "configure": "reset_options",
            # "camera" is the wrist camera and "topdown" the scene camera: the names the harness's
            # failure GIFs ask for (simtest.report.videos); "wrist" and "scene" are not repeated
            # because previews render every declared view.
            "views": {"camera": "render_wrist", "topdown": "render_scene"},
        },
    }
