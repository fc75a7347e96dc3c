"""The management view of a run in one place: segment KPIs, risk by segment, monitoring.

:class:`ManagementViews` bundles the three observers (:class:`sim.segments.SegmentObserver`,
:class:`sim.risk.RiskObserver`, :class:`sim.monitoring.MonitoringObserver`); pass
:attr:`ManagementViews.observers` to ``simulate`` or ``run_abm``, then :meth:`tables` gives
the tidy tables (one Parquet file each, named by the keys) and :meth:`summary` what belongs in
``summary.json``::

    views = ManagementViews(default_monitoring())
    result = simulate(scenario, strategy, seed, observers=views.observers)
    for name, table in views.tables(result).items():
        table.to_parquet(run_dir / f"{name}.parquet")
    summary["management"] = views.summary(result)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim.monitoring import Monitoring, MonitoringObserver, default_monitoring
from sim.risk import DEFAULT_DISCOUNT_RATE, ConcentrationLimits, RiskObserver
from sim.run_result import RunResult
from sim.segments import SegmentationSource, SegmentObserver

#: The tables of :meth:`ManagementViews.tables`, in order, with what each holds.
TABLES: dict[str, str] = {
    "segments_daily": "KPIs per day and segment (segment_kind, segment, flows, stocks, rates)",
    "segments_monthly": "KPIs per month and segment",
    "segments": "KPIs per segment over the run (with episodes and cure rate)",
    "risk": "PD (horizon, 12-month), EAD, LGD, expected loss per segment and for the book",
    "risk_matrix": "segments x risk grades: accounts, exposure, PD, expected loss",
    "concentration": "exposure and share per segment, with limits and breaches",
    "concentration_index": "Herfindahl-Hirschman index per segmentation and single-name",
    "monitoring_kpis": "the monitored KPIs day by day, early-warning flag counts among them",
    "alerts": "alerts: rule, KPI, severity, threshold, day fired, value",
    "recoveries": "per charged-off account: claim, recovery cash, lag, PV and LGD",
}


class ManagementViews:
    """Segment views, risk measures and monitoring for one run.

    Parameters
    ----------
    monitoring : Monitoring, optional
        The rules; the shipped default set (:func:`sim.monitoring.default_monitoring`) if None.
    extra : sequence of Segmentation or callable
        Segmentations beyond the book's own (e.g. score bands computed by the caller).
    discount_rate : float
        Annual rate for the LGD's discounting (:data:`sim.risk.DEFAULT_DISCOUNT_RATE`).
    limits : ConcentrationLimits, optional
        Concentration limits; the monitoring file's if None.
    """

    def __init__(
        self,
        monitoring: Monitoring | None = None,
        extra: Sequence[SegmentationSource] = (),
        discount_rate: float = DEFAULT_DISCOUNT_RATE,
        limits: ConcentrationLimits | None = None,
    ):
        self.segments = SegmentObserver(extra)
        self.risk = RiskObserver(extra)
        self.monitor = MonitoringObserver(monitoring or default_monitoring())
        self.discount_rate = float(discount_rate)
        self.limits = limits or self.monitor.concentration_limits()

    @property
    def observers(self) -> list:
        """The observers to pass to the run."""
        return [self.segments, self.risk, self.monitor]

    def tables(self, result: RunResult) -> dict[str, pd.DataFrame]:
        """Every table of :data:`TABLES` for the finished ``result`` (the run watched)."""
        rec = result.recoveries
        conc = self.risk.concentration(self.limits)
        losses = self.risk.account_losses(rec, self.discount_rate)
        recoveries = rec.merge(losses.drop(columns=["claim"]), on="account", how="left")
        return {
            "segments_daily": self.segments.daily(),
            "segments_monthly": self.segments.monthly(),
            "segments": self.segments.summary(),
            "risk": self.risk.measures(rec, self.discount_rate),
            "risk_matrix": self.risk.matrix(rec, self.discount_rate),
            "concentration": conc.shares,
            "concentration_index": conc.indices,
            "monitoring_kpis": self.monitor.kpis(),
            "alerts": self.monitor.alerts(),
            "recoveries": recoveries,
        }

    def summary(self, result: RunResult) -> dict:
        """For ``summary.json``: the alerts (and the distinct KPIs and rules that fired), the
        concentration breaches, and the book's PD, LGD, EAD and expected loss."""
        risk = self.risk.measures(result.recoveries, self.discount_rate)
        book = risk[risk["segment_kind"] == "book"].iloc[0]

        def num(x) -> float | None:
            x = float(x)
            return None if np.isnan(x) else x

        return {
            **self.monitor.summary(),
            "concentration_breaches": self.risk.concentration(self.limits).breaches,
            "risk": {
                "default_definition": "91+ DPD or charged off",
                "discount_rate": self.discount_rate,
                "pd_horizon": num(book["pd_horizon"]),
                "pd_12m": num(book["pd_12m"]),
                "lgd": num(book["lgd"]),
                "exposure_start": num(book["exposure_start"]),
                "expected_loss": num(book["expected_loss"]),
            },
        }
