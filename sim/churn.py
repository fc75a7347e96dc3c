"""Churn with consequences: a customer who churns leaves.

Churn is drawn in the contact step (:func:`sim.borrower.irritation.churns`); this module does
what follows, the same way in both engines. A churned customer takes its business elsewhere:

* its lifetime value is lost at once (booked by the engines as ``lifetime_value_lost`` on the
  day it churns);
* once its loan is current (at once for a current account, after a cure for one in arrears)
  it refinances away: it prepays the principal not yet due and the account closes as
  ``paid_off``. The interest margin the loan would have earned over the rest of its schedule is
  lost (``interest_margin_lost``, :func:`sim.value.remaining_margin`); the prepaid principal
  (``prepaid_on_churn``) is the lender's own money coming back early, not income;
* a churned account that was in arrears when it churned and closes after curing is a
  ``closures_after_cure``.

A churned account charged off or closed before it is current leaves nothing more to book.
"""

from __future__ import annotations

import numpy as np

from sim import ledger
from sim.constants import Status
from sim.kpis import DailyRecorder
from sim.portfolio import Portfolio
from sim.value import remaining_margin


class Departures:
    """Churned customers whose loan is still open, waiting to leave once it is current.

    Parameters
    ----------
    funding_rate_annual : float
        The cost of funds (``scenario.economics``): the margin lost is interest less it.
    """

    def __init__(self, funding_rate_annual: float):
        self.funding = float(funding_rate_annual)
        self.pending = np.zeros(0, np.int64)
        self.in_arrears = np.zeros(0, bool)  # in arrears when it churned

    def add(self, p: Portfolio, churners: np.ndarray) -> None:
        """Today's churners (any order) join the queue, with whether they were in arrears."""
        ids = np.asarray(churners, np.int64)
        if not ids.size:
            return
        self.pending = np.concatenate([self.pending, ids])
        self.in_arrears = np.concatenate([self.in_arrears, p.missed[ids] > 0])

    def leave(self, p: Portfolio, rec: DailyRecorder, day: int) -> tuple[np.ndarray, float, float]:
        """Churned accounts that are open and current prepay and close (in id order).

        Books ``churn_departures``, ``closures_after_cure``, ``prepaid_on_churn`` and
        ``interest_margin_lost`` in ``rec``. Returns the accounts closed, the principal they
        prepaid and the rounding residue their closure moved into ``principal_repaid`` (an
        engine keeping a running balance subtracts both).
        """
        none = np.zeros(0, np.int64), 0.0, 0.0
        if not self.pending.size:
            return none
        pending, in_arrears = self.pending, self.in_arrears
        is_open = p.status[pending] == Status.OPEN
        ready = is_open & (p.missed[pending] == 0)
        waiting = is_open & ~ready
        self.pending, self.in_arrears = pending[waiting], in_arrears[waiting]
        if not ready.any():
            return none
        order = np.argsort(pending[ready], kind="stable")
        ids = pending[ready][order]
        after_cure = in_arrears[ready][order]
        margin = remaining_margin(p, ids, self.funding)  # before the schedule is paid off
        fees = p.fees_due[ids]
        if (fees > 0).any():  # fees left after a cure are paid with the prepayment: income
            paid = ledger.pay(p, ids, fees)
            rec.add(day, collected_delinquent=float(np.sum(paid.cash)))
        prepaid = ledger.settle(p, ids)
        done, residue = ledger.close_and_book(p, ids)
        if done.size != ids.size:
            raise ledger.InvariantError("a churned account could not close after prepaying")
        total = float(np.sum(prepaid))
        rec.add(
            day,
            churn_departures=int(ids.size),
            closures_after_cure=int(after_cure.sum()),
            prepaid_on_churn=total,
            interest_margin_lost=float(np.sum(margin)),
        )
        return done, total, float(residue)
