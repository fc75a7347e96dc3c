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

import math
import threading

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from sim.population import WILLINGNESS_CENTRE
from sim.portfolio import CENT, MONTH_DAYS, NEVER, Status
from sim.rng import ONCE, Stream, stream_offset, uniform_at

_OPEN = int(Status.OPEN)
_PAID_OFF = int(Status.PAID_OFF)
_CHARGED_OFF = int(Status.CHARGED_OFF)
_W_CENTRE = float(WILLINGNESS_CENTRE)

_HARDSHIP = int(Stream.HARDSHIP)
_EARLY_WARNING = int(Stream.EARLY_WARNING)
_DTI_DRIFT = int(Stream.DTI_DRIFT)
_DUE_PAYMENT = int(Stream.DUE_PAYMENT)
_PREPAYMENT = int(Stream.PREPAYMENT)
_INSTALMENT_PAY = int(Stream.INSTALMENT_PAY)
_SETTLEMENT = int(Stream.SETTLEMENT)
_CATCH_UP = int(Stream.CATCH_UP)
_REST = int(Stream.REST)
_REACH = int(Stream.REACH)
_RECOVERY_SUCCESS = int(Stream.RECOVERY_SUCCESS)
_RESTRUCTURE = int(Stream.RESTRUCTURE)
_RECOVERY_RATE = int(Stream.RECOVERY_RATE)
_RECOVERY_LAG = int(Stream.RECOVERY_LAG)
_ATTEMPT_STRIDE = 1 << 40  # sim.compliance.ATTEMPT_STRIDE
_PROMISE = int(Stream.PROMISE)
_PROMISE_DAY = int(Stream.PROMISE_DAY)
_PROMISE_AMOUNT = int(Stream.PROMISE_AMOUNT)
_PROMISE_KEEP = int(Stream.PROMISE_KEEP)
_REPAY = int(Stream.REPAY)
_REPAY_KIND = int(Stream.REPAY_KIND)
_REPAY_FRACTION = int(Stream.REPAY_FRACTION)
_COMPLAINT = int(Stream.COMPLAINT)
_CHURN = int(Stream.CHURN)

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
#: Helpers that take the portfolio's arrays and work on one account: compiled without
#: reference counting. Inlined (numba's ``inline="always"``) they bind every array argument to
#: a new variable, and each binding costs an atomic increment and decrement of the count of the
#: book's one shared buffer, per account and call: about a tenth of a run at a million
#: accounts. Compiled on their own they borrow the caller's arrays (alive for the whole
#: kernel), and LLVM still inlines them into the loop.
_ACCOUNT_HELPER = {"_nrt": False, "nogil": True, "error_model": "numpy"}
#: How many accounts ahead the loops prefetch (covers a DRAM miss at a few ns per account).
_AHEAD = 12
#: How many accounts ahead a scan of the whole book prefetches.
_SCAN_AHEAD = 32

_local = threading.local()


def as_ids(idx) -> np.ndarray:
    """Account ids as a contiguous int64 array (a boolean mask becomes the ids it selects)."""
    idx = np.asarray(idx)
    if idx.dtype == np.bool_:
        return np.flatnonzero(idx)
    return np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)


