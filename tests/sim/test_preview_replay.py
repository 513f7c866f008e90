"""Preview and replay on the real driving env (pybullet): a preview shows the scene a case would
run; a replay of a stored failing case reproduces its metrics exactly, and a replay that does
not tells a changed model from a nondeterministic one."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pybullet")

from simtest.cli import main  # noqa: E402
from simtest.core.errors import UsageError  # noqa: E402
from simtest.orchestrate import ExecutionOptions, run_suite  # noqa: E402
from simtest.preview import parse_sets, preview_case, render_rollout, render_scene  # noqa: E402
from simtest.replay import replay_case  # noqa: E402
from simtest.authoring.spec import load_scenario  # noqa: E402

pytestmark = pytest.mark.sim

AGENT = '''\
"""A camera-blind test agent: steers at the goal from the ego vector, ignores obstacles."""
import itertools
import math
import numpy as np

_calls = itertools.count()  # process-global state: makes the "jitter" version nondeterministic


class Driver:
    def __init__(self, gain, jitter):
        self.gain, self.jitter = gain, jitter

    def reset(self, seed):
        pass

    def act(self, obs):
        speed, heading, _ = (float(x) for x in obs["ego"])
        steer = float(np.clip(self.gain * heading, -1, 1))
        if self.jitter:
            steer += 1e-3 * math.sin(next(_calls))  # never repeats
        return np.array([steer, 0.7 if speed < 2.0 else 0.0], dtype=np.float32)


def make_agent(weights=None, gain=2.0, jitter=False):
    return Driver(gain, jitter)
'''

FILES = {
    "replay_driver.py": AGENT,
    "v1.yaml": 'name: tiny-driver\nversion: "1"\nentry_point: replay_driver:make_agent\noptions: {gain: 2.0}\n',
    "v2.yaml": 'name: tiny-driver\nversion: "2"\nentry_point: replay_driver:make_agent\noptions: {gain: 0.5}\n',
    "jitter.yaml": 'name: tiny-driver\nversion: jitter\nentry_point: replay_driver:make_agent\noptions: {jitter: true}\n',
    "obstacles.yaml": """\
        id: test/obstacles-v1
        env: simtest/Driving-v0
        horizon: 60
        tags: [obstacles]
        params:
          lighting: {choice: [day, night]}
          n_obstacles: {int_range: [1, 3]}
          obstacle_spread: {uniform: [0.2, 2.0]}
          goal_distance: {uniform: [5.0, 7.0]}
        checks:
          - success == 1
          - collision == 0
        """,
    "suite.yaml": "name: tiny\nscenarios: [obstacles.yaml]\nsamples: 4\nseed: 3\n",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("replay")
    for name, text in FILES.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def in_project(project, monkeypatch):
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.chdir(project)
    return project


def _run(project: Path, model: str):
    run, frame = run_suite(str(project / "suite.yaml"), str(project / model),
                           ExecutionOptions(executor="local", results=str(project / "results"), quiet=True))
    return run, frame


def test_replay_of_a_stored_failing_case_reproduces_its_metrics_exactly(in_project, capsys):
    run, frame = _run(in_project, "v1.yaml")
    failing = frame[~frame["passed"]]
    assert len(failing) >= 1, "the blind driver must fail some obstacle case"
    case_id = failing["case_id"].iloc[0]
    report = replay_case(case_id, "v1.yaml", results="results")
    assert report.identical, "\n".join(report.lines)
    assert report.lines[-1].startswith("IDENTICAL")
    assert any("horizon and checks from the stored row" in line for line in report.lines)
    # the command every report prints, with an explicit run directory
    assert main(["replay", case_id, "--model", "v1.yaml", "--run", str(run.path)]) == 0
    assert "IDENTICAL" in capsys.readouterr().out


def test_replay_without_the_scenario_file_uses_the_stored_row(in_project, tmp_path, monkeypatch):
    _, frame = _run(in_project, "v1.yaml")
    monkeypatch.chdir(tmp_path)  # no scenario files here: the row's horizon and checks suffice
    report = replay_case(frame["case_id"].iloc[1], str(in_project / "v1.yaml"), results=str(in_project / "results"))
    assert report.identical, "\n".join(report.lines)
    assert any("horizon and checks from the stored row" in line for line in report.lines)


def test_replay_with_a_changed_model_names_the_change(in_project):
    _, frame = _run(in_project, "v1.yaml")
    report = replay_case(frame["case_id"].iloc[0], "v2.yaml", results="results")
    assert not report.identical and report.nondeterministic is False
    text = "\n".join(report.lines)
    assert "DIFFERS from the stored row" in text and "REPRODUCIBLE but changed since the run: model digest" in text


def test_replay_tells_nondeterminism_by_the_first_divergent_step(in_project, capsys):
    _, frame = _run(in_project, "jitter.yaml")
    case_id = frame["case_id"].iloc[0]
    report = replay_case(case_id, "jitter.yaml", results="results")
    assert not report.identical and report.nondeterministic is True
    assert report.first_divergent_step == 1
    assert main(["replay", case_id, "--model", "jitter.yaml", "--results", "results"]) == 1
    assert "NONDETERMINISTIC: two fresh replays diverge at step 1" in capsys.readouterr().out


def test_replay_video_has_one_frame_per_step(in_project):
    import imageio.v3 as iio

    _, frame = _run(in_project, "v1.yaml")
    row = frame.iloc[0]
    report = replay_case(row["case_id"], "v1.yaml", results="results", video="out/case.gif")
    frames = iio.imread(in_project / "out" / "case.gif", index=None)
    assert report.identical and len(frames) == int(row["steps"])
    assert f"wrote out/case.gif ({int(row['steps'])} steps)" in report.lines[-1]


def test_check_determinism_passes_a_deterministic_model_and_fails_a_jittery_one(in_project, capsys):
    assert main(["check-determinism", "--suite", "suite.yaml", "--model", "v1.yaml", "--sample", "2"]) == 0
    out = capsys.readouterr()
    assert out.out.count("identical (") == 2 and "2 of 2 cases identical" in out.err
    assert main(["check-determinism", "--suite", "suite.yaml", "--model", "jitter.yaml", "--sample", "2"]) == 1
    assert capsys.readouterr().out.count("DIVERGES: diverges at step 1") == 2


def test_preview_png_shows_topdown_camera_and_agent_input(in_project):
    import imageio.v3 as iio

    assert main(["preview", "obstacles.yaml", "--set", "lighting=night", "--set", "n_obstacles=3",
                 "--seed", "5", "--out", "p/scene.png"]) == 0
    image = iio.imread(in_project / "p" / "scene.png")
    assert image.shape[0] == 256 + 16 and image.shape[1] > 3 * 256  # three panels under a 16 px label strip


def test_preview_scene_depends_only_on_the_seed_and_the_set_values(in_project):
    scenario = load_scenario(in_project / "obstacles.yaml")
    a, labels = render_scene(preview_case(scenario, {"n_obstacles": 3}, 5))
    b, _ = render_scene(preview_case(scenario, {"n_obstacles": 3}, 5))
    c, _ = render_scene(preview_case(scenario, {"n_obstacles": 3}, 6))
    assert labels == ["topdown", "camera", "agent input 64x64"]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_set_values_parse_as_yaml_scalars_and_are_checked_against_the_env(in_project):
    scenario = load_scenario(in_project / "obstacles.yaml")
    sets = parse_sets(["n_obstacles=3", "lighting=dusk", "goal_distance=6.5", "obstacle_positions=[[3, 0.5]]"], scenario)
    assert sets == {"n_obstacles": 3, "lighting": "dusk", "goal_distance": 6.5, "obstacle_positions": [[3, 0.5]]}
    assert preview_case(scenario, sets, 0).params["obstacle_positions"] == [[3, 0.5]]
    with pytest.raises(UsageError) as err:
        parse_sets(["lightin=night", "n_obstacles=40", "fog"], scenario)
    lines = str(err.value).splitlines()
    assert lines[0].startswith('--set lightin: unknown parameter of simtest/Driving-v0 (did you mean "lighting"?)')
    assert lines[1] == '--set n_obstacles: "n_obstacles" = 40 is above the maximum 12'
    assert lines[2] == '--set "fog" must look like NAME=VALUE, e.g. --set lighting=night'


def test_preview_rollout_writes_a_gif_of_the_episode(in_project):
    import imageio.v3 as iio

    scenario = load_scenario(in_project / "obstacles.yaml")
    frames, summary = render_rollout(preview_case(scenario, {}, 1), str(in_project / "v1.yaml"))
    assert len(frames) == summary["steps"] + 1 and summary["ended"] in ("terminated", "truncated", "horizon")
    assert main(["preview", "obstacles.yaml", "--rollout", "--model", "v1.yaml", "--seed", "1", "--out", "p/roll.gif"]) == 0
    assert len(iio.imread(in_project / "p" / "roll.gif", index=None)) == len(frames)


def test_preview_rejects_a_png_for_a_rollout(in_project):
    with pytest.raises(UsageError, match="--rollout writes a .gif"):
        main_raising(["preview", "obstacles.yaml", "--rollout", "--out", "x.png"])


def main_raising(argv):
    from simtest.cli import build_parser

    args = build_parser().parse_args(argv)
    return args.func(args)
