"""Loan contracts: repayment methods, schedules and the payment waterfall.

Three repayment methods in common use for personal loans:

* ``annuity`` (等额本息): equal instalments; interest on the outstanding balance, the rest
  repays principal.
* ``equal_principal`` (等额本金): the same principal every period plus interest on the
  outstanding balance, so instalments decline.
* ``interest_only`` (按月还息到期还本): interest every period, all principal at maturity.

Everything here is vectorised over many loans. The engine advances loans one due date at a
time with :func:`instalment_split`; :func:`schedule` builds whole schedules from the same
split (annuity balances from the closed form :func:`balance_after`, which the engine's step
recursion matches to rounding at realistic rates and terms).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from numbers import Integral, Real

import numpy as np
import pandas as pd

from sim.user_input import Problem, UserInputError, shown


class Method(IntEnum):
    """Repayment method codes (stored as ``int8`` in the portfolio)."""

    ANNUITY = 0
    EQUAL_PRINCIPAL = 1
    INTEREST_ONLY = 2


METHOD_NAMES: dict[str, Method] = {
    "annuity": Method.ANNUITY,
    "equal_principal": Method.EQUAL_PRINCIPAL,
    "interest_only": Method.INTEREST_ONLY,
}


def annuity_payment(principal, monthly_rate, n_periods):
    """Level instalment that repays ``principal`` over ``n_periods`` (numpy-financial ``-pmt``).

    Parameters
    ----------
    principal, monthly_rate, n_periods : array_like
        Broadcastable arrays; a zero rate gives ``principal / n_periods``.

    Returns
    -------
    numpy.ndarray
        The instalment per period.
    """
    p = np.asarray(principal, dtype=float)
    r = np.asarray(monthly_rate, dtype=float)
    n = np.asarray(n_periods, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.power(1.0 + r, n)
        pay = np.where(r > 0, p * r * growth / (growth - 1.0), p / np.maximum(n, 1.0))
    return pay


def balance_after(principal, monthly_rate, n_periods, k, method, *, precise=False):
    """Contractual balance after ``k`` instalments have been paid (closed forms).

    Used to set up seasoned loans: a loan ``k`` months into its term that has paid as agreed.
    The annuity balance is ``P (g^n - g^k) / (g^n - 1)`` with ``g = 1 + r``. With ``precise``
    it is evaluated as ``P g^k expm1((n - k) L) / expm1(n L)``, ``L = log1p(r)``, which keeps
    full relative precision at tiny rates too (used for schedules; the book set-up keeps the
    plain form so that simulated books stay bit for bit what they were).
    """
    p = np.asarray(principal, dtype=float)
    r = np.asarray(monthly_rate, dtype=float)
    n = np.asarray(n_periods, dtype=float)
    k = np.asarray(k, dtype=float)
    method = np.asarray(method)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if precise:
            log_g = np.log1p(r)
            ann_rate = np.exp(k * log_g) * np.expm1((n - k) * log_g) / np.expm1(n * log_g)
            ann = np.where(r > 0, p * ann_rate, p * (1.0 - k / np.maximum(n, 1.0)))
        else:
            gn = np.power(1.0 + r, n)
            gk = np.power(1.0 + r, k)
            ann = np.where(
                (r > 0) & (gn > 1.0), p * (gn - gk) / (gn - 1.0), p * (1.0 - k / np.maximum(n, 1.0))
            )
    ep = p * (1.0 - k / np.maximum(n, 1.0))
    out = np.where(method == Method.ANNUITY, ann, np.where(method == Method.EQUAL_PRINCIPAL, ep, p))
    return np.where(k >= n, 0.0, out)


def instalment_split(method, balance, monthly_rate, remaining, level_payment, level_principal):
    """Interest and principal of the next instalment, for every loan at once.

    Parameters
    ----------
    method : array of Method codes
    balance : array
        Contractual (scheduled) principal balance before this instalment.
    monthly_rate : array
    remaining : array of int
        Instalments left, including this one (>= 1).
    level_payment : array
        The level instalment of annuity loans (ignored for the other methods).
    level_principal : array
        The fixed principal part of equal-principal loans (ignored otherwise).

    Returns
    -------
    interest, principal : numpy.ndarray
        The last instalment always clears the balance, so rounding never leaves a residue.
    """
    interest = balance * monthly_rate
    principal = np.where(
        method == Method.ANNUITY,
        level_payment - interest,
        np.where(method == Method.EQUAL_PRINCIPAL, level_principal, 0.0),
    )
    principal = np.where(remaining <= 1, balance, np.minimum(principal, balance))
    return interest, np.maximum(principal, 0.0)


@dataclass(frozen=True)
class LoanTerms:
    """Terms of a batch of loans (struct of arrays)."""

    principal: np.ndarray
    annual_rate: np.ndarray
    term: np.ndarray
    method: np.ndarray

    @property
    def monthly_rate(self) -> np.ndarray:
        return np.asarray(self.annual_rate, dtype=float) / 12.0


def level_amounts(principal, monthly_rate, term, method):
    """Level payment (annuity) and level principal (equal principal) for new contracts."""
    principal = np.asarray(principal, dtype=float)
    term = np.asarray(term)
    pay = np.where(method == Method.ANNUITY, annuity_payment(principal, monthly_rate, term), 0.0)
    lp = np.where(method == Method.EQUAL_PRINCIPAL, principal / np.maximum(term, 1), 0.0)
    return pay, lp


def _annuity_principal(principal, monthly_rate, n_periods, t):
    """Principal part of annuity instalment ``t + 1`` (numpy-financial ``-ppmt``), closed form:
    ``P r g^t / (g^n - 1)``, evaluated with ``log1p``/``expm1`` (precise at any rate)."""
    p = np.asarray(principal, dtype=float)
    r = np.asarray(monthly_rate, dtype=float)
    n = np.asarray(n_periods, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_g = np.log1p(r)
        part = p * r * np.exp(t * log_g) / np.expm1(n * log_g)
        return np.where(r > 0, part, p / np.maximum(n, 1.0))


def schedule_arrays(principal, annual_rate, term, method):
    """Full schedules for many loans, as ``(n_loans, max_term)`` arrays.

    Returns a dict with ``payment``, ``interest``, ``principal`` and ``balance`` (balance after
    the period's instalment). Periods past a loan's term are zero. Annuity balances are the
    closed form :func:`balance_after` and their principal parts the closed form of ``ppmt``
    (interest on the balance before), so they agree with numpy-financial at any rate and term;
    the other methods step with :func:`instalment_split`, whose recursion is exact for them.
    """
    principal = np.atleast_1d(np.asarray(principal, dtype=float))
    r = np.atleast_1d(np.asarray(annual_rate, dtype=float)) / 12.0
    term = np.atleast_1d(np.asarray(term, dtype=np.int64))
    method = np.atleast_1d(np.asarray(method, dtype=np.int8))
    principal, r, term, method = np.broadcast_arrays(principal, r, term, method)
    n_max = int(term.max())
    shape = (principal.size, n_max)
    out = {k: np.zeros(shape) for k in ("payment", "interest", "principal", "balance")}
    level_pay, level_p = level_amounts(principal, r, term, method)
    annuity = method == Method.ANNUITY
    bal = principal.astype(float).copy()
    for t in range(n_max):  # over periods, not accounts: each step is vectorised over loans
        live = t < term
        interest, princ = instalment_split(method, bal, r, term - t, level_pay, level_p)
        # Annuity balances and principal parts come from the closed forms: the forward
        # recursion ``bal -= level_payment - bal * r`` amplifies rounding by (1 + r)^n, which at
        # extreme rates and terms turns the last instalments into garbage.
        closed = balance_after(principal, r, term, t + 1, method, precise=True)
        princ = np.where(
            annuity, np.where(term - t <= 1, bal, _annuity_principal(principal, r, term, t)), princ
        )
        interest = np.where(live, interest, 0.0)
        princ = np.where(live, princ, 0.0)
        bal = np.where(annuity & live, closed, bal - princ)
        out["interest"][:, t] = interest
        out["principal"][:, t] = princ
        out["payment"][:, t] = interest + princ
        out["balance"][:, t] = np.where(live, bal, 0.0)
    return out


#: The largest principal whose schedule float64 keeps to the cent (2**53 cents is ~9e13).
MAX_PRINCIPAL = 1e12
#: Longest term in months (as in scenario files).
MAX_TERM = 480


class LoanTermsError(UserInputError):
    """Loan terms that cannot make a schedule; each problem names the term and what is
    allowed."""


def check_terms(
    principal: float,
    annual_rate: float,
    term: int,
    method: str,
    *,
    source: str = "loan",
    names: Mapping[str, str] | None = None,
) -> None:
    """Refuse loan terms that give no meaningful schedule, every problem at once.

    Parameters
    ----------
    principal, annual_rate, term, method
        As for :func:`schedule`.
    source : str
        What the terms came from, for messages.
    names : mapping, optional
        How to name each term in messages (``{"principal": "--principal"}`` on the command
        line); by default ``field 'principal'``.

    Raises
    ------
    LoanTermsError
        A principal that is not a finite amount in (0, 1e12], a rate outside [0, 1] or not
        finite, a term that is not a whole number of months in [1, 480], an unknown method.
    """
    names = names or {}
    problems = []

    def bad(field: str, message: str, given: object) -> None:
        where = names.get(field)
        problems.append(Problem(source, field, message, shown(given), where))

    number = isinstance(principal, Real) and not isinstance(principal, bool)
    if not (number and math.isfinite(principal) and 0 < principal <= MAX_PRINCIPAL):
        limit = f"{MAX_PRINCIPAL:,.0f}"
        bad("principal", f"must be a finite amount above 0 and at most {limit}", principal)
    number = isinstance(annual_rate, Real) and not isinstance(annual_rate, bool)
    if not (number and math.isfinite(annual_rate) and 0 <= annual_rate <= 1):
        bad("annual_rate", "must be a finite number between 0 and 1 (0.12 means 12 %)", annual_rate)
    if isinstance(term, bool) or not isinstance(term, Integral) or not 1 <= term <= MAX_TERM:
        bad("term", f"must be a whole number of months between 1 and {MAX_TERM}", term)
    if method not in METHOD_NAMES:
        bad("method", f"unknown method; allowed: {', '.join(METHOD_NAMES)}", method)
    if problems:
        raise LoanTermsError(problems)


def schedule(principal: float, annual_rate: float, term: int, method: str) -> pd.DataFrame:
    """The repayment schedule of one loan as a table.

    Parameters
    ----------
    principal : float
        Amount lent (> 0).
    annual_rate : float
        Nominal annual rate, e.g. ``0.12`` for 12 %; interest accrues monthly at ``rate / 12``.
    term : int
        Number of monthly instalments (>= 1).
    method : {"annuity", "equal_principal", "interest_only"}

    Returns
    -------
    pandas.DataFrame
        Columns ``period`` (1-based), ``payment``, ``interest``, ``principal``, ``balance``.

    Raises
    ------
    LoanTermsError
        Terms :func:`check_terms` refuses (an infinite principal, a negative rate...).
    """
    check_terms(principal, annual_rate, term, method)
    arr = schedule_arrays(principal, annual_rate, term, METHOD_NAMES[method])
    return pd.DataFrame(
        {
            "period": np.arange(1, term + 1),
            "payment": arr["payment"][0],
            "interest": arr["interest"][0],
            "principal": arr["principal"][0],
            "balance": arr["balance"][0],
        }
    )


def waterfall(amount, fees_due, interest_due, principal_due):
    """Apply payments fees -> interest -> principal, vectorised.

    Parameters
    ----------
    amount : array
        Cash received (>= 0).
    fees_due, interest_due, principal_due : array
        What is owed in each pot (>= 0).

    Returns
    -------
    to_fees, to_interest, to_principal, excess : numpy.ndarray
        How the cash was applied; ``excess`` is what exceeded everything owed (returned to the
        borrower, never booked as collected).
    """
    amount = np.asarray(amount, dtype=float)
    to_fees = np.minimum(amount, fees_due)
    rest = amount - to_fees
    to_interest = np.minimum(rest, interest_due)
    rest = rest - to_interest
    to_principal = np.minimum(rest, principal_due)
    excess = rest - to_principal
    return to_fees, to_interest, to_principal, excess
