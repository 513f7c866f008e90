"""Falsification search: propose parameter values where a scenario's checks are likely to fail,
shrink each failure toward the scenario's nominal values, and keep the failures that are distinct
by a declared distance. Pure: it proposes cases and learns from scores; the wiring
(simtest.orchestrate.search) runs the cases with the usual executors and store.

The search works in the unit cube: one coordinate per free parameter, mapped to a value by the
same transform the samplers use (simtest.authoring.sampling), so every proposal is a value of the
scenario's own domains (continuous, integer and categorical).

Score of an episode (what the search minimises): the smallest robustness margin of its checks
(`margin_<check>` columns). A failed episode whose margins are unknown scores -0; a passing one
with unknown margins scores +1. Infrastructure outcomes (timeout, env_error) are not scores.

Methods (`--method`):
- `bayes` (default): Bayesian optimisation aimed at falsification. A Gaussian process (squared-
  exponential kernel on the unit cube, length scale picked by marginal likelihood from a small
  grid) models the margin; each proposal maximises the probability that the margin is below 0,
  Phi(-mu/sigma), over a pool of random points and perturbations of the best ones; a batch is
  filled by the kriging believer (each pick is added at its predicted margin before the next).
  Written here in numpy/scipy (about 60 lines) because the libraries' samplers minimise
  (expected improvement, TPE) instead of aiming at margin < 0, and optuna's GP sampler has no
  batch proposals. On the benchmark it needed 0.19 of random sampling's median episodes to the
  first failure (benchmarks/README.md).
- `cross-entropy`: cross-entropy method, a smoothed Gaussian fitted to the elite fraction.
- `tpe`: optuna's TPE sampler (multivariate, constant liar, so a batch of asks differs).
- `random`: independent uniform draws; `halton`: scrambled Halton (scipy.stats.qmc).
The benchmark (benchmarks/bench_search.py) measures them against each other and VerifAI."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from simtest.authoring.sampling import _from_unit
from simtest.authoring.spec import Choice, Fixed, Grid, IntRange, Normal, Scenario, Uniform
from simtest.contract.cases import Case, canonical_params, case_seed
from simtest.core.errors import UsageError

__all__ = ["METHODS", "SearchSpace", "Proposer", "make_proposer", "episode_score", "shrink_candidates",
           "Failure", "same_failure", "distinct_failures", "corpus_document", "classify_corpus", "DEFAULT_METHOD"]

METHODS = ("bayes", "cross-entropy", "tpe", "random", "halton")
DEFAULT_METHOD = "bayes"


@dataclass(frozen=True)
class Dim:
    name: str
    domain: Any
    kind: str  # "float" | "int" | "cat"


@dataclass(frozen=True)
class SearchSpace:
    """The free parameters of a scenario (fixed ones are held) and how to reach their values."""

    scenario: Scenario
    dims: tuple[Dim, ...]
    fixed: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, scenario: Scenario) -> "SearchSpace":
        dims, fixed = [], []
        for name, d in scenario.params.items():
            if isinstance(d, Fixed):
                fixed.append((name, d.fixed))
            elif isinstance(d, (Uniform, Normal)):
                dims.append(Dim(name, d, "float"))
            elif isinstance(d, IntRange):
                dims.append(Dim(name, d, "int"))
            elif isinstance(d, (Choice, Grid)):
                values = d.finite_values()
                if len(values) > 1:
                    # uniform over the values: a search looks everywhere, whatever the sampling weights
                    dims.append(Dim(name, Choice(choice=values) if isinstance(d, Choice) else d, "cat"))
                else:
                    fixed.append((name, values[0]))
        return cls(scenario, tuple(dims), tuple(fixed))

    @property
    def d(self) -> int:
        return len(self.dims)

    def params(self, u: Sequence[float]) -> dict[str, Any]:
        out = dict(self.fixed)
        out.update({dim.name: _from_unit(dim.domain, x) for dim, x in zip(self.dims, u)})
        return out

    def unit(self, params: Mapping[str, Any]) -> np.ndarray:
        """A point of the unit cube that maps to `params` (the centre of its cell for discrete values)."""
        return np.array([_to_unit(dim, params[dim.name]) for dim in self.dims], dtype=float)

    def nominal(self) -> dict[str, Any]:
        """The simplest case: the scenario's declared nominal values (`search.nominal`), else each
        domain's centre (a choice's first value, an integer range's low end)."""
        declared = dict(self.scenario.search.nominal) if self.scenario.search else {}
        out = dict(self.fixed)
        for dim in self.dims:
            if dim.name in declared:
                out[dim.name] = declared[dim.name]
            elif dim.kind == "cat":
                out[dim.name] = dim.domain.finite_values()[0]
            elif dim.kind == "int":
                out[dim.name] = dim.domain.int_range[0]
            else:
                out[dim.name] = _from_unit(dim.domain, 0.5)
        return out

    def distance(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
        """Root mean square over free parameters of the per-parameter distance: |a - b| / range for
        numbers, 0 or 1 for categories. 0 = same case, 1 = opposite corners."""
        if not self.dims:
            return 0.0
        total = 0.0
        for dim in self.dims:
            x, y = a[dim.name], b[dim.name]
            if dim.kind == "cat":
                total += 0.0 if x == y else 1.0
            else:
                lo, hi = _range(dim)
                total += (abs(float(x) - float(y)) / (hi - lo)) ** 2 if hi > lo else 0.0
        return math.sqrt(total / len(self.dims))

    def case(self, params: Mapping[str, Any], *, index: int, seed: int, case_seed_: int | None = None) -> Case:
        s = self.scenario
        return Case(scenario=s.id, scenario_hash=s.hash, env=s.env, params_json=canonical_params(dict(params)),
                    seed=case_seed(seed, s.id, index, 0) if case_seed_ is None else case_seed_,
                    tags=tuple(s.tags), horizon=s.horizon, checks=tuple((c.name, c.expr) for c in s.checks),
                    sample=index, seed_index=0)


def _range(dim: Dim) -> tuple[float, float]:
    d = dim.domain
    if isinstance(d, Uniform):
        return float(d.uniform[0]), float(d.uniform[1])
    if isinstance(d, IntRange):
        return float(d.int_range[0]), float(d.int_range[1])
    if isinstance(d, Normal):
        return float(_from_unit(d, 0.0)), float(_from_unit(d, math.nextafter(1.0, 0.0)))
    return 0.0, 1.0


def _to_unit(dim: Dim, value: Any) -> float:
    d = dim.domain
    if dim.kind == "cat":
        values = d.finite_values()
        return (values.index(value) + 0.5) / len(values)
    if isinstance(d, IntRange):
        lo, hi = d.int_range
        return (int(value) - lo + 0.5) / (hi - lo + 1)
    if isinstance(d, Normal):
        from scipy.stats import truncnorm

        s = d.normal
        a = -np.inf if s.min is None else (s.min - s.mean) / s.std
        b = np.inf if s.max is None else (s.max - s.mean) / s.std
        return float(truncnorm.cdf(float(value), a, b, loc=s.mean, scale=s.std))
    lo, hi = d.uniform
    return 0.5 if hi == lo else (float(value) - lo) / (hi - lo)


# --------------------------------------------------------------------------- scores


def episode_score(passed: bool, margins: Sequence[float], infrastructure: bool = False) -> float | None:
    """What the search minimises for one episode: its smallest finite check margin; -0.0 for a
    failure without a negative margin (an agent error, a check without margin); None for
    infrastructure outcomes (they say nothing about the model)."""
    if infrastructure:
        return None
    finite = [float(m) for m in margins if m is not None and not math.isnan(float(m))]
    score = min(finite) if finite else (1.0 if passed else -0.0)
    if not passed and score > 0:
        return -0.0
    return score


# --------------------------------------------------------------------------- proposers


class Proposer:
    """ask(n) -> n points of the unit cube; tell(points, scores). Deterministic given its seed and
    the scores it is told, so a resumed search proposes the same cases again (and finds them stored)."""

    def __init__(self, d: int, seed: int):
        self.d, self.seed = d, seed
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EA4C4]))
        self.X: list[np.ndarray] = []
        self.y: list[float] = []

    def ask(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def tell(self, points: np.ndarray, scores: Sequence[float | None]) -> None:
        for x, s in zip(points, scores):
            if s is not None:
                self.X.append(np.asarray(x, float))
                self.y.append(float(s))


class RandomProposer(Proposer):
    def ask(self, n: int) -> np.ndarray:
        return self.rng.random((n, self.d))


class HaltonProposer(Proposer):
    def __init__(self, d: int, seed: int):
        super().__init__(d, seed)
        from scipy.stats import qmc

        self._qmc = qmc.Halton(max(d, 1), scramble=True, seed=self.rng)

    def ask(self, n: int) -> np.ndarray:
        return self._qmc.random(n)[:, : self.d]


class CrossEntropyProposer(Proposer):
    """Cross-entropy method on the unit cube. After an initial Halton design of `init` points, each
    batch is drawn from a Gaussian centred on the mean of the elite (lowest-score) fraction `rho`
    of all episodes so far, with the elite's per-dimension spread, smoothed (`alpha`) toward the
    previous proposal, floored at `min_std` and clipped to the cube. Assumes a margin that varies
    smoothly with the parameters (what robustness margins are built to do)."""

    def __init__(self, d: int, seed: int, *, init: int = 6, rho: float = 0.2, alpha: float = 0.7,
                 min_std: float = 0.02, explore: float = 0.1):
        super().__init__(d, seed)
        from scipy.stats import qmc

        self._qmc = qmc.Halton(max(d, 1), scramble=True, seed=self.rng)
        self.init, self.rho, self.alpha, self.min_std, self.explore = init, rho, alpha, min_std, explore
        self.mean = np.full(d, 0.5)
        self.std = np.full(d, 0.5)
        self._asked = 0

    def ask(self, n: int) -> np.ndarray:
        out = []
        for _ in range(n):
            if self._asked < self.init or len(self.y) < 2:
                x = self._qmc.random(1)[0, : self.d]
            elif self.rng.random() < self.explore:  # keep looking elsewhere: distinct failures
                x = self.rng.random(self.d)
            else:
                x = np.clip(self.rng.normal(self.mean, self.std), 0.0, math.nextafter(1.0, 0.0))
            self._asked += 1
            out.append(x)
        return np.asarray(out).reshape(n, self.d)

    def tell(self, points: np.ndarray, scores: Sequence[float | None]) -> None:
        super().tell(points, scores)
        if len(self.y) < 2:
            return
        y = np.asarray(self.y)
        X = np.asarray(self.X)
        k = max(2, int(math.ceil(self.rho * len(y))))
        elite = X[np.argsort(y, kind="stable")[:k]]
        mean, std = elite.mean(axis=0), elite.std(axis=0)
        self.mean = self.alpha * mean + (1 - self.alpha) * self.mean
        self.std = np.maximum(self.alpha * std + (1 - self.alpha) * self.std, self.min_std)


class OptunaProposer(Proposer):
    """optuna's TPE (multivariate, constant liar): a Bayesian optimiser for mixed spaces."""

    def __init__(self, d: int, seed: int):
        super().__init__(d, seed)
        try:
            import optuna
        except ImportError:
            raise UsageError("--method tpe needs optuna: pip install optuna (or simtest[search])") from None
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, n_startup_trials=6)
        self.study = optuna.create_study(sampler=sampler, direction="minimize")
        self._trials: list = []

    def ask(self, n: int) -> np.ndarray:
        out = []
        for _ in range(n):
            t = self.study.ask()
            self._trials.append(t)
            out.append([t.suggest_float(f"u{i}", 0.0, 1.0) for i in range(self.d)])
        return np.asarray(out, float).reshape(n, self.d)

    def tell(self, points: np.ndarray, scores: Sequence[float | None]) -> None:
        super().tell(points, scores)
        import optuna

        for s in scores:
            t = self._trials.pop(0)
            if s is None:
                self.study.tell(t, state=optuna.trial.TrialState.FAIL)
            else:
                self.study.tell(t, float(s))


