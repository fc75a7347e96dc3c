"""Scans of the book: the delinquent list's evening pass, the stocks by bucket, the book at the
start, buckets of every account, the accounting invariants."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.constants import Status
from sim.jit import ACCOUNT_HELPER as _ACCOUNT_HELPER
from sim.jit import AHEAD as _AHEAD
from sim.jit import JIT as _JIT
from sim.jit import SCAN_AHEAD as _SCAN_AHEAD
from sim.jit import dpd as _dpd
from sim.jit import group_of as _group_of
from sim.jit import maximum as _maximum
from sim.jit import numpy_sum, prefetch

_OPEN = int(Status.OPEN)
_PAID_OFF = int(Status.PAID_OFF)
_CHARGED_OFF = int(Status.CHARGED_OFF)


@njit(**_ACCOUNT_HELPER)
def _stock(i, day, missed, last_due_day, status, sched_balance, arrears_principal, counts, balance):
    st = status[i]
    if st == _CHARGED_OFF:
        b = 5
    elif st == _PAID_OFF:
        b = 6
    else:
        b = min((_dpd(day, np.int32(missed[i]), last_due_day[i]) + 29) // 30, 4)
    counts[b] += 1
    balance[b] += sched_balance[i] + arrears_principal[i]


@njit(**_ACCOUNT_HELPER)
def _evening_part(
    part,
    out,
    m,
    day,
    missed,
    last_due_day,
    status,
    sched_balance,
    arrears_principal,
    counts,
    balance,
):
    n = part.size
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(missed, part[k + _AHEAD])
            prefetch(sched_balance, part[k + _AHEAD])
        i = part[k]
        if missed[i] > 0:
            out[m] = i
            m += 1
            _stock(
                i,
                day,
                missed,
                last_due_day,
                status,
                sched_balance,
                arrears_principal,
                counts,
                balance,
            )
    return m


@njit(**_JIT)
def delinquent_evening(
    carried, new, day, missed, last_due_day, status, sched_balance, arrears_principal
):
    """End of a day: tomorrow's delinquent list and today's delinquent stocks, in one pass.

    The list is ``carried`` then ``new``, each kept in order, less the accounts no longer in
    arrears; the stocks are the list's accounts and outstanding principal per bucket, summed in
    list order (as ``numpy.bincount`` would).

    Returns
    -------
    delinquent : ndarray of int64
    counts : ndarray of int64 (7)
    balance : ndarray of float (7)
    """
    out = np.empty(carried.size + new.size, np.int64)
    counts = np.zeros(7, np.int64)
    balance = np.zeros(7)
    m = _evening_part(
        carried,
        out,
        np.int64(0),  # not a literal: one compiled version for both calls
        day,
        missed,
        last_due_day,
        status,
        sched_balance,
        arrears_principal,
        counts,
        balance,
    )
    m = _evening_part(
        new,
        out,
        m,
        day,
        missed,
        last_due_day,
        status,
        sched_balance,
        arrears_principal,
        counts,
        balance,
    )
    return out[:m], counts, balance


@njit(**_JIT)
def book_at_start(due_day, missed, opening_principal, month_days):
    """What a run needs of a new book, in one scan: the accounts by due day (each day's in id
    order: the stable sort of ``due_day``), the delinquent accounts (in id order) and the
    opening principal (summed as ``numpy.sum`` sums it).

    Returns
    -------
    by_due_day : ndarray of int64
    bounds : ndarray of int64
        Day ``d``'s accounts are ``by_due_day[bounds[d]:bounds[d + 1]]``.
    delinquent : ndarray of int64
    opening : float
    """
    n = missed.size
    bounds = np.zeros(month_days + 1, np.int64)
    n_delinquent = 0
    for i in range(n):
        if i + _SCAN_AHEAD < n:
            prefetch(missed, i + _SCAN_AHEAD)
            prefetch(due_day, i + _SCAN_AHEAD)
        bounds[due_day[i] + 1] += 1
        if missed[i] > 0:
            n_delinquent += 1
    for d in range(month_days):
        bounds[d + 1] += bounds[d]
    by_due_day = np.empty(n, np.int64)
    fill = bounds[:month_days].copy()
    delinquent = np.empty(n_delinquent, np.int64)
    m = 0
    for i in range(n):
        d = due_day[i]
        by_due_day[fill[d]] = i
        fill[d] += 1
        if missed[i] > 0:
            delinquent[m] = i
            m += 1
    return by_due_day, bounds, delinquent, numpy_sum(np.ascontiguousarray(opening_principal))


@njit(**_JIT)
def book_outstanding(sched_balance, arrears_principal):
    """``numpy.sum`` of every account's outstanding principal (``Portfolio.outstanding``)."""
    total = np.empty(sched_balance.size)
    for i in range(total.size):
        total[i] = sched_balance[i] + arrears_principal[i]
    return numpy_sum(total)


@njit(**_JIT)
def buckets(day, missed, last_due_day, status):
    """Bucket code of every account today (``sim.portfolio.bucket_of`` of its DPD and status)."""
    n = missed.size
    out = np.empty(n, np.int8)
    for i in range(n):
        if i + _SCAN_AHEAD < n:  # a record is several cache lines: the hardware does not
            prefetch(missed, i + _SCAN_AHEAD)  # follow such a stride across pages
        st = status[i]
        if st == _CHARGED_OFF:
            out[i] = 5
        elif st == _PAID_OFF:
            out[i] = 6
        else:
            out[i] = min((_dpd(day, np.int32(missed[i]), last_due_day[i]) + 29) // 30, 4)
    return out


@njit(**_JIT)
def invariants_hold(
    day,
    tol,
    opening_principal,
    sched_balance,
    arrears_principal,
    arrears_interest,
    fees_due,
    principal_repaid,
    principal_charged_off,
    missed,
    status,
    last_due_day,
):
    """Whether every account satisfies the book's invariants (``sim.ledger.check_invariants``).

    One pass with the same arithmetic as the vectorised checks, which run (to name what is
    wrong) only when this returns False.
    """
    for i in range(opening_principal.size):
        op = opening_principal[i]
        gap = op - (
            sched_balance[i] + arrears_principal[i] + principal_repaid[i] + principal_charged_off[i]
        )
        if abs(gap) > tol * _maximum(op, 1.0):
            return False
        if (
            sched_balance[i] < -tol
            or arrears_principal[i] < -tol
            or arrears_interest[i] < -tol
            or fees_due[i] < -tol
        ):
            return False
        overdue = arrears_principal[i] + arrears_interest[i]
        m = missed[i]
        if (m > 0) != (overdue > 1e-4):
            return False
        if status[i] != _OPEN and (sched_balance[i] > tol or overdue > tol):
            return False
        if m > 0 and day - last_due_day[i] < 0:  # negative DPD or DPD below the oldest miss
            return False
    return True


@njit(**_JIT)
def group_sizes(account, slots):
    """How many entries share each entry's account (``slots`` is left clean)."""
    n = account.size
    count = np.zeros(n + 1, np.int64)
    first = np.empty(n, np.int64)
    group = np.empty(n, np.int64)
    n_acc = np.int64(0)  # not a literal: _group_of compiles once
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(slots, account[k + _AHEAD])
        i = account[k]
        s, n_acc = _group_of(i, slots, first, n_acc)
        group[k] = s
        count[s] += 1
    out = np.empty(n, np.int64)
    for k in range(n):
        out[k] = count[group[k]]
    for g in range(n_acc):
        slots[first[g]] = 0
    return out
