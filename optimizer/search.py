"""Simulation-based multi-objective search (pymoo NSGA-II) over a decision space.

Objectives (pymoo minimises): ``-net_recovery``, ``cost``, ``churned``; constraints ``G <= 0``:
cost within the budget, compliance breaches at most the allowed number (0), and the inbound
service level at least the minimum when the space sizes teams.

Every candidate is simulated on the same seeds (common random numbers) and its KPIs averaged
over the replications; identical candidates (after rounding) are simulated once. Simulations go
through an executor (anything with ``imap_unordered(fn, items)`` yielding ``(index, result)``,
e.g. ``postloan.executors.make_executor``); the default runs them here, one after another.

The search runs generation by generation (pymoo's ask-and-tell interface) and after each one
writes a checkpoint (``checkpoint.pkl``) to the output folder: the algorithm state, every
evaluation so far and the convergence record (hypervolume per generation). ``resume=True``
continues from it.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.evaluator import Evaluator
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair
from pymoo.indicators.hv import HV
from pymoo.problems.static import StaticProblem
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from optimizer.space import Space
from sim.engine import simulate
from sim.scenario import Scenario

OBJECTIVES = ("net_recovery", "cost", "churned")
CHECKPOINT = "checkpoint.pkl"


class _Serial:
    def imap_unordered(self, fn, items) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(item)


@dataclass
class EvalTask:
    scenario: Scenario
    strategy: Any
    seed: int
    compliance: Any = None


def evaluate_task(task: EvalTask) -> dict:
    """One simulation; the KPIs the search needs (a top-level function: picklable)."""
    kw = {} if task.compliance is None else {"compliance": task.compliance}
    s = simulate(task.scenario, task.strategy, task.seed, check=False, **kw).summary
    st = s.get("staffing") or {}
    sl = st.get("inbound_service_level")
    return {
        "net_recovery": s["net_recovery"],
        "cost": s["cost"],
        "churned": float(s["churned"]),
        "collected": s["collected"],
        "compliance_breaches": float(s["compliance_breaches"]),
        "service_level": 1.0 if sl is None or not np.isfinite(sl) else float(sl),
    }


def replication_seeds(scenario: Scenario, replications: int) -> list[int]:
    """The seeds every candidate runs on (common random numbers)."""
    return [int(scenario.seed) + 7919 * r for r in range(replications)]


class CandidateEvaluator:
    """Simulates lever vectors on common seeds, with a cache of what it has seen."""

    def __init__(
        self,
        space: Space,
        scenario: Scenario,
        executor=None,
        replications: int | None = None,
        compliance: Any = None,
    ):
        self.space = space
        self.scenario = scenario
        self.executor = executor or _Serial()
        self.seeds = replication_seeds(scenario, replications or space.spec.replications)
        self.compliance = compliance
        self.cache: dict[tuple, dict] = {}
        self.simulations = 0

    def key(self, x) -> tuple:
        return tuple(float(v) for v in self.space.clip(x))

    def evaluate(self, X: np.ndarray) -> list[dict]:
        keys = [self.key(x) for x in np.atleast_2d(X)]
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        tasks, owners = [], []
        for k in todo:
            x = np.array(k)
            sc = self.space.scenario(self.scenario, x)
            strat = self.space.strategy(x)
            for seed in self.seeds:
                tasks.append(EvalTask(sc, strat, seed, self.compliance))
                owners.append(k)
        runs: dict[tuple, list[dict]] = {k: [] for k in todo}
        for i, res in self.executor.imap_unordered(evaluate_task, tasks):
            runs[owners[i]].append(res)
        self.simulations += len(tasks)
        for k, rs in runs.items():
            self.cache[k] = {m: float(np.mean([r[m] for r in rs])) for m in rs[0]}
        return [self.cache[k] for k in keys]

    def objectives(self, results: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
        """pymoo's F (minimised) and G (<= 0 is feasible)."""
        c = self.space.spec.constraints
        F = np.array([[-r["net_recovery"], r["cost"], r["churned"]] for r in results])
        G = [np.array([r["compliance_breaches"] - c.compliance_breaches for r in results])]
        if c.budget is not None:
            G.append(np.array([r["cost"] - c.budget for r in results]))
        if c.churn_cap is not None:
            G.append(np.array([r["churned"] - c.churn_cap for r in results]))
        if c.min_service_level is not None and self.space.has_staffing:
            G.append(np.array([c.min_service_level - r["service_level"] for r in results]))
        return F, np.stack(G, axis=1)

    def table(self) -> pd.DataFrame:
        """Every evaluated candidate: lever columns, KPIs, ``feasible``."""
        if not self.cache:
            return pd.DataFrame(columns=[*self.space.names, *OBJECTIVES, "feasible"])
        keys = list(self.cache)
        df = pd.DataFrame(keys, columns=self.space.names)
        for n, integer in zip(self.space.names, self.space.integer, strict=True):
            if integer:
                df[n] = df[n].astype(int)
        kpis = pd.DataFrame([self.cache[k] for k in keys])
        df = pd.concat([df, kpis], axis=1)
        _, G = self.objectives([self.cache[k] for k in keys])
        df["feasible"] = (G <= 1e-9).all(axis=1)
        return df


