"""In-the-loop model metrics (issue 17): the numeric scores against hand-computed values, the
per-episode pairing of predictions with labels, the env declaration, the worker hook (agents and
envs without diagnostics unchanged), and judging's panels, rank agreement and sentences."""

from __future__ import annotations

import json
import math
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import fakes
from simtest.contract.envspec import EnvSpec, ModelMetricDecl
from simtest.contract.policy import GatePolicy
from simtest.contract.registry import ModelRef
from simtest.contract.cases import Case
from simtest.core.errors import EnvSpecError
from simtest.execution.modelmetrics import calibration_error, episode_model_metrics, mae, ndcg
from simtest.execution.runner import EpisodeWorker
from simtest.judging.modelmetrics import model_metric_panels

# --------------------------------------------------------------------------- numeric scores


def test_mae_is_the_mean_absolute_error_over_every_element():
    assert mae(np.array([[0.0, 0.5], [1.0, 0.2]]), np.array([[0.1, 0.5], [0.5, 0.0]])) == pytest.approx(0.8 / 4)
    assert math.isnan(mae(np.zeros(0), np.zeros(0)))


def test_calibration_error_by_hand():
    # bins of width 0.5: {0.1, 0.3} -> mean pred 0.2 vs mean label 0.5: |0.3| x 2/4;
    # {0.6, 0.9} -> 0.75 vs 0.5: |0.25| x 2/4; total 0.275
    pred, true = np.array([0.1, 0.3, 0.6, 0.9]), np.array([0.0, 1.0, 0.0, 1.0])
    assert calibration_error(pred, true, bins=2) == pytest.approx(0.5 * 0.3 + 0.5 * 0.25)
    # a prediction of exactly 1.0 falls in the last bin; perfect calibration gives 0
    assert calibration_error(np.array([1.0, 0.0]), np.array([1.0, 0.0]), bins=4) == 0.0


def test_ndcg_by_hand():
    gains = np.array([3.0, 2.0, 0.0, 1.0])
    ideal = 3 + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg(np.array([4.0, 3.0, 1.0, 2.0]), gains) == pytest.approx(1.0)
    # order by score: docs 2, 3, 0, 1 -> gains 0, 1, 3, 2
    got = (0 + 1 / math.log2(3) + 3 / math.log2(4) + 2 / math.log2(5)) / (ideal + 0 / math.log2(5))
    assert ndcg(np.array([1.0, 0.0, 3.0, 2.0]), gains) == pytest.approx(got)
    # @2: docs 2, 3 -> (0 + 1/log2 3) / (3 + 2/log2 3)
    assert ndcg(np.array([1.0, 0.0, 3.0, 2.0]), gains, k=2) == pytest.approx((1 / math.log2(3)) / (3 + 2 / math.log2(3)))
    assert math.isnan(ndcg(np.ones(3), np.zeros(3)))
    with pytest.raises(ValueError, match="3 scores but 2 gains"):
        ndcg(np.ones(3), np.ones(2))


def test_episode_pairs_prediction_i_with_the_info_of_observation_i():
    decls = {"model_mae": ModelMetricDecl(score="mae", prediction="p", label="truth", outcome="success")}
    infos = [{"truth": [0.0, 1.0]}, {"truth": [1.0, 1.0]}, {"truth": [0.5, 0.5]}]  # reset info, then 2 steps
    preds = [{"p": np.array([0.0, 1.0])}, {"p": np.array([0.0, 1.0])}]  # two acts: infos[0], infos[1]
    assert episode_model_metrics(decls, preds, infos) == {"model_mae": pytest.approx(0.25)}
    # an agent that does not report this prediction gets no metric (and no column), not an error
    assert episode_model_metrics(decls, [{"other": 1.0}], infos) == {}
    assert episode_model_metrics(decls, [], infos) == {}
    with pytest.raises(ValueError, match='label "truth" is not in the info of step 1'):
        episode_model_metrics(decls, preds, [infos[0], {}])
    with pytest.raises(ValueError, match=r"shape \(3,\) but label \"truth\" has shape \(2,\)"):
        episode_model_metrics(decls, [{"p": np.zeros(3)}], infos)


