"""Daily capacity bought by a staffing plan, measured by the SimPy model and cached.

The portfolio engine serves staff-limited channels up to a daily capacity: it reads
``call_attempts_per_day``, ``visits_per_day`` and ``staff_cost_per_day`` of a
:class:`DailyCapacity`. A capacity table over staffing levels lets an optimiser or a manager see
what each extra head buys.

Results are cached twice: in memory per ``(plan, seed, replications, days)`` (plans are frozen
and hashable), and optionally on disk, as one JSON file per key in a folder the caller names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pandas as pd

from sim.operations.des import simulate
from sim.operations.model import TEAM_NAMES, CentreConfig, collections_centre

#: Bump when the model changes what a plan yields, so on-disk caches are not reused.
MODEL_VERSION = 1

#: Figures of a :class:`DailyCapacity` and the DES figures they come from.
_FIGURES = {
    "call_attempts_per_day": "call_attempts_per_day",
    "right_party_contacts_per_day": "right_party_contacts_per_day",
    "visits_per_day": "visits_per_day",
    "promises_per_day": "promises_per_day",
    "staff_cost_per_day": "staff_cost_per_day",
    "utilisation": "utilisation",
    "inbound_service_level": "service_level",
    "inbound_abandon_rate": "abandon_rate",
}


@dataclass(frozen=True)
class StaffingPlan:
    """Head count per team and the conditions they work under.

    Attributes
    ----------
    early_stage, late_stage, field, legal : int
        Agents per team (see :func:`~sim.operations.model.collections_centre`).
    shift_hours : float
        Paid shift length per day.
    shrinkage : float
        Share of paid time off the floor (design norm: 30 %).
    training : float
        Training level 0..1 (raises promise rates, shortens handle times).
    labour_cost_per_min : float
        Agent labour cost, USD per paid minute (design range 0.20-0.30).
    inbound_calls_per_hour, inbound_aht_s, inbound_patience_s : float
        Borrowers calling the early-stage team (assumption; set from the book when known).
    target_s : float
        Inbound service-level threshold in seconds.
    """

    early_stage: int = 12
    late_stage: int = 8
    field: int = 6
    legal: int = 2
    shift_hours: float = 8.0
    shrinkage: float = 0.30
    training: float = 0.5
    labour_cost_per_min: float = 0.25
    inbound_calls_per_hour: float = 30.0
    inbound_aht_s: float = 240.0
    inbound_patience_s: float | None = 180.0
    target_s: float = 20.0

    def __post_init__(self) -> None:
        for team in TEAM_NAMES:
            if getattr(self, team) < 0:
                raise ValueError(f"{team} must be >= 0 agents")
        self.config()  # the centre validates everything else

    @property
    def agents(self) -> int:
        """Head count over all teams."""
        return sum(getattr(self, team) for team in TEAM_NAMES)

    def with_team(self, team: str, agents: int) -> StaffingPlan:
        """The same plan with ``agents`` in ``team``."""
        if team not in TEAM_NAMES:
            raise ValueError(f"team must be one of {TEAM_NAMES}, not {team!r}")
        return dataclasses.replace(self, **{team: agents})

    def with_total_agents(self, total: int) -> StaffingPlan:
        """The same team mix scaled to ``total`` agents (largest-remainder rounding)."""
        if total < 0:
            raise ValueError("total must be >= 0")
        weights = [getattr(self, team) for team in TEAM_NAMES]
        if sum(weights) == 0:
            weights = [1] * len(TEAM_NAMES)
        exact = [total * w / sum(weights) for w in weights]
        counts = [math.floor(x) for x in exact]
        by_remainder = sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])
        for i in by_remainder[: total - sum(counts)]:
            counts[i] += 1
        return dataclasses.replace(self, **dict(zip(TEAM_NAMES, counts, strict=True)))

    def config(self, days: float = 1.0) -> CentreConfig:
        """The collections centre this plan staffs, measured over ``days`` days."""
        return collections_centre(
            early_stage=self.early_stage,
            late_stage=self.late_stage,
            field=self.field,
            legal=self.legal,
            shift_hours=self.shift_hours,
            shrinkage=self.shrinkage,
            training=self.training,
            labour_cost_per_min=self.labour_cost_per_min,
            inbound_calls_per_hour=self.inbound_calls_per_hour,
            inbound_aht_s=self.inbound_aht_s,
            inbound_patience_s=self.inbound_patience_s,
            days=days,
            target_s=self.target_s,
        )


@dataclass(frozen=True)
class DailyCapacity:
    """What a staffing plan delivers on an average day (means over DES replications).

    Attributes
    ----------
    plan : StaffingPlan
        The plan measured.
    call_attempts_per_day : float
        Outbound call attempts.
    right_party_contacts_per_day : float
        Outbound attempts that reached the borrower.
    visits_per_day : float
        Field visits made.
    promises_per_day : float
        Promises to pay from calls and visits.
    staff_cost_per_day : float
        Paid shift time of all agents (USD).
    utilisation : float
        Busy time over paid time.
    inbound_service_level : float
        Inbound calls answered within ``plan.target_s`` (NaN without an inbound line).
    inbound_abandon_rate : float
        Inbound calls abandoned (NaN without an inbound line).
    replications : int
        DES replications behind the means.
    standard_errors : Mapping[str, float]
        Standard error of each figure above.
    """

    plan: StaffingPlan
    call_attempts_per_day: float
    right_party_contacts_per_day: float
    visits_per_day: float
    promises_per_day: float
    staff_cost_per_day: float
    utilisation: float
    inbound_service_level: float
    inbound_abandon_rate: float
    replications: int
    standard_errors: Mapping[str, float]

    def as_row(self) -> dict[str, float]:
        """Plan and figures as one flat record (the row of a capacity table)."""
        row: dict[str, float] = {"agents": self.plan.agents}
        row.update({team: getattr(self.plan, team) for team in TEAM_NAMES})
        row.update({name: getattr(self, name) for name in _FIGURES})
        row.update({f"{name}_se": se for name, se in self.standard_errors.items()})
        return row


def daily_capacity(
    plan: StaffingPlan,
    *,
    seed: int = 0,
    replications: int = 5,
    days: float = 1.0,
    cache_dir: str | Path | None = None,
) -> DailyCapacity:
    """Measure a staffing plan's daily capacity with the DES (cached).

    Parameters
    ----------
    plan : StaffingPlan
        The staffing to measure.
    seed : int, default 0
        Root seed of the replications.
    replications : int, default 5
        Independent replications (>= 2 for standard errors).
    days : float, default 1
        Days simulated per replication.
    cache_dir : str or Path, optional
        Folder of an on-disk cache (created if needed); in-memory caching always applies.

    Returns
    -------
    DailyCapacity
        Means and standard errors per day.
    """
    if cache_dir is None:
        return _measure(plan, seed, replications, days)
    path = Path(cache_dir) / f"capacity-{_cache_key(plan, seed, replications, days)}.json"
    if path.exists():
        return _from_json(plan, json.loads(path.read_text()))
    capacity = _measure(plan, seed, replications, days)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_to_json(capacity)))
    return capacity


def capacity_table(
    plans: Iterable[StaffingPlan | int],
    *,
    base: StaffingPlan | None = None,
    team: str | None = None,
    seed: int = 0,
    replications: int = 5,
    days: float = 1.0,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Daily capacity of several staffing levels, one row each.

    Parameters
    ----------
    plans : iterable of StaffingPlan or int
        Plans, or head counts applied to ``base``: to ``team`` alone when given, otherwise to
        the whole centre with ``base``'s team mix.
    base : StaffingPlan, optional
        Plan that head counts modify (default: ``StaffingPlan()``).
    team : str, optional
        Team that head counts set (one of ``early_stage``, ``late_stage``, ``field``, ``legal``).
    seed, replications, days, cache_dir
        As in :func:`daily_capacity`.

    Returns
    -------
    pandas.DataFrame
        Columns: ``agents``, the four team sizes, the :class:`DailyCapacity` figures and their
        standard errors (``<figure>_se``).
    """
    base = base if base is not None else StaffingPlan()
    rows = []
    for item in plans:
        if isinstance(item, StaffingPlan):
            plan = item
        elif team is not None:
            plan = base.with_team(team, int(item))
        else:
            plan = base.with_total_agents(int(item))
        capacity = daily_capacity(
            plan, seed=seed, replications=replications, days=days, cache_dir=cache_dir
        )
        rows.append(capacity.as_row())
    return pd.DataFrame(rows)


