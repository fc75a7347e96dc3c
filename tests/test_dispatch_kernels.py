"""The compiled dispatch against plain numpy references of the same rules.

Serving by priority must pick exactly the requests numpy's stable ``lexsort`` would put first
(ties, equal priorities, NaN values and all), and the fall-back step must keep the first of
each (account, channel, attempt) as ``numpy.unique`` would.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.capacity import allocate_mask
from sim.dispatch_kernels import (
    DUPLICATES,
    EXPANDED,
    UNKNOWN_ACCOUNT,
    UNKNOWN_CHANNEL,
    _first_of_each,
    expand_requests,
)


def _allocate_reference(channel, priority, value, account, capacity):
    """The array implementation the kernel replaced (``numpy.lexsort`` per channel)."""
    n_channels = capacity.size
    unserved = np.zeros(n_channels, np.int64)
    keep = np.ones(channel.size, bool)
    demand = np.bincount(channel, minlength=n_channels)
    limit = np.floor(np.maximum(capacity, 0.0))
    for c in np.flatnonzero(demand > limit):
        idx = np.flatnonzero(channel == c)
        order = np.lexsort((account[idx], -value[idx], -priority[idx]))
        cut = int(limit[c])
        keep[idx[order[cut:]]] = False
        unserved[c] = idx.size - cut
    return keep, unserved


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(0, 400),
    n_priorities=st.integers(1, 4),
    n_values=st.integers(1, 6),
    n_accounts=st.integers(1, 50),
    capacity=st.lists(st.floats(0, 300), min_size=3, max_size=3),
    nan_share=st.sampled_from([0.0, 0.1]),
    seed=st.integers(0, 2**31),
)
def test_allocation_serves_numpys_lexsort_order(
    n, n_priorities, n_values, n_accounts, capacity, nan_share, seed
) -> None:
    rng = np.random.default_rng(seed)
    channel = rng.integers(0, 3, n)
    # few distinct keys, so that ties reach every level of the order
    priority = rng.integers(0, n_priorities, n).astype(float)
    value = rng.integers(0, n_values, n) * 10.0
    value[rng.random(n) < nan_share] = np.nan
    value[rng.random(n) < 0.1] = -0.0
    account = rng.integers(0, n_accounts, n)
    cap = np.array([*capacity, np.inf])
    channel[channel == 2] = 3 if n % 2 else 2  # sometimes a channel without a limit
    keep, unserved = allocate_mask(channel, priority, value, account, cap)
    ref_keep, ref_unserved = _allocate_reference(channel, priority, value, account, cap)
    np.testing.assert_array_equal(keep, ref_keep)
    np.testing.assert_array_equal(unserved, ref_unserved)


def test_allocation_on_a_large_sorted_and_reversed_demand() -> None:
    """Already ordered input is the classic worst case of a selection by partitions."""
    n = 20_000
    for priority in (np.arange(n, dtype=float), np.arange(n, dtype=float)[::-1].copy()):
        channel = np.zeros(n, np.int64)
        value = np.zeros(n)
        account = np.arange(n)
        cap = np.array([7_000.0])
        keep, unserved = allocate_mask(channel, priority, value, account, cap)
        ref_keep, ref_unserved = _allocate_reference(channel, priority, value, account, cap)
        np.testing.assert_array_equal(keep, ref_keep)
        assert unserved[0] == ref_unserved[0] == 13_000


@settings(max_examples=100, deadline=None)
@given(n=st.integers(0, 3000), seed=st.integers(0, 2**31))
def test_first_of_each_matches_numpy_unique(n, seed) -> None:
    rng = np.random.default_rng(seed)
    account = rng.integers(0, max(n // 3, 1), n)
    channel = rng.integers(0, 8, n)
    attempt = rng.integers(0, 20, n)  # attempts from 15 on share a code
    first = _first_of_each(account, channel, attempt, 8)
    code = (account * 8 + channel) * 16 + np.minimum(attempt, 15)
    _, ref = np.unique(code, return_index=True)
    np.testing.assert_array_equal(np.flatnonzero(first), np.sort(ref))


def _expand_reference(account, channel, priority, value, attempts, hour_start, hour_end, fb):
    """The array implementation the kernel replaced (unique requests): ``numpy.repeat``."""
    n_att = np.maximum(attempts, 1)
    rows = np.repeat(np.arange(account.size), n_att)
    starts = np.cumsum(n_att) - n_att
    attempt = np.arange(rows.size) - np.repeat(starts, n_att)
    return (
        account[rows],
        channel[rows].astype(np.int64),
        attempt,
        priority[rows],
        value[rows],
        hour_start[rows],
        hour_end[rows],
        fb[rows],
    )


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 300),
    n_accounts=st.integers(1, 400),
    optional=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_expansion_of_requests_matches_numpy(n, n_accounts, optional, seed) -> None:
    rng = np.random.default_rng(seed)
    account = rng.integers(0, n_accounts, n)
    channel = rng.integers(0, 8, n).astype(np.int8)
    fields = (
        rng.random(n),
        rng.integers(0, 4, n).astype(np.int8),
        rng.integers(0, 12, n).astype(np.int8),
        rng.integers(12, 25, n).astype(np.int8),
        rng.integers(-1, 8, n).astype(np.int8),
    )
    if not optional:  # left out: the defaults
        fields = (np.zeros(n), np.ones(n, np.int8), np.zeros(n, np.int8), np.full(n, 24, np.int8))
        fields = (*fields, np.full(n, -1, np.int8))
    given_fields = fields if optional else (np.empty(0), *(np.empty(0, np.int8),) * 4)
    priority = rng.integers(0, 3, n).astype(float)
    slots = np.zeros(n_accounts, np.int64)
    status, att = expand_requests((account, channel, priority, *given_fields), n_accounts, 8, slots)
    assert not slots.any()  # left clean
    unique = np.unique(account * 64 + channel).size == n
    assert status == (EXPANDED if unique else DUPLICATES)
    if unique:
        ref = _expand_reference(account, channel, priority, *fields)
        for got, want in zip(att, ref, strict=True):
            assert got.dtype == want.dtype or got.dtype == np.int64
            np.testing.assert_array_equal(got, want)
    else:
        assert all(a.size == 0 for a in att)


def test_expansion_refuses_unknown_channels_and_accounts() -> None:
    none_f, none_i = np.empty(0), np.empty(0, np.int8)
    slots = np.zeros(10, np.int64)

    def status(account, channel):
        req = (np.array(account), np.array(channel, np.int8), np.zeros(len(account)))
        return expand_requests((*req, none_f, *(none_i,) * 4), 10, 8, slots)[0]

    assert status([1, 2], [0, 8]) == UNKNOWN_CHANNEL
    assert status([1, 2], [-1, 0]) == UNKNOWN_CHANNEL
    assert status([1, 10], [0, 0]) == UNKNOWN_ACCOUNT
    assert status([-1, 2], [0, 0]) == UNKNOWN_ACCOUNT
    assert status([3, 3], [0, 0]) == DUPLICATES
    assert status([3, 3], [0, 1]) == EXPANDED
    assert not slots.any()