class GaussianProcessProposer(Proposer):
    """Probability-of-falsification Bayesian optimisation (see the module docstring). Assumes the
    margin varies smoothly with the unit-cube coordinates; costs O(n^3) per batch in the episodes
    told so far (fine for the hundreds a search runs)."""

    SCALES = (0.1, 0.2, 0.4, 0.8)

    def __init__(self, d: int, seed: int, *, init: int = 4, pool: int = 256, local: float = 0.05):
        super().__init__(d, seed)
        from scipy.stats import qmc

        self._qmc = qmc.Halton(max(d, 1), scramble=True, seed=self.rng)
        self.init, self.pool, self.local = init, pool, local

    @staticmethod
    def _kernel(A: np.ndarray, B: np.ndarray, ls: float) -> np.ndarray:
        return np.exp(-0.5 * ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1) / ls**2)

    def _fit(self, X: np.ndarray, z: np.ndarray, ls: float):
        from scipy.linalg import cho_factor, cho_solve

        c = cho_factor(self._kernel(X, X, ls) + 1e-6 * np.eye(len(X)), lower=True)
        return c, cho_solve(c, z)

    def _scale(self, X: np.ndarray, z: np.ndarray) -> float:
        best, best_ll = self.SCALES[0], -math.inf
        for ls in self.SCALES:
            try:
                c, a = self._fit(X, z, ls)
            except np.linalg.LinAlgError:
                continue
            ll = -0.5 * float(z @ a) - float(np.log(np.diag(c[0])).sum())
            if ll > best_ll:
                best, best_ll = ls, ll
        return best

    def ask(self, n: int) -> np.ndarray:
        from scipy.linalg import cho_solve
        from scipy.stats import norm

        finite = [i for i, v in enumerate(self.y) if math.isfinite(v)]
        if len(finite) < self.init:
            return self._qmc.random(n)[:, : self.d]
        X = np.asarray(self.X)[finite]
        y = np.asarray(self.y)[finite]
        mu, sd = float(y.mean()), float(y.std()) or 1.0
        z = (y - mu) / sd
        ls = self._scale(X, z)
        out = []
        for _ in range(n):
            try:
                c, a = self._fit(X, z, ls)
            except np.linalg.LinAlgError:
                out.append(self.rng.random(self.d))
                continue
            best = X[np.argsort(z, kind="stable")[:5]]
            near = best[self.rng.integers(0, len(best), self.pool)] + self.rng.normal(0, self.local, (self.pool, self.d))
            cand = np.vstack([self.rng.random((self.pool, self.d)), np.clip(near, 0.0, math.nextafter(1.0, 0.0))])
            Ks = self._kernel(cand, X, ls)
            m = Ks @ a
            var = np.maximum(1.0 - (Ks * cho_solve(c, Ks.T).T).sum(1), 1e-12)
            pf = norm.logcdf(-(mu + sd * m) / (sd * np.sqrt(var)))
            k = int(np.argmax(pf))
            out.append(cand[k])
            X, z = np.vstack([X, cand[k]]), np.append(z, m[k])  # kriging believer
        return np.asarray(out).reshape(n, self.d)


