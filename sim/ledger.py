"""Money movements on accounts: instalments falling due, payments, restructuring, charge-off.

Every function works on a subset of accounts (an index array) and keeps the principal identity
of each account true:

    opening principal = scheduled balance + principal in arrears + principal repaid
                        + principal charged off

:func:`check_invariants` verifies it (and the other invariants) for the whole book.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim import kernels
from sim.portfolio import CENT as CENT  # re-exported: amounts below a cent are dust
from sim.portfolio import MONTH_DAYS, NEVER, Portfolio, Status


def fall_due(p: Portfolio, idx: np.ndarray, day: int) -> tuple[np.ndarray, np.ndarray]:
    """The next instalment of each account falls due today: it moves into arrears.

    The instalment is split as :func:`sim.loans.instalment_split` does (interest on the
    scheduled balance; the method's principal; the last instalment clears the balance); an
    instalment above a cent adds one missed instalment. ``idx`` holds unique account ids.

    Returns the interest and principal parts that fell due.
    """
    return kernels.fall_due(kernels.as_ids(idx), day, loan_arrays(p))


def loan_arrays(p: Portfolio) -> tuple[np.ndarray, ...]:
    """The book's arrays an instalment falling due reads and writes
    (``sim.kernels.ledger.LOAN_ARRAYS``, in that order)."""
    return tuple(getattr(p, name) for name in kernels.LOAN_ARRAYS)


def amount_owed(p: Portfolio, idx: np.ndarray) -> np.ndarray:
    """Everything overdue: fees, interest and principal in arrears."""
    return p.fees_due[idx] + p.arrears_interest[idx] + p.arrears_principal[idx]


@dataclass
class Applied:
    """How payments were applied."""

    cash: np.ndarray  # booked (excess over what was owed is returned, not booked)
    principal: np.ndarray
    cured: np.ndarray  # bool: the account has no arrears left
    residue: float = 0.0  # principal dust cleared into principal_repaid by cures (not cash)


def pay(p: Portfolio, idx: np.ndarray, amount: np.ndarray) -> Applied:
    """Apply payments through the waterfall fees -> interest -> principal.

    An instalment counts as paid when what is overdue falls below it: DPD then dates from the
    next unpaid one, and payments never make an account more delinquent. A cured account's
    rounding dust is cleared (the residue counts as repaid and is reported in
    ``Applied.residue``, which the engine books with the principal). ``idx`` holds unique
    account ids. The arithmetic is :func:`sim.loans.waterfall`'s, run by
    :func:`sim.kernels.pay`.
    """
    idx = kernels.as_ids(idx)
    cash, principal, cured, residue = kernels.pay(
        idx, kernels.as_values(amount, idx.size), *payment_arrays(p)
    )
    return Applied(cash, principal, cured, residue)


def payment_arrays(p: Portfolio) -> tuple[np.ndarray, ...]:
    """The arrays a payment's waterfall reads and writes, in ``sim.kernels.pay`` order."""
    return (
        p.fees_due,
        p.arrears_interest,
        p.arrears_principal,
        p.principal_repaid,
        p.missed,
        p.last_instalment,
    )


def close_paid_off(p: Portfolio, idx: np.ndarray) -> np.ndarray:
    """Mark accounts that owe nothing and have no instalments left as paid off.

    Rounding residue of the schedule is treated as repaid, keeping the identity exact.
    Returns the ids closed (:func:`close_and_book` also returns the residue).
    """
    return close_and_book(p, idx)[0]


def close_and_book(p: Portfolio, idx: np.ndarray) -> tuple[np.ndarray, float]:
    """:func:`close_paid_off`, also returning the principal residue (below a cent per account)
    moved into ``principal_repaid``: a running book balance must subtract it too."""
    return kernels.close_paid_off(
        kernels.as_ids(idx),
        p.remaining,
        p.sched_balance,
        p.fees_due,
        p.arrears_interest,
        p.arrears_principal,
        p.principal_repaid,
        p.missed,
        p.status,
    )


def settle(p: Portfolio, idx: np.ndarray) -> np.ndarray:
    """Settlement or prepayment: accounts pay their principal not yet due (no instalment is
    left). Pay what is overdue with :func:`pay` first; close with :func:`close_paid_off`.

    Returns the principal paid per account (cash, aligned with ``idx``).
    """
    return kernels.settle_loans(
        kernels.as_ids(idx), p.sched_balance, p.remaining, p.principal_repaid
    )


def restructure(p: Portfolio, idx: np.ndarray, extension_months: int) -> np.ndarray:
    """Hardship plan: principal in arrears is capitalised, interest and fees in arrears are
    waived, the term is extended and the loan re-amortised as an annuity.

    Returns the amount waived per account (a concession, not a charge-off).
    """
    return kernels.restructure_loans(
        kernels.as_ids(idx), int(extension_months), *restructuring_arrays(p)
    )


def reage(p: Portfolio, idx: np.ndarray) -> None:
    """Re-age accounts (:mod:`sim.borrower.reageing`) whose fees and interest in arrears are
    paid: principal in arrears added to the balance, the instalment recomputed over the
    instalments left (:func:`sim.kernels.ledger.reage_one`); they are current then."""
    kernels.reage_loans(kernels.as_ids(idx), loan_arrays(p))


def restructuring_arrays(p: Portfolio) -> tuple[np.ndarray, ...]:
    """The arrays a hardship plan rewrites, in ``sim.kernels.restructure_loans`` order."""
    return (
        p.sched_balance,
        p.rate_m,
        p.remaining,
        p.level_payment,
        p.method,
        p.arrears_interest,
        p.arrears_principal,
        p.fees_due,
        p.missed,
        p.restructured,
    )


def charge_off(p: Portfolio, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Charge accounts off: principal leaves the book.

    Returns
    -------
    principal : ndarray
        Principal charged off.
    claim : ndarray
        What the borrower still owes (principal, interest in arrears and fees), the base of
        post-charge-off recovery.
    """
    return kernels.charge_off_loans(
        kernels.as_ids(idx),
        NEVER,
        p.sched_balance,
        p.arrears_principal,
        p.arrears_interest,
        p.fees_due,
        p.principal_charged_off,
        p.status,
        p.promise_day,
    )


class InvariantError(AssertionError):
    """The book broke one of its accounting invariants: a bug, never a user error."""


def running_balance_drifted(running: float, book: float, opening: float) -> bool:
    """Whether the running outstanding balance (the opening book less every principal movement,
    summed day by day) disagrees with the book's own sum beyond rounding.

    The tolerance is 1e-6 of what is still outstanding plus 1e-9 of the opening book: a long
    run repays almost everything, and the float rounding of thousands of subtractions from
    the opening book (about 1e-16 of it each) would otherwise exceed a tolerance relative to a
    remainder near 0 (100,000 accounts over 3,650 days: -1.7e-6 against 2.4e-9 left of an
    opening 1.12e9).
    """
    tol = 1e-6 * max(abs(running), 1.0) + 1e-9 * abs(opening)
    return abs(running - book) > tol


def check_invariants(p: Portfolio, day: int, tol: float = 1e-6) -> None:
    """Verify the book's invariants; cheap enough to run at the end of every run.

    * money is conserved per account: opening principal = outstanding + repaid + charged off;
    * no negative balance, arrears or fee;
    * DPD is consistent with arrears: an account has missed instalments exactly when something
      is overdue, and closed accounts owe nothing.
    """
    if kernels.invariants_hold(
        day,
        tol,
        p.opening_principal,
        p.sched_balance,
        p.arrears_principal,
        p.arrears_interest,
        p.fees_due,
        p.principal_repaid,
        p.principal_charged_off,
        p.missed,
        p.status,
        p.last_due_day,
    ):
        return
    scale = np.maximum(p.opening_principal, 1.0)
    gap = p.opening_principal - (
        p.sched_balance + p.arrears_principal + p.principal_repaid + p.principal_charged_off
    )
    bad = np.abs(gap) > tol * scale
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvariantError(
            f"money not conserved on {int(bad.sum())} accounts (e.g. #{i}: {gap[i]:.6f})"
        )
    for name in ("sched_balance", "arrears_principal", "arrears_interest", "fees_due"):
        arr = getattr(p, name)
        if (arr < -tol).any():
            raise InvariantError(f"negative {name} on {int((arr < -tol).sum())} accounts")
    overdue = p.arrears_principal + p.arrears_interest
    inconsistent = (p.missed > 0) != (overdue > 1e-4)
    if inconsistent.any():
        raise InvariantError(f"DPD inconsistent with arrears on {int(inconsistent.sum())} accounts")
    closed = p.status != Status.OPEN
    if (closed & ((p.sched_balance > tol) | (overdue > tol))).any():
        raise InvariantError("a closed account still carries a balance")
    dpd = p.dpd(day)
    if (dpd < 0).any():
        raise InvariantError("negative DPD")
    if ((p.missed > 0) & (dpd < MONTH_DAYS * (p.missed.astype(np.int32) - 1))).any():
        raise InvariantError("DPD below the age of the oldest missed instalment")
