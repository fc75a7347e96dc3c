"""What a run produces, assembled in one place for both engines.

:func:`assemble` turns a finished day loop (:class:`sim.day_loop.DayLoop`) into a
:class:`RunResult`: the daily table, the monthly table, the roll counts and the summary KPIs
(``summary.json``). The summary depends on the inputs and the seed only, so identical runs give
identical summaries; the machine's timing goes to :attr:`RunResult.timing` (and from there to
the run manifest).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.compliance import ComplianceProfile
from sim.day_loop import DayLoop
from sim.kpis import monthly_table, summarise, timing
from sim.portfolio import Portfolio, Status
from sim.scenario import Scenario


@dataclass
class RunResult:
    """Everything a run produces."""

    scenario: Scenario
    strategy: str
    seed: int
    daily: pd.DataFrame
    monthly: pd.DataFrame
    roll_counts: np.ndarray  # (months, 7, 7) account counts, month-end to month-end
    summary: dict
    recovery_rates: np.ndarray
    initial_bucket: np.ndarray
    portfolio: Portfolio | None = None
    contact_log: pd.DataFrame | None = None  # every attempt made (``contact_log=True``)
    #: one row per charged-off account: claim, recovery cash and when it arrives
    #: (:meth:`sim.recovery.RecoveryBook.ledger`), for LGD per segment (:mod:`sim.risk`)
    recoveries: pd.DataFrame | None = None
    #: ``wall_seconds`` and ``account_days_per_second`` (:data:`sim.kpis.TIMING_FIELDS`)
    timing: dict = field(default_factory=dict)


def assemble(
    loop: DayLoop,
    *,
    seed: int,
    compliance: ComplianceProfile,
    wall_seconds: float,
    staffing=None,
    callbacks: float = 0.0,
    engine: str | None = None,
    keep_portfolio: bool = False,
    contact_log: pd.DataFrame | None = None,
) -> RunResult:
    """The result of a finished run of ``loop.engine``.

    Parameters
    ----------
    loop : DayLoop
        The loop after its last day (its engine has ``rec``, ``recovery``, ``p``, ``strategy``,
        ``initial_delinquent`` and ``arms``).
    staffing : sim.capacity staff capacity, optional
        Written to the summary's ``staffing`` when given.
    callbacks : float, default 0
        Inbound call-backs after SMS and letters over the run (``staffing.inbound_callbacks``).
    engine : str, optional
        Written to the summary's ``engine`` when given (the Mesa model: ``"abm"``).
    """
    e = loop.engine
    sc: Scenario = e.sc
    daily = e.rec.frame()
    rates = e.recovery.all_rates()
    summary = summarise(
        daily,
        loop.roll,
        accounts=sc.accounts,
        days=sc.days,
        seed=seed,
        initial_delinquent=e.initial_delinquent,
        recovery_rates=rates,
        recovery_beyond_horizon=e.recovery.beyond_horizon,
    )
    summary["compliance_profile"] = compliance.name
    if staffing is not None:
        summary["staffing"] = {
            "agents": staffing.plan.agents,
            "call_attempts_per_day": staffing.call_attempts_per_day,
            "visits_per_day": staffing.visits_per_day,
            "staff_cost_per_day": staffing.staff_cost_per_day,
            "utilisation": staffing.utilisation,
            "inbound_service_level": staffing.inbound_service_level,
            "inbound_abandon_rate": staffing.inbound_abandon_rate,
            "inbound_callbacks": float(callbacks),
        }
    if engine is not None:
        summary["engine"] = engine
    if e.arms is not None:
        summary["arms"] = arm_kpis(e.p, e.arms, sc.days - 1)
    return RunResult(
        scenario=sc,
        strategy=getattr(e.strategy, "name", "none"),
        seed=seed,
        daily=daily,
        monthly=monthly_table(daily, loop.roll),
        roll_counts=loop.roll,
        summary=summary,
        recovery_rates=rates,
        initial_bucket=loop.initial_bucket,
        portfolio=e.p if keep_portfolio else None,
        contact_log=contact_log,
        recoveries=e.recovery.ledger(sc),
        timing=timing(sc.accounts, sc.days, wall_seconds),
    )


def arm_kpis(p: Portfolio, arms: tuple[str, ...], day: int) -> dict[str, dict]:
    """KPIs per champion/challenger arm, from per-account totals and end-of-run state.

    ``collected`` here is cash from accounts in arrears (post-charge-off recoveries are booked
    for the book as a whole); ``cost`` is contact cost.
    """
    arm = p.arm.astype(np.int64)
    k = len(arms)

    def total(values) -> np.ndarray:
        return np.bincount(arm, weights=np.asarray(values, float), minlength=k)

    accounts = np.bincount(arm, minlength=k)
    outstanding = p.sched_balance + p.arrears_principal
    dpd = p.dpd(day)
    late = np.where((p.status == Status.OPEN) & (dpd > 30), outstanding, 0.0)
    out = {}
    collected, cost = total(p.cash_collected), total(p.contact_cost)
    co, churned = total(p.principal_charged_off), total(p.churned)
    complaints, bal, late_bal = total(p.complaints), total(outstanding), total(late)
    for a, name in enumerate(arms):
        out[name] = {
            "accounts": int(accounts[a]),
            "collected": float(collected[a]),
            "cost": float(cost[a]),
            "net_recovery": float(collected[a] - cost[a]),
            "charge_off_amount": float(co[a]),
            "churned": int(churned[a]),
            "complaints": int(complaints[a]),
            "delinquency_rate_30p": float(late_bal[a] / bal[a]) if bal[a] > 0 else 0.0,
        }
    return out
