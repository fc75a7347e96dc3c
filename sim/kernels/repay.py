"""Repayment: who pays today among the delinquent accounts and how much (the rules of
:mod:`sim.borrower.promises` and :mod:`sim.borrower.repayment`), and the payments applied."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.borrower import promises as promise_rules
from sim.borrower import repayment as repayment_rules
from sim.borrower import response as response_rules
from sim.borrower.params import behaviour_values, day_offsets
from sim.constants import NEVER, Status
from sim.jit import AHEAD as _AHEAD
from sim.jit import JIT as _JIT
from sim.jit import minimum as _minimum
from sim.jit import numpy_sum, prefetch
from sim.kernels.ledger import close_paid_off, pay, settle_loans

_OPEN = int(Status.OPEN)
_PAID_OFF = int(Status.PAID_OFF)
_CHARGED_OFF = int(Status.CHARGED_OFF)


@njit(**_JIT)
def excite(idx, jump, day, prm, tables, excitation, excitation_day):
    """Decay the excitation of ``idx`` to today and add ``jump`` (aligned with ``idx``)."""
    prm = behaviour_values(prm)  # a private copy (see behaviour_values)
    for k in range(idx.size):
        i = idx[k]
        excitation[i] = repayment_rules.excite(
            prm, tables, excitation[i], excitation_day[i], day, jump[k]
        )
        excitation_day[i] = day


@njit(**_JIT)
def repayment_draws(idx, dpd, day, key, prm, tables, book):
    """Who pays today among the delinquent accounts ``idx`` (``dpd`` aligned), and how much.

    ``book`` holds ``(missed, promise_day, promise_amount, promises_broken, hardship,
    willingness, excitation, excitation_day, fees_due, arrears_interest, arrears_principal,
    last_instalment, last_partial_day)``. Promises falling due today are kept or broken
    (:func:`sim.borrower.response.keeps_promise`, weaker with DPD): a kept one pays up to the
    promised amount, a broken one scales the excitation down. An account that rests after a
    partial payment (:func:`sim.borrower.repayment.rests`) or waits for its pending promise
    (:func:`sim.borrower.response.waits_for_promise`) pays nothing more; every other account
    pays or not by :func:`sim.borrower.repayment.repayment`.

    Returns
    -------
    payers : ndarray of int64
        Kept promises first, then the other payers, each in ``idx`` order.
    amounts : ndarray
    kept, broken : int
        Promises kept and broken today.
    settle : ndarray of bool
        Aligned with ``payers``: the payment also settles the principal not yet due.
    """
    missed, promise_day, promise_amount, promises_broken, hardship, willingness = book[:6]
    excitation, excitation_day, fees_due, arrears_interest, arrears_principal = book[6:11]
    last_instalment, last_partial_day = book[11:]
    n = idx.size
    kept_acc = np.empty(n, np.int64)
    kept_amt = np.empty(n)
    pay_acc = np.empty(n, np.int64)
    pay_amt = np.empty(n)
    pay_settle = np.zeros(n, np.bool_)
    n_kept = 0
    n_broken = 0
    n_pay = 0
    off = day_offsets(key, day)
    prm = behaviour_values(prm)  # a private copy (see behaviour_values)
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(missed, idx[k + _AHEAD])
        i = idx[k]
        if missed[i] <= 0:
            continue
        hard = hardship[i]
        if promise_day[i] == day:
            if response_rules.keeps_promise(prm, off, i, hard, willingness[i], dpd[k]):
                owed = fees_due[i] + arrears_interest[i] + arrears_principal[i]
                kept_acc[n_kept] = i
                kept_amt[n_kept] = _minimum(promise_amount[i], owed)
                n_kept += 1
            else:
                promises_broken[i] += 1
                excitation[i] *= promise_rules.BROKEN_EXCITATION_FACTOR
                n_broken += 1
            promise_day[i] = NEVER
            continue
        if repayment_rules.rests(prm, off, i, day, last_partial_day):
            continue
        if response_rules.waits_for_promise(prm, off, i, promise_day[i], day):
            continue
        exc = repayment_rules.excitation_now(prm, tables, excitation[i], excitation_day[i], day)
        owed = fees_due[i] + arrears_interest[i] + arrears_principal[i]
        pays, amount, settles = repayment_rules.repayment(
            prm, tables, off, i, dpd[k], hard, willingness[i], exc, owed, last_instalment
        )
        if not pays:
            continue
        pay_acc[n_pay] = i
        pay_amt[n_pay] = amount
        pay_settle[n_pay] = settles
        n_pay += 1
    payers = np.empty(n_kept + n_pay, np.int64)
    amounts = np.empty(n_kept + n_pay)
    settle = np.zeros(n_kept + n_pay, np.bool_)
    # element loops, not slice assignments: those compile numba's shape-mismatch error path
    for q in range(n_kept):
        payers[q] = kept_acc[q]
        amounts[q] = kept_amt[q]
    for q in range(n_pay):
        payers[n_kept + q] = pay_acc[q]
        amounts[n_kept + q] = pay_amt[q]
        settle[n_kept + q] = pay_settle[q]
    return payers, amounts, n_kept, n_broken, settle


@njit(**_JIT)
def after_payments(
    who, cured, day, prm, tables, last_partial_day, excitation, excitation_day, contacted
):
    """After payments: partial payers are flagged, every payment excites repayment by
    ``payment_excitation`` (:func:`sim.borrower.repayment.excite`).

    Returns
    -------
    cures, self_cures : int
        Cured accounts, and those among them never reached during the episode.
    """
    cures = 0
    self_cures = 0
    n = who.size
    jump = prm[0].payment_excitation
    prm = behaviour_values(prm)  # a private copy (see behaviour_values)
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(excitation, who[k + _AHEAD])
        i = who[k]
        if cured[k]:
            cures += 1
            if not contacted[i]:
                self_cures += 1
        else:
            last_partial_day[i] = day
        excitation[i] = repayment_rules.excite(
            prm, tables, excitation[i], excitation_day[i], day, jump
        )
        excitation_day[i] = day
    return cures, self_cures


@njit(**_JIT)
def pay_and_close(who, amount, settle, day, prm, tables, book):
    """The day's payments applied, in one call: the waterfall (:func:`pay`), settlements of the
    principal not yet due (:func:`settle_loans`, where ``settle``), excitation and cures
    (:func:`after_payments`, ``prm`` and ``tables`` the run's behaviour record and decay
    tables) and closures (:func:`close_paid_off`). ``book`` holds the arrays
    ``(fees_due, arrears_interest, arrears_principal, principal_repaid, missed,
    last_instalment, sched_balance, remaining, status, last_partial_day, excitation,
    excitation_day, episode_contacted)``.

    Returns
    -------
    cash : ndarray
        Cash booked per payer (aligned with ``who``).
    principal : float
        Principal repaid by the payments.
    residue : float
        Principal dust cleared by cures.
    settlers : ndarray of int64
    rest : ndarray
        Principal each settler paid ahead (aligned with ``settlers``).
    rest_total, cash_total : float
    cures, self_cures : int
    closed : int
    closing_residue : float
        Principal dust cleared by closures.

    Totals are summed as ``numpy.sum`` sums the arrays (:func:`numpy_sum`).
    """
    fees, interest, arrears, repaid, missed, last_inst = book[:6]
    sched_balance, remaining, status, last_partial_day, excitation, excitation_day, seen = book[6:]
    cash, principal, cured, residue = pay(
        who, amount, fees, interest, arrears, repaid, missed, last_inst
    )
    settlers = who[settle]
    rest = settle_loans(settlers, sched_balance, remaining, repaid)
    cures, self_cures = after_payments(
        who, cured, day, prm, tables, last_partial_day, excitation, excitation_day, seen
    )
    done, closing_residue = close_paid_off(
        who, remaining, sched_balance, fees, interest, arrears, repaid, missed, status
    )
    return (
        cash,
        numpy_sum(principal),
        residue,
        settlers,
        rest,
        numpy_sum(rest),
        numpy_sum(cash),
        cures,
        self_cures,
        done.size,
        closing_residue,
    )
