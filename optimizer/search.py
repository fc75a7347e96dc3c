"""Simulation-based multi-objective search (pymoo NSGA-II) over a decision space.

Objectives (pymoo minimises): ``-net_value`` (the priced objective, :data:`sim.outcomes.OBJECTIVE`;
net recovery is still reported), ``cost``, ``churned``; constraints ``G <= 0``:
cost within the budget, compliance breaches at most the allowed number (0), and the inbound
service level at least the minimum when the space sizes teams.

Every candidate is simulated on the same seeds (common random numbers) and its KPIs averaged
over the replications; identical candidates (after rounding) are simulated once. Simulations go
through an executor (anything with ``imap_unordered(fn, items)`` yielding ``(index, result)``,
e.g. ``postloan.experiments.executors.make_executor``); the default runs them here, one after
another.

The search runs generation by generation (pymoo's ask-and-tell interface) and after each one
writes a checkpoint (``checkpoint.json``, plain JSON written atomically) to the output folder:
the settings a resume must share (levers, constraints, base strategy, scenario hash, seeds,
population size), the candidates asked for in every generation, every evaluation so far and
the convergence record (hypervolume per generation). ``resume=True`` continues from it: it
sets NSGA-II up with the same seed and replays the stored generations with ask and tell on the
stored evaluations (no simulation runs again), checking that the replay asks for the stored
candidates, then goes on. Nothing is unpickled: a results folder may come from anyone.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.evaluator import Evaluator
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair
from pymoo.indicators.hv import HV
from pymoo.problems.static import StaticProblem
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from optimizer.space import Space, strategy_yaml
from sim.atomic import write_text
from sim.engine import simulate
from sim.outcomes import OBJECTIVE
from sim.scenario import Scenario

#: The value objective: ``net_value``, net recovery priced for churn and complaints.
VALUE = OBJECTIVE
OBJECTIVES = (VALUE, "cost", "churned")
KPI_NAMES = (
    VALUE,
    "net_recovery",
    "cost",
    "churned",
    "collected",
    "compliance_breaches",
    "service_level",
)
CHECKPOINT = "checkpoint.json"
LEGACY_CHECKPOINT = "checkpoint.pkl"
CHECKPOINT_FORMAT = "postloan-search-checkpoint"
CHECKPOINT_VERSION = 2  # 2: the value objective is net_value


class SerialEvaluator:
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
        VALUE: s[VALUE],
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
        self.executor = executor or SerialEvaluator()
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
        F = np.array([[-r[VALUE], r["cost"], r["churned"]] for r in results])
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
    """The feasible non-dominated rows (net value up, cost and churn down)."""
    ok = df[df["feasible"]] if "feasible" in df else df
    if ok.empty:
        return ok
    F = np.column_stack([-ok[VALUE], ok["cost"], ok["churned"]])
    front = NonDominatedSorting().do(F, only_non_dominated_front=True)
    out = ok.iloc[np.sort(front)].drop_duplicates(list(OBJECTIVES))
    return out.sort_values("cost").reset_index(drop=True)


def objective_matrix(df: pd.DataFrame) -> np.ndarray:
    return np.column_stack([-df[VALUE], df["cost"], df["churned"]]).astype(float)


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
    asked: list[list[tuple]] = field(default_factory=list)  # candidates per generation


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


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from; the message names the file and the field."""


def _number(v: Any) -> Any:
    """A JSON number, or "nan" / "inf" / "-inf" (non-finite floats are written as strings)."""
    if isinstance(v, bool):
        raise ValueError("must be a number")
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    raise ValueError("must be a number")


Number = Annotated[float, BeforeValidator(_number)]
Count = Annotated[int, Field(strict=True, ge=0)]


class _Evaluation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x: list[Number]
    kpis: dict[str, Number]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generation: Count
    evaluated: Count
    simulations: Count
    front_size: Count
    hypervolume: Number
    best_net_recovery: Number


class _Checkpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["postloan-search-checkpoint"]
    version: Literal[2]  # CHECKPOINT_VERSION
    settings: dict[str, Any]
    generation: Count
    simulations: Count
    ref: list[Number] | None
    ideal: list[Number] | None
    asked: list[list[list[Number]]]
    evaluations: list[_Evaluation]
    history: list[_Record]