def make_proposer(method: str, d: int, seed: int) -> Proposer:
    if method == "random":
        return RandomProposer(d, seed)
    if method == "halton":
        return HaltonProposer(d, seed)
    if method == "cross-entropy":
        return CrossEntropyProposer(d, seed)
    if method == "bayes":
        return GaussianProcessProposer(d, seed)
    if method == "tpe":
        return OptunaProposer(d, seed)
    raise UsageError(f'unknown search method "{method}"; choose one of: {", ".join(METHODS)}')


# --------------------------------------------------------------------------- shrinking


def shrink_candidates(space: SearchSpace, current: Mapping[str, Any], nominal: Mapping[str, Any],
                      *, limit: int = 16) -> list[dict]:
    """Simpler variants of a failing case, in the order to try them: first every differing
    parameter at once at its nominal value and each one alone at nominal (simplest first), then each
    numeric one moved 1/2, 1/4, 1/8 and 1/16 of the way (a binary search toward the failure
    boundary). The wiring runs them a batch at a time, keeps the simplest variant of the first batch
    that still fails and asks again, until none fails or the budget is spent (Hypothesis-style
    greedy reduction)."""
    differing = [dim for dim in space.dims if current[dim.name] != nominal[dim.name]]
    if not differing:
        return []
    whole = [{**current, dim.name: nominal[dim.name]} for dim in differing]
    if len(differing) > 1:
        whole.append({**current, **{d.name: nominal[d.name] for d in differing}})
    partial = []
    for dim in differing:
        if dim.kind != "cat":
            for frac in (0.5, 0.25, 0.125, 0.0625):
                moved = _toward(dim, current[dim.name], nominal[dim.name], frac)
                if moved != current[dim.name]:
                    partial.append({**current, dim.name: moved})
    unique: list[dict] = []
    for c in sorted(whole, key=lambda c: space.distance(c, nominal)) + sorted(partial, key=lambda c: space.distance(c, nominal)):
        if c not in unique:
            unique.append(c)
    return unique[:limit]


