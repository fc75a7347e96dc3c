"""Team economics for the allocation model: what one agent delivers and costs on this book.

With ``allocation.teams: true`` in the space file the allocation model sizes a call team and a
field team (:class:`optimizer.allocation.TeamEconomics`). The figures come from the operations
model run on the plan sized to the book (:func:`sim.book_staffing.book_staffing`): call attempts
a day per dialling agent (early-stage, late-stage and legal agents together; early-stage agents
dial when the inbound line is quiet), visits a day per field agent, and a day's pay per agent,
each times the horizon.

So that labour is paid once, the responses are then estimated on the scenario with a staffing
plan (agent calls and visits carry no per-attempt cost there; the model adds the labour of the
teams it sizes) of ample capacity (the book's team mix scaled up to ``max_agents``, at most four
times the book's plan), so that the responses are not cut by today's head count.
"""

from __future__ import annotations

from optimizer.allocation import TeamEconomics
from sim.book_staffing import ENGINE_ONLY, book_staffing
from sim.dispatch import staffing_capacity
from sim.operations import StaffingPlan
from sim.scenario import Scenario, StaffingSpec

#: Teams whose agents dial out (their capacity is the call capacity).
DIALLING = ("early_stage", "late_stage", "legal")
#: The response table's plan is at most this many times the book's plan.
AMPLE = 4


def team_economics(scenario: Scenario, max_agents: int) -> TeamEconomics:
    """Calls and visits per agent over the horizon, and an agent's pay over it, for the book's
    plan measured by the operations model."""
    plan = book_staffing(scenario)
    cap = staffing_capacity(plan)
    dialling = sum(getattr(plan, t) for t in DIALLING)
    days = scenario.days
    return TeamEconomics(
        calls_per_agent=cap.call_attempts_per_day / max(dialling, 1) * days,
        visits_per_agent=cap.visits_per_day / max(plan.field, 1) * days,
        cost_per_agent=plan.shift_hours * 60.0 * plan.labour_cost_per_min * days,
        max_agents=max_agents,
    )


def response_scenario(scenario: Scenario, max_agents: int) -> Scenario:
    """``scenario`` with an ample staffing plan: labour off the per-attempt costs, capacity
    that does not bind (the book's mix scaled to ``min(max_agents, 4 x book)`` agents)."""
    plan = book_staffing(scenario)
    total = max(plan.early_stage + plan.late_stage + plan.field + plan.legal, 1)
    ample = _scaled(plan, max(total, min(max_agents, AMPLE * total)))
    return Scenario.model_validate({**scenario.model_dump(), "staffing": ample.model_dump()})


def chosen_staffing(scenario: Scenario, call_agents: int, field_agents: int) -> StaffingSpec:
    """The plan the allocation chose: ``call_agents`` split over the dialling teams in the
    book's mix and ``field_agents`` in the field team.

    The plan keeps at least one early-stage agent (the inbound line) and, when the model asked
    for any calls, one late-stage agent (the early-stage team keeps one agent free for inbound
    calls, so it alone would not dial): a model that chose fewer gets up to two agents more
    than it priced.
    """
    plan = book_staffing(scenario)
    dialling = _scaled(plan.model_copy(update={"field": 0}), max(int(call_agents), 1))
    early = max(dialling.early_stage, 1)
    late = max(int(call_agents) - early - dialling.legal, 1 if call_agents > 0 else 0)
    return plan.model_copy(
        update={
            "early_stage": early,
            "late_stage": late,
            "legal": dialling.legal,
            "field": int(field_agents),
        }
    )


def _scaled(plan: StaffingSpec, total: int) -> StaffingSpec:
    """``plan`` scaled to ``total`` agents with the same mix (largest remainder)."""
    fields = plan.model_dump()  # from book_staffing: the inbound rate is set
    kept = {k: fields.pop(k) for k in ENGINE_ONLY}
    scaled = StaffingPlan(**fields).with_total_agents(total)
    teams = {t: getattr(scaled, t) for t in ("early_stage", "late_stage", "field", "legal")}
    return StaffingSpec(**{**fields, **teams, **kept})
