"""A behaviour score: the lender's estimate, from what it can observe, that a delinquent
account will not cure.

The score is a logistic scorecard over observable features only (never the simulator's latent
traits): days past due, a recent partial payment, broken promises, debt-to-income and its
rise, credit standing, repayment capacity, a visible hardship indicator, a past restructuring.
It returns ``risk`` in [0, 1] (higher = less likely to pay) and a conventional ``score``
``= round(1000 * (1 - risk))`` (higher = better), which rules can band.

:func:`score_auc` measures how well it ranks: score every delinquent account on one day of a
simulated run, follow them 30 days, and compute the AUC of the risk against "not cured".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.actions import (
    EW_DTI_RISING,
    EW_HARDSHIP_SEEN,
    EW_PARTIAL_PAYMENT,
    AccountView,
    ActionRequests,
)
from strategies.base import Strategy


@dataclass(frozen=True)
class Scorecard:
    """Coefficients of the logistic scorecard (log-odds of "not cured in 30 days")."""

    intercept: float = -1.6
    per_dpd: float = 0.045
    partial_payment: float = -0.5
    broken_promise: float = 0.45
    dti: float = 1.2
    dti_rising: float = 0.4
    credit_fair: float = 0.45
    credit_poor: float = 1.0
    capacity_medium: float = 0.3
    capacity_weak: float = 0.7
    hardship_seen: float = 1.0
    restructured: float = 0.5

    def risk(self, view: AccountView) -> np.ndarray:
        """Probability that each account in the view does not cure within 30 days."""
        ew = view.early_warning
        dpd = np.maximum(view.dpd, 0)
        logit = (
            self.intercept
            + self.per_dpd * dpd
            + self.partial_payment * ((ew & EW_PARTIAL_PAYMENT) > 0)
            + self.broken_promise * np.minimum(view.promises_broken, 3)
            + self.dti * np.minimum(view.dti, 2.0)
            + self.dti_rising * ((ew & EW_DTI_RISING) > 0)
            + self.credit_fair * (view.credit == 1)
            + self.credit_poor * (view.credit == 2)
            + self.capacity_medium * (view.capacity == 1)
            + self.capacity_weak * (view.capacity == 2)
            + self.hardship_seen * ((ew & EW_HARDSHIP_SEEN) > 0)
            + self.restructured * view.restructured
        )
        return 1.0 / (1.0 + np.exp(-logit))

    def score(self, view: AccountView) -> np.ndarray:
        """``1000 * (1 - risk)``, rounded: the familiar higher-is-better form."""
        return np.round(1000.0 * (1.0 - self.risk(view)))


DEFAULT_SCORECARD = Scorecard()


class _ScoreRecorder(Strategy):
    """Wraps a strategy; on one day records the risk of every delinquent account in view."""

    def __init__(self, inner: Strategy, day: int, card: Scorecard):
        self.inner, self.day, self.card = inner, day, card
        self.name = inner.name
        self.pre_due_days = inner.pre_due_days
        self.accounts = np.empty(0, np.int64)
        self.risk = np.empty(0)

    def decide(self, view: AccountView) -> ActionRequests:
        if view.day == self.day:
            live = view.dpd > 0
            self.accounts = view.account[live]
            self.risk = self.card.risk(view)[live]
        return self.inner.decide(view)

    def recovery_path(self, view):
        return self.inner.recovery_path(view)


def auc(scores: np.ndarray, bad: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for the ``bad`` class (Mann-Whitney form)."""
    bad = np.asarray(bad, bool)
    n1, n0 = int(bad.sum()), int((~bad).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    from scipy.stats import rankdata  # scipy.stats costs ~1 s to import: only when ranking

    ranks = rankdata(scores)
    return float((ranks[bad].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def score_auc(
    scenario,
    strategy: Strategy,
    day: int = 60,
    horizon: int = 30,
    seed=None,
    card: Scorecard = DEFAULT_SCORECARD,
) -> dict:
    """AUC of the scorecard against simulated outcomes.

    Every account delinquent on ``day`` is scored; it is "bad" when it is still delinquent or
    charged off ``horizon`` days later.
    """
    from sim.engine import simulate
    from sim.portfolio import Status

    rec = _ScoreRecorder(strategy, day, card)
    sc = scenario.with_overrides(days=day + horizon + 1)
    result = simulate(sc, rec, seed, keep_portfolio=True)
    p = result.portfolio
    bad = (p.missed[rec.accounts] > 0) | (p.status[rec.accounts] == Status.CHARGED_OFF)
    return {
        "auc": auc(rec.risk, bad),
        "accounts_scored": int(rec.accounts.size),
        "bad_rate": float(bad.mean()) if bad.size else float("nan"),
        "day": day,
        "horizon_days": horizon,
    }
