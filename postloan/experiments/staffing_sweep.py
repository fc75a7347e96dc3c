"""Staffing sweeps: run one book under the same strategy with more or fewer agents.

Each level scales the scenario's staffing plan (or the default plan) to a total head count with
the same team mix; the operations model turns it into daily call and visit capacity and a staff
cost, and the portfolio engine runs the book with it. The same seed for every level means the
same borrowers and the same luck (common random numbers), so the differences are the staffing's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from sim.engine import simulate
from sim.operations import StaffingPlan
from sim.scenario import Scenario, StaffingSpec


def plan_for(scenario: Scenario, total_agents: int) -> StaffingSpec:
    """The scenario's staffing plan (default: the standard plan) scaled to ``total_agents``."""
    spec = scenario.staffing or StaffingSpec()
    fields = spec.model_dump()
    replications = fields.pop("replications")
    scaled = StaffingPlan(**fields).with_total_agents(total_agents)
    teams = {t: getattr(scaled, t) for t in ("early_stage", "late_stage", "field", "legal")}
    return StaffingSpec(**{**fields, **teams, "replications": replications})


def staffing_sweep(
    scenario: Scenario,
    strategy,
    totals: Sequence[int],
    seed: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """KPIs of the book at each total head count (one row per level)."""
    rows = []
    for n, total in enumerate(totals):
        sc = Scenario.model_validate(
            {**scenario.model_dump(), "staffing": plan_for(scenario, total).model_dump()}
        )
        s = simulate(sc, strategy, seed).summary
        st = s["staffing"]
        rows.append(
            {
                "agents": total,
                "call_attempts_per_day": st["call_attempts_per_day"],
                "visits_per_day": st["visits_per_day"],
                "utilisation": st["utilisation"],
                "inbound_service_level": st["inbound_service_level"],
                "staff_cost": s["cost_by_channel"]["staff"],
                "collected": s["collected"],
                "cost": s["cost"],
                "net_recovery": s["net_recovery"],
                "charge_off_amount": s["charge_off_amount"],
                "churned": s["churned"],
                "unserved_calls": s["unserved"]["call"],
            }
        )
        if progress is not None:
            progress(n + 1)
    df = pd.DataFrame(rows)
    df["marginal_collected_per_agent"] = df["collected"].diff() / df["agents"].diff()
    return df


def sweep_chart(df: pd.DataFrame, path: Path, title: str) -> Path | None:
    """A self-contained HTML chart of collected cash, cost and net recovery by head count
    (needs plotly; returns None without it)."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        return None
    fig = go.Figure()
    for col, name in (
        ("collected", "collected"),
        ("cost", "cost"),
        ("net_recovery", "net recovery"),
    ):
        fig.add_trace(go.Scatter(x=df["agents"], y=df[col], mode="lines+markers", name=name))
    best = df.loc[df["net_recovery"].idxmax()]
    fig.add_vline(x=float(best["agents"]), line_dash="dot", annotation_text="best net recovery")
    fig.update_layout(title=title, xaxis_title="agents", yaxis_title="USD over the horizon")
    fig.write_html(path, include_plotlyjs="inline", full_html=True)
    return path
