"""The compiled kernels agree exactly with the plain numpy formulas they replace.

Only integer logic and IEEE arithmetic without transcendental functions are compared bit for
bit here (numpy's own SIMD ``exp`` may differ from the C library's in the last bit on some
CPUs); values that go through ``exp`` are compared to 1e-15 relative.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import kernels, ledger
from sim.actions import AccountView, ActionRequests
from sim.compliance import DEFAULT_PROFILE
from sim.loans import annuity_payment, instalment_split, waterfall
from sim.population import generate
from sim.portfolio import CALL_RING, CHANNEL_MAJOR, NEVER, Portfolio, bucket_of
from sim.rng import _DAY, _GOLDEN, _S11, _STREAM, _TO_UNIT, _mix, seed_key, uniforms
from sim.scenario import load_scenario
from strategies import rule_kernels
from strategies.default import default_strategy


@pytest.fixture(scope="module")
def book() -> Portfolio:
    return generate(load_scenario("scenarios/small.yaml"), 3)


def _numpy_uniforms(key, stream, day, accounts):
    with np.errstate(over="ignore"):
        offset = key ^ (np.uint64(stream) * _STREAM + np.uint64(day + 1) * _DAY)
        z = accounts.astype(np.uint64)
        z *= _GOLDEN
        z += offset
        _mix(z)
    z >>= _S11
    return z.astype(np.float64) * _TO_UNIT


@pytest.mark.parametrize("seed", [0, 1, 20261128])
def test_uniforms_match_the_numpy_splitmix(seed: int) -> None:
    key = seed_key(seed)
    acc = np.random.default_rng(seed).integers(0, 10**7, 5_000)
    for stream in range(1, 21):
        for day in (0, 7, 364):
            assert np.array_equal(
                uniforms(key, stream, day, acc), _numpy_uniforms(key, stream, day, acc)
            )
    assert np.array_equal(
        uniforms(key, 3, 5, acc.astype(np.int32)), _numpy_uniforms(key, 3, 5, acc)
    )


def test_packed_layout_keeps_values_and_indexing(book: Portfolio) -> None:
    order = np.random.default_rng(0).permutation(book.n)
    packed = book.take(order)
    for name, value in vars(book).items():
        if not isinstance(value, np.ndarray):
            continue
        got = getattr(packed, name)
        want = value[:, order] if name in CHANNEL_MAJOR else value[order]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        assert np.array_equal(got, want), name
    assert packed.last_contact.shape[0] < packed.last_contact.shape[1]  # [channel, account]
    packed.fees_due[3] = 12.5  # views write through to the block
    assert packed.fees_due[3] == 12.5


def test_fall_due_and_pay_match_the_loan_formulas(book: Portfolio) -> None:
    p = book.packed()
    idx = np.flatnonzero(p.remaining > 0)[::3]
    before = {k: getattr(p, k)[idx].copy() for k in ("sched_balance", "remaining", "missed")}
    want_i, want_p = instalment_split(
        p.method[idx],
        p.sched_balance[idx],
        p.rate_m[idx],
        p.remaining[idx],
        p.level_payment[idx],
        p.level_principal[idx],
    )
    got_i, got_p = ledger.fall_due(p, idx, 4)
    assert np.array_equal(got_i, want_i) and np.array_equal(got_p, want_p)
    assert np.array_equal(p.sched_balance[idx], before["sched_balance"] - want_p)
    assert np.array_equal(p.remaining[idx], before["remaining"] - 1)
    assert np.array_equal(p.missed[idx], before["missed"] + (want_i + want_p > ledger.CENT))

    amount = ledger.amount_owed(p, idx) * np.random.default_rng(1).uniform(0, 1.3, idx.size)
    fees, inte, prin = p.fees_due[idx].copy(), p.arrears_interest[idx], p.arrears_principal[idx]
    _fees, _interest, to_p, excess = waterfall(amount, fees, inte, prin)
    applied = ledger.pay(p, idx, amount)
    assert np.array_equal(applied.cash, amount - excess)
    assert np.array_equal(applied.principal, to_p)
    assert not np.any(p.arrears_principal[idx][applied.cured])
    assert np.array_equal(applied.cured, p.missed[idx] == 0)
    ledger.check_invariants(p, 4)


def test_restructuring_re_amortises_with_the_annuity_formula(book: Portfolio) -> None:
    """The compiled hardship plan: arrears capitalised, interest and fees waived, the term
    extended, the level payment from ``sim.loans.annuity_payment``."""
    p = book.packed()
    ledger.fall_due(p, np.arange(p.n), 4)  # every account one instalment in arrears
    idx = np.flatnonzero(p.remaining > 0)[::5]
    p.rate_m[idx[:10]] = 0.0  # the zero-rate branch too
    capital = p.sched_balance[idx] + p.arrears_principal[idx]
    waived_want = p.arrears_interest[idx] + p.fees_due[idx]
    term = np.maximum(p.remaining[idx].astype(np.int64), 0) + 6
    waived = ledger.restructure(p, idx, 6)
    assert np.array_equal(waived, waived_want)
    assert np.array_equal(p.sched_balance[idx], capital)
    assert np.array_equal(p.remaining[idx], term)
    assert not p.missed[idx].any() and not p.arrears_principal[idx].any()
    assert p.restructured[idx].all() and (p.method[idx] == 0).all()
    # The kernel's scalar power is libm's ``pow`` (correctly rounded in glibc); numpy's
    # vectorised ``power`` uses SIMD code on AVX-512 machines that can differ in the last
    # bit or two. So: exact against the scalar formula, and within a few ulps of numpy's.
    r, growth = (
        p.rate_m[idx],
        np.array([math.pow(1.0 + x, float(t)) for x, t in zip(p.rate_m[idx], term, strict=True)]),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        scalar = np.where(
            r > 0, capital * r * growth / (growth - 1.0), capital / np.maximum(term, 1.0)
        )
    np.testing.assert_array_equal(p.level_payment[idx], scalar)
    np.testing.assert_allclose(
        p.level_payment[idx], annuity_payment(capital, r, term), rtol=8 * np.finfo(float).eps
    )


def test_bucket_kernel_matches_bucket_of(book: Portfolio) -> None:
    for day in (0, 13, 45, 400):
        got = book.bucket(day)
        assert got.dtype == np.int8
        assert np.array_equal(got, bucket_of(book.dpd(day), book.status))


def test_check_invariants_still_names_the_problem(book: Portfolio) -> None:
    p = book.packed()
    ledger.check_invariants(p, 0)
    p.arrears_interest[7] = -1.0
    with pytest.raises(ledger.InvariantError, match="negative arrears_interest"):
        ledger.check_invariants(p, 0)


def _numpy_rule_requests(view: AccountView, rules) -> ActionRequests:
    """The rule-table loop as it was written with array masks."""
    parts = []
    for rule in rules:
        m = (view.dpd >= rule.dpd_min) & (view.dpd <= rule.dpd_max)
        m &= view.days_since_contact(rule.code) >= (10**5 if rule.once else rule.every_days)
        if rule.needs_hardship_seen:  # hardship_seen_only, or the single flag hardship_seen
            m &= view.hardship_seen
        sel = np.flatnonzero(m)
        parts.append(
            ActionRequests(
                view.account[sel],
                np.full(sel.size, rule.code, np.int8),
                np.full(sel.size, float(rule.priority)),
                view.expected_value[sel],
            )
        )
    return ActionRequests.concat(parts)


def test_rule_requests_match_the_array_loop(book: Portfolio) -> None:
    p = book.packed()
    rng = np.random.default_rng(2)
    p.last_contact[...] = np.where(rng.random(p.last_contact.shape) < 0.5, NEVER, 40)
    p.hardship_seen[:] = rng.random(p.n) < 0.3
    acc = rng.permutation(p.n)[:1500]
    view = AccountView(p, 45, acc, rng.integers(-3, 130, acc.size).astype(np.int32))
    strategy = default_strategy()
    got, _, _ = rule_kernels.requests_by_rules(
        view, *strategy.table
    )  # the compiled part of decide()
    want = _numpy_rule_requests(view, strategy.rules)
    assert np.array_equal(got.account, want.account)
    assert np.array_equal(got.channel, want.channel)
    assert np.array_equal(got.priority, want.priority)
    np.testing.assert_allclose(got.value, want.value, rtol=1e-15, atol=0)


def test_record_calls_fills_the_ring_in_attempt_order(book: Portfolio) -> None:
    p = book.packed()
    acc = np.array([5, 9, 5, 5, 11, 9] + [20] * (CALL_RING + 1))
    cap = DEFAULT_PROFILE.max_call_attempts_7d
    breaches = kernels.record_call_attempts(
        acc, 30, p.call_ring, p.call_ring_pos, cap, kernels.account_slots(p.n)
    )
    assert sorted(p.call_ring[5][p.call_ring[5] == 30]) == [30, 30, 30]
    assert p.call_ring_pos[5] == 3 and p.call_ring_pos[9] == 2 and p.call_ring_pos[11] == 1
    assert p.call_ring_pos[20] == (CALL_RING + 1) % CALL_RING
    assert breaches == 1  # account 20: more attempts today than the cap and the ring hold
    assert kernels.account_slots(p.n)[: p.n].sum() == 0  # the work array is left clean


@settings(max_examples=300, deadline=None)
@given(
    n=st.one_of(st.integers(0, 300), st.integers(300, 20_000)),
    scale=st.integers(-3, 9),
    signed_zeros=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_numpy_sum_is_numpys_to_the_last_bit(n, scale, signed_zeros, seed) -> None:
    """Kernels return totals with ``numpy_sum``: it must be numpy's pairwise sum exactly."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-3, scale + 1, n)
    if signed_zeros:
        x[rng.random(n) < 0.3] = -0.0
    got, want = kernels.numpy_sum(x), np.sum(x)
    assert got == want and np.signbit(got) == np.signbit(want)


