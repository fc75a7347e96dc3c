"""The ledger's compiled passes: instalments falling due, the payment waterfall, closures,
settlements, charge-offs and hardship plans (``sim.ledger`` states the rules)."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.constants import CENT, Status
from sim.jit import ACCOUNT_HELPER as _ACCOUNT_HELPER
from sim.jit import AHEAD as _AHEAD
from sim.jit import JIT as _JIT
from sim.jit import maximum as _maximum
from sim.jit import minimum as _minimum
from sim.jit import prefetch

#: The arrays an instalment falling due reads and writes, in the order kernels take them.
LOAN_ARRAYS = (
    "method",
    "sched_balance",
    "rate_m",
    "remaining",
    "level_payment",
    "level_principal",
    "arrears_interest",
    "arrears_principal",
    "last_instalment",
    "last_due_day",
    "missed",
)

_OPEN = int(Status.OPEN)
_PAID_OFF = int(Status.PAID_OFF)
_CHARGED_OFF = int(Status.CHARGED_OFF)


@njit(**_ACCOUNT_HELPER)
def fall_due_one(i, day, loan):
    """Account ``i``'s next instalment moves into arrears; returns (interest, principal).
    ``loan`` holds the arrays ``LOAN_ARRAYS`` (``sim.ledger.loan_arrays``)."""
    (
        method,
        sched_balance,
        rate_m,
        remaining,
        level_payment,
        level_principal,
        arrears_interest,
        arrears_principal,
        last_instalment,
        last_due_day,
        missed,
    ) = loan
    bal = sched_balance[i]
    it = bal * rate_m[i]
    m = method[i]
    if m == 0:
        pr = level_payment[i] - it
    elif m == 1:
        pr = level_principal[i]
    else:
        pr = 0.0
    pr = bal if remaining[i] <= 1 else _minimum(pr, bal)
    pr = _maximum(pr, 0.0)
    sched_balance[i] = bal - pr
    remaining[i] -= 1
    arrears_interest[i] += it
    arrears_principal[i] += pr
    inst = it + pr
    last_instalment[i] = inst
    last_due_day[i] = day
    if inst > CENT:  # a zero instalment is no debt
        missed[i] += 1
    return it, pr


@njit(**_JIT)
def fall_due(idx, day, loan):
    """The next instalment of each account moves into arrears (see ``sim.ledger.fall_due``).

    The split follows ``sim.loans.instalment_split``: interest on the scheduled balance, the
    principal of the method (annuity 0, equal principal 1, interest only 2), the last
    instalment clearing the balance.

    Returns
    -------
    interest, principal : ndarray
        The parts that fell due, aligned with ``idx``.
    """
    n = idx.size
    interest = np.empty(n)
    principal = np.empty(n)
    for k in range(n):
        interest[k], principal[k] = fall_due_one(idx[k], day, loan)
    return interest, principal


@njit(**_ACCOUNT_HELPER)
def pay_one(
    i, amt, fees_due, arrears_interest, arrears_principal, principal_repaid, missed, last_instalment
):
    """Apply a payment of ``amt`` to account ``i``.

    Returns (cash booked, principal, cured, dust): ``dust`` is the principal residue (below a
    cent) a cure moves into ``principal_repaid`` besides the payment; the engine books it so that
    its running outstanding balance stays the book's.
    """
    to_fees = _minimum(amt, fees_due[i])
    rest = amt - to_fees
    to_int = _minimum(rest, arrears_interest[i])
    rest = rest - to_int
    to_prin = _minimum(rest, arrears_principal[i])
    excess = rest - to_prin
    fees_due[i] -= to_fees
    arrears_interest[i] -= to_int
    arrears_principal[i] -= to_prin
    principal_repaid[i] += to_prin
    overdue = arrears_interest[i] + arrears_principal[i]
    if overdue > CENT:
        still = _maximum(np.ceil(overdue / last_instalment[i] - 1e-9), 1.0)
    else:
        still = 0.0
    missed[i] = np.int16(_minimum(np.float64(missed[i]), still))
    dust = 0.0
    if still == 0.0:  # clear dust so a cured account owes exactly nothing overdue
        dust = arrears_principal[i]
        principal_repaid[i] += dust
        arrears_principal[i] = 0.0
        arrears_interest[i] = 0.0
        if fees_due[i] <= CENT:
            fees_due[i] = 0.0
    return amt - excess, to_prin, still == 0.0, dust


@njit(**_JIT)
def pay(
    idx,
    amount,
    fees_due,
    arrears_interest,
    arrears_principal,
    principal_repaid,
    missed,
    last_instalment,
):
    """Apply payments through the waterfall fees -> interest -> principal.

    An instalment counts as paid when what is overdue falls below it (``missed`` becomes
    ``ceil(overdue / last instalment)``, never more than before); a cured account's rounding
    dust is cleared (moved into ``principal_repaid``).

    Returns
    -------
    cash : ndarray
        Booked cash (excess over what was owed is returned, not booked).
    principal : ndarray
        Principal repaid.
    cured : ndarray of bool
        The account has no arrears left.
    residue : float
        Principal dust moved into ``principal_repaid`` by cures, in total (not cash).
    """
    n = idx.size
    cash = np.empty(n)
    principal = np.empty(n)
    cured = np.empty(n, np.bool_)
    residue = 0.0
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(fees_due, idx[k + _AHEAD])
        cash[k], principal[k], cured[k], dust = pay_one(
            idx[k],
            amount[k],
            fees_due,
            arrears_interest,
            arrears_principal,
            principal_repaid,
            missed,
            last_instalment,
        )
        residue += dust
    return cash, principal, cured, residue


@njit(**_ACCOUNT_HELPER)
def reage_one(i, loan):
    """Re-age account ``i`` (:mod:`sim.borrower.reageing`; its fees and interest in arrears
    paid): the principal in arrears is added to the scheduled balance and the instalment
    recomputed over the instalments left at the loan's rate (annuity: the level payment;
    equal principal: the balance over the instalments left; interest only: unchanged). It owes
    nothing overdue then; the principal identity is unchanged (arrears move to the balance).
    ``loan`` holds the arrays ``LOAN_ARRAYS``; the account must have an instalment left."""
    method, sched_balance, rate_m, remaining, level_payment, level_principal = loan[:6]
    arrears_interest, arrears_principal, _, _, missed = loan[6:]
    sched_balance[i] += arrears_principal[i]
    arrears_principal[i] = 0.0
    arrears_interest[i] = 0.0  # paid before the re-ageing: at most rounding dust is left
    missed[i] = 0
    periods = np.float64(_maximum(np.int64(remaining[i]), 1))
    bal = sched_balance[i]
    if method[i] == 0:
        r = rate_m[i]
        if r > 0:
            growth = np.power(1.0 + r, periods)
            level_payment[i] = bal * r * growth / (growth - 1.0)
        else:
            level_payment[i] = bal / periods
    elif method[i] == 1:
        level_principal[i] = bal / periods


@njit(**_JIT)
def reage_loans(idx, loan):
    """:func:`reage_one` for each account of ``idx``."""
    for k in range(idx.size):
        reage_one(idx[k], loan)


@njit(**_ACCOUNT_HELPER)
def close_one(
    i,
    remaining,
    sched_balance,
    fees_due,
    arrears_interest,
    arrears_principal,
    principal_repaid,
    missed,
    status,
):
    """Close account ``i`` if it is open, owes nothing and has no instalment left.

    Returns (closed, residue): ``residue`` is the principal below a cent moved into
    ``principal_repaid`` (the engine books it; it is not cash).
    """
    if (
        remaining[i] <= 0
        and sched_balance[i] <= CENT
        and fees_due[i] + arrears_interest[i] + arrears_principal[i] <= CENT
        and status[i] == _OPEN
    ):
        # rounding residue of the schedule is treated as repaid, keeping the identity exact
        residue = sched_balance[i] + arrears_principal[i]
        principal_repaid[i] += residue
        sched_balance[i] = 0.0
        arrears_principal[i] = 0.0
        arrears_interest[i] = 0.0
        fees_due[i] = 0.0
        missed[i] = 0
        status[i] = _PAID_OFF
        return True, residue
    return False, 0.0


@njit(**_JIT)
def close_paid_off(
    idx,
    remaining,
    sched_balance,
    fees_due,
    arrears_interest,
    arrears_principal,
    principal_repaid,
    missed,
    status,
):
    """Close the open accounts of ``idx`` that owe nothing and have no instalment left.

    Returns the ids closed (in ``idx`` order) and the principal residue moved into
    ``principal_repaid`` in total (rounding, not cash; the engine books it).
    """
    done = np.empty(idx.size, np.int64)
    m = 0
    n = idx.size
    residue = 0.0
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(remaining, idx[k + _AHEAD])
        i = idx[k]
        closed, rest = close_one(
            i,
            remaining,
            sched_balance,
            fees_due,
            arrears_interest,
            arrears_principal,
            principal_repaid,
            missed,
            status,
        )
        if closed:
            done[m] = i
            m += 1
            residue += rest
    return done[:m], residue


@njit(**_ACCOUNT_HELPER)
def settle_one(i, sched_balance, remaining, principal_repaid):
    """Account ``i`` pays the principal not yet due and has no instalment left; returns it."""
    amount = sched_balance[i]
    principal_repaid[i] += amount
    sched_balance[i] = 0.0
    remaining[i] = 0
    return amount


@njit(**_JIT)
def settle_loans(idx, sched_balance, remaining, principal_repaid):
    """Settlement or prepayment: each account of ``idx`` pays its principal not yet due.

    What is overdue is paid separately (through :func:`pay`); an account that then owes nothing
    is closed by :func:`close_paid_off`. Returns the principal paid, aligned with ``idx``.
    """
    n = idx.size
    out = np.empty(n)
    for k in range(n):
        out[k] = settle_one(idx[k], sched_balance, remaining, principal_repaid)
    return out


@njit(**_JIT)
def charge_off_loans(
    idx,
    never,
    sched_balance,
    arrears_principal,
    arrears_interest,
    fees_due,
    principal_charged_off,
    status,
    promise_day,
):
    """Charge off ``idx`` (see ``sim.ledger.charge_off``); returns (principal, claim)."""
    n = idx.size
    principal = np.empty(n)
    claim = np.empty(n)
    for k in range(n):
        i = idx[k]
        pr = sched_balance[i] + arrears_principal[i]
        principal[k] = pr
        claim[k] = pr + arrears_interest[i] + fees_due[i]
        principal_charged_off[i] += pr
        sched_balance[i] = 0.0
        arrears_principal[i] = 0.0
        arrears_interest[i] = 0.0
        fees_due[i] = 0.0
        status[i] = _CHARGED_OFF
        promise_day[i] = never
    return principal, claim


@njit(**_JIT)
def restructure_loans(
    idx,
    extension_months,
    sched_balance,
    rate_m,
    remaining,
    level_payment,
    method,
    arrears_interest,
    arrears_principal,
    fees_due,
    missed,
    restructured,
):
    """Hardship plans for ``idx`` (see ``sim.ledger.restructure``): principal in arrears is
    capitalised, interest and fees in arrears waived, the term extended by
    ``extension_months`` (at least one instalment left) and the loan re-amortised as an
    annuity (``sim.loans.annuity_payment``). Returns the amounts waived, aligned with ``idx``.
    """
    n = idx.size
    waived = np.empty(n)
    for k in range(n):
        i = idx[k]
        waived[k] = arrears_interest[i] + fees_due[i]
        sched_balance[i] += arrears_principal[i]
        arrears_principal[i] = 0.0
        arrears_interest[i] = 0.0
        fees_due[i] = 0.0
        missed[i] = 0
        rem = max(max(np.int64(remaining[i]), 0) + extension_months, 1)
        remaining[i] = rem
        method[i] = 0  # annuity
        p = sched_balance[i]
        r = rate_m[i]
        periods = np.float64(rem)
        if r > 0:
            growth = np.power(1.0 + r, periods)
            level_payment[i] = p * r * growth / (growth - 1.0)
        else:
            level_payment[i] = p / _maximum(periods, 1.0)
        restructured[i] = True
    return waived
