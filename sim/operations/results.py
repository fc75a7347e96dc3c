"""Replication results of the operations model: per-replication figures, means, standard errors."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

#: Figures every replication reports (teams add ``<team>.<figure>`` entries).
METRICS = (
    "offered_calls",
    "p_wait",
    "mean_wait_s",
    "service_level",
    "abandon_rate",
    "occupancy",
    "utilisation",
    "inbound_calls_per_day",
    "call_attempts_per_day",
    "right_party_contacts_per_day",
    "visits_per_day",
    "meetings_per_day",
    "promises_per_day",
    "staff_cost_per_day",
    "events",
    "wall_s",
)


@dataclass(frozen=True)
class OperationsResult:
    """Figures of independent replications.

    Attributes
    ----------
    values : Mapping[str, tuple of float]
        Per-replication value of every figure.
    mean : Mapping[str, float]
        Mean over replications (NaN replications, e.g. no inbound calls, are skipped).
    se : Mapping[str, float]
        Standard error of the mean, ``sd / sqrt(R)`` with the sample ``sd`` (NaN for R < 2).
    """

    values: Mapping[str, tuple[float, ...]]
    mean: Mapping[str, float]
    se: Mapping[str, float]

    @property
    def replications(self) -> int:
        """Number of replications."""
        return len(next(iter(self.values.values()), ()))

    @property
    def events(self) -> int:
        """SimPy events processed over all replications."""
        return int(sum(self.values["events"]))

    @property
    def wall_s(self) -> float:
        """Seconds spent in the SimPy event loop over all replications."""
        return float(sum(self.values["wall_s"]))

    @property
    def events_per_second(self) -> float:
        """Event-loop throughput."""
        return self.events / self.wall_s if self.wall_s > 0 else math.nan

    def summary(self, names: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
        """``{figure: {"mean": ..., "se": ...}}`` for the given figures (default: all)."""
        keys = names if names is not None else list(self.mean)
        return {k: {"mean": self.mean[k], "se": self.se[k]} for k in keys}

    @classmethod
    def from_runs(cls, runs: Sequence[Mapping[str, float]]) -> OperationsResult:
        """Collect the figures of each replication (dicts with the same keys)."""
        values, mean, se = {}, {}, {}
        for key in runs[0]:
            column = np.array([run[key] for run in runs], dtype=float)
            finite = column[~np.isnan(column)]
            values[key] = tuple(column.tolist())
            mean[key] = float(finite.mean()) if finite.size else math.nan
            se[key] = (
                float(finite.std(ddof=1) / math.sqrt(finite.size)) if finite.size > 1 else math.nan
            )
        return cls(MappingProxyType(values), MappingProxyType(mean), MappingProxyType(se))
