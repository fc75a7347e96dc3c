"""Compiled kernels: the engine's per-account loops over today's active accounts.

The loops over today's active accounts, compiled with numba, one module per job: due dates
and the delinquent morning (:mod:`.due`), contact outcomes (:mod:`.contact`), repayment
(:mod:`.repay`), the ledger (:mod:`.ledger`), recoveries (:mod:`.recovery`), scans of the book
(:mod:`.book`) and compliance's call ring (:mod:`.ring`). The borrower's behaviour is not
written here: every rule is a small compiled function of :mod:`sim.borrower` that these loops
call per account (and the Mesa agents call on their own account); LLVM inlines it into the
loop. Each kernel does one domain job and reads and
writes the portfolio's arrays in place, so the day's work touches each active account a few
times instead of building a temporary array per formula term. The modules :mod:`sim.ledger`,
:mod:`sim.compliance`, :mod:`sim.recovery` and the engine call these kernels; the borrower
rules' docstrings state the equations.

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

from sim.jit import account_slots, as_ids, as_values, numpy_sum, prefetch, prefetch2
from sim.kernels.book import (
    book_at_start,
    book_outstanding,
    buckets,
    delinquent_evening,
    group_sizes,
    invariants_hold,
)
from sim.kernels.contact import (
    contact_outcomes,
    irritation_and_churn,
    restructuring_take_up,
    take_up_offers,
)
from sim.kernels.due import (
    delinquent_morning,
    dti_drift,
    due_date_work,
    hardship_observe,
    hardship_update,
)
from sim.kernels.ledger import (
    LOAN_ARRAYS,
    charge_off_loans,
    close_one,
    close_paid_off,
    fall_due,
    fall_due_one,
    pay,
    pay_one,
    reage_loans,
    reage_one,
    restructure_loans,
    settle_loans,
    settle_one,
)
from sim.kernels.recovery import book_recoveries, recovery_outcomes
from sim.kernels.repay import after_payments, excite, pay_and_close, repayment_draws
from sim.kernels.ring import calls_in_window, gather, record_call_attempts, static_checks

__all__ = [
    "LOAN_ARRAYS",
    "account_slots",
    "after_payments",
    "as_ids",
    "as_values",
    "book_at_start",
    "book_outstanding",
    "book_recoveries",
    "buckets",
    "calls_in_window",
    "charge_off_loans",
    "close_one",
    "close_paid_off",
    "contact_outcomes",
    "delinquent_evening",
    "delinquent_morning",
    "dti_drift",
    "due_date_work",
    "excite",
    "fall_due",
    "fall_due_one",
    "gather",
    "group_sizes",
    "hardship_observe",
    "hardship_update",
    "invariants_hold",
    "irritation_and_churn",
    "numpy_sum",
    "pay",
    "pay_and_close",
    "pay_one",
    "prefetch",
    "prefetch2",
    "reage_loans",
    "reage_one",
    "record_call_attempts",
    "recovery_outcomes",
    "repayment_draws",
    "restructure_loans",
    "restructuring_take_up",
    "settle_loans",
    "settle_one",
    "static_checks",
    "take_up_offers",
]
