"""The recsys-ranker system under test: manifests and weights_only loading, determinism per seed,
the slate policy's knobs, training reproducibility, and the shipped versions' closed-loop trade."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from simtest.execution.agents import load_agent  # noqa: E402
from simtest.core.errors import ModelError  # noqa: E402
from simtest.contract.registry import load_manifest, resolve_model  # noqa: E402
from simtest_envs.recsys.env import RecsysSessionEnv  # noqa: E402
from simtest_models.recsys.agent import make_agent  # noqa: E402
from simtest_models.recsys.evaluate import run_episode  # noqa: E402
from simtest_models.recsys.policy import SlatePolicy, SlatePolicyConfig  # noqa: E402
from simtest_models.recsys.ranker import build, load_scorer  # noqa: E402
from simtest_models.recsys.train import train  # noqa: E402

pytestmark = pytest.mark.sim

MODELS = Path(__file__).resolve().parents[2] / "models" / "recsys"
VERSIONS = ("1.0", "1.1", "1.2")


@pytest.mark.parametrize("version", VERSIONS)
def test_shipped_manifest_loads_and_its_weights_match_the_sha256(version):
    ref = resolve_model(f"recsys-ranker@{version}")
    assert ref.entry_point == "simtest_models.recsys.agent:make_agent"
    assert Path(ref.weights).name == f"recsys-ranker-{version}.pt"
    agent = load_agent(ref)
    assert hasattr(agent, "act") and hasattr(agent, "reset")


def test_versions_differ_only_by_weights_and_options():
    refs = [resolve_model(f"recsys-ranker@{v}") for v in VERSIONS]
    assert len({r.entry_point for r in refs}) == 1
    assert len({r.digest for r in refs}) == 3
    assert refs[2].options["objective"] == "click" and refs[2].options["diversity"] == 0.0
    assert refs[1].options["objective"] == "engagement" and refs[1].options["diversity"] > 0.0


def test_same_seed_same_slates_across_two_loaded_agents():
    env = RecsysSessionEnv()
    opts = {"objective": "engagement", "diversity": 0.3, "exploration": 0.2}
    a, b = (make_agent(str(MODELS / "recsys-ranker-1.1.pt"), **opts) for _ in range(2))
    obs, _ = env.reset(seed=3)
    a.reset(42)
    b.reset(42)
    for _ in range(10):
        act_a, act_b = a.act(obs), b.act(obs)
        np.testing.assert_array_equal(act_a, act_b)
        assert act_a.dtype == np.int64 and env.action_space.contains(act_a)
        obs, _, term, trunc, _ = env.step(act_a)
        if term or trunc:
            break


def test_exploration_draws_only_from_the_agents_seed():
    env = RecsysSessionEnv()
    obs, _ = env.reset(seed=3)
    agent = make_agent(str(MODELS / "recsys-ranker-1.1.pt"), exploration=0.5)
    slates = []
    for seed in (1, 1, 2):
        agent.reset(seed)
        slates.append(tuple(agent.act(obs)))
    assert slates[0] == slates[1] != slates[2]


def test_weights_load_with_weights_only_and_reject_pickled_objects(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"click.weight": object()}, bad)  # needs unpickling of an arbitrary class
    with pytest.raises(ValueError, match=r"bad\.pt: not a torch state_dict loadable with weights_only=True"):
        load_scorer(bad)


def test_weights_of_another_architecture_are_a_clear_error(tmp_path):
    path = tmp_path / "linear.pt"
    torch.save(build("linear").state_dict(), path)
    with pytest.raises(ValueError, match=r"linear\.pt: weights do not match architecture='mlp' hidden=32: missing keys"):
        load_scorer(path, architecture="mlp")


def test_tampered_weights_fail_the_manifest_digest_check(tmp_path):
    manifest = (MODELS / "recsys-ranker-1.1.yaml").read_text()
    (tmp_path / "m.yaml").write_text(manifest)
    torch.save(build("mlp").state_dict(), tmp_path / "recsys-ranker-1.1.pt")
    with pytest.raises(ModelError, match="do not match the manifest's sha256"):
        load_manifest(tmp_path / "m.yaml")


def test_unknown_agent_option_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['diversty'\]; valid options: .*diversity"):
        make_agent(str(MODELS / "recsys-ranker-1.1.pt"), diversty=0.3)


def test_diversity_reranking_spreads_the_slate_over_topics():
    docs = np.arange(8)
    topics = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    scores = np.array([0.9, 0.85, 0.8, 0.75, 0.5, 0.45, 0.4, 0.3])
    consumed = np.zeros(8, np.int8)
    rng = np.random.default_rng(0)
    plain = SlatePolicy(SlatePolicyConfig(diversity=0.0)).select(docs, topics, scores, consumed, 3, rng)
    diverse = SlatePolicy(SlatePolicyConfig(diversity=0.6)).select(docs, topics, scores, consumed, 3, rng)
    np.testing.assert_array_equal(plain, [0, 1, 2])
    np.testing.assert_array_equal(diverse, [0, 4, 6])  # 0.85 * 0.4 < 0.5 and 0.4 > 0.45 * 0.4


def test_consumed_documents_are_filtered_while_enough_are_left():
    docs, topics = np.arange(4), np.zeros(4, np.int64)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    policy = SlatePolicy(SlatePolicyConfig())
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(policy.select(docs, topics, scores, np.array([1, 0, 0, 0]), 2, rng), [1, 2])
    np.testing.assert_array_equal(policy.select(docs, topics, scores, np.array([1, 1, 1, 0]), 2, rng), [0, 1])


def test_training_is_reproducible_from_its_seed():
    a = train("1.1", seed=3, episodes=20, epochs=1, log=lambda *_: None)
    b = train("1.1", seed=3, episodes=20, epochs=1, log=lambda *_: None)
    c = train("1.1", seed=4, episodes=20, epochs=1, log=lambda *_: None)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_click_chasing_candidate_trades_engagement_and_retention_for_click_through():
    """The shipped 1.2 regression, closed loop on a few mainstream sessions (the gate and the
    evaluate script measure it properly)."""
    env = RecsysSessionEnv()
    got = {}
    for version in ("1.1", "1.2"):
        agent = load_agent(resolve_model(f"recsys-ranker@{version}"))
        rows = [run_episode(env, agent, seed, {"cohort": "mainstream"}) for seed in range(12)]
        got[version] = {k: np.mean([r[k] for r in rows]) for k in rows[0]}
    assert got["1.2"]["click_through_rate"] > got["1.1"]["click_through_rate"]
    assert got["1.2"]["total_engagement"] < 0.8 * got["1.1"]["total_engagement"]
    assert got["1.2"]["retained"] < got["1.1"]["retained"]
    assert got["1.2"]["intra_slate_diversity"] < got["1.1"]["intra_slate_diversity"]
