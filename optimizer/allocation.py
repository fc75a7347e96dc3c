"""Treatment allocation and team sizing as a mathematical programme (Pyomo, solved by HiGHS).

1. :func:`response_table` estimates, by simulation, what one account of each segment yields
   under each treatment (a strategy): cash collected, contact cost, churn, and the call attempts
   and field visits it takes, per account. Every treatment runs the same book on the same seeds
   (common random numbers); per-account totals are grouped by segment.
2. :class:`AllocationModel` chooses the share of each segment given each treatment
   (``x[s, t] >= 0``, ``sum_t x[s, t] = 1``) and, optionally, integer call and field team sizes,
   to maximise net recovery (collected - contact cost - labour) under a budget, the staff
   capacity the teams buy and a churn cap.
3. :meth:`AllocationModel.sweep` traces the frontier by an epsilon-constraint sweep over the
   budget or the churn cap. The budget and cap are mutable parameters and the model is solved
   by the persistent APPSI HiGHS interface, which sends only the changed bounds on a re-solve
   instead of rebuilding the model.
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
from strategies.base import Strategy

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


def per_account_outcomes(scenario: Scenario, strategy: Strategy, seed: int) -> pd.DataFrame:
    """Per-segment totals of one run: accounts, collected, cost, churn, calls, visits."""
    res = simulate(
        scenario, _OneArm(strategy), seed, keep_portfolio=True, contact_log=True, check=False
    )
    p = res.portfolio
    seg = (
        p.purpose.astype(np.int64) * len(CREDIT_STANDINGS) * len(CAPACITIES)
        + p.credit.astype(np.int64) * len(CAPACITIES)
        + p.capacity.astype(np.int64)
    )
    n = len(segment_names())
    log = res.contact_log
    calls = np.zeros(p.n)
    visits = np.zeros(p.n)
    if log is not None and len(log):
        ch = log["channel"].to_numpy()
        for name, arr in (("call", calls), ("visit", visits)):
            mask = ch == (name if ch.dtype == object else channel_code(name))
            np.add.at(arr, log["account"].to_numpy()[mask].astype(np.int64), 1.0)
    out = pd.DataFrame(
        {
            "segment": segment_names(),
            "accounts": np.bincount(seg, minlength=n),
            "collected": np.bincount(seg, p.cash_collected, n),
            "cost": np.bincount(seg, p.contact_cost, n),
            "churn": np.bincount(seg, p.churned.astype(float), n),
            "calls": np.bincount(seg, calls, n),
            "visits": np.bincount(seg, visits, n),
        }
    )
    out.attrs["net_recovery"] = res.summary["net_recovery"]
    return out


def response_table(
    scenario: Scenario,
    treatments: dict[str, Strategy],
    seeds: Sequence[int],
) -> pd.DataFrame:
    """Per-account responses by segment x treatment (means over ``seeds``), long format:
    ``segment, treatment, accounts, collected, cost, churn, calls, visits, net``."""
    rows = []
    for tname, strat in treatments.items():
        parts = [per_account_outcomes(scenario, strat, s) for s in seeds]
        tot = sum(df[["accounts", *MEASURES]].to_numpy(float) for df in parts)
        df = pd.DataFrame(tot, columns=["accounts", *MEASURES])
        acc = df["accounts"].to_numpy()
        for m in MEASURES:
            df[m] = np.divide(df[m], acc, out=np.zeros(len(df)), where=acc > 0)
        df["accounts"] = acc / len(seeds)
        df.insert(0, "treatment", tname)
        df.insert(0, "segment", parts[0]["segment"])
        rows.append(df)
    table = pd.concat(rows, ignore_index=True)
    table["net"] = table["collected"] - table["cost"]
    return table[table["accounts"] > 0].reset_index(drop=True)


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
