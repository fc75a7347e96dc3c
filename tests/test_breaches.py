"""The compiled breach count against the array formulas it replaced.

``count_breaches`` counts, among the attempts made, those that break a profile's daily rules
(hours, quiet period, daily caps); it must give what the numpy formulas below give for any
attempts: ties in execution order, NaN and -0.0 priorities, several calls of an account, caps
of 0 and profiles without some rule.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.breach_kernels import count_breaches
from sim.compliance import PROFILES, Attempts, reached
from sim.dispatch import _limits
from sim.rng import seed_key

N_CHANNELS = 8
IS_CALL = np.array([0, 0, 1, 0, 1, 0, 0, 0], bool)  # two call channels
TALKS = np.array([0, 0, 1, 0, 0, 0, 0, 0], bool)  # conversations on one of them
CH_REACH = np.linspace(0.3, 0.9, N_CHANNELS)
CH_TRAIT = np.arange(N_CHANNELS) % 3


def _breaches_reference(att, rpc_of, conversation_before, day, profile, is_call, talks):
    """The numpy implementation the kernel replaced (``sim.compliance.breaches``)."""
    if not len(att):
        return 0
    start, end = profile.contact_hours
    n = int((np.maximum(att.hour_start, start) >= np.minimum(att.hour_end, end)).sum())
    calls = np.flatnonzero(is_call[att.channel])
    if not calls.size:
        return n
    q = profile.quiet_days_after_conversation
    if q is not None:
        since = day - conversation_before[calls]
        n += int(((since >= 1) & (since <= q)).sum())
    conn_cap = profile.max_connected_calls_per_day
    unans_cap = profile.max_unanswered_calls_per_day
    _, inv, counts = np.unique(att.account[calls], return_inverse=True, return_counts=True)
    size = counts[inv]
    if conn_cap == 0 or unans_cap == 0:  # even a single call breaks a zero cap
        ok = rpc_of(att.take(calls[size == 1]))
        n += int(ok.sum()) if conn_cap == 0 else 0
        n += int((~ok).sum()) if unans_cap == 0 else 0
    multi = calls[size > 1]
    if not multi.size or (q is None and conn_cap is None and unans_cap is None):
        return n
    acc = att.account[multi]
    ok = rpc_of(att.take(multi))
    _, inv = np.unique(acc, return_inverse=True)
    if conn_cap is not None:
        n += int((np.bincount(inv, weights=ok) > conn_cap).sum())
    if unans_cap is not None:
        n += int((np.bincount(inv, weights=~ok) > unans_cap).sum())
    if q is not None:
        # a call after a conversation earlier today, in execution order (priority, attempt)
        order = np.lexsort((att.channel[multi], att.attempt[multi], -att.priority[multi], acc))
        conv = (ok & talks[att.channel[multi]])[order]
        a = acc[order]
        new = np.ones(a.size, bool)
        new[1:] = a[1:] != a[:-1]
        first = np.maximum.accumulate(np.where(new, np.arange(a.size), 0))
        c = np.cumsum(conv) - conv  # conversations strictly before, over the whole list
        n += int(((c - c[first]) > 0).sum())
    return n


PROFILE_CHOICES = [
    PROFILES["us_reg_f"],
    PROFILES["cn"],
    PROFILES["none"],
    replace(PROFILES["cn"], max_connected_calls_per_day=0, quiet_days_after_conversation=2),
    replace(PROFILES["us_reg_f"], max_unanswered_calls_per_day=0),
    replace(PROFILES["us_reg_f"], quiet_days_after_conversation=None),
]


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(0, 300),
    n_accounts=st.integers(1, 40),
    profile=st.sampled_from(PROFILE_CHOICES),
    seed=st.integers(0, 2**31),
)
def test_compiled_breach_count_matches_the_array_formulas(n, n_accounts, profile, seed) -> None:
    rng = np.random.default_rng(seed)
    reach = rng.random((n_accounts, 3))
    last_conversation = rng.integers(-5, 31, n_accounts).astype(np.int32)  # 30: today
    day = 30
    priority = rng.integers(0, 3, n).astype(float)
    priority[rng.random(n) < 0.05] = np.nan
    priority[rng.random(n) < 0.1] = -0.0
    att = Attempts(
        account=rng.integers(0, n_accounts, n),
        channel=rng.integers(0, N_CHANNELS, n),
        attempt=rng.integers(0, 3, n),
        priority=priority,
        value=np.zeros(n),
        hour_start=rng.integers(0, 12, n).astype(np.int8),
        hour_end=rng.integers(12, 25, n).astype(np.int8),
        fallback=np.full(n, -1, np.int8),
    )
    key = seed_key(seed)
    book = SimpleNamespace(reach=reach)  # reached() reads only the borrowers' reach

    def rpc_of(a):
        return reached(a, book, day, key, CH_REACH, CH_TRAIT)

    expected = _breaches_reference(
        att, rpc_of, last_conversation[att.account], day, profile, IS_CALL, TALKS
    )
    hours_start, hours_end, quiet, _, connected, unanswered = _limits(profile)
    found = count_breaches(
        (att.account, att.channel, att.attempt, att.priority, att.hour_start, att.hour_end),
        day,
        key,
        (hours_start, hours_end, quiet, connected, unanswered),
        IS_CALL,
        TALKS,
        (CH_REACH, CH_TRAIT, reach),
        last_conversation,
        np.zeros(n_accounts, np.int64),
    )
    assert found == expected
