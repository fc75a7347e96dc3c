"""Staffing sweeps: run one book under the same strategy with more or fewer agents.

Each level scales the book's staffing plan (the scenario's, or the default plan sized to the book
by :func:`sim.book_staffing.book_staffing`) to a total head count with the same team mix; the
operations model turns it into daily call and visit capacity, a staff cost, a utilisation and an
inbound service level, and the portfolio engine runs the book with it.

Every level runs on the same ``replications`` seeds (``seed + 7919 r``): the same borrowers and
the same luck at every level (common random numbers), so a difference between two levels is the
staffing's and its paired interval is narrow. Per level the table gives the mean of each KPI over
the replications and its 95 % t-interval; between neighbouring levels, the paired difference of
net value per added agent. The **marginal value of one more agent** in each team is measured at
the best level the same way (that plan with one more agent in the team, same seeds). When the
best level sits at the edge of the grid the sweep says so: the optimum may lie outside it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.book_staffing import ENGINE_ONLY, book_staffing, line_hours, resolved_inbound
from sim.dispatch import staffing_capacity
from sim.engine import simulate
from sim.operations import StaffingPlan
from sim.operations.model import TEAM_NAMES
from sim.scenario import Scenario, StaffingSpec
from sim.statistics import mean_interval, paired_difference

#: KPIs with an interval per level (means over the replications).
KPIS = (
    "collected",
    "net_value",
    "net_recovery",
    "cost",
    "staff_cost",
    "churned",
    "charge_off_amount",
)
#: Seeds of replication r: ``seed + SEED_STEP r`` (the optimiser's spacing).
SEED_STEP = 7919


def plan_for(scenario: Scenario, total_agents: int) -> StaffingSpec:
    """The book's staffing plan (:func:`~sim.book_staffing.book_staffing`) scaled to
    ``total_agents`` with the same team mix."""
    spec = book_staffing(scenario)
    fields = spec.model_dump()
    kept = {k: fields.pop(k) for k in ENGINE_ONLY}
    scaled = StaffingPlan(**fields).with_total_agents(total_agents)
    teams = {t: getattr(scaled, t) for t in TEAM_NAMES}
    return StaffingSpec(**{**fields, **teams, **kept})


def with_plan(scenario: Scenario, plan: StaffingSpec) -> Scenario:
    """``scenario`` run with ``plan``."""
    return Scenario.model_validate({**scenario.model_dump(), "staffing": plan.model_dump()})


@dataclass
class SweepResult:
    """A staffing sweep.

    Attributes
    ----------
    levels : DataFrame
        One row per head count: team sizes, the DES figures (calls and visits per day,
        utilisation, each with its standard error; the inbound service level with the book's
        demand plus the mean call-backs of the runs, ``inbound_calls_per_hour``, and without
        them), per KPI the mean and
        its 95 % interval (``<kpi>``, ``<kpi>_low``, ``<kpi>_high``), and the paired net value
        gained per agent from the previous level (``marginal_net_value_per_agent`` and its
        interval).
    marginal : DataFrame
        One row per team: the paired effect of one more agent in that team at the best level
        on net value and collected cash (mean, interval); empty when not asked for.
    runs : DataFrame
        Every simulation: level (or team), seed and its KPIs.
    best_agents : int
        The level with the highest mean net value.
    warning : str or None
        Set when the best level is the smallest or the largest of the grid.
    seeds : list of int
        The replication seeds shared by every level.
    """

    levels: pd.DataFrame
    marginal: pd.DataFrame
    runs: pd.DataFrame
    best_agents: int
    warning: str | None
    seeds: list[int]


def sweep_seeds(scenario: Scenario, replications: int, seed: int | None = None) -> list[int]:
    """The shared replication seeds: ``seed + 7919 r`` (default seed: the scenario's)."""
    base = int(scenario.seed if seed is None else seed)
    return [base + SEED_STEP * r for r in range(replications)]


def _run(scenario: Scenario, plan: StaffingSpec, strategy, seed: int) -> dict[str, float]:
    s = simulate(with_plan(scenario, plan), strategy, seed, check=False).summary
    st = s["staffing"]
    return {
        "collected": float(s["collected"]),
        "net_value": float(s["net_value"]),
        "net_recovery": float(s["net_recovery"]),
        "cost": float(s["cost"]),
        "staff_cost": float(s["cost_by_channel"]["staff"]),
        "churned": float(s["churned"]),
        "charge_off_amount": float(s["charge_off_amount"]),
        "unserved_calls": float(s["unserved"]["call"]),
        "callbacks": float(st.get("inbound_callbacks", 0.0)),
    }


def staffing_sweep(
    scenario: Scenario,
    strategy,
    totals: Sequence[int],
    seed: int | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    replications: int = 3,
    marginal: bool = True,
) -> SweepResult:
    """Run the book at each total head count on shared seeds; intervals and marginal values.

    Parameters
    ----------
    scenario : Scenario
        The book (its staffing plan, or the plan sized to it, gives the team mix).
    strategy : Strategy
        The strategy run at every level.
    totals : sequence of int
        Total head counts, ascending.
    seed : int, optional
        Root seed of the replications (default: the scenario's).
    progress : callable, optional
        Called with the number of simulations done.
    replications : int, default 3
        Seeds per level (>= 2 for intervals).
    marginal : bool, default True
        Also measure one more agent per team at the best level (4 x ``replications`` runs).

    Returns
    -------
    SweepResult
    """
    if replications < 2:
        raise ValueError("replications must be at least 2 (intervals need two seeds)")
    totals = sorted({int(t) for t in totals})
    seeds = sweep_seeds(scenario, replications, seed)
    done = 0
    runs, levels, per_level = [], [], {}
    for total in totals:
        plan = plan_for(scenario, total)
        cap = staffing_capacity(resolved_inbound(plan, scenario))
        rows = []
        for s in seeds:
            rows.append(_run(scenario, plan, strategy, s))
            runs.append({"agents": total, "team": "", "seed": s, **rows[-1]})
            done += 1
            if progress is not None:
                progress(done)
        frame = pd.DataFrame(rows)
        per_level[total] = frame
        row: dict[str, float] = {"agents": total, **{t: getattr(plan, t) for t in TEAM_NAMES}}
        for name in ("call_attempts_per_day", "visits_per_day", "utilisation"):
            row[name] = getattr(cap, name)
            row[f"{name}_se"] = cap.standard_errors[name]
        # the service level the line gives once the call-backs the strategy provoked are
        # added to the book's demand (the engine answers them from outbound time)
        base = resolved_inbound(plan, scenario)
        per_hour = frame["callbacks"].mean() / scenario.days / line_hours(base)
        rate = round(base.inbound_calls_per_hour + per_hour, 6)
        with_cb = staffing_capacity(base.model_copy(update={"inbound_calls_per_hour": rate}))
        row["inbound_calls_per_hour"] = rate
        row["inbound_service_level"] = with_cb.inbound_service_level
        row["inbound_service_level_se"] = with_cb.standard_errors["inbound_service_level"]
        row["inbound_service_level_without_callbacks"] = cap.inbound_service_level
        for k in (*KPIS, "unserved_calls", "callbacks"):
            iv = mean_interval(frame[k].to_numpy())
            row[k], row[f"{k}_low"], row[f"{k}_high"] = iv.mean, iv.low, iv.high
        levels.append(row)
    table = pd.DataFrame(levels)
    _add_marginals(table, per_level, totals)
    best = int(table.loc[table["net_value"].idxmax(), "agents"])
    warning = None
    if len(totals) > 1 and best in (totals[0], totals[-1]):
        side = "smallest" if best == totals[0] else "largest"
        warning = (
            f"the best level ({best} agents) is the {side} tested: the optimum may lie outside "
            f"{totals[0]}-{totals[-1]}; extend --agents"
        )
    team_rows = []
    if marginal:
        base_plan = plan_for(scenario, best)
        base = per_level[best]
        for team in TEAM_NAMES:
            plan = base_plan.model_copy(update={team: getattr(base_plan, team) + 1})
            rows = []
            for s in seeds:
                rows.append(_run(scenario, plan, strategy, s))
                runs.append({"agents": best + 1, "team": team, "seed": s, **rows[-1]})
                done += 1
                if progress is not None:
                    progress(done)
            more = pd.DataFrame(rows)
            entry: dict[str, float | str] = {"team": team, "agents_in_team": getattr(plan, team)}
            for k in ("net_value", "collected"):
                d = paired_difference(more[k], base[k])
                entry[f"{k}_per_agent"], entry[f"{k}_low"], entry[f"{k}_high"] = (
                    d.diff,
                    d.low,
                    d.high,
                )
            team_rows.append(entry)
    return SweepResult(table, pd.DataFrame(team_rows), pd.DataFrame(runs), best, warning, seeds)


def _add_marginals(table: pd.DataFrame, per_level: dict, totals: list[int]) -> None:
    """Paired net value and collected cash per added agent between neighbouring levels."""
    for k in ("net_value", "collected"):
        mean, low, high = [np.nan], [np.nan], [np.nan]
        for a, b in itertools.pairwise(totals):
            d = paired_difference(per_level[b][k], per_level[a][k])
            step = b - a
            mean.append(d.diff / step)
            low.append(d.low / step)
            high.append(d.high / step)
        table[f"marginal_{k}_per_agent"] = mean
        table[f"marginal_{k}_per_agent_low"] = low
        table[f"marginal_{k}_per_agent_high"] = high


def sweep_chart(result: SweepResult, path: Path, title: str) -> Path | None:
    """A self-contained HTML chart: collected cash, cost and net value by head count with their
    95 % intervals (left axis), inbound service level and utilisation (right axis); the best
    level marked, and the edge warning in the title (needs plotly; None without it)."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        return None
    df = result.levels
    fig = go.Figure()
    for col, name in (("collected", "collected"), ("cost", "cost"), ("net_value", "net value")):
        err = {
            "type": "data",
            "symmetric": False,
            "array": df[f"{col}_high"] - df[col],
            "arrayminus": df[col] - df[f"{col}_low"],
        }
        fig.add_trace(
            go.Scatter(x=df["agents"], y=df[col], mode="lines+markers", name=name, error_y=err)
        )
    for col, name in (("inbound_service_level", "service level"), ("utilisation", "utilisation")):
        fig.add_trace(
            go.Scatter(
                x=df["agents"],
                y=df[col],
                mode="lines+markers",
                name=name,
                yaxis="y2",
                line={"dash": "dash"},
            )
        )
    fig.add_vline(x=float(result.best_agents), line_dash="dot", annotation_text="best net value")
    full = title + (f"<br><sub>warning: {result.warning}</sub>" if result.warning else "")
    fig.update_layout(
        title=full,
        xaxis_title="agents",
        yaxis_title="USD over the horizon (mean, 95 % CI)",
        yaxis2={"title": "share", "overlaying": "y", "side": "right", "range": [0, 1.05]},
    )
    fig.write_html(path, include_plotlyjs="inline", full_html=True)
    return path
