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
            "signals": "simtest_envs.driving.metrics:SIGNALS",
            "model_metrics": "simtest_envs.driving.metrics:MODEL_METRICS",
            "configure": "reset_options",
            "views": {"topdown": "render_topdown", "camera": "render_camera"},
            "failure_views": ["camera", "topdown"],
        },
        "simtest/RecsysSession-v0": {
            "entry_point": "simtest_envs.recsys.env:RecsysSessionEnv",
            "params": "simtest_envs.recsys.params:PARAMS",
            "metrics": "simtest_envs.recsys.metrics:METRICS",
            "episode_metrics": "simtest_envs.recsys.metrics:episode_metrics",
            "model_metrics": "simtest_envs.recsys.metrics:MODEL_METRICS",
            "configure": "reset_options",
        },
        "simtest/Grasp-v0": {
            "entry_point": "simtest_envs.grasp.env:GraspEnv",
            "params": "simtest_envs.grasp.params:PARAMS",
            "metrics": "simtest_envs.grasp.metrics:METRICS",
            "episode_metrics": "simtest_envs.grasp.metrics:episode_metrics",
            "configure": "reset_options",
            "views": {"wrist": "render_wrist", "scene": "render_scene"},
            "failure_views": ["wrist", "scene"],  # failure GIFs: the wrist and scene cameras side by side
        },
    }