def _plain(v: Any) -> Any:
    """``v`` as JSON data (numpy scalars to Python; non-finite floats to "nan" / "inf")."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [_plain(x) for x in v]
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        v = float(v)
        return v if math.isfinite(v) else str(v)
    return v


def _loc(parts: Sequence) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def search_settings(
    space: Space,
    scenario: Scenario,
    seeds: Sequence[int],
    population: int,
    seed: int,
    compliance: Any = None,
) -> dict:
    """What a resumed search must share with the checkpoint (as JSON data)."""
    spec = space.spec.model_dump(mode="json")
    return _plain(
        {
            "levers": spec["levers"],
            "constraints": spec["constraints"],
            "base_strategy": spec["base_strategy"],
            "base_strategy_sha256": _sha256(strategy_yaml(space.base)),
            "scenario_sha256": scenario.content_hash(),
            "replication_seeds": list(seeds),
            "population": population,
            "seed": seed,
            "compliance": None if compliance is None else repr(compliance),
        }
    )


def _first_difference(a: Any, b: Any, loc: tuple) -> tuple | None:
    """Where the JSON values ``a`` and ``b`` first differ (None if equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in [*a, *(k for k in b if k not in a)]:
            if k not in a or k not in b:
                return (*loc, k)
            d = _first_difference(a[k], b[k], (*loc, k))
            if d is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return loc
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d = _first_difference(x, y, (*loc, i))
            if d is not None:
                return d
        return None
    same = a == b and isinstance(a, bool) == isinstance(b, bool)
    return None if same else loc


def _get(v: Any, loc: tuple) -> Any:
    for k in loc:
        try:
            v = v[k]
        except (KeyError, IndexError, TypeError):
            return "(missing)"
    return v


def write_checkpoint(path: Path, state: SearchState, ev: CandidateEvaluator, settings: dict):
    """The search state as JSON, written atomically (:func:`sim.atomic.write_text`)."""
    doc = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "settings": settings,
        "generation": state.generation,
        "simulations": ev.simulations,
        "ref": state.ref,
        "ideal": state.ideal,
        "asked": state.asked,
        "evaluations": [{"x": list(k), "kpis": r} for k, r in ev.cache.items()],
        "history": state.history,
    }
    text = json.dumps(_plain(doc), indent=1, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)


