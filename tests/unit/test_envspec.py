"""EnvSpec: a simtest.envs entry is a checked value; builds and model digests follow the code."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest

from simtest.contract import codetree, registry
from simtest.contract.envspec import EnvSpec, merged_metrics
from simtest.contract.results import Outcome, error_signature
from simtest.core.errors import EnvSpecError
from simtest.execution.progress import ErrorDigest

SOURCE = 'simtest.envs entry point "x = pkg:table" of distribution x 1.0'
GOOD = {"entry_point": "fakes:CounterEnv", "params": "specdecl:PARAMS", "metrics": "specdecl:METRICS",
        "episode_metrics": "specdecl:episode_metrics", "configure": "reset_options",
        "views": {"top": "render_top", "side": "render_side"}}


@pytest.fixture(autouse=True)
def declarations(tmp_path, monkeypatch):
    (tmp_path / "specdecl.py").write_text(textwrap.dedent('''
        PARAMS = {"speed": {"type": "float", "min": 0, "max": 3, "default": 1},
                  "friction": {"type": "float", "min": 0, "max": 1, "observable": False}}
        METRICS = {"success": {"kind": "binary", "better": "higher"}}
        BAD_METRICS = {"success": {"kind": "binay"}}
        OTHER_METRICS = {"success": {"kind": "continuous", "better": "higher"}}
        def episode_metrics(infos, params):
            return {"success": 1.0}
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("specdecl", None)


def spec(**changes) -> EnvSpec:
    return EnvSpec.from_entry("t/Env-v0", {**GOOD, **changes}, SOURCE)


def problems(**changes) -> str:
    with pytest.raises(EnvSpecError) as exc:
        spec(**changes)
    return str(exc.value)


def test_a_good_entry_is_a_frozen_typed_value():
    s = spec()
    assert s.param_decls["friction"].observable is False and s.param_decls["speed"].type == "float"
    assert s.metrics["success"]["kind"] == "binary" and "episode_return" in s.metrics
    assert s.video_views == ("top", "side")  # every declared view, in declared order
    assert spec(failure_views=["side"]).video_views == ("side",)
    with pytest.raises(Exception):
        s.configure = "make_kwargs"


def test_every_problem_names_the_entry_point_and_distribution():
    msg = problems(configure="reset_option")
    assert msg.startswith(f'env "t/Env-v0" ({SOURCE}) $.configure:') and "'reset_options'" in msg
    assert 'unknown key "view"' in problems(view={}) and 'did you mean "views"' in problems(view={})
    assert "$.metrics.success.kind" in problems(metrics="specdecl:BAD_METRICS")
    assert "'binay'" in problems(metrics="specdecl:BAD_METRICS")
    assert 'cannot resolve "specdecl:nope"' in problems(episode_metrics="specdecl:nope")
    assert '$.failure_views[0]: "front" is not a declared view' in problems(failure_views=["front"])
    assert 'module "no_such_pkg.env"' in problems(entry_point="no_such_pkg.env:Env")


def test_two_envs_declaring_one_metric_differently_is_an_error_not_an_override():
    a = spec()
    b = EnvSpec.from_entry("t/Other-v0", {**GOOD, "metrics": "specdecl:OTHER_METRICS"}, SOURCE)
    with pytest.raises(EnvSpecError, match='metric "success" is declared differently by t/Env-v0 and t/Other-v0 '
                                           r"\(kind 'binary' vs 'continuous'\)"):
        merged_metrics([a, b])
    assert merged_metrics([a, a])["success"]["kind"] == "binary"


def _package(root: Path) -> None:
    files = {
        "envpkg/__init__.py": "",
        "envpkg/common.py": "X = 1\n",
        "envpkg/a/__init__.py": "",
        "envpkg/a/env.py": "import numpy\nfrom envpkg.common import X\nfrom . import helper\n",
        "envpkg/a/helper.py": "Y = 2\n",
        "envpkg/b/__init__.py": "",
        "envpkg/b/env.py": "Z = 3\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_an_env_build_covers_its_own_tree_its_imports_and_dependency_versions(tmp_path, monkeypatch):
    _package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    a0, deps = codetree.build_digest(["envpkg.a.env"])
    b0, _ = codetree.build_digest(["envpkg.b.env"])
    assert any(d.startswith("numpy==") for d in deps)
    (tmp_path / "envpkg/b/env.py").write_text("Z = 4\n")  # edit the sibling env
    assert codetree.build_digest(["envpkg.a.env"])[0] == a0
    assert codetree.build_digest(["envpkg.b.env"])[0] != b0
    (tmp_path / "envpkg/common.py").write_text("X = 2\n")  # a shared module env a imports
    a1 = codetree.build_digest(["envpkg.a.env"])[0]
    assert a1 != a0
    (tmp_path / "envpkg/a/helper.py").write_text("Y = 3\n")  # a relative import
    assert codetree.build_digest(["envpkg.a.env"])[0] != a1


def test_the_shipped_envs_do_not_hash_each_other():
    driving, recsys = registry.env_info("simtest/Driving-v0"), registry.env_info("simtest/RecsysSession-v0")
    assert all(m.startswith("simtest_envs.driving") for m in driving.code_modules)
    assert all(m.startswith("simtest_envs.recsys") for m in recsys.code_modules)
    assert driving.build != recsys.build and any(d.startswith("pybullet==") for d in driving.dependencies)
    assert not any(d.startswith("pybullet==") for d in recsys.dependencies)


def test_the_model_digest_covers_the_agent_code(tmp_path, monkeypatch):
    (tmp_path / "myagent").mkdir()
    (tmp_path / "myagent" / "__init__.py").write_text("")
    ctl = tmp_path / "myagent" / "controller.py"
    ctl.write_text("GAIN = 1.0\n")
    (tmp_path / "myagent" / "agent.py").write_text("def make_agent(weights=None):\n    return None\n")
    manifest = tmp_path / "m.yaml"
    manifest.write_text("name: mine\nversion: '1'\nentry_point: myagent.agent:make_agent\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    before = registry.load_manifest(manifest)
    ctl.write_text("GAIN = 2.0\n")  # not the entry module itself: the whole top-level package counts
    after = registry.load_manifest(manifest)
    assert before.code_digest and after.code_digest != before.code_digest
    assert after.digest != before.digest


def test_error_signature_is_the_exception_type_and_last_frame():
    tb = ('Traceback (most recent call last):\n  File "/a/x.py", line 3, in f\n    g()\n'
          '  File "/a/y.py", line 9, in g\n    raise KeyError(1)\nKeyError: 1\n')
    assert error_signature(tb) == "KeyError at /a/y.py:9 in g"
    assert error_signature("step budget of 5 exhausted") == "step budget of 5 exhausted"


def test_the_error_digest_prints_each_kind_once_with_a_count():
    class R:
        def __init__(self, error, outcome=Outcome.ENV_ERROR):
            self.outcome, self.error, self.error_kind, self.case = outcome, error, "", None

    tb = 'Traceback (most recent call last):\n  File "/a/y.py", line 9, in g\n    raise KeyError(1)\nKeyError: {}\n'
    d = ErrorDigest()
    for r in (R(tb.format(1)), R(tb.format(2)), R(tb.format(3), Outcome.AGENT_ERROR), R("", Outcome.TIMEOUT)):
        d.add(r)
    lines = d.lines(lambda r: "simtest replay X")
    assert lines[0] == "env_error in 2 cases: KeyError at /a/y.py:9 in g"
    assert "    KeyError: 1" in lines and lines.count("  see the rest: simtest replay X") == 2
    assert any(ln.startswith("agent_error in 1 case:") for ln in lines)


def test_no_view_name_is_hard_coded_in_the_harness():
    """The report and previews draw the views an env declares; a literal view name would be a guess."""
    root = Path(__file__).resolve().parents[2] / "simtest"
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in ("camera", "topdown"):
                pytest.fail(f"{path.relative_to(root)}:{node.lineno} names the view {node.value!r}")