def clear_capacity_cache() -> None:
    """Forget the in-memory cache (on-disk caches are left alone)."""
    _measure.cache_clear()


@lru_cache(maxsize=1024)
def _measure(plan: StaffingPlan, seed: int, replications: int, days: float) -> DailyCapacity:
    result = simulate(plan.config(days), seed=seed, replications=replications)
    return DailyCapacity(
        plan=plan,
        replications=replications,
        standard_errors=MappingProxyType({k: result.se[v] for k, v in _FIGURES.items()}),
        **{k: result.mean[v] for k, v in _FIGURES.items()},
    )


def _cache_key(plan: StaffingPlan, seed: int, replications: int, days: float) -> str:
    fields = dataclasses.asdict(plan) | {
        "seed": seed,
        "replications": replications,
        "days": days,
        "model_version": MODEL_VERSION,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]


def _to_json(capacity: DailyCapacity) -> dict[str, object]:
    figures = {name: getattr(capacity, name) for name in _FIGURES}
    return {
        "figures": figures,
        "standard_errors": dict(capacity.standard_errors),
        "replications": capacity.replications,
    }


def _from_json(plan: StaffingPlan, data: Mapping[str, Any]) -> DailyCapacity:
    return DailyCapacity(
        plan=plan,
        replications=int(data["replications"]),
        standard_errors=MappingProxyType(dict(data["standard_errors"])),
        **{name: float(data["figures"][name]) for name in _FIGURES},
    )
