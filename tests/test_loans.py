"""Loan schedules against numpy-financial and the closed forms; the payment waterfall."""

from __future__ import annotations

import math

import numpy as np
import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.loans import (
    METHOD_NAMES,
    Method,
    annuity_payment,
    balance_after,
    schedule,
    schedule_arrays,
    waterfall,
)

REL = 1e-6
CASES = [
    (10_000.0, 0.12, 12),
    (6_000.0, 0.16, 36),
    (250_000.0, 0.045, 360),
    (30_000.0, 0.09, 84),
    (1_234.56, 0.25, 24),
    (500.0, 0.36, 6),
    (100_000.0, 0.07, 480),
    (2_000.0, 0.10, 1),
]


def _close(actual, expected, rel=REL, abs_=1e-9):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rel, atol=abs_)


# ----------------------------------------------------------------------------- annuity
@pytest.mark.parametrize(("principal", "rate", "term"), CASES)
def test_annuity_matches_numpy_financial(principal, rate, term):
    df = schedule(principal, rate, term, "annuity")
    r = rate / 12
    per = np.arange(1, term + 1)
    pmt = -npf.pmt(r, term, principal)  # npf returns payments as negative cash flows
    ipmt = -npf.ipmt(r, per, term, principal)
    ppmt = -npf.ppmt(r, per, term, principal)
    assert list(df.columns) == ["period", "payment", "interest", "principal", "balance"]
    assert df["period"].tolist() == list(range(1, term + 1))
    _close(df["payment"], np.full(term, pmt))
    _close(df["interest"], ipmt, abs_=1e-9 * principal)
    _close(df["principal"], ppmt)
    _close(df["balance"], principal - np.cumsum(ppmt), abs_=1e-6 * principal)
    assert df["balance"].iloc[-1] == 0.0
    # the engine's level instalment is numpy-financial's pmt too
    assert annuity_payment(principal, r, term) == pytest.approx(pmt, rel=1e-12)


def test_annuity_textbook_value():
    # 10,000 at 12 % nominal over 12 months: 888.49 a month (standard amortisation table)
    df = schedule(10_000, 0.12, 12, "annuity")
    assert round(df["payment"].iloc[0], 2) == 888.49
    assert round(df["interest"].iloc[0], 2) == 100.00
    assert round(df["principal"].iloc[0], 2) == 788.49


def test_annuity_matches_numpy_financial_at_validated_extremes():
    # annual_rate 1.0 (the validator's maximum) over 480 months (its maximum term): a forward
    # recursion (bal -= level_payment - bal*r) amplifies rounding by (1+r)^n and made the last
    # instalment ~13x the level payment; schedule_arrays uses the closed-form balances
    principal, rate, term = 10_000.0, 1.0, 480
    df = schedule(principal, rate, term, "annuity")
    pmt = -npf.pmt(rate / 12, term, principal)
    _close(df["payment"], np.full(term, pmt))


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize(("principal", "rate", "term"), CASES)
def test_equal_principal_closed_form(principal, rate, term):
    df = schedule(principal, rate, term, "equal_principal")
    r = rate / 12
    k = np.arange(term)
    balance_before = principal * (1 - k / term)
    _close(df["principal"], np.full(term, principal / term))
    _close(df["interest"], r * balance_before, abs_=1e-9 * principal)
    _close(df["payment"], principal / term + r * balance_before)
    _close(df["balance"], principal * (1 - (k + 1) / term), abs_=1e-9 * principal)
    assert df["balance"].iloc[-1] == 0.0
    # instalments decline (or stay flat at a zero rate)
    assert (np.diff(df["payment"]) <= 1e-9).all()


@pytest.mark.parametrize(("principal", "rate", "term"), CASES)
def test_interest_only_closed_form(principal, rate, term):
    df = schedule(principal, rate, term, "interest_only")
    r = rate / 12
    _close(df["interest"], np.full(term, principal * r))
    expected_principal = np.zeros(term)
    expected_principal[-1] = principal
    _close(df["principal"], expected_principal)
    _close(df["payment"], principal * r + expected_principal)
    expected_balance = np.full(term, principal)
    expected_balance[-1] = 0.0
    _close(df["balance"], expected_balance)


@pytest.mark.parametrize("method", list(METHOD_NAMES))
def test_zero_rate_loans(method):
    principal, term = 12_000.0, 24
    df = schedule(principal, 0.0, term, method)
    assert (df["interest"] == 0).all()
    assert df["principal"].sum() == pytest.approx(principal, rel=1e-12)
    assert df["balance"].iloc[-1] == 0.0
    if method == "interest_only":
        assert (df["payment"].iloc[:-1] == 0).all()
        assert df["payment"].iloc[-1] == pytest.approx(principal, rel=1e-12)
    else:
        _close(df["payment"], np.full(term, principal / term), rel=1e-12)
    if method == "annuity":
        assert -npf.pmt(0.0, term, principal) == pytest.approx(principal / term, rel=1e-12)
        assert annuity_payment(principal, 0.0, term) == pytest.approx(principal / term)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method"):
        schedule(1000, 0.1, 12, "balloon")


