"""Property: whatever text an author saves, the loaders either load it or raise a clean
SimtestError (positions and all); never another exception. Generated documents (valid YAML built
from the format's own vocabulary) and mutated ones (shipped scenarios with bytes cut, pasted and
swapped). A few thousand examples in the fast suite; many more under `-m slow`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simtest.authoring import spec
from simtest.core.errors import SimtestError
from simtest.authoring.validate import validate_file

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").rglob("*.yaml"))
EXTRA = [
    "id: driving/x-v1\nenv: simtest/Driving-v0\nhorizon: 20\nparams:\n  goal_distance: {normal: {mean: 8, std: 2, "
    "min: 3, max: 12}}\n  obstacle_size: {uniform: [0.2, 1.0]}\n  lighting: {choice: [day, night], weights: [3, 1]}\n"
    "  n_obstacles: {grid: [0, 2, 4]}\nconstraints:\n  - goal_distance > 4 * obstacle_size\nchecks:\n"
    "  - {name: safe, expr: collision == 0 and min_clearance >= 0.3}\n",
    "extends: base.yaml\nid: driving/child-v1\ntags: [night]\nparams:\n  lighting: night\n",
    "name: s\nscenarios: [base.yaml, '*.yaml']\nsampler: sobol\nsamples: 3\nstratify: [lighting]\n",
    "id: gym/cartpole-v1\nenv: CartPole-v1\nhorizon: 50\nparams:\n  sutton_barto_reward: {choice: [true, false]}\n",
]
TEXTS = [p.read_text() for p in SHIPPED] + EXTRA

KEYS = ["id", "env", "horizon", "params", "checks", "constraints", "tags", "description", "extends", "name",
        "scenarios", "sampler", "samples", "seeds", "seed", "stratify", "policy", "fixed", "choice", "weights",
        "uniform", "normal", "mean", "std", "min", "max", "int_range", "grid", "expr", "lighting", "n_obstacles",
        "goal_distance", "fog_density", "obstacle_positions", "max_extra_rounds"]
ENVS = ["simtest/Driving-v0", "simtest/RecsysSession-v0", "CartPole-v1", "nope/Nothing-v0", ""]
EXPRS = ["success == 1", "collision == 0 and min_clearance >= 0.3", "goal_distance > 2 * obstacle_size",
         "lighting == 'night'", "((a", "abs(x) < -", "max(1, 2, 3) > n_obstacles", "isnan(time_to_goal)", "1 / 0 > 1"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(KEYS + ENVS + EXPRS + ["driving/a-v1", "base.yaml", "s.yaml", "*.yaml"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
    max_leaves=15,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, min_size=1, max_size=8)

# Text surgery on a real file: cut, paste, replace, re-indent.
SNIPPETS = ["\n", ": ", "- ", "{", "}", "[", "]", "&a ", "*a", "<<: *a\n", "!!binary ", "'", '"', "\t", "---\n",
            "\x00", "#", "? ", "~", ".nan", "1e999", "  ", "!!python/object:os.system ", "%YAML 1.1\n"]


@st.composite
def mutated(draw) -> str:
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 30)))
        op = draw(st.sampled_from(["cut", "paste", "replace", "swap-lines", "dup"]))
        piece = draw(st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=6)))
        if op == "cut":
            text = text[:i] + text[j:]
        elif op == "paste":
            text = text[:i] + piece + text[i:]
        elif op == "replace":
            text = text[:i] + piece + text[j:]
        elif op == "dup":
            text = text[:i] + text[i:j] * 3 + text[j:]
        else:
            lines = text.splitlines(keepends=True)
            if len(lines) > 1:
                a = draw(st.integers(0, len(lines) - 1))
                b = draw(st.integers(0, len(lines) - 1))
                lines[a], lines[b] = lines[b], lines[a]
                text = "".join(lines)
    return text


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as d:
        base = Path(d)
        (base / "base.yaml").write_text(TEXTS[0] if "env:" in TEXTS[0] else EXTRA[0])
        (base / "loop.yaml").write_text("extends: s.yaml\nid: driving/loop-v1\n")
        yield base


def _load_everything(workdir: Path, text: str) -> None:
    path = workdir / "s.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if _encodable(text) else path.write_bytes(
        text.encode("utf-8", "replace"))
    for load in (spec.load_scenario, spec.load_suite, validate_file):
        try:
            load(path)
        except SimtestError as exc:
            assert str(exc), "a SimtestError must say what is wrong"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


_FAST = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
_SLOW = settings(max_examples=5_000, deadline=None, suppress_health_check=list(HealthCheck))


@_FAST
@given(doc=documents)
def test_generated_documents_load_or_raise_a_clean_error(workdir, doc):
    _load_everything(workdir, yaml.safe_dump(doc, allow_unicode=True))


@_FAST
@given(text=mutated())
def test_mutated_scenario_files_load_or_raise_a_clean_error(workdir, text):
    _load_everything(workdir, text)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(text=st.text(max_size=200))
def test_arbitrary_text_loads_or_raises_a_clean_error(workdir, text):
    _load_everything(workdir, text)


@pytest.mark.slow
@_SLOW
@given(doc=documents)
def test_many_generated_documents_load_or_raise_a_clean_error(workdir, doc):
    _load_everything(workdir, yaml.safe_dump(doc, allow_unicode=True))


@pytest.mark.slow
@_SLOW
@given(text=mutated())
def test_many_mutated_scenario_files_load_or_raise_a_clean_error(workdir, text):
    _load_everything(workdir, text)


def test_alias_bomb_is_a_clean_error(workdir):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    with pytest.raises(SimtestError, match="expands to more than"):
        spec.load_scenario(_write(workdir, bomb))


def test_recursive_alias_is_a_clean_error(workdir):
    with pytest.raises(SimtestError, match="recursive structure"):
        spec.load_scenario(_write(workdir, "id: &a [*a]\n"))


def test_deep_nesting_is_a_clean_error(workdir):
    with pytest.raises(SimtestError):
        spec.load_scenario(_write(workdir, "a: " + "[" * 5000 + "]" * 5000 + "\n"))


def _write(workdir: Path, text: str) -> Path:
    path = workdir / "s.yaml"
    path.write_text(text)
    return path
