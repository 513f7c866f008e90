"""`simtest validate`: every problem in every file in one pass, each pinned as
`file:line:col $.path: what is wrong (did you mean ...?)`. A message ending in "..." is pinned up
to there (what follows lists the env's declarations, which grow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simtest.cli import main
from simtest.authoring import spec
from simtest.authoring.validate import constraint_problems, validate_paths

ROOT = Path(__file__).resolve().parents[2]
HEAD = "id: driving/broken-v1\nenv: simtest/Driving-v0\nhorizon: 20\n"
BROKEN = {
    "unknown-key": HEAD + "horizn: 3\n",
    "misspelt-param": HEAD + "params:\n  n_obstacle: 2\n",
    "out-of-range": HEAD + "params:\n  n_obstacles: 99\n",
    "uniform-out-of-range": HEAD + "params:\n  goal_distance: {uniform: [1, 30]}\n",
    "empty-uniform": HEAD + "params:\n  goal_distance: {uniform: [5, 2]}\n",
    "empty-choice": HEAD + "params:\n  lighting: {choice: []}\n",
    "empty-int-range": HEAD + "params:\n  n_obstacles: {int_range: [5, 2]}\n",
    "normal-unbounded": HEAD + "params:\n  goal_distance: {normal: {mean: 8, std: 2}}\n",
    "normal-empty": HEAD + "params:\n  goal_distance: {normal: {mean: 8, std: 2, min: 9, max: 4}}\n",
    "unknown-metric": HEAD + "checks:\n  - sucess == 1\n",
    "unknown-env": "id: driving/broken-v1\nenv: simtest/Drivin-v0\nhorizon: 20\n",
    "unsatisfiable": HEAD + "params:\n  goal_distance: {uniform: [3, 10]}\nconstraints:\n  - goal_distance > 12\n",
    "jointly-unsatisfiable": HEAD + "params:\n  goal_distance: {uniform: [3, 10]}\n  obstacle_size: {uniform: [0.2, 1.5]}\nconstraints:\n  - goal_distance > 9\n  - goal_distance < 4 * obstacle_size\n",
    "constraint-type": HEAD + "params:\n  lighting: {choice: [day, night]}\nconstraints:\n  - lighting > 3\n",
    "constraint-syntax": HEAD + "constraints:\n  - 'goal_distance <'\n",
    "constraint-unknown-name": HEAD + "params:\n  goal_distance: 5.0\nconstraints:\n  - goal_distanse > 4\n",
    "wrong-type": HEAD + "params:\n  n_obstacles: many\n",
    "not-a-choice": HEAD + "params:\n  lighting: {choice: [day, nite]}\n",
    "int-param-uniform": HEAD + "params:\n  n_obstacles: {uniform: [1, 3]}\n",
    "unknown-domain": HEAD + "params:\n  goal_distance: {unifrom: [3, 5]}\n",
    "two-domains": HEAD + "params:\n  goal_distance: {uniform: [3, 5], choice: [4]}\n",
    "weights-mismatch": HEAD + "params:\n  lighting: {choice: [day, night], weights: [1]}\n",
    "syntax": HEAD + "params: [unclosed\n",
    "duplicate-key": HEAD + "horizon: 30\n",
    "bad-id": "id: Driving/Broken\nenv: simtest/Driving-v0\nhorizon: 20\n",
    "bad-horizon": "id: driving/broken-v1\nenv: simtest/Driving-v0\nhorizon: 0\n",
    "missing-horizon": "id: driving/broken-v1\nenv: simtest/Driving-v0\n",
    "check-syntax": HEAD + "checks:\n  - success ==\n",
    "duplicate-check-names": HEAD + "checks:\n  - success == 1\n  - {name: success, expr: collision == 0}\n",
    "nan-value": HEAD + "params:\n  goal_distance: .nan\n",
    "date-value": HEAD + "params:\n  lighting: 2024-01-01\n",
    "top-level-list": "- id: x\n",
    "extends-missing": "extends: nothere.yaml\nid: driving/child-v1\n",
}

EXPECTED = [
    ('unknown-key', [
        'unknown-key.yaml:4:1 $.horizn: unknown key "horizn" (did you mean "horizon"?); allowed here: id, env, description, tags, horizon, params, checks, constraints, search, seeds, found',
    ]),
    ('misspelt-param', [
        'misspelt-param.yaml:5:3 $.params.n_obstacle: unknown parameter "n_obstacle" for simtest/Driving-v0 (did you mean "n_obstacles"?); declared: ...',
    ]),
    ('out-of-range', [
        'out-of-range.yaml:5:16 $.params.n_obstacles: "n_obstacles" = 99 is above the maximum 12',
    ]),
    ('uniform-out-of-range', [
        'uniform-out-of-range.yaml:5:18 $.params.goal_distance: "goal_distance" = 1.0 m is below the minimum 3.0 m',
    ]),
    ('empty-uniform', [
        'empty-uniform.yaml:5:28 $.params.goal_distance.uniform: uniform range [5.0, 2.0] is empty; write [low, high] with low <= high',
    ]),
    ('empty-choice', [
        'empty-choice.yaml:5:22 $.params.lighting.choice: is empty; give at least 1 item(s)',
    ]),
    ('empty-int-range', [
        'empty-int-range.yaml:5:28 $.params.n_obstacles.int_range: int_range [5, 2] is empty; write [low, high] with low <= high',
    ]),
    ('normal-unbounded', [
        'normal-unbounded.yaml:5:18 $.params.goal_distance: normal domain of "goal_distance" needs min >= 3.0 (the declared minimum)',
        'normal-unbounded.yaml:5:18 $.params.goal_distance: normal domain of "goal_distance" needs max <= 20.0 (the declared maximum)',
    ]),
    ('normal-empty', [
        'normal-empty.yaml:5:27 $.params.goal_distance.normal: normal bounds min=9.0 >= max=4.0: the domain is empty',
    ]),
    ('unknown-metric', [
        'unknown-metric.yaml:5:5 $.checks[0]: unknown metric "sucess" in check "sucess == 1" (did you mean "success"?); metrics of simtest/Driving-v0: ...',
    ]),
    ('unknown-env', [
        'unknown-env.yaml:2:6 $.env: unknown env id "simtest/Drivin-v0" (did you mean "simtest/Driving-v0"?); simtest envs: ...',
    ]),
    ('unsatisfiable', [
        'unsatisfiable.yaml:7:5 $.constraints[0]: constraint "goal_distance > 12" is never true for this scenario\'s parameter domains (tried 2003 combinations, including every domain\'s ends); relax it or widen the domains',
    ]),
    ('jointly-unsatisfiable', [
        'jointly-unsatisfiable.yaml:8:3 $.constraints: each constraint can hold, but no combination satisfies all of them together (tried 2009); relax one of them',
    ]),
    ('constraint-type', [
        'constraint-type.yaml:7:5 $.constraints[0]: constraint "lighting > 3" cannot be evaluated: \'>\' not supported between instances of \'str\' and \'int\' (e.g. at {"lighting": "day"}); compare numbers with numbers and text with text',
    ]),
    ('constraint-syntax', [
        'constraint-syntax.yaml:5:5 $.constraints[0]: "goal_distance <" ends too early',
    ]),
    ('constraint-unknown-name', [
        'constraint-unknown-name.yaml:7:5 $.constraints[0]: constraint "goal_distanse > 4" reads "goal_distanse", which is not a parameter of this scenario (did you mean "goal_distance"?); constraints can read: goal_distance',
    ]),
    ('wrong-type', [
        'wrong-type.yaml:5:16 $.params.n_obstacles: "n_obstacles" must be an integer, got \'many\'',
    ]),
    ('not-a-choice', [
        'not-a-choice.yaml:5:13 $.params.lighting: "lighting" must be one of day, dusk, night; got \'nite\' (did you mean "night"?)',
    ]),
    ('int-param-uniform', [
        'int-param-uniform.yaml:5:16 $.params.n_obstacles: "n_obstacles" is an integer parameter; use int_range, choice or grid instead of uniform',
    ]),
    ('unknown-domain', [
        'unknown-domain.yaml:5:19 $.params.goal_distance.unifrom: unknown domain "unifrom" (did you mean "uniform"?); a parameter is a plain value or a mapping with one of: fixed, choice, uniform, normal, int_range, grid',
    ]),
    ('two-domains', [
        'two-domains.yaml:5:18 $.params.goal_distance: "goal_distance" has choice and uniform; a domain has exactly one of: fixed, choice, uniform, normal, int_range, grid',
    ]),
    ('weights-mismatch', [
        'weights-mismatch.yaml:5:13 $.params.lighting: weights has 1 entries but choice has 2; give one weight per value',
    ]),
    ('syntax', [
        "syntax.yaml:5:1 $: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence that starts on line 4)",
    ]),
    ('duplicate-key', [
        'duplicate-key.yaml:4:1 $.horizon: duplicate key "horizon" (the first one is on line 3); remove one of them',
    ]),
    ('bad-id', [
        'bad-id.yaml:1:5 $.id: scenario id "Driving/Broken" must look like "domain/name-v1" (lower case, ending in -v<N>)',
    ]),
    ('bad-horizon', [
        'bad-horizon.yaml:3:10 $.horizon: must be greater than 0 (got 0)',
    ]),
    ('missing-horizon', [
        'missing-horizon.yaml:1:1 $.horizon: required key "horizon" is missing; add it',
    ]),
    ('check-syntax', [
        'check-syntax.yaml:5:5 $.checks[0]: "success ==" ends too early',
    ]),
    ('duplicate-check-names', [
        'duplicate-check-names.yaml:5:3 $.checks: two checks are named "success"; give one of them a name: {name: ..., expr: "collision == 0"}',
    ]),
    ('nan-value', [
        'nan-value.yaml:5:18 $.params.goal_distance: parameter values must be finite numbers, got nan',
    ]),
    ('date-value', [
        'date-value.yaml:5:13 $.params.lighting: parameter values must be numbers, strings, booleans, null or lists of them; got date 2024-01-01 (quote it to make it a string)',
    ]),
    ('top-level-list', [
        'top-level-list.yaml:1:1 $: not a scenario (needs env:), suite (scenarios:), policy (metrics:) or model manifest (entry_point:)',
    ]),
    ('extends-missing', [
        'extends-missing.yaml:1:10 $.extends: parent scenario "nothere.yaml" not found (looked for nothere.yaml); the path is relative to extends-missing.yaml',
    ]),
]


def _validate(tmp_path: Path, files: dict[str, str]) -> list[str]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    problems, n_files = validate_paths([str(tmp_path / name) for name in files])
    assert n_files == len(files)
    return [str(p).replace(str(tmp_path) + "/", "") for p in problems]


def _matches(actual: str, expected: str) -> bool:
    return actual.startswith(expected[:-3]) if expected.endswith("...") else actual == expected


@pytest.mark.parametrize("name,expected", EXPECTED, ids=[name for name, _ in EXPECTED])
def test_broken_scenario_reports_pinned_message(tmp_path, name, expected):
    got = _validate(tmp_path, {f"{name}.yaml": BROKEN[name]})
    assert len(got) == len(expected), "\n".join(got)
    for actual, want in zip(got, expected):
        assert _matches(actual, want), f"\n got: {actual}\nwant: {want}"


def test_every_problem_of_every_file_is_reported_in_one_pass(tmp_path):
    got = _validate(tmp_path, {
        "a.yaml": HEAD + "horizn: 3\nparams:\n  n_obstacle: 2\n  lighting: {choice: [day, nite]}\nchecks:\n  - sucess == 1\n",
        "b.yaml": "id: driving/b-v1\nenv: simtest/Driving-v0\nhorizon: 0\nparams:\n  goal_distance: {uniform: [5, 2]}\n",
    })
    places = [line.split(" ", 2)[:2] for line in got]
    # The unknown top-level key stops the model from being built; the misspelt parameter is still named.
    assert ["a.yaml:4:1", "$.horizn:"] in places
    assert ["a.yaml:6:3", "$.params.n_obstacle:"] in places
    assert ["b.yaml:3:10", "$.horizon:"] in places
    assert ["b.yaml:5:28", "$.params.goal_distance.uniform:"] in places


def test_problems_of_a_valid_model_are_all_reported(tmp_path):
    got = _validate(tmp_path, {"a.yaml": HEAD + "params:\n  n_obstacle: 2\n  lighting: {choice: [day, nite]}\n"
                                            "  goal_distance: 99\nchecks:\n  - sucess == 1\n"})
    assert [line.split(" ", 2)[1] for line in got] == [
        "$.params.n_obstacle:", "$.params.lighting:", "$.params.goal_distance:", "$.checks[0]:"]


def test_inherited_problem_points_into_the_parent_file(tmp_path):
    got = _validate(tmp_path, {
        "base.yaml": HEAD.replace("broken", "base") + "params:\n  lighting: day\n",
        "child.yaml": "extends: base.yaml\nid: driving/child-v1\nenv: CartPole-v1\n",
    })
    # base.yaml is fine on its own; in the child (another env) the inherited parameter is not valid.
    assert got == []  # CartPole declares no parameters: anything goes to gymnasium.make
    got = _validate(tmp_path, {
        "base.yaml": HEAD.replace("broken", "base") + "params:\n  lighting: {choice: [day, night]}\n",
        "child.yaml": "extends: base.yaml\nid: driving/child-v1\nparams:\n  n_obstacles: {int_range: [0, 99]}\n"
                      "constraints:\n  - lighting == 'dusk'\n",
    })
    assert got == [
        'child.yaml:4:16 $.params.n_obstacles: "n_obstacles" = 99 is above the maximum 12',
    ]
    got = _validate(tmp_path, {
        "base.yaml": HEAD.replace("broken", "base") + "params:\n  lighting: {choice: [day, night]}\n",
        "child.yaml": "extends: base.yaml\nid: driving/child-v1\nconstraints:\n  - lighting == 'dusk'\n",
    })
    assert got == ["child.yaml:4:5 $.constraints[0]: constraint \"lighting == 'dusk'\" is never true for this "
                   "scenario's parameter domains (tried 2002 combinations, including every domain's ends); relax it "
                   "or widen the domains"]
    got = _validate(tmp_path, {
        "base.yaml": HEAD.replace("broken", "base") + "params:\n  lighting: {choice: [day, night]}\n",
        "child.yaml": "extends: base.yaml\nid: driving/child-v1\nenv: simtest/RecsysSession-v0\n",
    })
    assert [line for line in got if line.startswith("base.yaml:5:3 $.params.lighting: unknown parameter")], got


def test_extends_cycle_names_the_chain(tmp_path):
    got = _validate(tmp_path, {
        "a.yaml": "extends: b.yaml\nid: driving/a-v1\n",
        "b.yaml": "extends: a.yaml\nid: driving/b-v1\n",
    })
    assert got == [
        "b.yaml:1:10 $.extends: extends cycle: a.yaml -> b.yaml -> a.yaml; remove one of the extends",
        "a.yaml:1:10 $.extends: extends cycle: b.yaml -> a.yaml -> b.yaml; remove one of the extends",
    ]


def test_extends_without_own_id_is_an_error(tmp_path):
    got = _validate(tmp_path, {"base.yaml": HEAD, "child.yaml": "extends: base.yaml\ntags: [x]\n"})
    assert got == ["child.yaml:1:1 $: a scenario that extends another needs its own id (two scenarios may not share "
                   "one); add id: <domain>/<name>-v1"]


SUITE_BROKEN = [
    ("name: s\nscenarios: [ok.yaml]\nsampler: sobel\n",
     ["suite.yaml:3:10 $.sampler: 'sobel' is not one of: grid, random, sobol, halton, coverage (did you mean \"sobol\"?)"]),
    ("name: s\nscenarios: [nothing*.yaml]\n",
     ['suite.yaml:2:13 $.scenarios[0]: "nothing*.yaml" matches no file next to suite.yaml']),
    ("name: s\nscenarios: [ok.yaml]\nstratify: [lightin]\n",
     ['suite.yaml:3:12 $.stratify[0]: no scenario of this suite has a parameter "lightin" (did you mean "lighting"?)']),
    ("name: s\nscenarios: [ok.yaml]\nstratify: [goal_distance]\n",
     ['suite.yaml:3:12 $.stratify[0]: cannot stratify "goal_distance": scenario driving/ok-v1 gives it a uniform '
      "domain; stratify needs a finite domain (choice, grid, int_range or fixed)"]),
    ("name: s\nscenarios: [ok.yaml]\npolicy: nope.yaml\n",
     ['suite.yaml:3:9 $.policy: policy file "nope.yaml" not found next to suite.yaml']),
    ("name: s\nscenarios: [ok.yaml]\nsamples: 0\nseeds: -1\n",
     ["suite.yaml:3:10 $.samples: must be greater than 0 (got 0)", "suite.yaml:4:8 $.seeds: must be greater than 0 (got -1)"]),
    ("name: s\nscenarios: []\n", ["suite.yaml:2:12 $.scenarios: is empty; give at least 1 item(s)"]),
    ("name: s\nscenarios: [ok.yaml, bad.yaml]\n",
     ['bad.yaml:5:16 $.params.n_obstacles: "n_obstacles" = 99 is above the maximum 12']),
]


@pytest.mark.parametrize("suite,expected", SUITE_BROKEN, ids=[f"suite-{i}" for i in range(len(SUITE_BROKEN))])
def test_broken_suite_reports_pinned_message(tmp_path, suite, expected):
    ok = HEAD.replace("broken", "ok") + "params:\n  lighting: {choice: [day, night]}\n  goal_distance: {uniform: [3, 5]}\n"
    bad = HEAD.replace("broken", "bad") + "params:\n  n_obstacles: 99\n"
    (tmp_path / "ok.yaml").write_text(ok)
    (tmp_path / "bad.yaml").write_text(bad)
    (tmp_path / "suite.yaml").write_text(suite)
    problems, _ = validate_paths([str(tmp_path / "suite.yaml")])
    assert [str(p).replace(str(tmp_path) + "/", "") for p in problems] == expected


def test_shipped_scenarios_suites_and_policies_are_valid():
    problems, n_files = validate_paths([str(ROOT / "scenarios")])
    assert n_files >= 5
    assert problems == []


def test_validate_command_exits_0_when_valid_and_2_with_problems(tmp_path, capsys):
    (tmp_path / "ok.yaml").write_text(HEAD)
    (tmp_path / "bad.yaml").write_text(HEAD + "horizn: 3\n")
    assert main(["validate", str(tmp_path / "ok.yaml")]) == 0
    assert "1 file(s) valid" in capsys.readouterr().out
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'bad.yaml:4:1 $.horizn: unknown key "horizn" (did you mean "horizon"?)' in err
    assert "1 problem(s) in 2 file(s)" in err


def test_validate_searches_directories_but_skips_virtualenvs(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ok.yml").write_text(HEAD)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "junk.yaml").write_text("[")
    problems, n_files = validate_paths([str(tmp_path)])
    assert (problems, n_files) == ([], 1)


def test_missing_file_is_a_problem_not_a_crash(tmp_path):
    problems, _ = validate_paths([str(tmp_path / "gone.yaml")])
    assert [p.message for p in problems] == ["file not found; check the path"]


BASE = """\
id: driving/base-v1
env: simtest/Driving-v0
horizon: 100
params:
  lighting: {choice: [day, dusk, night]}
  n_obstacles: {int_range: [2, 5]}
  obstacle_size: {uniform: [0.4, 0.8]}