def pareto_front(df: pd.DataFrame) -> pd.DataFrame:
    """The feasible non-dominated rows (net recovery up, cost and churn down)."""
    ok = df[df["feasible"]] if "feasible" in df else df
    if ok.empty:
        return ok
    F = np.column_stack([-ok["net_recovery"], ok["cost"], ok["churned"]])
    front = NonDominatedSorting().do(F, only_non_dominated_front=True)
    out = ok.iloc[np.sort(front)].drop_duplicates(["net_recovery", "cost", "churned"])
    return out.sort_values("cost").reset_index(drop=True)


def objective_matrix(df: pd.DataFrame) -> np.ndarray:
    return np.column_stack([-df["net_recovery"], df["cost"], df["churned"]]).astype(float)


def reference_point(F: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """A point a little worse than the worst of ``F`` in every objective."""
    lo, hi = F.min(axis=0), F.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, np.maximum(np.abs(hi), 1.0))
    return hi + margin * span


def hypervolume(F: np.ndarray, ref: np.ndarray, ideal: np.ndarray | None = None) -> float:
    """Hypervolume dominated by ``F`` up to ``ref`` (normalised by ``ref - ideal`` if given)."""
    if len(F) == 0:
        return 0.0
    F = np.asarray(F, float)
    if ideal is not None:
        scale = np.where(ref - ideal > 0, ref - ideal, 1.0)
        F, ref = (F - ideal) / scale, (ref - ideal) / scale
    return float(HV(ref_point=ref)(F))


class _RoundIntegers(Repair):
    def __init__(self, integer: np.ndarray):
        super().__init__()
        self.integer = integer

    def _do(self, problem, X, **kwargs):
        X = np.asarray(X, float).copy()
        X[:, self.integer] = np.round(X[:, self.integer])
        return X


@dataclass
class SearchState:
    algorithm: Any
    cache: dict
    history: list[dict] = field(default_factory=list)
    ref: np.ndarray | None = None
    ideal: np.ndarray | None = None
    generation: int = 0


@dataclass
class SearchResult:
    front: pd.DataFrame
    evaluated: pd.DataFrame
    history: pd.DataFrame
    simulations: int