def _toward(dim: Dim, value: Any, target: Any, frac: float) -> Any:
    if dim.kind == "int":
        v, t = int(value), int(target)
        step = int(round((t - v) * frac))
        return v + step
    lo, hi = _range(dim)
    step = (float(target) - float(value)) * frac
    if abs(step) < 1e-3 * (hi - lo):
        return value
    return float(value) + step


def same_failure(space: SearchSpace, raw: Mapping[str, Any], failure: "Failure", nominal: Mapping[str, Any]) -> bool:
    """Whether a raw failure is (probably) one already shrunk: compared only on the parameters that
    mattered for that failure (the others were shown irrelevant by shrinking it)."""
    keep = set(failure.mattered)
    a = {k: (v if k in keep else nominal.get(k, v)) for k, v in raw.items()}
    b = {k: (v if k in keep else nominal.get(k, v)) for k, v in failure.params.items()}
    threshold = space.scenario.search.distinct if space.scenario.search else 0.1
    return space.distance(a, b) <= threshold


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Failure:
    """A failure found by the search, its shrunk form and what mattered."""

    case_id: str
    params: dict = field(hash=False)
    seed: int
    score: float
    shrunk_case_id: str
    shrunk_params: dict = field(hash=False)
    shrunk_score: float
    mattered: tuple[str, ...]  # parameters that could not be moved to their nominal value


