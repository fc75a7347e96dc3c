"""Staffing sized to the book: default head count, inbound demand and call-backs.

The default plan of :class:`~sim.scenario.StaffingSpec` (12 early-stage, 8 late-stage, 6 field,
2 legal agents) is the plan of the reference book: 100,000 accounts with 3.6 % of them in
arrears at the start (the baseline's initial delinquency). Other books get a plan scaled by
their **workload**, the accounts in arrears relative to the reference's,

    workload = accounts x delinquent share / (100,000 x 0.036),

each team rounded to whole agents with a floor of one early-stage agent (it answers the inbound
line), one late-stage agent (the early-stage team keeps one agent for inbound calls, so without
a late-stage agent nobody dials) and one field agent (so that visits stay possible).

Inbound demand follows the book too: borrowers in arrears call in at
:data:`INBOUND_CALLS_PER_DELINQUENT_DAY` a day each (1 in 15 days: 3,600 accounts in arrears
make 240 calls a day, the 30 an hour over an 8-hour line the plan assumed before), and the
engine adds the **call-backs** that SMS and letters provoke (``StaffingSpec.callback_rate`` per
SMS or letter that reached the borrower, answered by the early-stage team the next day: they
take its time from outbound dialling, see :class:`sim.dispatch.ChannelTable`).
"""

from __future__ import annotations

import math

from sim.operations.model import TEAM_NAMES
from sim.scenario import Scenario, StaffingSpec

#: The book the default plan was sized for: accounts and share in arrears at the start.
REFERENCE_ACCOUNTS = 100_000
REFERENCE_DELINQUENT_SHARE = 0.036
#: Agents per team of the reference book (``StaffingSpec``'s defaults).
REFERENCE_TEAMS = {team: StaffingSpec.model_fields[team].default for team in TEAM_NAMES}
#: Fields of ``StaffingSpec`` the engine reads and the operations model does not.
ENGINE_ONLY = ("replications", "callback_rate", "training_cost_per_agent_day")
#: Smallest team a book gets (see the module docstring for why).
MIN_TEAMS = {"early_stage": 1, "late_stage": 1, "field": 1, "legal": 0}
#: Inbound calls per account in arrears per day (assumption: one call every 15 days).
INBOUND_CALLS_PER_DELINQUENT_DAY = 1.0 / 15.0


def delinquent_share(scenario: Scenario) -> float:
    """Share of the book in arrears at the start (the scenario's initial delinquency)."""
    d = scenario.initial_delinquency
    return float(d.dpd_1_30 + d.dpd_31_60 + d.dpd_61_90 + d.dpd_91_120)


def workload(accounts: int, share: float) -> float:
    """Accounts in arrears relative to the reference book's 3,600."""
    return accounts * share / (REFERENCE_ACCOUNTS * REFERENCE_DELINQUENT_SHARE)


def team_sizes(accounts: int, share: float) -> dict[str, int]:
    """Agents per team for a book of ``accounts`` with ``share`` of them in arrears.

    Each reference team scaled by :func:`workload`, rounded half up, floored by
    :data:`MIN_TEAMS`.
    """
    w = workload(accounts, share)
    return {
        team: max(MIN_TEAMS[team], math.floor(REFERENCE_TEAMS[team] * w + 0.5))
        for team in TEAM_NAMES
    }


def inbound_calls_per_hour(accounts: int, share: float, open_hours: float) -> float:
    """Borrowers calling in per hour of an ``open_hours`` line (before call-backs)."""
    # rounded so that plans written to YAML read cleanly (1.2, not 1.2000000000000002)
    return round(accounts * share * INBOUND_CALLS_PER_DELINQUENT_DAY / open_hours, 6)


def line_hours(spec: StaffingSpec) -> float:
    """Hours a day the inbound line is open (the shift, at most 16 h; see
    :func:`sim.operations.model.collections_centre`)."""
    return min(spec.shift_hours, 16.0)


def book_staffing(scenario: Scenario) -> StaffingSpec:
    """The scenario's staffing plan, or the default plan sized to its book.

    A plan the scenario names keeps its teams; in either case an inbound rate left open
    (``inbound_calls_per_hour: null``) is set from the book.
    """
    spec = scenario.staffing
    if spec is None:
        share = delinquent_share(scenario)
        spec = StaffingSpec(**team_sizes(scenario.accounts, share))
    return resolved_inbound(spec, scenario)


def resolved_inbound(spec: StaffingSpec, scenario: Scenario) -> StaffingSpec:
    """``spec`` with its inbound rate set from the book when it is left open."""
    if spec.inbound_calls_per_hour is not None:
        return spec
    rate = inbound_calls_per_hour(scenario.accounts, delinquent_share(scenario), line_hours(spec))
    return spec.model_copy(update={"inbound_calls_per_hour": rate})


def with_book_staffing(scenario: Scenario) -> Scenario:
    """``scenario`` with :func:`book_staffing` as its plan (teams sized to its book)."""
    plan = book_staffing(scenario)
    return Scenario.model_validate({**scenario.model_dump(), "staffing": plan.model_dump()})


__all__ = [
    "ENGINE_ONLY",
    "INBOUND_CALLS_PER_DELINQUENT_DAY",
    "MIN_TEAMS",
    "REFERENCE_ACCOUNTS",
    "REFERENCE_DELINQUENT_SHARE",
    "REFERENCE_TEAMS",
    "book_staffing",
    "delinquent_share",
    "inbound_calls_per_hour",
    "line_hours",
    "resolved_inbound",
    "team_sizes",
    "with_book_staffing",
    "workload",
]
