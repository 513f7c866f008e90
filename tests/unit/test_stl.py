"""STL robustness (simtest.core.stl): hand-computed values, the Boolean verdict, parse errors,
and a cross-check against rtamt (the field's offline discrete-time STL library) on random traces."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simtest.core import stl

X = [1.0, -2.0, 3.0, 0.5, 4.0]
Y = [0.0, 1.0, 2.0, 3.0, -1.0]


@pytest.mark.parametrize("text, expected", [
    ("always(x > 0.3)", -2.3),                    # min(x) - 0.3 at step 1
    ("eventually(x > 3.5)", 0.5),                 # max(x) - 3.5 at step 4
    ("eventually[0, 2](x > 3.5)", -0.5),          # steps 0..2: max 3 - 3.5
    ("always[1, 2](x > 0)", -2.0),                # steps 1..2: min(-2, 3)
    ("always[3, 10](x > -10)", 10.5),             # window clipped to the trace: min(0.5, 4) + 10
    ("eventually[6, 7](x > 0)", -math.inf),       # window after the end: nothing satisfies it
    ("always[6, 7](x > 0)", math.inf),            # ... and nothing violates it
    ("always(x > 0) or eventually(y > 2)", 1.0),  # max(-2, 3 - 2)
    ("always(x > 0) and eventually(y > 2)", -2.0),
    ("not eventually(x > 3.5)", -0.5),
    ("always(x > 0) implies eventually(y > 2)", 2.0),  # max(-(-2), 1)
    ("x == y", -1.0), ("x != y", 1.0), ("x <= y", -1.0), ("x >= y + 1", 0.0),
    ("always(abs(x - y) < 6)", 1.0),              # max |x - y| = 5
    ("eventually(y)", 2.5),                        # a bare signal is `y > 0.5`
    ("always(max(x, y) > -1.5)", 2.5),             # max(x, y) per step is 1, 1, 3, 3, 4: min 1
])
def test_hand_computed_robustness(text, expected):
    f = stl.parse(text)
    assert f.robustness({"x": X, "y": Y}) == pytest.approx(expected)


def test_verdict_uses_boolean_semantics_at_zero_robustness():
    assert stl.parse("always(x >= 0)").holds({"x": [0.0, 1.0]})
    assert not stl.parse("always(x > 0)").holds({"x": [0.0, 1.0]})
    assert stl.parse("always(x > 0)").robustness({"x": [0.0, 1.0]}) == 0.0


def test_nan_signal_fails_with_nan_robustness():
    f = stl.parse("always(x > 0)")
    rob, sat = f.evaluate({"x": [1.0, math.nan]})
    assert math.isnan(rob[0]) and not sat[0]


def test_past_operators_per_step():
    rob, _ = stl.parse("historically[0, 2](x > 0)").evaluate({"x": X})
    assert rob.tolist() == [1.0, -2.0, -2.0, -2.0, 0.5]
    rob, _ = stl.parse("once[1, 2](x > 3)").evaluate({"x": X})
    assert rob.tolist() == [-math.inf, -2.0, -2.0, 0.0, 0.0]


def test_trace_from_infos_reads_booleans_and_names_missing_signals():
    infos = [{"goal_reached": False, "speed": 1.0}, {"goal_reached": True, "speed": 2.0}]
    trace = stl.trace_from_infos(infos, {"goal_reached", "speed"})
    assert trace["goal_reached"].tolist() == [0.0, 1.0]
    assert stl.parse("eventually(goal_reached)").holds(trace)
    with pytest.raises(stl.STLError, match='signal "clearance" is missing from step 0'):
        stl.trace_from_infos(infos, {"clearance"})


@pytest.mark.parametrize("text, message", [
    ("always(clearance > 0.3", "ends too early"),
    ("always[3, 1](x > 0)", "bad interval [3, 1]"),
    ("always[0.5, 2](x > 0)", "bounds are whole control steps"),
    ("always[-1, 2](x > 0)", "bounds are whole control steps"),
    ("alwayz(x > 0)", 'unknown operator "alwayz"'),
    ("always x > 0", "needs a parenthesised formula"),
    ("always(3)", "a number is not a requirement"),
    ("always(x > 0) + 1", 'unexpected "+" at column 15'),
    ("(x > 0) + 1 > 2", "used as a number"),
    ("always(x > 0 > 1)", "chained comparison"),
    ("always(x $ 0)", "cannot read"),
    ("", "empty requirement"),
])
def test_parse_errors_say_what_and_where(text, message):
    with pytest.raises(stl.STLError, match=__import__("re").escape(message)):
        stl.parse(text)


def test_is_temporal():
    assert stl.is_temporal("always(x > 0)") and stl.is_temporal("x > 0 or eventually[0, 3](y)")
    assert not stl.is_temporal("collision == 0") and not stl.is_temporal("always_on == 1")


# --------------------------------------------------------------------------- rtamt

FORMULAS = [
    "always(x > 0.2)", "eventually(y < -0.5)", "always[0, 3](x + y > -1)", "eventually[2, 6](x >= y)",
    "always(x > 0) or eventually[1, 4](y > 1)", "not always[1, 5](x < 1.5)",
    "always(eventually[0, 3](x > 0.5))", "eventually(always[0, 2](y <= 0))", "historically[0, 3](x > -1)",
    "once[1, 4](y > 1)", "always(x > 0) implies eventually(y > 0)", "always(abs(x - y) < 2)",
    "always[2, 40](x == y)", "eventually[5, 40](x != y)", "always(x - 2 * y < 3)",
]


def _rtamt(formula: str, traces: dict[str, np.ndarray]) -> np.ndarray:
    rtamt = pytest.importorskip("rtamt")
    spec = rtamt.StlDiscreteTimeOfflineSpecification()
    for k in traces:
        spec.declare_var(k, "float")
    spec.spec = formula.replace("!=", "!==")  # rtamt spells "not equal" !==
    spec.parse()
    n = len(next(iter(traces.values())))
    out = spec.evaluate({"time": list(range(n)), **{k: [float(v) for v in a] for k, a in traces.items()}})
    return np.array([v for _, v in out], dtype=float)


@pytest.mark.parametrize("formula", FORMULAS)
def test_matches_rtamt_on_random_traces(formula):
    rng = np.random.default_rng(abs(hash(formula)) % 2**32)
    for trial in range(8):
        n = int(rng.integers(2, 30))  # rtamt 0.4.10 fails on one-sample traces
        traces = {"x": rng.normal(size=n).round(2), "y": rng.normal(size=n).round(2)}
        ours, _ = stl.parse(formula).evaluate(traces)
        theirs = _rtamt(formula, traces)
        np.testing.assert_allclose(ours, theirs, atol=1e-9, err_msg=f"{formula} on {traces}")


# --------------------------------------------------------------------------- scenario validation

HEAD = "id: driving/stl-v1\nenv: simtest/Driving-v0\nhorizon: 20\nchecks:\n"


@pytest.mark.parametrize("check, message", [
    ("always(clearance > 0.3", r'stl\.yaml:5:5 \$\.checks\[0\]: .*"always\(clearance > 0\.3" ends too early'),
    ("always(clearence > 0.3)", r'stl\.yaml:5:5 \$\.checks\[0\]: unknown signal "clearence" in requirement '
                                r'"always\(clearence > 0\.3\)" \(did you mean "clearance"\?\); per-step signals of '
                                r'simtest/Driving-v0: clearance, collision'),
    ("eventually[15, 0](goal_reached)", r'stl\.yaml:5:5 \$\.checks\[0\]: .*bad interval \[15, 0\] of "eventually" '
                                        r"at column 11 .*write \[a, b\] with a <= b"),
])
def test_requirement_errors_are_positioned(tmp_path, capsys, check, message):
    import re

    from simtest.cli import main

    (tmp_path / "stl.yaml").write_text(HEAD + f"  - '{check}'\n")
    assert main(["validate", str(tmp_path / "stl.yaml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert re.search(message, err), err
    assert err.count("stl.yaml:") == 1, err  # one message per problem


def test_valid_requirements_pass_validation(tmp_path):
    from simtest.authoring.spec import load_scenario

    (tmp_path / "ok.yaml").write_text(HEAD + "  - always(clearance > 0.3)\n  - eventually[0, 150](goal_reached)\n"
                                      "  - always(speed < 5) or eventually(goal_reached)\n  - collision == 0\n")
    s = load_scenario(tmp_path / "ok.yaml")
    assert [c.temporal for c in s.checks] == [True, True, True, False]
    assert s.checks[0].names == {"clearance"}