def distinct_failures(space: SearchSpace, failures: Sequence[Failure]) -> list[Failure]:
    """Greedy: keep a failure when its shrunk parameters are farther than the scenario's
    `search.distinct` (default 0.1) from every failure kept before it (in score order)."""
    threshold = space.scenario.search.distinct if space.scenario.search else 0.1
    kept: list[Failure] = []
    for f in sorted(failures, key=lambda f: (f.shrunk_score, f.case_id)):
        if all(space.distance(f.shrunk_params, k.shrunk_params) > threshold for k in kept):
            kept.append(f)
    return kept


def corpus_document(scenario: Scenario, failure: Failure, *, model: str, date: str) -> tuple[str, dict]:
    """(file name, scenario mapping) of one corpus entry: the shrunk parameters fixed, its seed
    pinned, tag `found`, and where it came from."""
    base = scenario.id.rsplit("-v", 1)[0]
    short = failure.shrunk_case_id[:8]
    sid = f"{base}-found-{short}-v1"
    doc = scenario.model_dump(mode="json", exclude={"search", "seeds", "found", "id", "params", "constraints"})
    doc = {"id": sid, **{k: v for k, v in doc.items() if v not in ((), [], None, "")}}
    doc["description"] = (f"found by simtest search on {scenario.id} against {model} on {date}; shrunk from case "
                          f"{failure.case_id} (mattered: {', '.join(failure.mattered) or 'none'})")
    doc["tags"] = sorted(set(scenario.tags) | {"found"})
    doc["params"] = {k: v for k, v in sorted(failure.shrunk_params.items())}
    doc["seeds"] = [int(failure.seed)]
    doc["found"] = {"model": model, "date": date, "case_id": failure.shrunk_case_id, "original_case_id": failure.case_id,
                    "scenario": scenario.id}
    doc["checks"] = [{"name": c.name, "expr": c.expr} for c in scenario.checks]
    return sid.replace("/", "__") + ".yaml", doc


def classify_corpus(candidate: Any, baseline: Any) -> list[dict]:
    """Corpus cases of both runs, joined on case_id: `known` (both fail), `fixed` (the baseline
    fails, the candidate passes), `newly failing` (the baseline passes, the candidate fails; the
    blocking kind) or `passing`. Rows are pandas frames of stored runs."""
    base = {r["case_id"]: r for r in baseline.to_dict("records")}
    out = []
    for r in candidate.to_dict("records"):
        b = base.get(r["case_id"])
        if b is None:
            continue
        c_ok, b_ok = bool(r["passed"]), bool(b["passed"])
        status = ("known" if not b_ok else "newly failing") if not c_ok else ("fixed" if not b_ok else "passing")
        out.append({"case_id": r["case_id"], "scenario": r["scenario"], "status": status,
                    "params": json.loads(r["params"]) if isinstance(r["params"], str) else r["params"]})
    return sorted(out, key=lambda x: (["newly failing", "known", "fixed", "passing"].index(x["status"]), x["scenario"]))


def search_key(scenario: Scenario, method: str, seed: int, model_digest: str) -> str:
    """A stable name for a search run: same scenario, method, seed and model = same run (resumable)."""
    body = json.dumps([scenario.id, scenario.hash, method, seed, model_digest[:12]])
    return hashlib.sha256(body.encode()).hexdigest()[:10]


def influential_dims(units: list, scores: list, names: list) -> list[int]:
    """Indices of the parameters most associated with the margin (|Spearman rho|, largest first)."""
    import numpy as np
    from scipy.stats import spearmanr

    ok = [i for i, s in enumerate(scores) if s is not None and math.isfinite(s)]
    if len(ok) < 3 or not names:
        return list(range(min(2, len(names))))
    X = np.asarray([units[i] for i in ok], float)
    y = np.asarray([scores[i] for i in ok], float)
    rho = []
    for j in range(X.shape[1]):
        if np.ptp(X[:, j]) == 0 or np.ptp(y) == 0:
            rho.append(0.0)
        else:
            r = spearmanr(X[:, j], y).statistic
            rho.append(0.0 if not math.isfinite(r) else abs(float(r)))
    return sorted(range(len(names)), key=lambda j: -rho[j])[:2]
