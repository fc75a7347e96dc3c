"""Treatment allocation and team sizing as a mathematical programme (Pyomo, solved by HiGHS).

1. :func:`estimate_responses` estimates, by simulation, what one account of each segment
   yields under each treatment (a strategy): cash collected while delinquent, contact cost,
   churn, and the call attempts and field visits it takes, per account, with standard errors.
   Every treatment runs the same book on the same seeds (common random numbers); per-account
   totals are grouped by segment. Post-charge-off recoveries are booked by the engine for the
   book as a whole, so they are not in the table (see :func:`with_recovery`).
2. :class:`AllocationModel` chooses the share of each segment given each treatment
   (``x[s, t] >= 0``, ``sum_t x[s, t] = 1``) and, optionally, integer call and field team sizes,
   to maximise net recovery (collected - contact cost - labour) under a budget, the staff
   capacity the teams buy and a churn cap.
3. :meth:`AllocationModel.sweep` traces the frontier by an epsilon-constraint sweep over the
   budget or the churn cap. The budget and cap are mutable parameters and the model is solved
   by the persistent APPSI HiGHS interface, which sends only the changed bounds on a re-solve
   instead of rebuilding the model.
4. :func:`choose_plan` chooses the plan on one half of the accounts and predicts its KPIs from
   the other half: choosing by the highest noisy estimate and predicting with the same
   estimates overstates the plan (the winner's curse); the held-out half does not.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.contrib.appsi.solvers import Highs

from sim.channels import channel_code
from sim.engine import simulate
from sim.scenario import CAPACITIES, CREDIT_STANDINGS, PURPOSES, Scenario
from strategies.base import NoContact, Strategy

MEASURES = ("collected", "cost", "churn", "calls", "visits")
BIG = 1e15


class _OneArm(Strategy):
    """Wraps a strategy so the engine keeps per-account cash and contact cost (one 'arm')."""

    def __init__(self, inner: Strategy):
        self.inner = inner
        self.name = inner.name
        self.arms = (inner.name,)
        self.pre_due_days = getattr(inner, "pre_due_days", 0)

    def assign(self, accounts: np.ndarray, key) -> np.ndarray:
        return np.zeros(accounts.size, np.int8)

    def decide(self, view):
        return self.inner.decide(view)

    def recovery_path(self, view):
        return self.inner.recovery_path(view)


def segment_names() -> list[str]:
    return [f"{p}/{c}/{k}" for p in PURPOSES for c in CREDIT_STANDINGS for k in CAPACITIES]


#: Per-segment sums a run yields (per fold): accounts, the measures, and the sum of squared
#: per-account net (for standard errors).
SUMS = ("accounts", *MEASURES, "net_sq")
#: Accounts are split into folds by id (``account % N_FOLDS``): the plan is chosen on one fold
#: and its KPIs predicted from the other, so the prediction does not inherit the optimism of
#: the choice (the winner's curse).
N_FOLDS = 2


@dataclass
class OutcomeTask:
    scenario: Scenario
    strategy: Strategy
    seed: int
    contacts: bool = True


def _segment_codes(p) -> np.ndarray:
    return (
        p.purpose.astype(np.int64) * len(CREDIT_STANDINGS) * len(CAPACITIES)
        + p.credit.astype(np.int64) * len(CAPACITIES)
        + p.capacity.astype(np.int64)
    )


def segment_sums(task: OutcomeTask) -> dict:
    """One run of ``task.strategy``: per fold and segment, the sums of :data:`SUMS` (an array
    ``(N_FOLDS, segments, len(SUMS))``), and the run summary's net recovery. A top-level
    function, so the experiment executors can run it in worker processes."""
    res = simulate(
        task.scenario,
        _OneArm(task.strategy),
        task.seed,
        keep_portfolio=True,
        contact_log=task.contacts,
        check=False,
    )
    p = res.portfolio
    n_seg = len(segment_names())
    calls = np.zeros(p.n)
    visits = np.zeros(p.n)
    log = res.contact_log
    if log is not None and len(log):
        ch = log["channel"].to_numpy()
        for name, arr in (("call", calls), ("visit", visits)):
            mask = ch == (name if ch.dtype == object else channel_code(name))
            np.add.at(arr, log["account"].to_numpy()[mask].astype(np.int64), 1.0)
    net = p.cash_collected - p.contact_cost
    values = {
        "accounts": np.ones(p.n),
        "collected": p.cash_collected,
        "cost": p.contact_cost,
        "churn": p.churned.astype(float),
        "calls": calls,
        "visits": visits,
        "net_sq": net * net,
    }
    cell = (np.arange(p.n) % N_FOLDS) * n_seg + _segment_codes(p)
    sums = np.stack([np.bincount(cell, values[k], N_FOLDS * n_seg) for k in SUMS], axis=1).reshape(
        N_FOLDS, n_seg, len(SUMS)
    )
    return {"sums": sums, "net_recovery": float(res.summary["net_recovery"])}


def per_account_outcomes(scenario: Scenario, strategy: Strategy, seed: int) -> pd.DataFrame:
    """Per-segment totals of one run: accounts, collected, cost, churn, calls, visits."""
    out = segment_sums(OutcomeTask(scenario, strategy, seed))
    tot = out["sums"].sum(axis=0)
    df = pd.DataFrame(tot[:, : 1 + len(MEASURES)], columns=["accounts", *MEASURES])
    df["accounts"] = df["accounts"].astype(np.int64)
    df.insert(0, "segment", segment_names())
    df.attrs["net_recovery"] = out["net_recovery"]
    return df


def _table(sums: np.ndarray, folds: Sequence[int], n_seeds: int, tname: str) -> pd.DataFrame:
    """Per-account means from the sums of ``folds`` (summed over seeds), sized to the whole
    book: ``accounts`` is the segment's accounts per run over all folds."""
    whole = sums.sum(axis=0)
    part = sums[list(folds)].sum(axis=0)
    n = part[:, 0]
    df = pd.DataFrame({"segment": segment_names(), "treatment": tname})
    df["accounts"] = whole[:, 0] / n_seeds
    for j, m in enumerate(MEASURES, start=1):
        df[m] = np.divide(part[:, j], n, out=np.zeros(len(n)), where=n > 0)
    net_sum = part[:, 1] - part[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (part[:, -1] - net_sum**2 / n) / (n - 1)
        df["se_net"] = np.where(n > 1, np.sqrt(np.maximum(var, 0) / n), np.nan)
    df["observed"] = n.astype(np.int64)
    return df


@dataclass
class Responses:
    """Response tables from one set of simulations.

    ``table`` uses every account; ``select`` only fold 0 (choose the plan on it) and
    ``predict`` only fold 1 (predict the chosen plan's KPIs from it: these accounts played no
    part in the choice, so the prediction is free of the winner's curse). All three are sized
    to the whole book.
    """

    table: pd.DataFrame
    select: pd.DataFrame
    predict: pd.DataFrame
    seeds: list[int]


def estimate_responses(
    scenario: Scenario,
    treatments: dict[str, Strategy],
    seeds: Sequence[int],
    executor=None,
    contacts: bool = True,
) -> Responses:
    """Simulate every treatment on every seed (the same seeds for all: common random numbers)
    and tabulate per-account responses by segment x treatment, in long format:
    ``segment, treatment, accounts, collected, cost, churn, calls, visits, net, se_net,
    observed`` (``se_net``: standard error of the per-account net; ``observed``: accounts the
    means rest on). ``contacts=False`` skips counting calls and visits (faster; they are only
    needed when the model sizes teams)."""
    seeds = [int(s) for s in seeds]
    tasks = [
        OutcomeTask(scenario, s, seed, contacts) for s in treatments.values() for seed in seeds
    ]
    if executor is None:
        from optimizer.search import SerialEvaluator

        executor = SerialEvaluator()
    results = dict(executor.imap_unordered(segment_sums, tasks))
    tables: dict[str, list[pd.DataFrame]] = {"table": [], "select": [], "predict": []}
    for i, tname in enumerate(treatments):
        sums = sum(results[i * len(seeds) + j]["sums"] for j in range(len(seeds)))
        for key, folds in (("table", range(N_FOLDS)), ("select", [0]), ("predict", [1])):
            tables[key].append(_table(sums, folds, len(seeds), tname))
    out = {}
    for key, parts in tables.items():
        t = pd.concat(parts, ignore_index=True)
        t["net"] = t["collected"] - t["cost"]
        cols = ["segment", "treatment", "accounts", *MEASURES, "net", "se_net", "observed"]
        out[key] = t.loc[t["accounts"] > 0, cols].reset_index(drop=True)
    return Responses(out["table"], out["select"], out["predict"], seeds)


def response_table(
    scenario: Scenario,
    treatments: dict[str, Strategy],
    seeds: Sequence[int],
    executor=None,
    contacts: bool = True,
) -> pd.DataFrame:
    """Per-account responses by segment x treatment over every account (see
    :func:`estimate_responses`, which also gives the fold tables)."""
    return estimate_responses(scenario, treatments, seeds, executor, contacts).table


@dataclass
class TeamEconomics:
    """What one agent delivers and costs over the horizon."""

    calls_per_agent: float  # call attempts per call agent over the horizon
    visits_per_agent: float  # visits per field agent over the horizon
    cost_per_agent: float  # labour over the horizon
    max_agents: int = 200


class AllocationModel:
    """Treatment shares per segment (and integer team sizes) maximising net recovery.

    Parameters
    ----------
    table : DataFrame
        A :func:`response_table` (per-account values, with ``accounts`` per segment).
    budget, churn_cap : float, optional
        Total cost and total churned accounts allowed (None: unbounded).
    teams : TeamEconomics, optional
        Size a call team and a field team (integers) whose capacity bounds calls and visits
        and whose labour counts as cost.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        budget: float | None = None,
        churn_cap: float | None = None,
        teams: TeamEconomics | None = None,
    ):
        self.table = table
        self.segments = list(dict.fromkeys(table["segment"]))
        self.treatments = list(dict.fromkeys(table["treatment"]))
        idx = table.set_index(["segment", "treatment"])
        self.size = table.groupby("segment", sort=False)["accounts"].first().to_dict()
        self.teams = teams
        m = pyo.ConcreteModel()
        pairs = [(s, t) for s, t in idx.index]
        m.P = pyo.Set(initialize=pairs, dimen=2)
        m.S = pyo.Set(initialize=self.segments)
        m.x = pyo.Var(m.P, bounds=(0, 1))
        m.budget = pyo.Param(mutable=True, initialize=BIG if budget is None else budget)
        m.churn_cap = pyo.Param(mutable=True, initialize=BIG if churn_cap is None else churn_cap)

        def coef(col):
            return {k: float(self.size[k[0]] * v) for k, v in idx[col].items()}

        net, cost, churn = coef("net"), coef("cost"), coef("churn")
        calls, visits = coef("calls"), coef("visits")
        by_seg: dict[str, list] = {}
        for k in pairs:
            by_seg.setdefault(k[0], []).append(k)
        m.one = pyo.Constraint(m.S, rule=lambda m, s: sum(m.x[k] for k in by_seg[s]) == 1)
        labour = 0.0
        if teams is not None:
            m.n_call = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(0, teams.max_agents))
            m.n_field = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(0, teams.max_agents))
            m.call_cap = pyo.Constraint(
                expr=sum(calls[k] * m.x[k] for k in pairs) <= teams.calls_per_agent * m.n_call
            )
            m.visit_cap = pyo.Constraint(
                expr=sum(visits[k] * m.x[k] for k in pairs) <= teams.visits_per_agent * m.n_field
            )
            m.headcount = pyo.Constraint(expr=m.n_call + m.n_field <= teams.max_agents)
            labour = teams.cost_per_agent * (m.n_call + m.n_field)
        m.total_cost = pyo.Expression(expr=sum(cost[k] * m.x[k] for k in pairs) + labour)
        m.total_churn = pyo.Expression(expr=sum(churn[k] * m.x[k] for k in pairs))
        m.net = pyo.Expression(expr=sum(net[k] * m.x[k] for k in pairs) - labour)
        m.budget_c = pyo.Constraint(expr=m.total_cost <= m.budget)
        m.churn_c = pyo.Constraint(expr=m.total_churn <= m.churn_cap)
        m.obj = pyo.Objective(expr=m.net, sense=pyo.maximize)
        self.model = m
        self.solver = Highs()
        self.solver.config.load_solution = False
        self.solves = 0

    def solve(self, budget: float | None = ..., churn_cap: float | None = ...) -> dict:
        """Solve (re-solve after changing the budget or churn cap); the plan and its KPIs."""
        m = self.model
        if budget is not ...:
            m.budget.set_value(BIG if budget is None else budget)
        if churn_cap is not ...:
            m.churn_cap.set_value(BIG if churn_cap is None else churn_cap)
        t0 = time.perf_counter()
        res = self.solver.solve(m)
        wall = time.perf_counter() - t0
        self.solves += 1
        status = str(res.termination_condition).rsplit(".", 1)[-1]
        if status != "optimal":
            return {"status": status, "seconds": wall}
        res.solution_loader.load_vars()
        shares = pd.DataFrame(
            [(s, t, pyo.value(m.x[s, t])) for s, t in m.P],
            columns=["segment", "treatment", "share"],
        )
        out = {
            "status": status,
            "seconds": wall,
            "net_recovery": pyo.value(m.net),
            "cost": pyo.value(m.total_cost),
            "churned": pyo.value(m.total_churn),
            "shares": shares,
        }
        if self.teams is not None:
            out["call_agents"] = round(pyo.value(m.n_call))
            out["field_agents"] = round(pyo.value(m.n_field))
        return out

    def sweep(self, which: str, values: Sequence[float]) -> pd.DataFrame:
        """Epsilon-constraint sweep: re-solve the same model for each budget or churn cap."""
        if which not in ("budget", "churn_cap"):
            raise ValueError("sweep over 'budget' or 'churn_cap'")
        rows = []
        for v in values:
            r = self.solve(**{which: float(v)})
            rows.append(
                {which: float(v)}
                | {
                    k: r.get(k, np.nan)
                    for k in ("status", "net_recovery", "cost", "churned", "seconds")
                }
            )
        return pd.DataFrame(rows)


def rounded_plan(table: pd.DataFrame, shares: pd.DataFrame) -> dict[str, str]:
    """Each segment's treatment: the one with the largest share."""
    best = shares.sort_values("share", ascending=False).drop_duplicates("segment")
    return dict(zip(best["segment"], best["treatment"], strict=True))


def predict(table: pd.DataFrame, plan: dict[str, str]) -> dict[str, float]:
    """Totals a segment -> treatment plan should give, from the response table."""
    idx = table.set_index(["segment", "treatment"])
    tot = {"collected": 0.0, "cost": 0.0, "churned": 0.0, "calls": 0.0, "visits": 0.0}
    for s, t in plan.items():
        r = idx.loc[(s, t)]
        for m, col in (
            ("collected", "collected"),
            ("cost", "cost"),
            ("churned", "churn"),
            ("calls", "calls"),
            ("visits", "visits"),
        ):
            tot[m] += float(r["accounts"] * r[col])
    tot["net_recovery"] = tot["collected"] - tot["cost"]
    return tot


class RecoveryOnly(NoContact):
    """Contacts nobody; post-charge-off paths from recovery rules (a rule table's)."""

    def __init__(self, recovery, name: str = "none"):
        from strategies.rules import RuleTable

        self.name = name
        self.recovery = tuple(recovery)
        self._paths = RuleTable(name, [], "", list(recovery))

    def recovery_path(self, view):
        return self._paths.recovery_path(view)


def with_recovery(treatments: dict[str, Strategy], source: Strategy) -> dict[str, Strategy]:
    """The treatments with their contact rules but ``source``'s post-charge-off recovery rules
    (``none`` becomes :class:`RecoveryOnly`).

    The response table measures cash and contact cost per account *before* charge-off only:
    the engine books post-charge-off recoveries and their costs for the book as a whole, not
    per account. If treatments also differ in recovery paths (``aggressive`` takes every
    charged-off claim above 2,000 to court), the allocation would be blind to that part of
    their net recovery; with one recovery policy for all, it chooses contact policies only.
    """
    from strategies.rules import RuleTable

    recovery = list(getattr(source, "recovery", ()) or ())
    out: dict[str, Strategy] = {}
    for name, t in treatments.items():
        if isinstance(t, RuleTable):
            out[name] = RuleTable(t.name, list(t.rules), t.description, recovery, t.scorecard)
        elif isinstance(t, NoContact):
            out[name] = RecoveryOnly(recovery, t.name)
        else:
            raise TypeError(f"treatment {name!r} must be a rule table or 'none'")
    return out


def choose_plan(
    responses: Responses,
    budget: float | None = None,
    churn_cap: float | None = None,
    teams: TeamEconomics | None = None,
) -> dict:
    """Choose a plan on the selection fold and predict it from the other.

    Returns ``plan`` (segment -> treatment), ``solve`` (the model's result on the selection
    table), ``model`` (for sweeps), ``predicted`` (the plan's totals from
    :attr:`Responses.predict`: the honest prediction) and ``in_sample`` (its totals from the
    table it was chosen on, which flatter it).
    """
    model = AllocationModel(responses.select, budget=budget, churn_cap=churn_cap, teams=teams)
    r = model.solve()
    out = {"solve": r, "model": model, "status": r["status"]}
    if r["status"] == "optimal":
        plan = rounded_plan(responses.select, r["shares"])
        out |= {
            "plan": plan,
            "predicted": predict(responses.predict, plan),
            "in_sample": predict(responses.select, plan),
        }
    return out


def synthetic_table(segments: int, treatments: int, seed: int = 0) -> pd.DataFrame:
    """A random but plausible response table (more contact: more cash, cost and churn)."""
    rng = np.random.default_rng(seed)
    intensity = np.linspace(0, 1, treatments)
    rows = []
    for s in range(segments):
        size = int(rng.integers(50, 5000))
        base = rng.uniform(20, 200)
        for t in range(treatments):
            a = intensity[t]
            rows.append(
                {
                    "segment": f"s{s}",
                    "treatment": f"t{t}",
                    "accounts": size,
                    "collected": base * (1 + rng.uniform(0.1, 0.6) * np.sqrt(a)),
                    "cost": 1 + 15 * a * rng.uniform(0.5, 1.5),
                    "churn": 0.002 + 0.02 * a**2 * rng.uniform(0.5, 1.5),
                    "calls": 10 * a * rng.uniform(0.5, 1.5),
                    "visits": 0.3 * a * rng.uniform(0, 1),
                }
            )
    df = pd.DataFrame(rows)
    df["net"] = df["collected"] - df["cost"]
    return df
