"""Compiled kernels: the engine's per-account loops over today's active accounts.

The borrower model (:mod:`sim.behaviour`), the ledger (:mod:`sim.ledger`), compliance
(:mod:`sim.compliance`) and the engine's contact step are written here once, as loops over an
index array of account ids, compiled with numba. Each kernel does one domain job and reads and
writes the portfolio's arrays in place, so the day's work touches each active account a few
times instead of building a temporary array per formula term. The modules above call these
kernels; their docstrings state the equations.

Bit-identical by construction
-----------------------------
A kernel evaluates each equation with the same operations in the same order as the vectorised
formula it replaces (IEEE double arithmetic, no fast-math, no fused multiply-add), draws its
luck from :func:`sim.rng.uniform_at` with the same ``(seed, stream, day, counter)``, and keeps
the order of every floating-point sum that reaches a KPI (per-account sums follow the request
order; day totals are left to ``numpy.sum`` over arrays in the original order). Runs are
therefore bit for bit those of the plain numpy engine.

Conventions
-----------
* ``idx`` arrays hold unique account ids (int64) unless a kernel says otherwise.
* ``slots`` is a zeroed int32 work array with one entry per account (:func:`account_slots`);
  kernels that use it to group requests by account leave it zeroed again.
* Kernels are compiled on first use and cached on disk (``cache=True``), so a new process
  loads them in well under a second.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.borrower import contact as contact_rules
from sim.borrower import due_date as due_rules
from sim.borrower import hardship as hardship_rules
from sim.borrower import irritation as irritation_rules
from sim.borrower import promises as promise_rules
from sim.borrower import recovery as recovery_rules
from sim.borrower import repayment as repayment_rules
from sim.borrower import restructuring as restructuring_rules
from sim.borrower.params import day_offsets
from sim.constants import CENT, NEVER, Status
from sim.jit import ACCOUNT_HELPER as _ACCOUNT_HELPER
from sim.jit import AHEAD as _AHEAD
from sim.jit import JIT as _JIT
from sim.jit import SCAN_AHEAD as _SCAN_AHEAD
from sim.jit import account_slots, as_ids, as_values, numpy_sum, prefetch, prefetch2  # noqa: F401
from sim.jit import dpd as _dpd
from sim.jit import group_of as _group_of
from sim.jit import maximum as _maximum
from sim.jit import minimum as _minimum
from sim.rng import ONCE

_OPEN = int(Status.OPEN)
_PAID_OFF = int(Status.PAID_OFF)
_CHARGED_OFF = int(Status.CHARGED_OFF)


# --------------------------------------------------------------------------- behaviour
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
def excite(idx, jump, day, prm, tables, excitation, excitation_day):
    """Decay the excitation of ``idx`` to today and add ``jump`` (aligned with ``idx``)."""
    for k in range(idx.size):
        i = idx[k]
        excitation[i] = repayment_rules.excite(
            prm, tables, excitation[i], excitation_day[i], day, jump[k]
        )
        excitation_day[i] = day


# --------------------------------------------------------------------------- ledger
@njit(**_ACCOUNT_HELPER)
def _fall_due_one(
    i,
    day,
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
):
    """Account ``i``'s next instalment moves into arrears; returns (interest, principal)."""
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
def fall_due(
    idx,
    day,
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
):
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
        interest[k], principal[k] = _fall_due_one(
            idx[k],
            day,
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
        )
    return interest, principal