# ----------------------------------------------------------------------------- balance_after
@pytest.mark.parametrize("method", list(METHOD_NAMES))
@pytest.mark.parametrize(("principal", "rate", "term"), [*CASES, (9_000.0, 0.0, 18)])
def test_balance_after_matches_schedule(method, principal, rate, term):
    df = schedule(principal, rate, term, method)
    code = METHOD_NAMES[method]
    k = np.arange(term + 1)
    got = balance_after(principal, rate / 12, term, k, code)
    expected = np.concatenate([[principal], df["balance"].to_numpy()])
    _close(got, expected, abs_=1e-6 * principal)
    # past maturity nothing is left
    assert balance_after(principal, rate / 12, term, term + 5, code) == 0.0


def test_schedule_arrays_vectorised_equals_one_by_one():
    principal = np.array([5000.0, 20000.0, 750.0])
    rate = np.array([0.16, 0.0, 0.3])
    term = np.array([12, 36, 3])
    method = np.array([Method.ANNUITY, Method.EQUAL_PRINCIPAL, Method.INTEREST_ONLY])
    arr = schedule_arrays(principal, rate, term, method)
    assert arr["payment"].shape == (3, 36)
    for i, name in enumerate(("annuity", "equal_principal", "interest_only")):
        df = schedule(principal[i], rate[i], int(term[i]), name)
        n = int(term[i])
        np.testing.assert_array_equal(arr["payment"][i, :n], df["payment"])
        np.testing.assert_array_equal(arr["balance"][i, :n], df["balance"])
        assert (arr["payment"][i, n:] == 0).all()


# ----------------------------------------------------------------------------- waterfall
def test_waterfall_order_and_excess():
    amount = np.array([5.0, 30.0, 80.0, 200.0, 0.0])
    fees = np.full(5, 10.0)
    interest = np.full(5, 20.0)
    principal = np.full(5, 100.0)
    f, i, p, x = waterfall(amount, fees, interest, principal)
    np.testing.assert_array_equal(f, [5, 10, 10, 10, 0])
    np.testing.assert_array_equal(i, [0, 20, 20, 20, 0])
    np.testing.assert_array_equal(p, [0, 0, 50, 100, 0])
    np.testing.assert_array_equal(x, [0, 0, 0, 70, 0])


# ----------------------------------------------------------------------------- properties
methods = st.sampled_from(list(METHOD_NAMES))


@settings(max_examples=150, deadline=None)
@given(
    principal=st.floats(1.0, 1e7, allow_nan=False, allow_infinity=False),
    rate=st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False),
    term=st.integers(1, 480),
    method=methods,
)
def test_schedule_properties(principal, rate, term, method):
    df = schedule(principal, rate, term, method)
    assert len(df) == term
    assert math.isclose(df["principal"].sum(), principal, rel_tol=1e-9)
    assert (df["balance"] >= 0).all()
    assert (df["principal"] >= 0).all()
    assert (df["interest"] >= 0).all()
    assert df["balance"].iloc[-1] == 0.0
    np.testing.assert_allclose(df["payment"], df["interest"] + df["principal"], rtol=1e-12)
    # balances never rise
    assert (np.diff(np.concatenate([[principal], df["balance"]])) <= 1e-9 * principal).all()


@settings(max_examples=100, deadline=None)
@given(
    principal=st.floats(100.0, 1e7, allow_nan=False, allow_infinity=False),
    rate=st.floats(0.001, 0.36, allow_nan=False, allow_infinity=False),
    term=st.integers(1, 480),
)
def test_annuity_property_numpy_financial(principal, rate, term):
    # realistic rates (up to 36 % nominal); the extreme corner has its own test above
    df = schedule(principal, rate, term, "annuity")
    r = rate / 12
    per = np.arange(1, term + 1)
    _close(df["payment"], np.full(term, -npf.pmt(r, term, principal)))
    _close(df["principal"], -npf.ppmt(r, per, term, principal))
    _close(df["interest"], -npf.ipmt(r, per, term, principal), abs_=1e-9 * principal)


pot = st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.tuples(pot, pot, pot, pot), min_size=1, max_size=20),
)
def test_waterfall_properties(data):
    amount, fees, interest, principal = (np.array(c) for c in zip(*data, strict=True))
    f, i, p, x = waterfall(amount, fees, interest, principal)
    # cash is conserved
    np.testing.assert_allclose(f + i + p + x, amount, rtol=1e-12, atol=1e-9)
    # never more than owed, never negative
    for applied, owed in ((f, fees), (i, interest), (p, principal)):
        assert (applied >= 0).all()
        assert (applied <= owed).all()
    assert (x >= -1e-9).all()
    # order: a later pot is touched only when the earlier ones are full
    assert (f[i > 0] == fees[i > 0]).all()
    assert (i[p > 0] == interest[p > 0]).all()
    full = x > 1e-9
    assert (f[full] == fees[full]).all()
    assert (i[full] == interest[full]).all()
    assert (p[full] == principal[full]).all()