def as_values(values, n: int) -> np.ndarray:
    """Per-account values (or one value for all) as a contiguous float64 array of size ``n``."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0:
        return np.full(n, float(values))
    return np.ascontiguousarray(values).reshape(-1)


def account_slots(n: int) -> np.ndarray:
    """A zeroed int32 work array of at least ``n`` entries, reused between calls.

    One per thread; kernels that take ``slots`` leave it zeroed.
    """
    arr = getattr(_local, "slots", None)
    if arr is None or arr.size < n:
        arr = np.zeros(max(n, 1), np.int32)
        _local.slots = arr
    return arr


# --------------------------------------------------------------------------- scalar helpers
@intrinsic
def _prefetch_intrinsic(typingctx, arr, i, j):
    """``llvm.prefetch`` of ``arr[i]`` (1-D; ``j`` ignored) or ``arr[i, j]`` (2-D).

    The address is computed from the array's data pointer and strides; no view is made, so no
    reference count is touched (a row view ``arr[i]`` would cost an atomic increment and
    decrement of the shared buffer's count on every call).
    """
    if (
        not isinstance(arr, types.Array)
        or arr.ndim not in (1, 2)
        or not isinstance(i, types.Integer)
        or not isinstance(j, types.Integer)
    ):
        return None

    def codegen(context, builder, signature, args):
        aryty, ity, jty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        inds = [context.cast(builder, args[1], ity, types.intp)]
        if aryty.ndim == 2:
            inds.append(context.cast(builder, args[2], jty, types.intp))
        ptr = cgutils.get_item_pointer2(
            context,
            builder,
            data=ary.data,
            shape=cgutils.unpack_tuple(builder, ary.shape, aryty.ndim),
            strides=cgutils.unpack_tuple(builder, ary.strides, aryty.ndim),
            layout=aryty.layout,
            inds=inds,
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # read-write prefetch into all cache levels, data cache
        builder.call(
            fn,
            [
                builder.bitcast(ptr, i8p),
                ir.Constant(i32, 1),
                ir.Constant(i32, 3),
                ir.Constant(i32, 1),
            ],
        )
        return context.get_dummy_value()

    return types.void(arr, i, j), codegen


@njit(inline="always")
def prefetch(arr, i):
    """Ask the CPU to start loading ``arr[i]`` (a hint: no effect on any result).

    The day's accounts are scattered over a large book, so each is a cache miss; loops
    prefetch the account a few iterations ahead so that the misses overlap.
    """
    _prefetch_intrinsic(arr, i, 0)


@njit(inline="always")
def prefetch2(arr, i, j):
    """:func:`prefetch` of ``arr[i, j]`` in a 2-D array (without making the row view)."""
    _prefetch_intrinsic(arr, i, j)


@njit(**_ACCOUNT_HELPER)
def _group_of(i, slots, first, n_groups):
    """Account ``i``'s group (numbered from 1 in order of first sight) and the group count.

    ``slots[i]`` holds the group of an account seen before, 0 otherwise; a new account opens a
    group and is listed in ``first`` (so the caller can clear ``slots`` afterwards).
    """
    s = slots[i]
    if s == 0:
        first[n_groups] = i
        n_groups += 1
        s = n_groups
        slots[i] = s
    return s, n_groups


@njit(**_ACCOUNT_HELPER)
def _block_sum(a, lo, n):
    """numpy's sum of a block of at most 128 (``a[lo:lo + n]``): left to right below 8, else
    eight accumulators combined pairwise."""
    if n < 8:
        res = -0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = lo + 8
    stop = lo + n - n % 8
    while i < stop:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += a[i]
        i += 1
    return res


@njit(**_JIT)
def numpy_sum(a):
    """``numpy.sum`` of a contiguous float64 array, to the last bit, so that a kernel can return
    the totals the engine records. numpy sums pairwise: blocks of up to 128, larger ranges split
    in halves (rounded to multiples of 8) and their sums added; the halving runs here on an
    explicit stack (numba does not link recursive helpers compiled without reference
    counting)."""
    lo_at = np.empty(64, np.int64)
    n_at = np.empty(64, np.int64)
    stage = np.empty(64, np.int64)
    left = np.empty(64)
    top = 0
    lo_at[0], n_at[0], stage[0] = 0, a.size, 0
    value = 0.0
    while top >= 0:
        lo, n = lo_at[top], n_at[top]
        if n <= 128:
            value = _block_sum(a, lo, n)
            top -= 1
            continue
        half = n // 2
        half -= half % 8
        if stage[top] == 0:  # the first half next
            stage[top] = 1
            top += 1
            lo_at[top], n_at[top], stage[top] = lo, half, 0
        elif stage[top] == 1:  # the first half's sum is in; the second half next
            left[top] = value
            stage[top] = 2
            top += 1
            lo_at[top], n_at[top], stage[top] = lo + half, n - half, 0
        else:
            value = left[top] + value
            top -= 1
    return 0.0 + value


@njit(inline="always")
def _minimum(a, b):
    """``numpy.minimum`` of two floats (NaN propagates from the first)."""
    return a if (a <= b or a != a) else b


@njit(inline="always")
def _maximum(a, b):
    """``numpy.maximum`` of two floats (NaN propagates from the first)."""
    return a if (a >= b or a != a) else b


@njit(inline="always")
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@njit(inline="always")
def _dpd(day, missed, last_due_day):
    """Days past due: days since the due date of the oldest unpaid instalment."""
    if missed > 0:
        return day - last_due_day + MONTH_DAYS * (missed - 1)
    return 0


@njit(inline="always")
def _excitation_now(excitation, excitation_day, day, table, decay_days):
    """The self-exciting intensity decayed to today: ``excitation * exp(-(day - excitation_day)
    / decay_days)``, the factor from ``table = _decay_table(decay_days)``."""
    if excitation == 0.0:  # most accounts: nothing to decay (and 0 * exp(.) is 0 exactly)
        return excitation
    return excitation * _decay(table, day - excitation_day, decay_days)


#: DPD values whose decay factors the kernels tabulate (beyond: computed as they come).
_DECAY_DAYS = 400


@njit(inline="always")
def _decay_table(scale):
    """``exp(-d / scale)`` for ``d = 0 .. _DECAY_DAYS - 1``, once per call of a kernel; empty
    when ``scale <= 0`` (the factor is off)."""
    if scale <= 0.0:
        return np.empty(0)
    table = np.empty(_DECAY_DAYS)
    for d in range(_DECAY_DAYS):
        table[d] = math.exp(-d / scale)
    return table


@njit(**_ACCOUNT_HELPER)
def _decay(table, d, scale):
    """``exp(-d / scale)``: from the table where it has ``d`` (the very same number)."""
    if 0 <= d < table.size:
        return table[d]
    return math.exp(-d / scale)


# --------------------------------------------------------------------------- behaviour
@njit(**_ACCOUNT_HELPER)
def _hardship_step(i, day, hardship, hardship_day, hazard, cumulative, b, offset):
    """Advance account ``i``'s hardship state to ``day``; returns True on a new onset."""
    t0 = hardship_day[i]
    if day - t0 <= 0:
        return False
    elapsed = np.float64(day - t0)
    integral = cumulative[day] - cumulative[min(max(t0, 0), day)]
    a_total = hazard[i] / 30.0 * integral
    a = a_total / _maximum(elapsed, 1.0)
    pi = a / (a + b)
    h0 = 1.0 if hardship[i] else 0.0
    p1 = pi + (h0 - pi) * math.exp(-(a + b) * elapsed)
    new = uniform_at(offset, i) < p1
    onset = new and not hardship[i]
    hardship[i] = new
    hardship_day[i] = day
    return onset


@njit(**_JIT)
def hardship_update(idx, day, hardship, hardship_day, hazard, cumulative, spell_days, key):
    """Bring the two-state hardship process of ``idx`` up to ``day``.

    Over the ``e`` days since the state was last updated, the onset hazard ``a`` is the
    account's monthly hazard averaged over the macro multiplier (``cumulative`` is its running
    sum) and the recovery hazard is ``b = 1 / spell_days``; the chance of being in hardship now
    is ``pi + (h0 - pi) exp(-(a + b) e)`` with ``pi = a / (a + b)``.

    Returns
    -------
    onsets : ndarray of bool
        Accounts (aligned with ``idx``) that entered hardship.
    """
    offset = stream_offset(key, _HARDSHIP, day)
    onsets = np.zeros(idx.size, np.bool_)
    b = 1.0 / spell_days
    n = idx.size
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(hardship_day, idx[k + _AHEAD])
        onsets[k] = _hardship_step(
            idx[k], day, hardship, hardship_day, hazard, cumulative, b, offset
        )
    return onsets


@njit(**_JIT)
def delinquent_morning(
    idx,
    day,
    charge_off_dpd,
    missed,
    last_due_day,
    hardship,
    hardship_day,
    hazard,
    cumulative,
    spell_days,
    key,
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
    offset = stream_offset(key, _HARDSHIP, day)
    b = 1.0 / spell_days
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
        if _hardship_step(i, day, hardship, hardship_day, hazard, cumulative, b, offset):
            onsets += 1
    return live[:n_live], dpd[:n_live], co[:n_co], onsets


@njit(**_JIT)
def hardship_observe(idx, day, hardship, hardship_seen, key):
    """The lender's noisy hardship indicator: 60 % of true cases, 1 % false alarms."""
    offset = stream_offset(key, _EARLY_WARNING, day)
    for k in range(idx.size):
        i = idx[k]
        u = uniform_at(offset, i)
        hardship_seen[i] = u < 0.6 if hardship[i] else u < 0.01


@njit(**_JIT)
def dti_drift(idx, day, hardship, dti, key):
    """Debt-to-income moves by ``exp(0.04 (u - 0.5) + 0.06 hardship)`` at each due date."""
    offset = stream_offset(key, _DTI_DRIFT, day)
    for k in range(idx.size):
        i = idx[k]
        step = 0.04 * (uniform_at(offset, i) - 0.5) + 0.06 * (1.0 if hardship[i] else 0.0)
        dti[i] *= math.exp(step)


@njit(**_JIT)
def excite(idx, jump, day, excitation, excitation_day, decay_days):
    """Decay the excitation of ``idx`` to today and add ``jump`` (aligned with ``idx``)."""
    table = _decay_table(decay_days)
    for k in range(idx.size):
        i = idx[k]
        excitation[i] = _excitation_now(excitation[i], excitation_day[i], day, table, decay_days)
        excitation[i] += jump[k]
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
    """Recovery luck of charged-off accounts ``idx`` (see ``sim.recovery.RecoveryBook.place``).

    ``table`` holds the paths' ``(success, success_rate_mean, failure_rate_mean, lag_days_mean,
    fixed_cost, commission, price)`` as rows, a column per path; ``sale`` is the debt sale's
    path code. Once-per-account draws (day ``ONCE``): success with chance ``clip(success (0.5 +
    sigmoid(w - 1.5)), 0, 1)``; the rate ``clip(s_mean (0.6 + 0.8 u), 0, 1)`` on success, else
    ``f_mean 2 u``, a sale's rate its price; the lag ``ceil(-log1p(-u) lag_mean)`` days, 0 for
    a sale.

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
    off_success = stream_offset(key, _RECOVERY_SUCCESS, ONCE)
    off_rate = stream_offset(key, _RECOVERY_RATE, ONCE)
    off_lag = stream_offset(key, _RECOVERY_LAG, ONCE)
    for k in range(n):
        i = idx[k]
        c = path[k]
        will = _sigmoid(willingness[i] - _W_CENTRE)
        chance = _minimum(_maximum(table[0, c] * (0.5 + will), 0.0), 1.0)
        ok[k] = uniform_at(off_success, i) < chance
        u = uniform_at(off_rate, i)
        if c == sale:
            rate[k] = table[6, c]
            lag[k] = 0
        else:
            if ok[k]:
                rate[k] = _minimum(_maximum(table[1, c] * (0.6 + 0.8 * u), 0.0), 1.0)
            else:
                rate[k] = table[2, c] * 2.0 * u
            lag[k] = np.int64(math.ceil(-math.log1p(-uniform_at(off_lag, i)) * table[3, c]))
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
def first_matching_path(
    claim, purpose, credit, capacity, balance_min, balance_max, segments, path, default
):
    """The path of the first recovery rule each charged-off claim matches (``default`` when
    none does): rule ``r`` takes claims in ``[balance_min[r], balance_max[r])`` whose purpose,
    credit standing and capacity codes are set in the bit masks ``segments[r, 0..2]``."""
    n = claim.size
    out = np.empty(n, np.int64)
    for k in range(n):
        out[k] = default
        for r in range(path.size):
            if (
                balance_min[r] <= claim[k] < balance_max[r]
                and (segments[r, 0] >> purpose[k]) & 1
                and (segments[r, 1] >> credit[k]) & 1
                and (segments[r, 2] >> capacity[k]) & 1
            ):
                out[k] = path[r]
                break
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
def restructuring_take_up(acc, day, key, take_up, take_up_no_hardship, hardship, missed):
    """The accounts of ``acc`` (offered a restructuring today) that take it up: chance
    ``take_up`` in hardship, else ``take_up_no_hardship`` (stream ``RESTRUCTURE``), among those
    still in arrears. Returns their ids in ``acc`` order."""
    off = stream_offset(key, _RESTRUCTURE, day)
    out = np.empty(acc.size, np.int64)
    m = 0
    for k in range(acc.size):
        i = acc[k]
        chance = take_up if hardship[i] else take_up_no_hardship
        if uniform_at(off, i) < chance and missed[i] > 0:
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
    params,
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

    For every open account with instalments left, in this order: hardship is brought up to
    date (:func:`hardship_update`), the noisy hardship signal is drawn and DTI drifts; the
    chance to miss is ``sigmoid(c0 - c_w (w - 1.5) + c_h hardship + c_dti (dti - 0.35) +
    c_r restructured)`` (``sim.population.miss_logit``); the instalment falls due
    (:func:`fall_due`); a current account pays everything owed unless it misses; every account
    still in arrears is charged the late fee; a new miss starts an episode without contact;
    payers that owe nothing more are closed.

    Two optional moves (off when their parameter is 0; no draw is made then):

    * prepayment: a current account that pays draws ``u < prepay`` (stream ``PREPAYMENT``) and
      then also pays the principal not yet due (:func:`settle_loans`), so it closes paid off;
    * instalment payment in arrears: a delinquent account with ``k`` instalments behind draws
      ``u < inst_pay`` (when ``k >= 2`` and ``inst_late >= 0``: ``inst_late``, times
      ``exp(inst_slope (k - 2))`` capped at 1 when ``inst_slope != 0``; stream
      ``INSTALMENT_PAY``) and pays its fees and the instalment that fell due, staying ``k``
      behind (DPD then dates from this due date).

    ``params`` is ``(spell_days, miss_intercept, miss_willingness, miss_hardship, miss_dti,
    miss_restructured, late_fee, prepay, inst_pay, inst_late, inst_slope)``.

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
        spell_days,
        c0,
        c_w,
        c_h,
        c_dti,
        c_r,
        late_fee,
        prepay,
        inst_pay,
        inst_late,
        inst_slope,
    ) = params
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
    b = 1.0 / spell_days
    off_hardship = stream_offset(key, _HARDSHIP, day)
    off_signal = stream_offset(key, _EARLY_WARNING, day)
    off_dti = stream_offset(key, _DTI_DRIFT, day)
    off_pay = stream_offset(key, _DUE_PAYMENT, day)
    off_prepay = stream_offset(key, _PREPAYMENT, day)
    off_inst = stream_offset(key, _INSTALMENT_PAY, day)
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
        if _hardship_step(i, day, hardship, hardship_day, hazard, cumulative, b, off_hardship):
            onsets += 1
        hard = hardship[i]
        u = uniform_at(off_signal, i)
        hardship_seen[i] = u < 0.6 if hard else u < 0.01
        h = 1.0 if hard else 0.0
        dti[i] *= math.exp(0.04 * (uniform_at(off_dti, i) - 0.5) + 0.06 * h)
        was_current = missed[i] == 0
        logit = (
            c0
            - c_w * (willingness[i] - _W_CENTRE)
            + c_h * h
            + c_dti * (dti[i] - 0.35)
            + c_r * (1.0 if restructured[i] else 0.0)
        )
        p_miss = _sigmoid(logit)
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
            pays = uniform_at(off_pay, i) >= p_miss
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
                if prepay > 0.0 and uniform_at(off_prepay, i) < prepay:
                    rest = _settle_one(i, sched_balance, remaining, principal_repaid)
                    cash[n_pay] += rest
                    principal[n_pay] += rest
                    n_prepaid += 1
                n_pay += 1
        else:
            chance = inst_pay
            if behind >= 2 and inst_late >= 0.0:
                chance = inst_late
                if inst_slope != 0.0:
                    chance = _minimum(inst_late * math.exp(inst_slope * (behind - 2)), 1.0)
            if chance > 0.0 and uniform_at(off_inst, i) < chance:
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
    take_up,
    take_up_no_hardship,
    extension_months,
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
    yes = restructuring_take_up(
        np.unique(offers), day, key, take_up, take_up_no_hardship, hardship, missed
    )
    if yes.size == 0:
        return 0, 0.0, 0
    waived = restructure_loans(yes, extension_months, *loan)
    self_cures = 0
    for i in yes:
        promise_day[i] = NEVER
        if not episode_contacted[i]:
            self_cures += 1
    return yes.size, numpy_sum(waived), self_cures


# --------------------------------------------------------------------------- strategy
#: The index of a 64-bit word's single set bit: ``_BIT_INDEX[(bit * _DE_BRUIJN) >> 58]``
#: (a de Bruijn sequence makes the top six bits of the product distinct for each bit).
_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
_BIT_INDEX = np.zeros(64, np.int64)
for _b in range(64):
    _BIT_INDEX[((1 << _b) * 0x03F79D71B4CB0A89 % 2**64) >> 58] = _b


@njit(**_JIT)
def rule_requests(
    account,
    dpd,
    day,
    last_contact,
    hardship_seen,
    promises_broken,
    arrears_principal,
    arrears_interest,
    fees_due,
    code,
    dpd_min,
    dpd_max,
    min_days_since,
    hardship_seen_only,
    priority,
):
    """Evaluate a table of up to 64 contact rules over a view, visiting each account once.

    Rule ``r`` selects, in view order, the accounts with ``dpd_min[r] <= dpd <= dpd_max[r]``
    whose last attempt on channel ``code[r]`` is at least ``min_days_since[r]`` days ago (and,
    when ``hardship_seen_only[r]``, whose hardship indicator is on). Requests come rule by rule.

    Returns
    -------
    account, channel, priority, value, rule, position : ndarray
        Parallel request arrays; ``value`` is the view's expected value (arrears times
        ``exp(-dpd / 45) / (1 + promises broken)``), ``rule`` the index of the rule that made
        the request and ``position`` the account's position in the view.
    """
    n = account.size
    n_rules = code.size
    chosen = np.zeros(n, np.uint64)  # bit r: rule r selects view position k
    value = np.empty(n)
    per_rule = np.zeros(n_rules, np.int64)
    one = np.uint64(1)
    value_table = _decay_table(45.0)
    for k in range(n):
        if k + _AHEAD < n:
            j = account[k + _AHEAD]
            prefetch(fees_due, j)
            prefetch2(last_contact, code[0], j)
        d = dpd[k]
        i = account[k]
        bits = np.uint64(0)
        for r in range(n_rules):
            if d < dpd_min[r] or d > dpd_max[r]:
                continue
            if day - last_contact[code[r], i] < min_days_since[r]:
                continue
            if hardship_seen_only[r] and not hardship_seen[i]:
                continue
            bits |= one << np.uint64(r)
            per_rule[r] += 1
        if bits:
            chosen[k] = bits
            arrears = arrears_principal[i] + arrears_interest[i] + fees_due[i]
            value[k] = arrears * (_decay(value_table, max(d, 0), 45.0) / (1.0 + promises_broken[i]))
    # rule r's requests fill the slots from start[r], in view order: one pass over the view,
    # visiting only the rules each account matched (lowest set bit first)
    start = np.empty(n_rules, np.int64)
    m = 0
    for r in range(n_rules):
        start[r] = m
        m += per_rule[r]
    out_acc = np.empty(m, np.int64)
    out_chan = np.empty(m, np.int8)
    out_prio = np.empty(m, np.float64)
    out_value = np.empty(m, np.float64)
    out_rule = np.empty(m, np.int16)
    out_pos = np.empty(m, np.int64)
    for k in range(n):
        bits = chosen[k]
        while bits:
            low = bits & (~bits + one)
            r = _BIT_INDEX[(low * _DE_BRUIJN) >> np.uint64(58)]
            bits ^= low
            j = start[r]
            start[r] = j + 1
            out_acc[j] = account[k]
            out_chan[j] = code[r]
            out_prio[j] = priority[r]
            out_value[j] = value[k]
            out_rule[j] = r
            out_pos[j] = k
    return out_acc, out_chan, out_prio, out_value, out_rule, out_pos


@njit(**_JIT)
def rule_attributes(rule, attempts, hour_start, hour_end, fallback):
    """Each request's attempts, hours and fall-back channel, from the rule that made it."""
    n = rule.size
    out = (
        np.empty(n, np.int8),
        np.empty(n, np.int8),
        np.empty(n, np.int8),
        np.empty(n, np.int8),
    )
    for k in range(n):
        r = rule[k]
        out[0][k] = attempts[r]
        out[1][k] = hour_start[r]
        out[2][k] = hour_end[r]
        out[3][k] = fallback[r]
    return out


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
    account,
    channel,
    attempt,
    day,
    key,
    ch_reach,
    ch_trait,
    ch_cost_attempt,
    ch_cost_contact,
    ch_effect,
    ch_promise_rate,
    restructure_code,
    effect_dpd_scale,
    excitation_decay_days,
    promise_days_max,
    last_contact,
    reach,
    missed,
    last_due_day,
    missed_reminder,
    episode_contacted,
    last_conversation,
    sensitivity,
    excitation,
    excitation_day,
    willingness,
    promise_day,
    promise_amount,
    fees_due,
    arrears_interest,
    arrears_principal,
    last_instalment,
    slots,
):
    """Play out the served attempts (in request order): reach, cost, excitation, promises.

    * Attempt ``a`` of the day on a channel draws with counter
      ``account * channels + channel + a * 2**40`` (attempt 0: the plain counter).
    * The attempt is stamped in ``last_contact``; it reaches the right party with chance
      ``min(reach[c] * borrower reach for the channel, 0.98)``.
    * A pre-due reminder (current account) records whether it missed the borrower.
    * A right-party contact with a delinquent borrower: on channels where promises are made it
      is a conversation (``episode_contacted``, ``last_conversation``); it raises the
      excitation by ``effect[c] * sensitivity * exp(-dpd / effect_dpd_scale)`` (summed per
      account in request order, then added to the decayed excitation); it ends in a promise
      with chance ``promise_rate[c] * (0.5 + sigmoid(w - 1.5))`` unless one is pending (one
      promise per account and day: due in ``1 + floor(u * promise_days_max)`` days, for the
      full amount owed with chance 0.6, else for at most the last instalment).

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
    n_channels = ch_reach.size
    attempts = np.zeros(n_channels, np.int64)
    rpcs = np.zeros(n_channels, np.int64)
    cost = np.zeros(n_channels)
    off_reach = stream_offset(key, _REACH, day)
    off_promise = stream_offset(key, _PROMISE, day)
    off_promise_day = stream_offset(key, _PROMISE_DAY, day)
    off_promise_amount = stream_offset(key, _PROMISE_AMOUNT, day)
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
    fade_table = _decay_table(effect_dpd_scale)
    excitation_table = _decay_table(excitation_decay_days)
    offers = np.empty(n, np.int64)
    n_conv = 0
    n_offers = 0
    n_promises = 0
    for k in range(n):
        i = account[k]
        c = channel[k]
        r = _minimum(ch_reach[c] * reach[i, ch_trait[c]], 0.98)
        counter = i * n_channels + c + attempt[k] * _ATTEMPT_STRIDE
        rpc = uniform_at(off_reach, counter) < r
        attempts[c] += 1
        if rpc:
            rpcs[c] += 1
        cost[c] += ch_cost_attempt[c] + (ch_cost_contact[c] if rpc else 0.0)
        if missed[i] <= 0:
            missed_reminder[i] = not rpc  # pre-due reminder: the last one of the day counts
            continue
        if not rpc:
            continue
        # a right-party contact with a delinquent borrower
        if ch_promise_rate[c] > 0:
            episode_contacted[i] = True
            last_conversation[i] = day
        s, n_conv = _group_of(i, slots, conv_acc, n_conv)
        fade = _decay(fade_table, _dpd(day, missed[i], last_due_day[i]), effect_dpd_scale)
        jump[s - 1] += ch_effect[c] * sensitivity[i] * fade
        rate = ch_promise_rate[c] * (0.5 + _sigmoid(willingness[i] - _W_CENTRE))
        made = uniform_at(off_promise, counter) < rate
        if made and promise_day[i] < day:
            wait = 1.0 + np.floor(uniform_at(off_promise_day, i) * promise_days_max)
            promise_day[i] = day + np.int32(wait)
            owed = fees_due[i] + arrears_interest[i] + arrears_principal[i]
            if uniform_at(off_promise_amount, i) < 0.6:
                promise_amount[i] = owed
            else:
                promise_amount[i] = _minimum(owed, last_instalment[i])
            n_promises += 1
        if c == restructure_code:
            offers[n_offers] = i
            n_offers += 1
    for g in range(n_conv):
        if g + _AHEAD < n_conv:
            prefetch(excitation, conv_acc[g + _AHEAD])
        i = conv_acc[g]
        slots[i] = 0
        excitation[i] = (
            _excitation_now(
                excitation[i], excitation_day[i], day, excitation_table, excitation_decay_days
            )
            + jump[g]
        )
        excitation_day[i] = day
    return attempts, rpcs, cost, offers[:n_offers], n_promises


@njit(**_JIT)
def irritation_and_churn(
    account,
    channel,
    day,
    key,
    ch_irritation,
    neg_ln2,
    half_life,
    complaint_rate,
    churn_rate,
    irritation,
    irritation_day,
    tolerance,
    complaints,
    churned,
    slots,
):
    """Irritation, complaints and churn, once per contacted account.

    The irritation stock decays with a half-life (``neg_ln2`` is ``-log(2)``) and grows by each
    attempt's irritation (summed per account in request order). Above the borrower's tolerance,
    ``excess = clip(irritation / tolerance - 1, 0, 1)`` drives a complaint with chance
    ``complaint_rate * excess`` and churn with chance ``churn_rate * excess``.

    Returns
    -------
    n_complaints : int
    churners : ndarray of int64
        New churners (unordered).
    """
    n = account.size
    uniq = np.empty(n, np.int64)
    amount = np.zeros(n)
    n_acc = 0
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(slots, account[k + _AHEAD])
        i = account[k]
        s, n_acc = _group_of(i, slots, uniq, n_acc)
        amount[s - 1] += ch_irritation[channel[k]]
    irritation_table = np.empty(_DECAY_DAYS)  # the decay factor for whole days
    for d in range(_DECAY_DAYS):
        irritation_table[d] = math.exp(neg_ln2 * d / half_life)
    off_complaint = stream_offset(key, _COMPLAINT, day)
    off_churn = stream_offset(key, _CHURN, day)
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
        irr = irritation[i]
        if irr != 0.0:  # 0 * exp(.) is 0 exactly: no decay to compute
            d = day - irritation_day[i]
            if 0 <= d < _DECAY_DAYS:
                irr *= irritation_table[d]
            else:
                irr *= math.exp(neg_ln2 * d / half_life)
        irr += amount[g]
        irritation[i] = irr
        irritation_day[i] = day
        excess = _minimum(_maximum(irr / tolerance[i] - 1.0, 0.0), 1.0)
        if uniform_at(off_complaint, i) < complaint_rate * excess:
            complaints[i] += 1
            n_complaints += 1
        if uniform_at(off_churn, i) < churn_rate * excess and not churned[i]:
            churned[i] = True
            churners[n_churn] = i
            n_churn += 1
    return n_complaints, churners[:n_churn]


# --------------------------------------------------------------------------- repayment
@njit(**_JIT)
def repayment_draws(
    idx,
    dpd,
    day,
    key,
    missed,
    promise_day,
    promise_amount,
    promises_broken,
    hardship,
    willingness,
    excitation,
    excitation_day,
    fees_due,
    arrears_interest,
    arrears_principal,
    base_intensity,
    intensity_willingness,
    intensity_dpd_scale,
    intensity_hardship,
    excitation_decay_days,
    promise_keep,
    promise_keep_hardship,
    full_payment_share,
    full_payment_share_hardship,
    partial_fraction_low,
    partial_fraction_high,
    full_payment_dpd_scale,
    settlement_share,
    settlement_dpd_scale,
    catch_up_share,
    last_instalment,
    rest_after_partial,
    last_partial_day,
):
    """Who pays today among the delinquent accounts ``idx`` (``dpd`` aligned), and how much.

    Promises falling due today are kept with chance
    ``clip(keep * (0.6 + 0.8 sigmoid(w - 1.5)), 0, 1)`` (``keep`` lower in hardship) and pay
    up to the promised amount; a broken one halves the excitation. Every other account pays
    with chance ``1 - exp(-lambda)``, ``lambda = base exp(k_w (w - 1.5)) exp(-dpd / s)``
    (times ``intensity_hardship`` in hardship) plus the decayed excitation (halved in
    hardship); it pays in full with ``full_payment_share``, else a uniform fraction. Two options
    (off at 0; no draw is made then): with ``settlement_share > 0`` a full payment settles the
    whole loan with that chance (stream ``SETTLEMENT``), which rises with DPD as
    ``1 - (1 - settlement_share) exp(-dpd / settlement_dpd_scale)`` when that scale is
    positive; with ``catch_up_share > 0`` a partial payment is, with that chance (stream
    ``CATCH_UP``), a catch-up that pays everything overdue but the newest instalment
    (``last_instalment`` must then be given); with ``rest_after_partial > 0`` an account that
    made a partial payment in the last 30 days makes, with that chance (stream ``REST``, one
    draw per partial payment), no other payment (kept promises aside); with
    ``full_payment_dpd_scale > 0`` a
    full payment that does not settle stays full only with chance ``exp(-dpd / scale)`` (the
    same ``REPAY_KIND`` draw against the decayed share), else it is a partial payment. So
    ``P(settle) = share * s`` and ``P(cure) = share * (1 - s) * exp(-dpd / scale)`` with ``s``
    the settlement chance.

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
    n = idx.size
    kept_acc = np.empty(n, np.int64)
    kept_amt = np.empty(n)
    pay_acc = np.empty(n, np.int64)
    pay_amt = np.empty(n)
    pay_settle = np.zeros(n, np.bool_)
    n_kept = 0
    n_broken = 0
    n_pay = 0
    off_keep = stream_offset(key, _PROMISE_KEEP, day)
    off_repay = stream_offset(key, _REPAY, day)
    off_kind = stream_offset(key, _REPAY_KIND, day)
    off_frac = stream_offset(key, _REPAY_FRACTION, day)
    off_settle = stream_offset(key, _SETTLEMENT, day)
    off_catch_up = stream_offset(key, _CATCH_UP, day)
    span = partial_fraction_high - partial_fraction_low
    intensity_table = _decay_table(intensity_dpd_scale)
    settlement_table = _decay_table(settlement_dpd_scale)
    full_table = _decay_table(full_payment_dpd_scale)
    excitation_table = _decay_table(excitation_decay_days)
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(missed, idx[k + _AHEAD])
        i = idx[k]
        if missed[i] <= 0:
            continue
        hard = hardship[i]
        if promise_day[i] == day:
            base = promise_keep_hardship if hard else promise_keep
            keep_p = _minimum(
                _maximum(base * (0.6 + 0.8 * _sigmoid(willingness[i] - _W_CENTRE)), 0.0), 1.0
            )
            if uniform_at(off_keep, i) < keep_p:
                owed = fees_due[i] + arrears_interest[i] + arrears_principal[i]
                kept_acc[n_kept] = i
                kept_amt[n_kept] = _minimum(promise_amount[i], owed)
                n_kept += 1
            else:
                promises_broken[i] += 1
                excitation[i] *= 0.5
                n_broken += 1
            promise_day[i] = NEVER
            continue
        if rest_after_partial > 0.0 and day - last_partial_day[i] < MONTH_DAYS:
            # paid part within the last 30 days: with chance rest_after_partial (one draw per
            # partial payment: counter = account, day = the payment's day) nothing more
            off_rest = stream_offset(key, _REST, last_partial_day[i])
            if uniform_at(off_rest, i) < rest_after_partial:
                continue
        base = (
            base_intensity
            * math.exp(intensity_willingness * (willingness[i] - _W_CENTRE))
            * _decay(intensity_table, dpd[k], intensity_dpd_scale)
        )
        exc = _excitation_now(
            excitation[i], excitation_day[i], day, excitation_table, excitation_decay_days
        )
        if hard:
            lam = base * intensity_hardship + 0.5 * exc
        else:
            lam = base + exc
        if not uniform_at(off_repay, i) < -math.expm1(-lam):
            continue
        share = full_payment_share_hardship if hard else full_payment_share
        u_kind = uniform_at(off_kind, i)
        full = u_kind < share
        settles = False
        if full and (settlement_share > 0.0 or settlement_dpd_scale > 0.0):
            s_share = settlement_share
            if settlement_dpd_scale > 0.0:
                fade = _decay(settlement_table, dpd[k], settlement_dpd_scale)
                s_share = 1.0 - (1.0 - settlement_share) * fade
            settles = uniform_at(off_settle, i) < s_share
        if full_payment_dpd_scale > 0.0 and not settles:
            full = u_kind < share * _decay(full_table, dpd[k], full_payment_dpd_scale)
        frac = partial_fraction_low + span * uniform_at(off_frac, i)
        owed = fees_due[i] + arrears_interest[i] + arrears_principal[i]
        pay_acc[n_pay] = i
        pay_amt[n_pay] = owed if full else owed * frac
        if catch_up_share > 0.0 and not full and uniform_at(off_catch_up, i) < catch_up_share:
            # catch up: everything overdue but the newest instalment (one instalment behind)
            pay_amt[n_pay] = _maximum(owed - last_instalment[i], owed * frac)
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
    who, cured, day, last_partial_day, excitation, excitation_day, jump, decay_days, contacted
):
    """After payments: partial payers are flagged, every payment excites repayment by ``jump``.

    Returns
    -------
    cures, self_cures : int
        Cured accounts, and those among them never reached during the episode.
    """
    cures = 0
    self_cures = 0
    n = who.size
    table = _decay_table(decay_days)
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
        excitation[i] = _excitation_now(excitation[i], excitation_day[i], day, table, decay_days)
        excitation[i] += jump
        excitation_day[i] = day
    return cures, self_cures


@njit(**_JIT)
def pay_and_close(who, amount, settle, day, jump, decay_days, book):
    """The day's payments applied, in one call: the waterfall (:func:`pay`), settlements of the
    principal not yet due (:func:`settle_loans`, where ``settle``), excitation and cures
    (:func:`after_payments`) and closures (:func:`close_paid_off`). ``book`` holds the arrays
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
        who, cured, day, last_partial_day, excitation, excitation_day, jump, decay_days, seen
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
