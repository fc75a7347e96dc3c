"""Post-charge-off recovery: internal late stage, agency placement, legal action, debt sale.

At charge-off each account is placed on a path chosen by the strategy. The eventual recovery
rate is drawn from a two-point mixture (a substantial recovery with the path's success chance,
scaled by willingness, else next to nothing), so recovery rates come out bimodal as in real
data. Cash arrives after a random lag (exponential with the path's mean); agency commission is
paid on cash received, legal and internal costs at placement, and a debt sale pays its price
at once.

An account is charged off at most once, so its recovery luck (success, rate, lag, settlement)
is drawn once, keyed by ``(seed, stream, account)`` and not by the charge-off day
(:func:`sim.rng.account_uniforms`): two strategies that charge an account off on different days
give it the same luck (common random numbers across strategies, docs/experiments.md).

Optionally (``behaviour.recovery_settlement``, off by default) a successful recovery settles the
debt when its cash arrives: the account then leaves ``charged_off`` for ``paid_off`` (real
status panels show such moves, e.g. the "C" code after "5" in the monthly status panel). Debt
sales never settle: the debt changes hands.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim import kernels
from sim.actions import RECOVERY_PATHS
from sim.portfolio import Portfolio
from sim.rng import Stream, account_uniforms
from sim.scenario import Scenario

_SALE = RECOVERY_PATHS.index("sale")
#: The parameters of a recovery path that a placement reads, in the order it unpacks them.
_PATH_FIELDS = (
    "success",
    "success_rate_mean",
    "failure_rate_mean",
    "lag_days_mean",
    "fixed_cost",
    "commission",
    "price",
)


@dataclass
class RecoveryBook:
    """Placements and the cash they will bring, by day."""

    horizon: int
    #: cash arriving on each day of the run, and the agency commission it costs
    cash_due: np.ndarray = field(init=False)
    commission_due: np.ndarray = field(init=False)
    rates: list[np.ndarray] = field(default_factory=list)
    paths: list[np.ndarray] = field(default_factory=list)
    lags: list[np.ndarray] = field(default_factory=list)
    beyond_horizon: float = 0.0
    #: the accounts, charge-off days and claims of each placement (for :meth:`ledger`)
    accounts: list[np.ndarray] = field(default_factory=list)
    days: list[np.ndarray] = field(default_factory=list)
    claims: list[np.ndarray] = field(default_factory=list)
    #: day -> accounts whose recovery settles the debt that day (``recovery_settlement``)
    settling: dict[int, list[np.ndarray]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        self.cash_due = np.zeros(self.horizon)
        self.commission_due = np.zeros(self.horizon)

    def place(
        self,
        p: Portfolio,
        idx: np.ndarray,
        claim: np.ndarray,
        path: np.ndarray,
        day: int,
        sc: Scenario,
        key,
        settle: float = 0.0,
    ) -> tuple[float, float]:
        """Place charged-off accounts; returns (cash received today, cost incurred today).

        With ``settle > 0`` a successful recovery on a path other than a debt sale settles the
        debt with that chance (stream ``RECOVERY_SETTLE``) on the day its cash arrives (see
        :meth:`settled`); nothing is drawn when ``settle`` is 0.
        """
        # once-per-account draws, keyed by (seed, stream, account) and not by the charge-off
        # day: an account charged off on different days under two strategies keeps its luck
        ok, rate, cash, fixed, commission, lag = kernels.recovery_outcomes(
            kernels.as_ids(idx),
            np.ascontiguousarray(claim, dtype=np.float64),
            np.ascontiguousarray(path, dtype=np.int64),
            self._path_table(sc),
            _SALE,
            p.willingness,
            np.uint64(key),
        )
        self.rates.append(rate)
        self.accounts.append(np.asarray(idx, np.int64).copy())
        self.days.append(np.full(len(idx), day, np.int64))
        self.claims.append(np.asarray(claim, float).copy())
        self.paths.append(path.astype(np.int8))
        self.lags.append(lag)
        cash_today, cost_today, beyond = kernels.book_recoveries(
            day, cash, fixed, commission, lag, self.cash_due, self.commission_due
        )
        self.beyond_horizon += beyond
        if settle > 0:
            when = day + lag
            settles = (
                ok & (path != _SALE) & (account_uniforms(key, Stream.RECOVERY_SETTLE, idx) < settle)
            )
            settles &= when < self.horizon
            for d in np.unique(when[settles]):
                self.settling[max(int(d), day)].append(idx[settles & (when == d)])
        return cash_today, cost_today

    def _path_table(self, sc: Scenario) -> np.ndarray:
        """The paths' parameters (rows ``_PATH_FIELDS``, a column per path), built once."""
        cached = self.__dict__.get("_paths_of")
        if cached is None or cached[0] is not sc:
            specs = [sc.recovery[name] for name in RECOVERY_PATHS]
            table = np.array([[getattr(s, f) for s in specs] for f in _PATH_FIELDS], float)
            self.__dict__["_paths_of"] = cached = (sc, table)
        return cached[1]

    def collect(self, day: int) -> tuple[float, float]:
        """Cash arriving today and the commission it costs."""
        return float(self.cash_due[day]), float(self.commission_due[day])

    def settled(self, day: int) -> np.ndarray:
        """Accounts whose recovery settles the debt today (``settle`` in :meth:`place`)."""
        items = self.settling.pop(day, [])
        return np.concatenate(items) if items else np.empty(0, np.int64)

    def all_rates(self) -> np.ndarray:
        return np.concatenate(self.rates) if self.rates else np.empty(0)

    def all_lags(self) -> np.ndarray:
        """Days from charge-off to the recovery cash, in order of placement (0: debt sales)."""
        return np.concatenate(self.lags) if self.lags else np.empty(0, np.int64)

    def all_paths(self) -> np.ndarray:
        return np.concatenate(self.paths) if self.paths else np.empty(0, np.int8)

    def ledger(self, sc: Scenario) -> pd.DataFrame:
        """One row per charged-off account, in order of placement: ``account``, ``day``
        (charged off), ``path`` (name), ``claim``, ``rate``, ``cash`` (``claim x rate``),
        ``lag`` (days to the cash), ``arrives`` (day), ``beyond_horizon`` (the cash arrives
        after the last day: its sum is the summary's ``recovery_beyond_horizon``),
        ``fixed_cost`` and ``commission`` (the path's, per account and per unit of cash)."""
        cat = np.concatenate
        if not self.accounts:
            acc, day, claim = np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
            rate, lag, path = np.empty(0), np.empty(0, np.int64), np.empty(0, np.int8)
        else:
            acc, day, claim = cat(self.accounts), cat(self.days), cat(self.claims)
            rate, lag, path = self.all_rates(), self.all_lags(), self.all_paths()
        specs = [sc.recovery[name] for name in RECOVERY_PATHS]
        fixed = np.array([s.fixed_cost for s in specs], float)
        commission = np.array([s.commission for s in specs], float)
        code = path.astype(np.int64)
        arrives = day + lag
        return pd.DataFrame(
            {
                "account": acc,
                "day": day,
                "path": pd.Categorical.from_codes(code, categories=list(RECOVERY_PATHS)),
                "claim": claim,
                "rate": rate,
                "cash": claim * rate,
                "lag": lag,
                "arrives": arrives,
                "beyond_horizon": arrives >= self.horizon,
                "fixed_cost": fixed[code],
                "commission": commission[code],
            }
        )