def test_rule_requests_of_a_long_table_match_the_array_loop(book: Portfolio) -> None:
    """70 overlapping rules: every bit of the 64-rule word is used and a second word follows."""
    from strategies.rules import Rule, RuleTable

    p = book.packed()
    rng = np.random.default_rng(3)
    p.last_contact[...] = np.where(rng.random(p.last_contact.shape) < 0.5, NEVER, 40)
    channels = ["sms", "call", "email", "letter", "visit", "ivr"]
    lows, every = rng.integers(-3, 100, 70), rng.integers(1, 9, 70)
    rules = [
        Rule(
            channels[k % 6],
            int(lows[k]),
            int(lows[k] + rng.integers(0, 60)),
            every_days=int(every[k]),
        )
        for k in range(70)
    ]
    table = RuleTable("long", rules)
    acc = rng.permutation(p.n)[:1200]
    view = AccountView(p, 45, acc, rng.integers(-3, 130, acc.size).astype(np.int32))
    got, rule, _ = rule_kernels.requests_by_rules(view, *table.table)
    want = _numpy_rule_requests(view, table.rules)
    assert np.array_equal(got.account, want.account)
    assert np.array_equal(got.channel, want.channel)
    assert set(np.unique(rule).tolist()) >= {0, 63, 64, 69}


def test_book_scans_match_numpy(book: Portfolio) -> None:
    """The run's start and end scans: what argsort, flatnonzero and numpy.sum give."""
    from sim.portfolio import MONTH_DAYS

    p = book.take(np.random.default_rng(4).permutation(book.n))  # not in due-day order
    order, bounds, delinquent, opening = kernels.book_at_start(
        p.due_day, p.missed, p.opening_principal, MONTH_DAYS
    )
    by_day = np.argsort(p.due_day, kind="stable")
    assert np.array_equal(order, by_day)
    assert np.array_equal(bounds, np.searchsorted(p.due_day[by_day], np.arange(MONTH_DAYS + 1)))
    assert np.array_equal(delinquent, np.flatnonzero(p.missed > 0))
    assert opening == float(p.opening_principal.sum())
    total = kernels.book_outstanding(p.sched_balance, p.arrears_principal)
    assert total == float(p.outstanding().sum())
