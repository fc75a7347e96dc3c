"""Churn with consequences: a customer who churns leaves.

Churn is drawn in the contact step (:func:`sim.borrower.irritation.churns`); this module does
what follows, the same way in both engines. A churned customer takes its business elsewhere:

* its lifetime value is lost at once (booked by the engines as ``lifetime_value_lost`` on the
  day it churns);
* a current account refinances away: it prepays the principal not yet due and the account
  closes as ``paid_off``. The interest margin the loan would have earned over the rest of its
  schedule is lost (``interest_margin_lost``, :func:`sim.value.remaining_margin`); the
  prepaid principal (``prepaid_on_churn``) is the lender's own money coming back early, not
  income;
* an account in arrears leaves the same way once it has cured and stayed current for a month
  (:data:`CURRENT_BEFORE_LEAVING` days; back in arrears, it waits for the next cure): a
  departure is a prepayment of a *current* account, a current -> paid_off move in monthly
  status data, never a delinquent -> paid_off move that no panel shows (a cure stays a cure
  at the month end);
* departures are part of the prepayment the scenario allows, not on top of it (issue 18,
  point 8): churned customers leave at most at the pace of ``behaviour.prepayment_monthly``
  of the open current accounts (an allowance accrued day by day, at most a month's worth;
  the others wait their turn, lowest id first). A book fitted to a panel without
  prepayment (``prepayment_monthly`` 0, the Taiwan card panel, where every account reports
  for all six months) loses its churners' lifetime value but no loan; where the panel shows
  prepayment, the calibration fits ``prepayment_monthly`` with departures simulated;
* a churned account that was in arrears when it churned and closes after curing is a
  ``closures_after_cure``.

A churned account charged off or closed before it leaves leaves nothing more to book.
"""

from __future__ import annotations

import numpy as np

from sim import ledger
from sim.constants import MONTH_DAYS, Status
from sim.kpis import DailyRecorder
from sim.portfolio import Portfolio
from sim.value import remaining_margin

#: Days a cured churner stays current before it leaves: one month, so that every month-end
#: status between its cure and its departure shows it current (month ends are 30 days apart).
CURRENT_BEFORE_LEAVING = MONTH_DAYS
#: ``earliest`` of a pending account in arrears: it has to cure first.
_IN_ARREARS = -1


class Departures:
    """Churned customers whose loan is still open, waiting to leave once current.

    Parameters
    ----------
    funding_rate_annual : float
        The cost of funds (``scenario.economics``): the margin lost is interest less it.
    prepayment_monthly : float
        ``behaviour.prepayment_monthly``: the share of open current accounts that may leave a
        month; departures draw on it.
    """

    def __init__(self, funding_rate_annual: float, prepayment_monthly: float):
        self.funding = float(funding_rate_annual)
        self.prepayment = float(prepayment_monthly)
        self.allowance = 0.0  # departures the prepayment allows and not yet used
        self.pending = np.zeros(0, np.int64)
        self.in_arrears = np.zeros(0, bool)  # in arrears when it churned
        # the first day it may leave if still current; _IN_ARREARS while it has to cure first
        self.earliest = np.zeros(0, np.int64)

    def add(self, p: Portfolio, churners: np.ndarray) -> None:
        """Today's churners (any order) join the queue, with whether they were in arrears."""
        ids = np.asarray(churners, np.int64)
        if not ids.size:
            return
        behind = p.missed[ids] > 0
        self.pending = np.concatenate([self.pending, ids])
        self.in_arrears = np.concatenate([self.in_arrears, behind])
        self.earliest = np.concatenate([self.earliest, np.where(behind, _IN_ARREARS, 0)])

    def leave(self, p: Portfolio, rec: DailyRecorder, day: int) -> tuple[np.ndarray, float, float]:
        """Churned accounts that are open and current prepay and close (in id order); one that
        cured since it churned only after :data:`CURRENT_BEFORE_LEAVING` days current.

        Books ``churn_departures``, ``closures_after_cure``, ``prepaid_on_churn`` and
        ``interest_margin_lost`` in ``rec``. Returns the accounts closed, the principal they
        prepaid and the rounding residue their closure moved into ``principal_repaid`` (an
        engine keeping a running balance subtracts both).
        """
        none = np.zeros(0, np.int64), 0.0, 0.0
        if self.prepayment > 0.0:  # today's share of the month's prepayment, a month at most
            n_current = int(np.count_nonzero((p.status == Status.OPEN) & (p.missed == 0)))
            month = self.prepayment * n_current
            self.allowance = min(self.allowance + month / MONTH_DAYS, month)
        if not self.pending.size:
            return none
        pending, in_arrears, earliest = self.pending, self.in_arrears, self.earliest
        is_open = p.status[pending] == Status.OPEN
        current = p.missed[pending] == 0
        earliest = np.where(current, earliest, _IN_ARREARS)  # (back) in arrears: cure first
        cured = current & (earliest == _IN_ARREARS)  # first seen current since
        earliest = np.where(cured, day + CURRENT_BEFORE_LEAVING, earliest)
        ready = is_open & current & (day >= earliest)
        allowed = int(self.allowance)  # whole departures; the lowest ids go first
        if np.count_nonzero(ready) > allowed:
            ready[ready] = (
                pending[ready] <= np.sort(pending[ready])[allowed - 1] if allowed else False
            )
        self.allowance -= np.count_nonzero(ready)
        waiting = is_open & ~ready
        self.pending, self.in_arrears = pending[waiting], in_arrears[waiting]
        self.earliest = earliest[waiting]
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
