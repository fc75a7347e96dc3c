"""The monitor: KPIs of the monitoring file computed as the run goes, and alerts.

:class:`MonitoringObserver` reads the day's recorded KPIs (:class:`sim.kpis.DailyRecorder`) and
the book's early-warning flags at each day's end, the month-end roll counts at each month's
end, and evaluates every rule of a :class:`sim.monitoring.spec.Monitoring`. A rule *fires* on
the first day its condition holds after a day it did not (or on the first day it can be
judged): one alert per crossing, with the day and the value; it fires again only after the
KPI has come back inside its threshold. A value that cannot be judged (a window not yet full,
fewer events than ``min_count``, a day inside the set's warm-up, a change reaching back
before day 0 or into the warm-up) leaves the rule's state
as it was.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.channels import CHANNEL_NAMES
from sim.day_loop import DayEvents, Observer
from sim.kpis import FLOW_COLUMNS, DailyRecorder
from sim.monitoring.spec import KPI_CATALOGUE, Monitoring, Rule
from sim.portfolio import BUCKET_NAMES, MONTH_DAYS, Portfolio, Status
from sim.risk import ConcentrationLimits
from sim.scenario import Scenario

#: Days a partial payment counts as an early-warning flag (the strategies' flag uses 90 too).
PARTIAL_FLAG_DAYS = 90
_OPEN_COUNTS = ("n_current", "n_1_30", "n_31_60", "n_61_90", "n_91_120")
_ROLLS = {
    f"roll_{a.replace('-', '_')}_to_{b.replace('-', '_')}": (i, j)
    for i, a in enumerate(BUCKET_NAMES)
    for j, b in enumerate(BUCKET_NAMES)
}
_EW = ("ew_hardship_seen", "ew_missed_reminder", "ew_partial_payment", "ew_any", "ew_any_share")
_INF = math.inf


class MonitoringObserver(Observer):
    """Evaluates a monitoring set during a run.

    Parameters
    ----------
    monitoring : Monitoring
        The rules (:func:`sim.monitoring.spec.load_monitoring`).

    After the run: :meth:`alerts` (DataFrame), :meth:`alert_list` and :meth:`summary` (for
    ``summary.json``), :meth:`kpis` (every catalogue KPI day by day, the early-warning counts
    among them), :meth:`concentration_limits`.
    """

    def __init__(self, monitoring: Monitoring):
        self.monitoring = monitoring
        self._alerts: list[dict] = []
        self._breached: dict[str, bool] = {r.id: False for r in monitoring.rules}

    # ------------------------------------------------------------------ hooks
    def on_start(self, book: Portfolio, scenario: Scenario) -> None:
        self.book = book
        self.days = int(scenario.days)
        self.ew = {k: np.full(self.days, np.nan) for k in _EW}
        self.month_rolls: dict[int, np.ndarray] = {}  # month-end day -> (7, 7) counts
        self.record: DailyRecorder | None = None

    def on_day_end(self, day: int, events: DayEvents) -> None:
        self.record = events.record
        p = self.book
        open_ = p.status == Status.OPEN
        flags = (
            open_ & p.hardship_seen,
            open_ & p.missed_reminder,
            open_ & (p.last_partial_day > day - PARTIAL_FLAG_DAYS),
        )
        anyf = flags[0] | flags[1] | flags[2]
        n_open = int(np.count_nonzero(open_))
        for name, f in zip(_EW, (*flags, anyf), strict=False):
            self.ew[name][day] = np.count_nonzero(f)
        self.ew["ew_any_share"][day] = self.ew["ew_any"][day] / n_open if n_open else 0.0
        for rule in self.monitoring.rules:
            if rule.every == "day":
                self._evaluate(rule, day)

    def on_month_end(self, month: int, day: int, roll: np.ndarray, buckets: np.ndarray) -> None:
        if day % MONTH_DAYS != MONTH_DAYS - 1:
            return  # an incomplete last month is not judged
        self.month_rolls[day] = roll.copy()
        for rule in self.monitoring.rules:
            if rule.every == "month":
                self._evaluate(rule, day)

    # ------------------------------------------------------------------ values
    def value(self, kpi: str, day: int, window: int = 30) -> tuple[float, float]:
        """A KPI's value on ``day`` (NaN where undefined) and its denominator (the count
        ``min_count`` is checked against; infinite where there is none)."""
        if day < 0:
            return math.nan, _INF
        if kpi in _EW:
            return float(self.ew[kpi][day]), _INF
        if kpi in _ROLLS:
            roll = self.month_rolls.get(day)
            if roll is None:
                return math.nan, _INF
            i, j = _ROLLS[kpi]
            n = float(roll[i].sum())
            return (float(roll[i, j]) / n if n else math.nan), n
        kind = KPI_CATALOGUE.get(kpi, ("", ""))[1]
        if kind == "window":
            return self._window_kpi(kpi, day, window)
        if kpi in FLOW_COLUMNS or kpi in ("cost_contact", "cost", "collected", "net_recovery"):
            if day < window - 1:
                return math.nan, _INF
            return self._flow(kpi, day, window), _INF
        return self._stock(kpi, day), _INF

    def _flow(self, name: str, day: int, window: int) -> float:
        """A flow (or a sum of flows) over the ``window`` days ending on ``day``."""
        rec = self.record
        lo = day - window + 1
        if name == "cost_contact":
            return sum(self._flow(f"cost_{c}", day, window) for c in CHANNEL_NAMES)
        if name == "cost":
            return (
                self._flow("cost_contact", day, window)
                + self._flow("cost_recovery", day, window)
                + self._flow("cost_staff", day, window)
            )
        if name == "collected":
            return self._flow("collected_delinquent", day, window) + self._flow(
                "collected_recovery", day, window
            )
        if name == "net_recovery":
            return self._flow("collected", day, window) - self._flow("cost", day, window)
        if name == "attempts":
            return sum(self._flow(f"attempts_{c}", day, window) for c in CHANNEL_NAMES)
        if name == "rpc":
            return sum(self._flow(f"rpc_{c}", day, window) for c in CHANNEL_NAMES)
        return float(np.sum(rec.flows[name][lo : day + 1]))

    def _stock(self, name: str, day: int) -> float:
        s = self.record.stocks
        if name == "n_open":
            return float(sum(s[c][day] for c in _OPEN_COUNTS))
        if name == "n_delinquent":
            return float(sum(s[c][day] for c in _OPEN_COUNTS[1:]))
        if name in ("delinquency_rate_30p", "npl_ratio_90p"):
            out = s["outstanding"][day]
            cols = (
                ("balance_31_60", "balance_61_90", "balance_91_120")
                if name == "delinquency_rate_30p"
                else ("balance_91_120",)
            )
            return float(sum(s[c][day] for c in cols) / out) if out > 0 else 0.0
        return float(s[name][day])

    def _window_kpi(self, kpi: str, day: int, w: int) -> tuple[float, float]:
        start = day - w  # the evening before the window's first day
        if start < -1 or day < w - 1:
            return math.nan, _INF

        def stock_then(name: str) -> float:
            if start >= 0:
                return self._stock(name, start)
            return self._start_stock(name)

        def ratio(num: float, den: float) -> float:
            return num / den if den > 0 else math.nan

        f = self._flow
        if kpi == "charge_off_rate_annualised":
            return ratio(f("charge_off_amount", day, w), stock_then("outstanding")) * 360 / w, _INF
        if kpi == "new_delinquency_rate":
            den = stock_then("n_current")
            return ratio(f("new_delinquent", day, w), den) * 30 / w, den
        if kpi == "cure_rate":
            den = stock_then("n_delinquent") + f("new_delinquent", day, w)
            return ratio(f("cures", day, w), den), den
        if kpi == "promise_keep_rate":
            kept, broken = f("promises_kept", day, w), f("promises_broken", day, w)
            return ratio(kept, kept + broken), kept + broken
        if kpi in ("complaints_per_1000", "churn_per_1000"):
            col = "complaints" if kpi == "complaints_per_1000" else "churned"
            den = self._stock("n_open", day)
            return ratio(f(col, day, w), den) * 1000 * 30 / w, f(col, day, w)
        if kpi == "cost_per_collected":
            return ratio(f("cost", day, w), f("collected", day, w)), _INF
        if kpi == "rpc_rate":
            den = f("attempts", day, w)
            return ratio(f("rpc", day, w), den), den
        raise KeyError(kpi)

    def _start_stock(self, name: str) -> float:
        """Stocks on the evening before day 0 (the book as generated)."""
        p = self.book
        if name == "outstanding":
            return float(np.sum((p.sched_balance + p.arrears_principal)[p.status == Status.OPEN]))
        missed = p.missed[p.status == Status.OPEN]
        if name == "n_current":
            return float(np.count_nonzero(missed == 0))
        if name == "n_delinquent":
            return float(np.count_nonzero(missed > 0))
        raise KeyError(name)

    def judged(self, rule: Rule, day: int) -> float:
        """The rule's measure on ``day`` (NaN: cannot be judged)."""
        warm = self.monitoring.warm_up_days
        if day < warm or (rule.measure != "level" and day - rule.change_days < warm):
            return math.nan
        v, n = self.value(rule.kpi, day, rule.window_days)
        if n < rule.min_count:
            return math.nan
        if rule.measure == "level":
            return v
        v0, n0 = self.value(rule.kpi, day - rule.change_days, rule.window_days)
        if n0 < rule.min_count:
            return math.nan
        if rule.measure == "change":
            return v - v0
        return (v - v0) / v0 if v0 else math.nan

    def _evaluate(self, rule: Rule, day: int) -> None:
        x = self.judged(rule, day)
        if math.isnan(x):
            return
        bad = x > rule.threshold if rule.direction == "above" else x < rule.threshold
        if bad and not self._breached[rule.id]:
            self._alerts.append(
                {
                    "rule": rule.id,
                    "kpi": rule.kpi,
                    "measure": rule.measure,
                    "severity": rule.severity,
                    "direction": rule.direction,
                    "threshold": rule.threshold,
                    "day": int(day),
                    "month": int(day // MONTH_DAYS),
                    "value": float(x),
                }
            )
        self._breached[rule.id] = bool(bad)

    # ------------------------------------------------------------------ results
    def alerts(self) -> pd.DataFrame:
        """One row per alert: ``rule``, ``kpi``, ``measure``, ``severity``, ``direction``,
        ``threshold``, ``day``, ``month``, ``value``."""
        cols = [
            "rule",
            "kpi",
            "measure",
            "severity",
            "direction",
            "threshold",
            "day",
            "month",
            "value",
        ]
        return pd.DataFrame(self._alerts, columns=cols)

    def alert_list(self) -> list[dict]:
        """The alerts as JSON-ready dicts, in the order they fired."""
        return [dict(a) for a in self._alerts]

    def summary(self) -> dict:
        """For ``summary.json``: the set's name, the alerts, and the distinct KPIs and rules
        that fired."""
        return {
            "monitoring": self.monitoring.name,
            "alerts": self.alert_list(),
            "kpis_fired": sorted({a["kpi"] for a in self._alerts}),
            "rules_fired": sorted({a["rule"] for a in self._alerts}),
        }

    def kpis(self, window: int = 30) -> pd.DataFrame:
        """Every catalogue KPI day by day (``window`` for the window KPIs; month-end roll
        rates on complete month ends only), the early-warning counts among them."""
        days = np.arange(self.days if self.record is not None else 0)
        out = {"day": days}
        for kpi in KPI_CATALOGUE:
            out[kpi] = np.array([self.value(kpi, int(d), window)[0] for d in days], float)
        return pd.DataFrame(out)

    def concentration_limits(self) -> ConcentrationLimits:
        """The file's concentration limits, for :meth:`sim.risk.RiskObserver.concentration`."""
        c = self.monitoring.concentration
        return ConcentrationLimits(share=dict(c.share), hhi=dict(c.hhi))
