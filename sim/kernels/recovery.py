"""Post-charge-off recoveries: each placed account's luck (:mod:`sim.borrower.recovery`) and
the booking of the cash it brings, on its day."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.borrower import recovery as recovery_rules
from sim.borrower.params import day_offsets
from sim.constants import Status
from sim.jit import JIT as _JIT
from sim.jit import numpy_sum
from sim.rng import ONCE

_OPEN = int(Status.OPEN)
_PAID_OFF = int(Status.PAID_OFF)
_CHARGED_OFF = int(Status.CHARGED_OFF)


@njit(**_JIT)
def recovery_outcomes(idx, claim, path, table, sale, willingness, key):
    """Recovery luck of charged-off accounts ``idx`` (see ``sim.recovery.RecoveryBook.place``
    and :func:`sim.borrower.recovery.recovery_luck`).

    ``table`` holds the paths' ``(success, success_rate_mean, failure_rate_mean, lag_days_mean,
    fixed_cost, commission, price)`` as rows, a column per path; ``sale`` is the debt sale's
    path code. Draws are once per account (day ``ONCE``).

    Returns
    -------
    ok : ndarray of bool
    rate, cash, fixed, commission : ndarray of float64
    lag : ndarray of int64
    """
    n = idx.size
    ok = np.empty(n, np.bool_)
    rate = np.empty(n)
    cash = np.empty(n)
    fixed = np.empty(n)
    commission = np.empty(n)
    lag = np.empty(n, np.int64)
    once = day_offsets(key, np.int64(ONCE))
    for k in range(n):
        i = idx[k]
        c = path[k]
        ok[k], rate[k], lag[k] = recovery_rules.recovery_luck(
            once, i, willingness[i], table, c, sale
        )
        cash[k] = claim[k] * rate[k]
        fixed[k] = table[4, c]
        commission[k] = table[5, c]
    return ok, rate, cash, fixed, commission, lag


@njit(**_JIT)
def book_recoveries(day, cash, fixed, commission, lag, cash_due, commission_due):
    """Book the recoveries of accounts placed today: cash arriving later goes to ``cash_due``
    (and its agency commission to ``commission_due``) on its day, or beyond the horizon.

    Returns
    -------
    cash_today, cost_today, beyond_horizon : float
        Cash arriving today (debt sales); fixed costs plus the commission on today's cash;
        cash arriving after the last day.
    """
    n = cash.size
    horizon = cash_due.size
    now = np.empty(n)
    fee = np.empty(n)
    far = np.empty(n)
    n_now = 0
    n_far = 0
    arriving = np.zeros(horizon)
    arriving_fee = np.zeros(horizon)
    for k in range(n):
        when = day + lag[k]
        if when <= day:
            now[n_now] = cash[k]
            fee[n_now] = cash[k] * commission[k]
            n_now += 1
        elif when < horizon:
            arriving[when] += cash[k]
            arriving_fee[when] += cash[k] * commission[k]
        else:
            far[n_far] = cash[k]
            n_far += 1
    for d in range(horizon):
        cash_due[d] += arriving[d]
        commission_due[d] += arriving_fee[d]
    cash_today = numpy_sum(now[:n_now])
    cost_today = numpy_sum(fixed) + numpy_sum(fee[:n_now])
    return cash_today, cost_today, numpy_sum(far[:n_far])