@njit(**_ACCOUNT_HELPER)
def _pay_one(
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
        cash[k], principal[k], cured[k], dust = _pay_one(
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
def _close_one(
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
        closed, rest = _close_one(
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
def _settle_one(i, sched_balance, remaining, principal_repaid):
    """Account ``i`` pays the principal not yet due and has no instalment left; returns it."""
    amount = sched_balance[i]
    principal_repaid[i] += amount
    sched_balance[i] = 0.0
    remaining[i] = 0
    return amount


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
    once = day_offsets(key, ONCE)
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
def restructuring_take_up(acc, day, key, prm, hardship, missed):
    """The accounts of ``acc`` (offered a restructuring today) that take it up
    (:func:`sim.borrower.restructuring.takes_up`). Returns their ids in ``acc`` order."""
    off = day_offsets(key, day)
    out = np.empty(acc.size, np.int64)
    m = 0
    for k in range(acc.size):
        i = acc[k]
        if restructuring_rules.takes_up(prm, off, i, hardship[i], missed[i]):
            out[m] = i
            m += 1
    return out[:m]


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


@njit(**_JIT)
def settle_loans(idx, sched_balance, remaining, principal_repaid):
    """Settlement or prepayment: each account of ``idx`` pays its principal not yet due.

    What is overdue is paid separately (through :func:`pay`); an account that then owes nothing
    is closed by :func:`close_paid_off`. Returns the principal paid, aligned with ``idx``.
    """
    n = idx.size
    out = np.empty(n)
    for k in range(n):
        out[k] = _settle_one(idx[k], sched_balance, remaining, principal_repaid)
    return out


@njit(**_JIT)
def due_date_work(
    idx,
    day,
    key,
    prm,
    cumulative,
    status,
    remaining,
    hardship,
    hardship_day,
    hazard,
    hardship_seen,
    dti,
    willingness,
    restructured,
    method,
    sched_balance,
    rate_m,
    level_payment,
    level_principal,
    arrears_interest,
    arrears_principal,
    last_instalment,
    last_due_day,
    missed,
    fees_due,
    principal_repaid,
    episode_contacted,
):
    """A due date for the accounts of ``idx`` (today's due list), in one pass.

    For every open account with instalments left, in this order (the rules of
    :mod:`sim.borrower.hardship` and :mod:`sim.borrower.due_date`): hardship is brought up to
    date, a medical shock may start it, the noisy hardship signal is drawn and DTI drifts; the
    instalment falls due (:func:`fall_due`); a current account pays everything owed unless it
    misses (and may prepay the loan, :func:`settle_loans`); a delinquent account may pay its
    fees and the instalment falling due, staying as many instalments behind (DPD then dates
    from this due date); every account still in arrears is charged the late fee; a new miss
    starts an episode without contact; payers that owe nothing more are closed. ``prm`` is the
    run's behaviour record (:func:`sim.borrower.params.behaviour_record`).

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
        _fall_due_one(
            i,
            day,
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
        )
        pays = False
        if was_current:
            pays = due_rules.pays_instalment(off, i, p_miss)
            if pays:
                owed = fees_due[i] + arrears_interest[i] + arrears_principal[i]
                cash[n_pay], principal[n_pay], _, dust = _pay_one(
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
                    rest = _settle_one(i, sched_balance, remaining, principal_repaid)
                    cash[n_pay] += rest
                    principal[n_pay] += rest
                    n_prepaid += 1
                n_pay += 1
        elif due_rules.pays_arrears_instalment(prm, off, i, behind):
            dq_acc[n_dq] = i
            dq_cash[n_dq], dq_principal[n_dq], _, dust = _pay_one(
                i,
                fees_due[i] + last_instalment[i],
                fees_due,
                arrears_interest,
                arrears_principal,
                principal_repaid,
                missed,
                last_instalment,
            )
            residue += dust
            n_dq += 1
            if missed[i] > behind:  # older instalments larger than this one
                missed[i] = behind
        if missed[i] > 0:
            fees_due[i] += late_fee
            if was_current and not pays:
                missers[n_miss] = i
                n_miss += 1
                episode_contacted[i] = False
        if pays:
            done, rest = _close_one(
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


@njit(**_JIT)
def take_up_offers(
    offers,
    day,
    key,
    prm,
    hardship,
    missed,
    promise_day,
    episode_contacted,
    loan,
):
    """Restructuring offers made today (accounts, possibly repeated) and their take-up, in one
    call: the accounts (in id order) that take the offer up (:func:`restructuring_take_up`)
    are re-amortised (:func:`restructure_loans`, ``loan`` its ten arrays from
    ``sched_balance`` to ``restructured``) and their pending promise dropped.

    Returns
    -------
    restructured : int
    waived : float
        Interest and fees waived (summed as ``numpy.sum`` sums them).
    self_cures : int
        Restructured accounts never reached during the episode (a cure without contact).
    """
    yes = restructuring_take_up(np.unique(offers), day, key, prm, hardship, missed)
    if yes.size == 0:
        return 0, 0.0, 0
    waived = restructure_loans(yes, np.int64(prm[0].extension_months), *loan)
    self_cures = 0
    for i in yes:
        promise_day[i] = NEVER
        if not episode_contacted[i]:
            self_cures += 1
    return yes.size, numpy_sum(waived), self_cures


# --------------------------------------------------------------------------- compliance
@njit(**_JIT)
def static_checks(
    account,
    channel,
    hour_start,
    hour_end,
    start,
    end,
    third_party_allowed,
    third_party,
    quiet_days,
    is_call,
    last_conversation,
    day,
):
    """The compliance checks that need no other attempt of the day, in one pass.

    An attempt is dropped, in this order, when its hours miss the window ``[start, end)``, when
    its channel is a third-party one and those are not allowed, or when it is a call within
    ``quiet_days`` (``< 0``: no quiet period) after an earlier day's conversation.

    Returns
    -------
    keep : ndarray of bool
    dropped : ndarray of int64
        Counts by reason: hours, third party, quiet period.
    """
    n = account.size
    keep = np.ones(n, np.bool_)
    dropped = np.zeros(3, np.int64)
    for k in range(n):
        if quiet_days >= 0 and k + _AHEAD < n:
            prefetch(last_conversation, account[k + _AHEAD])
        c = channel[k]
        if max(hour_start[k], start) >= min(hour_end[k], end):
            keep[k] = False
            dropped[0] += 1
        elif not third_party_allowed and third_party[c]:
            keep[k] = False
            dropped[1] += 1
        elif quiet_days >= 0 and is_call[c]:
            since = day - last_conversation[account[k]]
            if since >= 1 and since <= quiet_days:
                keep[k] = False
                dropped[2] += 1
    return keep, dropped


@njit(**_JIT)
def calls_in_window(account, call_ring, since):
    """Call attempts on each account's ring made after day ``since`` (the 7-day window)."""
    n = account.size
    out = np.empty(n, np.int64)
    for k in range(n):
        if k + _AHEAD < n:
            prefetch2(call_ring, account[k + _AHEAD], 0)
        i = account[k]
        c = 0
        for q in range(call_ring.shape[1]):
            if call_ring[i, q] > since:
                c += 1
        out[k] = c
    return out


@njit(**_JIT)
def gather(values, account):
    """``values[account]`` for a scattered book: the accounts' rows are prefetched ahead."""
    n = account.size
    out = np.empty(n, values.dtype)
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(values, account[k + _AHEAD])
        out[k] = values[account[k]]
    return out


@njit(**_JIT)
def record_call_attempts(account, day, call_ring, call_ring_pos, cap, slots):
    """Write call attempts into each account's ring of recent attempt days.

    ``account`` may repeat: the ``r``-th attempt of the day on an account lands ``r`` slots
    after the ring position. With ``cap >= 0``, returns the number of accounts with an attempt
    made while the calls of the last 7 days (the ring, today's earlier attempts included)
    already reached the cap, checked before each write; with ``cap < 0`` returns 0.
    """
    n = account.size
    ring = call_ring.shape[1]
    first = np.empty(n, np.int64)
    today = np.zeros(n, np.int64)
    over = np.zeros(n, np.bool_)
    n_acc = 0
    for k in range(n):
        if k + _AHEAD < n:
            j = account[k + _AHEAD]
            prefetch(slots, j)
            prefetch2(call_ring, j, 0)
            prefetch(call_ring_pos, j)
        i = account[k]
        s, n_acc = _group_of(i, slots, first, n_acc)
        r = today[s - 1]
        if cap >= 0:
            in_window = 0
            for q in range(ring):
                if call_ring[i, q] > day - 7:
                    in_window += 1
            if in_window >= cap:
                over[s - 1] = True
        call_ring[i, (np.int64(call_ring_pos[i]) + r) % ring] = day
        today[s - 1] = r + 1
    breaches = 0
    for g in range(n_acc):
        i = first[g]
        slots[i] = 0
        call_ring_pos[i] = (np.int64(call_ring_pos[i]) + today[g]) % ring
        if over[g]:
            breaches += 1
    return breaches


# --------------------------------------------------------------------------- contact outcomes
@njit(**_JIT)
def contact_outcomes(
    account, channel, attempt, day, key, prm, tables, chan, restructure_code, book
):
    """Play out the served attempts (in request order): reach, cost, excitation, promises.

    ``chan`` holds the channel records (:func:`sim.borrower.params.channel_records`); ``book``
    the arrays ``(last_contact, reach, missed, last_due_day, missed_reminder,
    episode_contacted, last_conversation, sensitivity, excitation, excitation_day, willingness,
    promise_day, promise_amount, fees_due, arrears_interest, arrears_principal,
    last_instalment, slots)``. The rules are :mod:`sim.borrower.contact` and
    :mod:`sim.borrower.promises`:

    * every attempt is stamped in ``last_contact`` and reaches the right party or not
      (:func:`~sim.borrower.contact.right_party_contact`);
    * a pre-due reminder (current account) records whether it missed the borrower;
    * a right-party contact with a delinquent borrower: on channels where promises are made it
      is a conversation (``episode_contacted``, ``last_conversation``); it raises the
      excitation (:func:`~sim.borrower.contact.contact_jump`, summed per account in request
      order, then added to the decayed excitation); it may end in a promise (one per account
      and day).

    Returns
    -------
    attempts, rpc : ndarray of int64, one per channel code
    cost : ndarray of float, one per channel code
        Attempt cost plus contact cost on right-party contacts, summed in request order.
    offers : ndarray of int64
        Delinquent accounts reached by a restructuring offer (may repeat; request order).
    promises : int
        Promises made.
    """
    last_contact, reach, missed, last_due_day, missed_reminder, episode_contacted = book[:6]
    last_conversation, sensitivity, excitation, excitation_day, willingness = book[6:11]
    promise_day, promise_amount, fees_due, arrears_interest, arrears_principal = book[11:16]
    last_instalment, slots = book[16:]
    n_channels = chan.size
    attempts = np.zeros(n_channels, np.int64)
    rpcs = np.zeros(n_channels, np.int64)
    cost = np.zeros(n_channels)
    off = day_offsets(key, day)
    n = account.size
    for k in range(n):
        if k + _AHEAD < n:
            j = account[k + _AHEAD]
            prefetch2(last_contact, channel[k + _AHEAD], j)
            prefetch(missed, j)
            prefetch(sensitivity, j)
            prefetch(slots, j)
        last_contact[channel[k], account[k]] = day
    conv_acc = np.empty(n, np.int64)
    jump = np.zeros(n)
    offers = np.empty(n, np.int64)
    n_conv = 0
    n_offers = 0
    n_promises = 0
    for k in range(n):
        i = account[k]
        c = channel[k]
        ch = chan[c]
        counter = contact_rules.attempt_counter(i, c, attempt[k], n_channels)
        rpc = contact_rules.right_party_contact(off, counter, ch.reach, reach[i, ch.trait])
        attempts[c] += 1
        if rpc:
            rpcs[c] += 1
        cost[c] += ch.cost_attempt + (ch.cost_contact if rpc else 0.0)
        if missed[i] <= 0:
            missed_reminder[i] = not rpc  # pre-due reminder: the last one of the day counts
            continue
        if not rpc:
            continue
        # a right-party contact with a delinquent borrower
        if ch.promise_rate > 0:
            episode_contacted[i] = True
            last_conversation[i] = day
        s, n_conv = _group_of(i, slots, conv_acc, n_conv)
        d = _dpd(day, missed[i], last_due_day[i])
        jump[s - 1] += contact_rules.contact_jump(prm, tables, ch.effect, sensitivity[i], d)
        if promise_rules.promise_made(
            off, counter, ch.promise_rate, willingness[i], promise_day[i], day
        ):
            owed = fees_due[i] + arrears_interest[i] + arrears_principal[i]
            promise_day[i], promise_amount[i] = promise_rules.promise_terms(
                prm, off, i, day, owed, last_instalment[i]
            )
            n_promises += 1
        if c == restructure_code:
            offers[n_offers] = i
            n_offers += 1
    for g in range(n_conv):
        if g + _AHEAD < n_conv:
            prefetch(excitation, conv_acc[g + _AHEAD])
        i = conv_acc[g]
        slots[i] = 0
        excitation[i] = repayment_rules.excite(
            prm, tables, excitation[i], excitation_day[i], day, jump[g]
        )
        excitation_day[i] = day
    return attempts, rpcs, cost, offers[:n_offers], n_promises


@njit(**_JIT)
def irritation_and_churn(account, channel, day, key, prm, tables, chan, book):
    """Irritation, complaints and churn, once per contacted account (:mod:`sim.borrower.
    irritation`): the stock decays to today and grows by each attempt's irritation (summed per
    account in request order); above the borrower's tolerance it drives complaints and churn.
    ``book`` holds ``(irritation, irritation_day, tolerance, complaints, churned, slots)``.

    Returns
    -------
    n_complaints : int
    churners : ndarray of int64
        New churners (unordered).
    """
    irritation, irritation_day, tolerance, complaints, churned, slots = book
    n = account.size
    uniq = np.empty(n, np.int64)
    amount = np.zeros(n)
    n_acc = 0
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(slots, account[k + _AHEAD])
        i = account[k]
        s, n_acc = _group_of(i, slots, uniq, n_acc)
        amount[s - 1] += chan[channel[k]].irritation
    off = day_offsets(key, day)
    churners = np.empty(n_acc, np.int64)
    n_churn = 0
    n_complaints = 0
    for g in range(n_acc):
        if g + _AHEAD < n_acc:
            j = uniq[g + _AHEAD]
            prefetch(irritation, j)
            prefetch(churned, j)
        i = uniq[g]
        slots[i] = 0
        irr = irritation_rules.irritation_now(prm, tables, irritation[i], irritation_day[i], day)
        irr += amount[g]
        irritation[i] = irr
        irritation_day[i] = day
        excess = irritation_rules.excess_irritation(irr, tolerance[i])
        if irritation_rules.complains(prm, off, i, excess):
            complaints[i] += 1
            n_complaints += 1
        if irritation_rules.churns(prm, off, i, excess, churned[i]):
            churned[i] = True
            churners[n_churn] = i
            n_churn += 1
    return n_complaints, churners[:n_churn]


# --------------------------------------------------------------------------- repayment
@njit(**_JIT)
def repayment_draws(idx, dpd, day, key, prm, tables, book):
    """Who pays today among the delinquent accounts ``idx`` (``dpd`` aligned), and how much.

    ``book`` holds ``(missed, promise_day, promise_amount, promises_broken, hardship,
    willingness, excitation, excitation_day, fees_due, arrears_interest, arrears_principal,
    last_instalment, last_partial_day)``. Promises falling due today are kept or broken
    (:func:`sim.borrower.promises.keeps_promise`): a kept one pays up to the promised amount, a
    broken one scales the excitation down. An account that rests after a partial payment
    (:func:`sim.borrower.repayment.rests`) pays nothing more; every other account pays or not
    by :func:`sim.borrower.repayment.repayment`.

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
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(missed, idx[k + _AHEAD])
        i = idx[k]
        if missed[i] <= 0:
            continue
        hard = hardship[i]
        if promise_day[i] == day:
            if promise_rules.keeps_promise(prm, off, i, hard, willingness[i]):
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
        if repayment_rules.rests(prm, off, i, day, last_partial_day[i]):
            continue
        exc = repayment_rules.excitation_now(prm, tables, excitation[i], excitation_day[i], day)
        owed = fees_due[i] + arrears_interest[i] + arrears_principal[i]
        pays, amount, settles = repayment_rules.repayment(
            prm, tables, off, i, dpd[k], hard, willingness[i], exc, owed, last_instalment[i]
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
    payers[:n_kept] = kept_acc[:n_kept]
    amounts[:n_kept] = kept_amt[:n_kept]
    payers[n_kept:] = pay_acc[:n_pay]
    amounts[n_kept:] = pay_amt[:n_pay]
    settle[n_kept:] = pay_settle[:n_pay]
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


# --------------------------------------------------------------------------- stocks
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
        0,
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


# --------------------------------------------------------------------------- whole book
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
    return by_due_day, bounds, delinquent, numpy_sum(opening_principal)


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
    n_acc = 0
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