"""


def _files(tmp_path: Path, **files: str) -> None:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text)


def test_constraint_problems_finds_never_true_and_jointly_unsatisfiable_constraints(tmp_path):
    _files(tmp_path, s=BASE + "constraints: [obstacle_size > 0.9]\n",
           t=BASE + "constraints: [obstacle_size > 0.7, obstacle_size < 0.5]\n",
           u=BASE + "constraints: [\"n_obstacles * obstacle_size < 2 or lighting != 'night'\"]\n")
    assert [loc for loc, _ in constraint_problems(spec.load_scenario(tmp_path / "s.yaml"))] == [("constraints", 0)]
    assert [loc for loc, _ in constraint_problems(spec.load_scenario(tmp_path / "t.yaml"))] == [("constraints",)]
    assert constraint_problems(spec.load_scenario(tmp_path / "u.yaml")) == []


def test_equality_constraint_on_a_continuous_domain_is_reported_as_almost_never_true(tmp_path):
    _files(tmp_path, s=BASE + "constraints: [obstacle_size == 0.4]\n")
    ((loc, message),) = constraint_problems(spec.load_scenario(tmp_path / "s.yaml"))
    assert loc == ("constraints",) and "the samplers would rarely find a case" in message


def test_validate_checks_policy_metric_names_against_the_envs(tmp_path):
    from simtest.authoring.validate import validate_paths

    (tmp_path / "policy.yaml").write_text("metrics:\n  sucess: {margin_baseline: 0.1}\n")
    problems, n = validate_paths([str(tmp_path / "policy.yaml")])
    assert n == 1 and len(problems) == 1
    assert str(problems[0]).startswith(f"{tmp_path / 'policy.yaml'}:2:3 $.metrics.sucess: unknown metric \"sucess\" (did you mean \"success\"?)")