def read_checkpoint(path: Path, settings: dict, ev: CandidateEvaluator) -> _Checkpoint:
    """Read and check a checkpoint against this search; errors name the file and the field."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint: {exc}") from None
    try:
        data = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a search checkpoint (a JSON object expected)")
    try:
        ck = _Checkpoint.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        msg = e["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise CheckpointError(f"{path}: field '{_loc(e['loc'])}': {msg}{more}") from None

    def bad(loc: Sequence, msg: str) -> CheckpointError:
        return CheckpointError(f"{path}: field '{_loc(loc)}': {msg}")

    diff = _first_difference(ck.settings, settings, ())
    if diff is not None:
        what = {
            "scenario_sha256": "another scenario (its file, --accounts or --days)",
            "base_strategy_sha256": "the base strategy's rules changed",
        }.get(diff[0] if diff else "")
        what = what or (
            f"the checkpoint has {_get(ck.settings, diff)!r}, this search has "
            f"{_get(settings, diff)!r}"
        )
        raise bad(
            ("settings", *diff),
            f"{what}; resume with the same settings, or run without --resume (or with "
            "another output folder) to start afresh",
        )
    n = len(ev.space.names)
    if len(ck.asked) != ck.generation:
        raise bad(("asked",), f"{len(ck.asked)} generations, expected {ck.generation}")
    if len(ck.history) != ck.generation:
        raise bad(("history",), f"{len(ck.history)} records, expected {ck.generation}")
    for i, rec in enumerate(ck.history):
        if rec.generation != i + 1:
            raise bad(("history", i, "generation"), f"{rec.generation}, expected {i + 1}")
    for name in ("ref", "ideal"):
        v = getattr(ck, name)
        if (v is None) != (ck.generation == 0) or (v is not None and len(v) != 3):
            raise bad((name,), "must hold 3 numbers (one per objective) after a generation")
    cache: dict[tuple, dict] = {}
    for i, e in enumerate(ck.evaluations):
        key = tuple(e.x)
        if len(key) != n or ev.key(key) != key:
            raise bad(("evaluations", i, "x"), f"not a point of the space ({n} levers)")
        if key in cache:
            raise bad(("evaluations", i, "x"), "repeated candidate")
        if set(e.kpis) != set(KPI_NAMES):
            raise bad(("evaluations", i, "kpis"), f"must hold exactly {', '.join(KPI_NAMES)}")
        cache[key] = dict(e.kpis)
    for g, gen in enumerate(ck.asked):
        for j, x in enumerate(gen):
            if tuple(x) not in cache:
                raise bad(("asked", g, j), "a candidate without an evaluation")
    ev.cache = cache
    ev.simulations = ck.simulations
    return ck


def _tell(algorithm, problem: Problem, ev: CandidateEvaluator, pop, results: list[dict]):
    F, G = ev.objectives(results)
    Evaluator().eval(StaticProblem(problem, F=F, G=G), pop)
    algorithm.tell(infills=pop)


def _replay(algorithm, problem: Problem, ev: CandidateEvaluator, ck: _Checkpoint, path: Path):
    """Ask and tell the stored generations again, from the stored evaluations."""
    for g, stored in enumerate(ck.asked):
        pop = algorithm.ask()
        keys = [ev.key(x) for x in pop.get("X")]
        if keys != [tuple(x) for x in stored]:
            raise CheckpointError(
                f"{path}: field 'asked[{g}]': replaying the search does not ask for the stored "
                f"candidates of generation {g + 1} (an edited file, or another version of the "
                "optimiser or pymoo); run without --resume to start afresh"
            )
        _tell(algorithm, problem, ev, pop, [ev.cache[k] for k in keys])


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
    """Run NSGA-II for ``generations`` generations (in total, counting resumed ones).

    With ``out``, a checkpoint (``checkpoint.json``) is written there after every generation;
    ``resume=True`` continues from it (raises :class:`CheckpointError` when it is malformed or
    was written with other settings). A resumed search ends as an uninterrupted one would.
    """
    ev = CandidateEvaluator(space, scenario, executor, replications, compliance)
    folder = Path(out) if out is not None else None
    ckpt = folder / CHECKPOINT if folder is not None else None
    settings = search_settings(space, scenario, ev.seeds, population, seed, compliance)
    loaded: _Checkpoint | None = None
    if resume and folder is not None:
        if ckpt.exists():
            loaded = read_checkpoint(ckpt, settings, ev)
        elif (folder / LEGACY_CHECKPOINT).exists():
            raise CheckpointError(
                f"{folder / LEGACY_CHECKPOINT}: pickle checkpoints of older versions are not "
                "loaded (unpickling a file can run any code); run without --resume to start "
                "afresh"
            )
    n_constr = ev.objectives([dict.fromkeys(KPI_NAMES, 0.0)])[1].shape[1]
    problem = _problem(space, n_constr)
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
    if loaded is not None:
        _replay(algorithm, problem, ev, loaded, ckpt)
        state = SearchState(
            algorithm,
            ev.cache,
            history=[r.model_dump() for r in loaded.history],
            ref=None if loaded.ref is None else np.array(loaded.ref),
            ideal=None if loaded.ideal is None else np.array(loaded.ideal),
            generation=loaded.generation,
            asked=[[tuple(x) for x in gen] for gen in loaded.asked],
        )
    while state.generation < generations:
        pop = algorithm.ask()
        X = pop.get("X")
        results = ev.evaluate(X)
        state.asked.append([ev.key(x) for x in X])
        _tell(algorithm, problem, ev, pop, results)
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
            write_checkpoint(ckpt, state, ev, settings)
        if on_generation is not None:
            on_generation(rec)
    table = ev.table()
    return SearchResult(pareto_front(table), table, pd.DataFrame(state.history), ev.simulations)


def best_compromise(
    front: pd.DataFrame, max_cost: float | None = None, max_churn: float | None = None
) -> pd.Series:
    """The front's compromise: the highest net value among the points within ``max_cost``
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
            return within.loc[within[VALUE].idxmax()]
    F = objective_matrix(front)
    lo, hi = F.min(axis=0), F.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    d = np.sqrt((((F - lo) / span) ** 2).sum(axis=1))
    return front.iloc[int(np.argmin(d))]
