"""Both executors on real driving episodes (pybullet + the torch perception model): the Ray
executor with 2 workers gives exactly the local executor's results, case for case."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("simtest_envs.driving.env")
pytestmark = [pytest.mark.sim, pytest.mark.ray]

REPO = Path(__file__).resolve().parents[2]


def driving_model(tmp_path: Path):
    """The shipped 1.1 model when it exists; otherwise the same architecture with seeded random
    weights (executor equivalence needs a real CNN, not a trained one)."""
    from simtest.core.errors import ModelError
    from simtest.contract.registry import load_manifest, resolve_model

    try:
        return resolve_model("driving-perception@1.1")
    except ModelError:
        import torch
        import yaml

        from simtest_models.driving.perception import ProximityNet

        torch.manual_seed(0)
        torch.save(ProximityNet().state_dict(), tmp_path / "untrained.pt")
        (tmp_path / "untrained.yaml").write_text(yaml.safe_dump({
            "name": "driving-untrained", "version": "0", "weights": "untrained.pt",
            "entry_point": "simtest_models.driving.agent:make_agent"}))
        return load_manifest(tmp_path / "untrained.yaml")


def nan_safe(metrics):
    """NaN (a time-like metric of a failed episode) compares equal to NaN here."""
    return tuple((k, "nan" if v != v else v) for k, v in metrics)


def test_ray_with_two_workers_matches_the_local_executor_on_driving_cases(tmp_path):
    import ray

    from simtest.execution.executors.local import LocalExecutor
    from simtest.execution.executors.ray import RayExecutor
    from simtest.authoring.sampling import plan
    from simtest.authoring.spec import load_suite

    cases = plan(load_suite(str(REPO / "scenarios/driving/smoke.yaml")))[::8][:8]  # every scenario, all lightings
    model = driving_model(tmp_path)
    local = LocalExecutor(wall_timeout_s=120)
    here = {r.case.case_id: r for r in local.run(cases, model)}
    local.close()
    if ray.is_initialized():
        ray.shutdown()
    with RayExecutor(workers=2, wall_timeout_s=120) as ex:
        remote = {r.case.case_id: r for r in ex.run(cases, model)}
        assert len(ex.worker_pids()) == 2
    assert set(remote) == set(here) == {c.case_id for c in cases}
    for cid, r in here.items():
        other = remote[cid]
        assert (other.outcome, other.steps, nan_safe(other.metrics), other.checks, other.trace_digest) == \
            (r.outcome, r.steps, nan_safe(r.metrics), r.checks, r.trace_digest), cid
    assert all(r.trace_digest for r in here.values())