def initial_population(space: Space, size: int, seed: int) -> np.ndarray:
    """Box corners first (frequency levers often sit at a bound), then uniform random points."""
    import itertools

    lo, hi = space.lower, space.upper
    corners = [
        np.where(np.array(c, bool), hi, lo) for c in itertools.product((0, 1), repeat=len(lo))
    ][: size // 2]
    rng = np.random.default_rng(seed)
    rand = lo + rng.random((size - len(corners), len(lo))) * (hi - lo)
    return space.clip(np.vstack([*corners, rand]) if corners else rand)


def _problem(space: Space, n_constr: int) -> Problem:
    return Problem(
        n_var=len(space.names), n_obj=3, n_ieq_constr=n_constr, xl=space.lower, xu=space.upper
    )


def search(
    space: Space,
    scenario: Scenario,
    *,
    generations: int = 10,
    population: int = 16,
    executor=None,
    out: str | Path | None = None,
    resume: bool = False,
    seed: int = 1,
    compliance: Any = None,
    on_generation: Callable[[dict], None] | None = None,
    replications: int | None = None,
) -> SearchResult:
    """Run NSGA-II for ``generations`` generations (in total, counting resumed ones)."""
    ev = CandidateEvaluator(space, scenario, executor, replications, compliance)
    folder = Path(out) if out is not None else None
    ckpt = folder / CHECKPOINT if folder is not None else None
    state: SearchState | None = None
    if resume and ckpt is not None and ckpt.exists():
        with ckpt.open("rb") as fh:
            state = pickle.load(fh)
        ev.cache = state.cache
    n_constr = ev.objectives(
        [
            {
                k: 0.0
                for k in ("net_recovery", "cost", "churned", "compliance_breaches", "service_level")
            }
        ]
    )[1].shape[1]
    problem = _problem(space, n_constr)
    if state is None:
        from pymoo.operators.crossover.sbx import SBX
        from pymoo.operators.mutation.pm import PM

        algorithm = NSGA2(
            pop_size=population,
            sampling=initial_population(space, population, seed),
            crossover=SBX(prob=0.9, eta=15),
            mutation=PM(eta=20),
            repair=_RoundIntegers(space.integer),
            eliminate_duplicates=True,
        )
        algorithm.setup(problem, seed=seed, verbose=False)
        state = SearchState(algorithm, ev.cache)
    algorithm = state.algorithm
    while state.generation < generations:
        pop = algorithm.ask()
        X = pop.get("X")
        results = ev.evaluate(X)
        F, G = ev.objectives(results)
        Evaluator().eval(StaticProblem(problem, F=F, G=G), pop)
        algorithm.tell(infills=pop)
        state.generation += 1
        table = ev.table()
        front = pareto_front(table)
        Fall = objective_matrix(table)
        if state.ref is None:
            state.ref = reference_point(Fall, 0.1)
            state.ideal = Fall.min(axis=0)
        Ff = objective_matrix(front) if len(front) else np.empty((0, 3))
        Ff = Ff[(Ff < state.ref).all(axis=1)] if len(Ff) else Ff
        rec = {
            "generation": state.generation,
            "evaluated": len(table),
            "simulations": ev.simulations,
            "front_size": len(front),
            "hypervolume": hypervolume(Ff, state.ref, state.ideal),
            "best_net_recovery": float(front["net_recovery"].max()) if len(front) else np.nan,
        }
        state.history.append(rec)
        state.cache = ev.cache
        if ckpt is not None:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = ckpt.with_suffix(".tmp")
            with tmp.open("wb") as fh:
                pickle.dump(state, fh)
            tmp.replace(ckpt)
        if on_generation is not None:
            on_generation(rec)
    table = ev.table()
    return SearchResult(pareto_front(table), table, pd.DataFrame(state.history), ev.simulations)


def best_compromise(
    front: pd.DataFrame, max_cost: float | None = None, max_churn: float | None = None
) -> pd.Series:
    """The front's compromise: the highest net recovery among the points within ``max_cost``
    (and ``max_churn`` when given) when any point meets them, else the point nearest the ideal
    in range-normalised objectives."""
    if front.empty:
        raise ValueError("the Pareto front is empty (no feasible candidate)")
    if max_cost is not None or max_churn is not None:
        within = front
        if max_cost is not None:
            within = within[within["cost"] <= max_cost]
        if max_churn is not None:
            within = within[within["churned"] <= max_churn]
        if not within.empty:
            return within.loc[within["net_recovery"].idxmax()]
    F = objective_matrix(front)
    lo, hi = F.min(axis=0), F.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    d = np.sqrt((((F - lo) / span) ** 2).sum(axis=1))
    return front.iloc[int(np.argmin(d))]
