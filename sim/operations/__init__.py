"""Operations: collectors, shifts and queues (SimPy), checked against Erlang-C and Erlang-A.

Modules
-------
erlang
    Analytic references: Erlang-B/C, Erlang-A (M/M/n+M), staffing for a service level.
model
    What is simulated: teams, skills, shifts, call and visit profiles, inbound demand.
des
    The SimPy discrete-event model and its replications.
results
    Per-replication figures with means and standard errors.
capacity
    Staffing plans and the daily capacity they buy (what the portfolio engine reads).
"""

from sim.operations.capacity import (
    DailyCapacity,
    StaffingPlan,
    capacity_table,
    clear_capacity_cache,
    daily_capacity,
)
from sim.operations.des import simulate
from sim.operations.erlang import QueueMetrics, agents_for_service_level, queue_metrics
from sim.operations.model import (
    CentreConfig,
    InboundDemand,
    Team,
    collections_centre,
    pure_inbound,
)
from sim.operations.results import OperationsResult

__all__ = [
    "CentreConfig",
    "DailyCapacity",
    "InboundDemand",
    "OperationsResult",
    "QueueMetrics",
    "StaffingPlan",
    "Team",
    "agents_for_service_level",
    "capacity_table",
    "clear_capacity_cache",
    "collections_centre",
    "daily_capacity",
    "pure_inbound",
    "queue_metrics",
    "simulate",
]