def test_ndcg_episode_is_the_mean_over_steps_with_a_cutoff():
    decls = {"model_ndcg": ModelMetricDecl(score="ndcg", prediction="s", label="v", outcome="e", k=1)}
    infos = [{"v": [1.0, 0.0]}, {"v": [0.0, 1.0]}]
    preds = [{"s": [2.0, 1.0]}, {"s": [2.0, 1.0]}]  # right at step 0 (1), wrong at step 1 (0)
    assert episode_model_metrics(decls, preds, infos) == {"model_ndcg": pytest.approx(0.5)}


# --------------------------------------------------------------------------- the env declaration


@pytest.fixture()
def decl_module(tmp_path, monkeypatch):
    (tmp_path / "mmdecl.py").write_text(textwrap.dedent('''
        METRICS = {"success": {"kind": "binary", "better": "higher"}}
        GOOD = {"model_mae": {"score": "mae", "prediction": "proximity", "label": "ray_proximity",
                              "outcome": "success", "offline": "val_mae"}}
        TYPO = {"model_mae": {"score": "mea", "prediction": "p", "label": "l", "outcome": "sucess"}}
        CLASH = {"success": {"score": "mae", "prediction": "p", "label": "l", "outcome": "success"}}
        def episode_metrics(infos, params):
            return {"success": 1.0}
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("mmdecl", None)


def _spec(**changes) -> EnvSpec:
    entry = {"entry_point": "fakes:CounterEnv", "metrics": "mmdecl:METRICS", "episode_metrics": "mmdecl:episode_metrics",
             **changes}
    return EnvSpec.from_entry("t/Env-v0", entry, "test entry")


def test_model_metrics_are_declared_continuous_metrics_with_the_score_direction(decl_module):
    s = _spec(model_metrics="mmdecl:GOOD")
    assert s.metrics["model_mae"]["kind"] == "continuous" and s.metrics["model_mae"]["better"] == "lower"
    assert "model_mae" not in s.metric_decls  # episode_metrics need not return it
    assert "model_mae" not in _spec().metrics  # an env without the declaration: nothing new


def test_a_bad_model_metric_declaration_is_one_clear_line_per_problem(decl_module):
    with pytest.raises(EnvSpecError) as exc:
        _spec(model_metrics="mmdecl:TYPO")
    msg = str(exc.value)
    assert '$.model_metrics.model_mae.score' in msg and "mae" in msg
    with pytest.raises(EnvSpecError) as exc:
        _spec(model_metrics="mmdecl:CLASH")
    assert 'model_metrics.success: "success" is already a metric of the env' in str(exc.value)
    with pytest.raises(EnvSpecError) as exc:
        _spec(model_metric="mmdecl:GOOD")
    assert 'unknown key "model_metric"' in str(exc.value) and "model_metrics" in str(exc.value)


# --------------------------------------------------------------------------- the worker hook


class _Diagnosing(fakes.PushBack):
    shape_bug = False

    def act(self, obs):
        self._last = np.array([obs[0]]) if self.shape_bug else float(obs[0])
        return super().act(obs)

    def diagnostics(self):
        return {"x_hat": self._last}


def make_diagnosing_agent(weights=None, shape_bug=False):
    agent = _Diagnosing(0.8, 0, False)
    agent.shape_bug = shape_bug
    return agent


def _case() -> Case:
    return Case(scenario="test/counter-v1", scenario_hash="h", env=fakes.ENV_ID, params_json="{}", seed=3, horizon=10,
                checks=())


def _worker(entry_point: str, spec: EnvSpec | None, **options) -> EpisodeWorker:
    from simtest.execution.envadapter import EnvAdapter, make_adapter

    def factory(env_id: str) -> EnvAdapter:
        a = make_adapter(env_id)
        return EnvAdapter(spec) if spec is not None else a

    return EpisodeWorker(ModelRef(name="m", version="1", entry_point=entry_point, options_json=json.dumps(options)),
                         adapter_factory=factory)


def test_worker_scores_the_declared_prediction_and_leaves_agents_without_diagnostics_alone():
    from simtest.contract.registry import env_info

    base = env_info(fakes.ENV_ID)
    decl = ModelMetricDecl(score="mae", prediction="x_hat", label="x", outcome="episode_return")
    declared = base.model_copy(update={"model_metric_decls": {"model_mae": decl}})
    r = _worker("test_modelmetrics:make_diagnosing_agent", declared).run(_case())
    # x_hat is the observation's x, which the reset/step info reports: a perfect prediction
    assert dict(r.metrics)["model_mae"] == pytest.approx(0.0, abs=1e-12)
    plain = _worker("fakes:make_agent", declared).run(_case())  # an agent without diagnostics
    undeclared = _worker("test_modelmetrics:make_diagnosing_agent", None).run(_case())  # an env without labels
    for other in (plain, undeclared):
        assert other.outcome is r.outcome and "model_mae" not in dict(other.metrics)
        assert {k: v for k, v in r.metrics if k != "model_mae"} == dict(other.metrics)
        assert other.trace_digest == r.trace_digest
    broken = _worker("test_modelmetrics:make_diagnosing_agent", declared, shape_bug=True).run(_case())
    assert broken.outcome.value == "env_error" and broken.error_kind == "configuration"
    assert 'model metrics failed: model metric "model_mae": prediction "x_hat" has shape (1,)' in broken.error


# --------------------------------------------------------------------------- judging's panel


def _frame(version: str, success: list[float], mae_: list[float], lighting: list[str]) -> pd.DataFrame:
    n = len(success)
    return pd.DataFrame({
        "case_id": [f"c{i}" for i in range(n)], "scenario": "s", "scenario_hash": "h", "env": "e", "seed": 0,
        "params": [json.dumps({"lighting": lv}) for lv in lighting], "tags": [()] * n, "model": "m",
        "model_version": version, "outcome": "completed", "metric_success": success, "metric_model_mae": mae_,
    })


def _policy() -> GatePolicy:
    return GatePolicy.model_validate({"slices": {"tags": False, "params": {"lighting": {}}}})


def test_panel_states_the_offline_disagreement_with_numbers():
    light = ["day"] * 20 + ["night"] * 20 + ["dusk"] * 20
    cand = _frame("1.2", [1.0] * 20 + [0.0] * 14 + [1.0] * 6 + [1.0] * 18 + [0.0] * 2, [0.02] * 20 + [0.11] * 20 + [0.04] * 20, light)
    base = _frame("1.1", [1.0] * 20 + [0.0] * 8 + [1.0] * 12 + [1.0] * 20, [0.02] * 20 + [0.05] * 20 + [0.03] * 20, light)
    decl = ModelMetricDecl(score="mae", prediction="p", label="l", outcome="success", offline="val_mae")
    metrics = {"success": {"kind": "binary", "better": "higher"}, "model_mae": {"kind": "continuous", "better": "lower"}}
    panels = model_metric_panels({"candidate": cand, "baseline": base}, _policy(), metrics, {"model_mae": decl},
                                 {"candidate": "dp@1.2", "baseline": "dp@1.1"},
                                 {"candidate": {"val_mae_night": 0.048, "val_mae_day": 0.03},
                                  "baseline": {"val_mae_night": 0.070, "val_mae_day": 0.03}})
    (p,) = panels
    night = next(r for r in p.rows if r.slice == "lighting=night")
    assert night.model == pytest.approx((0.11, 0.05)) and night.outcome == pytest.approx((0.3, 0.6))
    assert night.offline == (0.048, 0.070) and night.outcome_worse == pytest.approx(0.3)
    assert p.sentences == ("1.2 looks better offline at night (MAE 0.048 vs 0.07) but is 30 pp worse in closed loop "
                           "(success 30% vs 60%); in-the-loop MAE at night is 0.11 vs 0.05",)
    # in-the-loop MAE rises exactly where success falls: day 0/0, dusk +0.01/+0.1, night +0.06/+0.3
    assert p.rank_agreement == pytest.approx(1.0) and p.agree


def test_panel_says_nothing_when_model_metric_and_outcome_agree():
    light = ["day"] * 12 + ["night"] * 12 + ["dusk"] * 12
    cand = _frame("1.1", [1.0] * 36, [0.02] * 12 + [0.05] * 12 + [0.03] * 12, light)
    base = _frame("1.0", [1.0] * 12 + [0.0] * 12 + [0.0] * 6 + [1.0] * 6, [0.02] * 12 + [0.4] * 12 + [0.2] * 12, light)
    decl = ModelMetricDecl(score="mae", prediction="p", label="l", outcome="success", offline="val_mae")
    metrics = {"success": {"kind": "binary", "better": "higher"}}
    (p,) = model_metric_panels({"candidate": cand, "baseline": base}, _policy(), metrics, {"model_mae": decl},
                               {"candidate": "dp@1.1", "baseline": "dp@1.0"},
                               {"candidate": {"val_mae_day": 0.030}, "baseline": {"val_mae_day": 0.0195}})
    assert p.sentences == () and p.agree is True
    assert next(r for r in p.rows if r.slice == "lighting=day").offline == (0.030, 0.0195)  # worse offline, same outcome


def test_objective_rising_while_the_outcome_falls_is_said_overall():
    cand = _frame("1.2", [0.0] * 12, [0.5] * 12, ["a"] * 12).assign(metric_ctr=0.6, metric_engagement=8.0)
    base = _frame("1.1", [0.0] * 12, [0.7] * 12, ["a"] * 12).assign(metric_ctr=0.5, metric_engagement=10.0)
    decl = ModelMetricDecl(score="ndcg", prediction="s", label="v", outcome="engagement", objective="ctr", k=10)
    metrics = {"engagement": {"kind": "continuous", "better": "higher"}, "ctr": {"kind": "continuous"}}
    (p,) = model_metric_panels({"candidate": cand.rename(columns={"metric_model_mae": "metric_model_ndcg"}),
                                "baseline": base.rename(columns={"metric_model_mae": "metric_model_ndcg"})},
                               _policy(), metrics, {"model_ndcg": decl}, {"candidate": "r@1.2", "baseline": "r@1.1"}, {})
    assert p.sentences[0] == ("1.2 raises ctr overall (0.6 vs 0.5) but engagement falls (8 vs 10); "
                              "in-the-loop NDCG@10 overall is 0.5 vs 0.7")


def test_no_panel_without_model_metric_columns():
    light = ["day"] * 12
    cand = _frame("1", [1.0] * 12, [0.0] * 12, light).drop(columns="metric_model_mae")
    decl = ModelMetricDecl(score="mae", prediction="p", label="l", outcome="success")
    assert model_metric_panels({"candidate": cand, "baseline": cand}, _policy(), {}, {"model_mae": decl}, {}, {}) == ()


# --------------------------------------------------------------------------- the report formats it


def test_report_panel_formats_the_sentence_agreement_and_table():
    from types import SimpleNamespace

    from simtest.report.modelmetrics import html_section, markdown_lines

    assert markdown_lines(SimpleNamespace(model_metrics=())) == [] and html_section(SimpleNamespace()) == ""
    light = ["day"] * 20 + ["night"] * 20 + ["dusk"] * 20
    cand = _frame("1.2", [1.0] * 20 + [0.0] * 14 + [1.0] * 6 + [1.0] * 18 + [0.0] * 2, [0.02] * 20 + [0.11] * 20 + [0.04] * 20, light)
    base = _frame("1.1", [1.0] * 20 + [0.0] * 8 + [1.0] * 12 + [1.0] * 20, [0.02] * 20 + [0.05] * 20 + [0.03] * 20, light)
    decl = ModelMetricDecl(score="mae", prediction="p", label="l", outcome="success", offline="val_mae")
    panels = model_metric_panels({"candidate": cand, "baseline": base}, _policy(),
                                 {"success": {"kind": "binary", "better": "higher"}}, {"model_mae": decl},
                                 {"candidate": "dp@1.2", "baseline": "dp@1.1"},
                                 {"candidate": {"val_mae_night": 0.048}, "baseline": {"val_mae_night": 0.070}})
    d = SimpleNamespace(model_metrics=panels)
    text = "\n".join(markdown_lines(d))
    assert "Spearman rho +1.00 (agree)" in text
    assert "- **1.2 looks better offline at night (MAE 0.048 vs 0.07) but is 30 pp worse" in text
    assert "| lighting=night | 20 | 0.048 vs 0.070 | 0.110 vs 0.050 | 30.0% vs 60.0% |" in text
    html = html_section(d)
    assert "<li><b>1.2 looks better offline at night" in html and "<td>lighting=night</td>" in html


def test_a_policy_gates_an_in_the_loop_model_metric_like_any_metric(tmp_path):
    from simtest.contract.policy import load_policy
    from simtest.contract.registry import suite_metrics_of
    from simtest.judging.compare import compare

    metrics = suite_metrics_of({"simtest/Driving-v0"})
    assert metrics["model_mae"]["better"] == "lower" and metrics["model_ece"]["kind"] == "continuous"
    (tmp_path / "policy.yaml").write_text("metrics:\n  model_mae: {margin_baseline: 0.01, blocking: true}\n"
                                          "slices: {tags: false}\n")
    policy = load_policy(str(tmp_path / "policy.yaml"), metrics)
    rng = np.random.default_rng(0)
    light = ["night"] * 40
    base = _frame("1.1", [1.0] * 40, list(0.05 + 0.01 * rng.random(40)), light).assign(passed=True)
    worse = base.assign(metric_model_mae=base["metric_model_mae"] + 0.06, model_version="1.2")
    same = base.assign(model_version="1.2")
    fail = compare(worse, base, None, policy, metrics)
    check = next(c for c in fail.checks if c.metric == "model_mae" and c.slice == "overall")
    assert check.blocking and check.decision == "fail" and fail.verdict == "fail"
    assert compare(same, base, None, policy, metrics).verdict == "pass"


# --------------------------------------------------------------------------- the shipped labels and hooks


def test_recsys_doc_value_is_click_probability_alone_times_engagement_by_hand():
    from simtest_envs.recsys.dynamics import CONSTANTS as C, Catalogue, expected_values

    cat = Catalogue(topic=np.array([0, 1]), quality=np.array([0.5, -1.0]), popularity=np.array([0.2, 0.8]))
    interests, consumed, fatigue = np.array([0.75, 0.25]), np.array([False, True]), np.array([0.0, 1.0])
    got = expected_values(interests, cat, consumed, fatigue, popularity_bias=1.0, no_click_utility=2.0, satiation=0.5)
    aff = np.array([1.0, 1.0 / 3.0])
    u = C.interest_weight * aff + 1.0 * cat.popularity - C.repeat_penalty * np.array([0.0, 1.0])
    p = 1 / (1 + np.exp(2.0 - u))
    e = 1 / (1 + np.exp(-(cat.quality + C.affinity_weight * (aff - 0.5) - 0.5 * fatigue))) * np.array([1.0, 0.5])
    assert got == pytest.approx(p * e)


def test_shipped_manifests_carry_their_offline_figures_and_agents_their_diagnostics():
    from simtest.contract.registry import resolve_model
    from simtest.execution.agents import diagnostics_of

    assert resolve_model("driving-perception@1.2").training["val_mae_night"] == 0.0483
    assert resolve_model("driving-perception@1.1").training["val_mae_night"] == 0.0703
    assert "val_mae_night" not in resolve_model("driving-perception@1.0").training
    assert diagnostics_of(fakes.make_agent()) is None  # no hook: no model metrics, nothing else changes
    assert diagnostics_of(make_diagnosing_agent()) is not None


def test_check_env_names_a_declared_label_the_env_never_reports():
    from gymnasium import spaces

    from simtest.contract.registry import env_info
    from simtest.execution.checkenv import _episodes

    base = env_info(fakes.ENV_ID)
    box = spaces.Box(-1.0, 1.0, (1,), np.float64)
    good = base.model_copy(update={"model_metric_decls": {"model_mae": ModelMetricDecl(
        score="mae", prediction="x_hat", label="x", outcome="episode_return")}})
    bad = base.model_copy(update={"model_metric_decls": {"model_mae": ModelMetricDecl(
        score="mae", prediction="x_hat", label="x_true", outcome="episode_return")}})
    assert _episodes(good, box, 2, 5, 0)[0].ok
    (finding,) = _episodes(bad, box, 2, 5, 0)
    assert not finding.ok and 'model metric "model_mae": label "x_true" is not in the step info' in finding.message


def test_shadow_agent_drives_like_its_driver_and_reports_only_the_models_predictions():
    from simtest.execution.agents import ShadowAgent, shadow_ref

    driver, model = fakes.make_agent(gain=0.8), make_diagnosing_agent()
    model.gain = 0.0  # its own actions would let the point drift: they must be dropped
    shadow = ShadowAgent(driver, model)
    shadow.reset(5)
    obs = np.array([1.5, 0.0])
    assert shadow.act(obs) == pytest.approx(fakes.make_agent(gain=0.8).act(obs))
    assert shadow.diagnostics() == {"x_hat": 1.5}
    assert ShadowAgent(driver, fakes.make_agent()).diagnostics() == {}  # a model without the hook
    a = ModelRef(name="a", version="1", entry_point="fakes:make_agent", digest="da")
    b = ModelRef(name="b", version="2", entry_point="fakes:make_agent", digest="db", training_json='{"val_mae": 0.1}')
    ref = shadow_ref(a, b)
    assert ref.label == "b@2" and ref.training == {"val_mae": 0.1} and ref.digest != shadow_ref(b, a).digest
    assert json.loads(ref.options_json) == {"driver": "a@1", "model": "b@2"}
