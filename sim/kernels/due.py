"""Due dates and the morning of delinquent accounts: hardship, the early-warning signal, DTI
drift, paying or missing the instalment (the rules of :mod:`sim.borrower.hardship` and
:mod:`sim.borrower.due_date`, run over today's due and delinquent lists)."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.borrower import due_date as due_rules
from sim.borrower import hardship as hardship_rules
from sim.borrower import payment_shock as shock_rules
from sim.borrower import reageing as reageing_rules
from sim.borrower import response as response_rules
from sim.borrower import write_off as write_off_rules
from sim.borrower.params import behaviour_values, day_offsets
from sim.constants import Status
from sim.jit import ACCOUNT_HELPER as _ACCOUNT_HELPER
from sim.jit import AHEAD as _AHEAD
from sim.jit import JIT as _JIT
from sim.jit import dpd as _dpd
from sim.jit import numpy_sum, prefetch
from sim.kernels.ledger import close_one, fall_due_one, pay_one, reage_one, settle_one

_OPEN = int(Status.OPEN)
_PAID_OFF = int(Status.PAID_OFF)
_CHARGED_OFF = int(Status.CHARGED_OFF)
_WRITE_OFF_AGE = write_off_rules.WRITE_OFF_AGE


@njit(**_ACCOUNT_HELPER)
def _hardship_step(i, day, prm, off, hardship, hardship_day, hazard, cumulative):
    """Advance account ``i``'s hardship state to ``day`` (:func:`sim.borrower.hardship.
    hardship_update`); returns True on a new onset."""
    old = hardship[i]
    new, stamp = hardship_rules.hardship_update(
        prm, off, i, day, old, hardship_day[i], hazard[i], cumulative
    )
    hardship[i] = new
    hardship_day[i] = stamp
    return new and not old


@njit(**_JIT)
def hardship_update(idx, day, prm, key, hardship, hardship_day, hazard, cumulative):
    """Bring the two-state hardship process of ``idx`` up to ``day``
    (:func:`sim.borrower.hardship.hardship_update`).

    Returns
    -------
    onsets : ndarray of bool
        Accounts (aligned with ``idx``) that entered hardship.
    """
    off = day_offsets(key, day)
    onsets = np.zeros(idx.size, np.bool_)
    n = idx.size
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(hardship_day, idx[k + _AHEAD])
        onsets[k] = _hardship_step(
            idx[k], day, prm, off, hardship, hardship_day, hazard, cumulative
        )
    return onsets


@njit(**_JIT)
def delinquent_morning(
    idx,
    day,
    charge_off_dpd,
    prm,
    key,
    missed,
    last_due_day,
    hardship,
    hardship_day,
    hazard,
    cumulative,
):
    """Start of a day for yesterday's delinquent list, in one pass.

    Accounts no longer in arrears drop out; the DPD of the others is computed; those at the
    charge-off DPD are set aside; the hardship state of the rest is brought up to date
    (as :func:`hardship_update`).

    Returns
    -------
    live : ndarray of int64
        Delinquent accounts that stay on the books today, in ``idx`` order.
    dpd : ndarray of int32
        Their DPD.
    charge_off : ndarray of int64
        Accounts reaching the charge-off DPD, in ``idx`` order.
    onsets : int
        New hardship onsets among ``live``.
    """
    n = idx.size
    live = np.empty(n, np.int64)
    dpd = np.empty(n, np.int32)
    co = np.empty(n, np.int64)
    n_live = 0
    n_co = 0
    onsets = 0
    off = day_offsets(key, day)
    prm = behaviour_values(prm)  # a private copy (see behaviour_values)
    for k in range(n):
        if k + _AHEAD < n:
            j = idx[k + _AHEAD]
            prefetch(missed, j)
            prefetch(hardship_day, j)
        i = idx[k]
        m = missed[i]
        if m <= 0:
            continue
        d = _dpd(day, np.int32(m), last_due_day[i])
        if d >= charge_off_dpd:
            co[n_co] = i
            n_co += 1
            continue
        live[n_live] = i
        dpd[n_live] = d
        n_live += 1
        if _hardship_step(i, day, prm, off, hardship, hardship_day, hazard, cumulative):
            onsets += 1
    return live[:n_live], dpd[:n_live], co[:n_co], onsets


@njit(**_JIT)
def hardship_observe(idx, day, hardship, hardship_seen, key):
    """The lender's noisy hardship indicator (:func:`sim.borrower.hardship.hardship_signal`)."""
    off = day_offsets(key, day)
    for k in range(idx.size):
        i = idx[k]
        hardship_seen[i] = hardship_rules.hardship_signal(off, i, hardship[i])


@njit(**_JIT)
def dti_drift(idx, day, hardship, dti, key):
    """Debt-to-income drifts at a due date (:func:`sim.borrower.hardship.dti_factor`)."""
    off = day_offsets(key, day)
    for k in range(idx.size):
        i = idx[k]
        dti[i] *= hardship_rules.dti_factor(off, i, hardship[i])


@njit(**_JIT)
def due_date_work(idx, day, key, prm, cumulative, borrower, loan):
    """A due date for the accounts of ``idx`` (today's due list), in one pass.

    For every open account with instalments left, in this order (the rules of
    :mod:`sim.borrower.hardship` and :mod:`sim.borrower.due_date`): hardship is brought up to
    date, a medical shock may start it, the noisy hardship signal is drawn and DTI drifts; the
    instalment falls due (:func:`fall_due`); a current account pays everything owed unless it
    misses (and may prepay the loan, :func:`settle_loans`) or is written off
    (:mod:`sim.borrower.write_off`: it misses, its DPD dated past any charge-off DPD); a
    delinquent account may pay its fees and the instalment falling due, staying as many
    instalments behind (DPD then dates from this due date), or, two or more behind, with the
    interest in arrears be re-aged (:mod:`sim.borrower.reageing`, :func:`reage_one`); every
    account still in arrears is charged the late fee; a new miss starts an episode without
    contact; payers that owe nothing more are closed. ``prm`` is the
    run's behaviour record (:func:`sim.borrower.params.behaviour_record`); ``borrower`` holds
    the arrays ``(status, hardship, hardship_day, hardship_hazard, hardship_seen, dti,
    willingness, restructured, fees_due, principal_repaid, episode_contacted,
    capacity_payment, last_reminded)``, ``loan`` those
    of ``sim.ledger.loan_arrays``.

    Returns
    -------
    onsets : int
        New hardship onsets.
    cash, principal : float
        Totals of the payments of current accounts, prepaid principal included (summed as
        ``numpy.sum`` sums their arrays, :func:`numpy_sum`).
    missers : ndarray of int64
        Current accounts that missed (new delinquents).
    closed : int
        Accounts paid off.
    residue : float
        Principal dust moved into ``principal_repaid`` by cures and closures (not cash).
    arrears_payers : ndarray of int64
        Delinquent accounts that paid the instalment falling due (in ``idx`` order).
    arrears_cash, arrears_principal_paid : ndarray
        Their payments, aligned with ``arrears_payers``.
    prepaid : int
        Accounts that prepaid.
    """
    (
        status,
        hardship,
        hardship_day,
        hazard,
        hardship_seen,
        dti,
        willingness,
        restructured,
        fees_due,
        principal_repaid,
        episode_contacted,
        capacity_payment,
        last_reminded,
    ) = borrower
    _, sched_balance, _, remaining, level_payment, _, arrears_interest, arrears_principal = loan[:8]
    last_instalment, last_due_day, missed = loan[8:]
    late_fee = prm[0].late_fee
    n = idx.size
    cash = np.empty(n)
    principal = np.empty(n)
    missers = np.empty(n, np.int64)
    dq_acc = np.empty(n, np.int64)
    dq_cash = np.empty(n)
    dq_principal = np.empty(n)
    n_pay = 0
    n_miss = 0
    n_dq = 0
    n_prepaid = 0
    onsets = 0
    closed = 0
    residue = 0.0
    off = day_offsets(key, day)
    prm = behaviour_values(prm)  # a private copy (see behaviour_values)
    for k in range(n):
        if k + _AHEAD < n:
            # four of the record's cache lines are read here (see RECORD_LAYOUT)
            j = idx[k + _AHEAD]
            prefetch(missed, j)
            prefetch(sched_balance, j)
            prefetch(remaining, j)
            prefetch(level_payment, j)
        i = idx[k]
        if status[i] != _OPEN or remaining[i] <= 0:
            continue
        if _hardship_step(i, day, prm, off, hardship, hardship_day, hazard, cumulative):
            onsets += 1
        shocked = hardship_rules.medical_shock(prm, off, i)
        if shocked and not hardship[i]:
            hardship[i] = True
            onsets += 1
        hard = hardship[i]
        hardship_seen[i] = hardship_rules.hardship_signal(off, i, hard)
        dti[i] *= hardship_rules.dti_factor(off, i, hard)
        was_current = missed[i] == 0
        p_miss = due_rules.miss_probability(
            prm, willingness[i], hard, dti[i], restructured[i], shocked
        )
        behind = missed[i]
        fall_due_one(i, day, loan)
        pays = False
        if was_current:
            # the payment shock: this instalment against what the borrower was underwritten for
            p_miss = shock_rules.shocked_miss(prm, p_miss, last_instalment[i], capacity_payment[i])
            # a reminder that reached a forgetful borrower able to pay prevents some misses
            p_miss = response_rules.reminded_miss_probability(
                prm, off, i, p_miss, hard, willingness[i], last_reminded, day
            )
            gone = write_off_rules.written_off(prm, off, i)  # charged off next morning
            if gone:
                last_due_day[i] = day - _WRITE_OFF_AGE
            pays = not gone and due_rules.pays_instalment(off, i, p_miss)
            if pays:
                owed = fees_due[i] + arrears_interest[i] + arrears_principal[i]
                cash[n_pay], principal[n_pay], _, dust = pay_one(
                    i,
                    owed,
                    fees_due,
                    arrears_interest,
                    arrears_principal,
                    principal_repaid,
                    missed,
                    last_instalment,
                )
                residue += dust
                if due_rules.prepays(prm, off, i):
                    rest = settle_one(i, sched_balance, remaining, principal_repaid)
                    cash[n_pay] += rest
                    principal[n_pay] += rest
                    n_prepaid += 1
                n_pay += 1
        elif due_rules.pays_arrears_instalment(prm, off, i, behind):
            # a payment arrangement: fees, interest in arrears and the instalment, re-aged
            reaged = remaining[i] > 0 and reageing_rules.reages(prm, off, i, behind)
            dq_acc[n_dq] = i
            dq_cash[n_dq], dq_principal[n_dq], _, dust = pay_one(
                i,
                fees_due[i] + last_instalment[i] + (arrears_interest[i] if reaged else 0.0),
                fees_due,
                arrears_interest,
                arrears_principal,
                principal_repaid,
                missed,
                last_instalment,
            )
            residue += dust
            n_dq += 1
            if reaged:
                reage_one(i, loan)
            if missed[i] > behind:  # older instalments larger than this one
                missed[i] = behind
        if missed[i] > 0:
            fees_due[i] += late_fee
            if was_current and not pays:
                missers[n_miss] = i
                n_miss += 1
                episode_contacted[i] = False
        if pays:
            done, rest = close_one(
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
            if done:
                closed += 1
                residue += rest
    return (
        onsets,
        numpy_sum(cash[:n_pay]),
        numpy_sum(principal[:n_pay]),
        missers[:n_miss],
        closed,
        residue,
        dq_acc[:n_dq],
        dq_cash[:n_dq],
        dq_principal[:n_dq],
        n_prepaid,
    )
