"""The driving-perception system under test: shipped manifests and weights, weights_only loading and
its error messages, determinism of the agent, and (slow) the closed-loop premise of the demo."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

from simtest_models.driving.agent import DrivingAgent, make_agent  # noqa: E402
from simtest_models.driving.perception import ProximityNet  # noqa: E402

pytestmark = pytest.mark.sim

MODELS = Path(__file__).resolve().parents[2] / "models" / "driving"
VERSIONS = ("1.0", "1.1", "1.2", "1.3")


def manifest(version: str) -> dict:
    with open(MODELS / f"driving-perception-{version}.yaml") as f:
        return yaml.safe_load(f)


def observations(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {
            "image": rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
            "ego": np.array([rng.uniform(0, 3), rng.uniform(-1, 1), rng.uniform(0, 12)], np.float32),
        }
        for _ in range(n)
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_shipped_manifest_sha256_matches_its_committed_weights(version):
    m = manifest(version)
    weights = MODELS / m["weights"]
    assert m["name"] == "driving-perception" and m["version"] == version
    assert m["entry_point"] == "simtest_models.driving.agent:make_agent"
    assert m["weights"] == f"driving-perception-{version}.pt"
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == m["sha256"]
    assert weights.stat().st_size < 400_000
    assert f"--version {version}" in m["training"]["command"]


@pytest.mark.parametrize("version", VERSIONS)
def test_shipped_manifest_is_accepted_by_the_harness_loader(version):
    from simtest.contract.registry import load_manifest

    ref = load_manifest(MODELS / f"driving-perception-{version}.yaml")
    assert ref.label == f"driving-perception@{version}" and ref.options == {"n_bins": 9}


def test_versions_share_code_and_options_and_differ_in_weights():
    ms = [manifest(v) for v in VERSIONS]
    assert len({m["entry_point"] for m in ms}) == 1
    assert all(m["options"] == ms[0]["options"] for m in ms)
    assert len({m["sha256"] for m in ms}) == len(VERSIONS)


def test_shipped_weights_load_with_weights_only_into_proximity_net():
    state = torch.load(MODELS / "driving-perception-1.1.pt", map_location="cpu", weights_only=True)
    net = ProximityNet(n_bins=9)
    net.load_state_dict(state)  # strict: same keys and shapes
    assert {"mean", "std"} <= set(state)  # normalisation travels with the weights
    with torch.inference_mode():
        out = net.eval()(torch.from_numpy(observations(4)[0]["image"][None]))
    assert out.shape == (1, 9) and float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_agent_acts_in_the_action_box_from_the_observation_only():
    agent = make_agent(str(MODELS / "driving-perception-1.1.pt"), n_bins=9)
    agent.reset(0)
    for obs in observations(5):
        action = agent.act(obs)
        assert action.shape == (2,) and action.dtype == np.float32
        assert np.all(np.abs(action) <= 1.0)


def test_same_observations_give_the_same_actions_across_agents_and_resets():
    weights = str(MODELS / "driving-perception-1.2.pt")
    obs = observations(30, seed=1)
    a, b = make_agent(weights), make_agent(weights)
    a.reset(0)
    b.reset(123)  # the seed does not matter: nothing in the agent is random
    first = np.stack([a.act(o) for o in obs])
    assert np.array_equal(first, np.stack([b.act(o) for o in obs]))
    a.reset(0)
    assert np.array_equal(first, np.stack([a.act(o) for o in obs]))


def test_wrong_architecture_checkpoint_is_a_value_error_naming_file_and_mismatch(tmp_path):
    path = tmp_path / "five-bins.pt"
    torch.save(ProximityNet(n_bins=5).state_dict(), path)
    with pytest.raises(ValueError) as err:
        make_agent(str(path), n_bins=9)
    msg = str(err.value)
    assert str(path) in msg
    assert "do not match ProximityNet(n_bins=9, width=16)" in msg
    assert "head.3.weight has shape (5, 64) in the file, (9, 64) in the model" in msg
    assert "fix the manifest options (n_bins, width)" in msg
    assert "\n" not in msg


def test_checkpoint_of_another_network_reports_missing_and_unexpected_keys(tmp_path):
    path = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    with pytest.raises(ValueError, match=r"missing keys \['features.0.bias'.*unexpected keys \['bias', 'weight'\]"):
        make_agent(str(path))


def test_pickled_object_is_refused_because_loading_is_weights_only(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"net": ProximityNet()}, path)  # a whole module: needs unpickling code to load
    with pytest.raises(ValueError, match="not a torch state_dict loadable with weights_only=True") as err:
        make_agent(str(path))
    msg = str(err.value)
    assert str(path) in msg and "torch.save(model.state_dict(), path)" in msg
    assert "Unsupported global: simtest_models.driving.perception.ProximityNet" in msg
    assert "weights_only=False" not in msg and "\n" not in msg  # torch's advice to unpickle is dropped


def test_corrupt_weights_file_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"corrupt.pt: not a torch state_dict loadable with weights_only=True"):
        make_agent(str(path))


def test_missing_weights_file_is_a_file_not_found_error_with_the_fix(tmp_path):
    path = tmp_path / "nowhere.pt"
    with pytest.raises(FileNotFoundError, match="weights file not found") as err:
        make_agent(str(path))
    assert str(path) in str(err.value) and "simtest_models.driving.train" in str(err.value)


def test_no_weights_and_unknown_options_are_clear_errors():
    with pytest.raises(ValueError, match="no weights given"):
        make_agent(None)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['n_bin'\]; valid options: .*n_bins"):
        make_agent(str(MODELS / "driving-perception-1.1.pt"), n_bin=9)


def test_controller_options_reach_the_controller():
    agent = make_agent(str(MODELS / "driving-perception-1.1.pt"), max_speed=1.0, torch_threads=None)
    assert isinstance(agent, DrivingAgent) and agent.controller.config.max_speed == 1.0


def test_a_real_episode_is_identical_when_replayed():
    import gymnasium

    import simtest_envs  # noqa: F401

    agent = make_agent(str(MODELS / "driving-perception-1.1.pt"))
    env = gymnasium.make("simtest/Driving-v0", disable_env_checker=True)
    params = {"lighting": "night", "n_obstacles": 4, "goal_distance": 6.0, "max_steps": 40}

    def rollout():
        obs, _ = env.reset(seed=11, options={"params": params})
        agent.reset(11)
        poses = []
        for _ in range(40):
            obs, _, terminated, truncated, info = env.step(agent.act(obs))
            poses.append(info["pose"])
            if terminated or truncated:
                break
        return np.stack(poses)

    try:
        assert np.array_equal(rollout(), rollout())
    finally:
        env.close()


@pytest.mark.slow
def test_candidate_regresses_in_fog_at_night_but_not_by_day_in_closed_loop():
    """The demo's premise: 1.2 (its contrast filter dropped every foggy night frame) loses foggy
    night episodes that 1.1 wins, while the same scenes by day are unchanged."""
    import gymnasium

    import simtest_envs  # noqa: F401
    from simtest_models.driving.evaluate import load_manifest_agent, run_episode

    env = gymnasium.make("simtest/Driving-v0", disable_env_checker=True)
    rng = np.random.default_rng(2024)
    cases = [
        ({"fog_density": float(rng.uniform(0.05, 0.25)), "n_obstacles": int(rng.integers(2, 5)),
          "obstacle_size": float(rng.uniform(0.4, 0.8)), "goal_distance": float(rng.uniform(8.0, 12.0)),
          "goal_bearing": float(rng.uniform(-3.14, 3.14))}, int(rng.integers(2**31)))
        for _ in range(20)
    ]
    success = {}
    for version in ("1.1", "1.2"):
        _, agent = load_manifest_agent(MODELS / f"driving-perception-{version}.yaml")
        for light in ("day", "night"):
            wins = sum(run_episode(env, agent, {**p, "lighting": light}, s) == "success" for p, s in cases)
            success[version, light] = wins / len(cases)
    env.close()
    assert success["1.1", "night"] - success["1.2", "night"] >= 0.5, success
    assert abs(success["1.1", "day"] - success["1.2", "day"]) <= 0.1, success


def test_training_script_is_reproducible_and_writes_a_loadable_manifest(tmp_path):
    from simtest_models.driving import train

    def run(out: Path) -> dict:
        argv = ["--version", "9.9", "--lighting", "day,night", "--fog-max", "0.2", "--episodes", "3",
                "--max-steps", "10", "--epochs", "1", "--seed", "5", "--out", str(out), "--notes", "tiny"]
        assert train.main(argv) == 0
        with open(out / "driving-perception-9.9.yaml") as f:
            return yaml.safe_load(f)

    a, b = run(tmp_path / "a"), run(tmp_path / "b")
    assert a["sha256"] == b["sha256"]
    assert hashlib.sha256((tmp_path / "a" / "driving-perception-9.9.pt").read_bytes()).hexdigest() == a["sha256"]
    assert a["training"]["command"].startswith("python -m simtest_models.driving.train --version 9.9 ")
    assert "--seed 5" in a["training"]["command"] and a["notes"] == "tiny"
    assert list(a)[:5] == ["name", "version", "entry_point", "weights", "sha256"]
    agent = make_agent(str(tmp_path / "a" / a["weights"]), **a["options"])
    assert agent.act(observations(1)[0]).shape == (2,)


def test_training_script_rejects_an_unknown_lighting(capsys):
    from simtest_models.driving import train

    with pytest.raises(SystemExit) as exit_:
        train.parse_args(["--version", "1", "--lighting", "day,dawn"])
    assert exit_.value.code == 2
    assert "--lighting: ['dawn'] not in ['day', 'dusk', 'night']" in capsys.readouterr().err
