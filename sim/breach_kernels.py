"""Breaches of a compliance profile among the attempts made, counted apart from enforcement.

The dispatch (:mod:`sim.dispatch_kernels`) drops what a profile forbids; this module counts,
from the attempts actually made, those that break the profile's daily rules. It is written
separately on purpose, with its own way of grouping and ordering (no sort: each call is
compared with the other calls of its account), so that a fault in one shows in the other:
with enforcement on the count must be 0, with enforcement off it is the breach KPI. The 7-day
call cap is counted where the calls are written into each account's ring
(:func:`sim.kernels.record_call_attempts`); :func:`record_and_count_breaches` does both.

The rules read exactly as the array formulas that came before it (kept in
``tests/test_breaches.py`` as the reference):

* an attempt whose hours ``[hour_start, hour_end)`` miss the profile's window;
* a call within ``quiet`` days after an earlier day's conversation;
* an account with one call today and a daily cap of 0 on its outcome (connected or
  unanswered);
* an account with several calls today: one breach per cap (connected, unanswered) its
  outcomes exceed, and each call made after a conversation earlier today in execution order
  (higher priority first, then attempt, then channel, then the order made).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.dispatch_kernels import float_key, reached
from sim.jit import JIT as _JIT
from sim.jit import group_of as _group_of
from sim.kernels import record_call_attempts


@njit(**_JIT)
def _after(priority, attempt, channel, j, k):
    """Call ``j`` is made before call ``k`` of the same account (execution order)."""
    pj, pk = float_key(-priority[j]), float_key(-priority[k])
    if pj != pk:
        return pj < pk
    if attempt[j] != attempt[k]:
        return attempt[j] < attempt[k]
    if channel[j] != channel[k]:
        return channel[j] < channel[k]
    return j < k


@njit(**_JIT)
def count_breaches(att, day, key, limits, is_call, talks, draws, last_conversation, slots):
    """Breaches of the daily rules among the attempts made today.

    Parameters
    ----------
    att : tuple of ndarray
        ``(account, channel, attempt, priority, hour_start, hour_end)`` of the attempts made.
    day, key
        The day and the run's key (for the right-party contact draws, the engine's own).
    limits : tuple of int
        ``(hours_start, hours_end, quiet, connected_cap, unanswered_cap)``, ``-1`` where the
        profile has no such rule.
    is_call, talks : ndarray of bool
        Per channel: a call attempt; a call on which a conversation counts.
    draws : tuple
        ``(channel reach, channel reachability trait, borrowers' reach)``.
    last_conversation : ndarray
        Each account's last conversation day before today.
    slots : ndarray of int64
        Zeroed scratch, one per account (left zeroed).

    Returns
    -------
    int
    """
    account, channel, attempt, priority, hour_start, hour_end = att
    start, end, quiet, conn_cap, unans_cap = limits
    n = account.size
    found = 0
    n_calls = 0
    for k in range(n):
        if max(hour_start[k], start) >= min(hour_end[k], end):
            found += 1
        if is_call[channel[k]]:
            n_calls += 1
    if n_calls == 0:
        return found
    calls = np.empty(n_calls, np.int64)
    m = 0
    for k in range(n):
        if is_call[channel[k]]:
            calls[m] = k
            m += 1
    if quiet >= 0:
        for k in calls:
            since = day - last_conversation[account[k]]
            if since >= 1 and since <= quiet:
                found += 1
    if quiet < 0 and conn_cap < 0 and unans_cap < 0:
        return found
    ok = reached(calls, account, channel, attempt, (day, key, *draws))
    # group the calls by account: group numbers from 1, in order of first sight
    group = np.empty(n_calls, np.int64)
    first = np.empty(n_calls, np.int64)
    n_groups = np.int64(0)  # not a literal: _group_of compiles once
    for q in range(n_calls):
        group[q], n_groups = _group_of(account[calls[q]], slots, first, n_groups)
    for g in range(n_groups):
        slots[first[g]] = 0
    size = np.zeros(n_groups + 1, np.int64)
    n_ok = np.zeros(n_groups + 1, np.int64)
    for q in range(n_calls):
        size[group[q]] += 1
        n_ok[group[q]] += ok[q]
    for g in range(1, n_groups + 1):
        if size[g] == 1:  # a single call breaks a cap of 0 on its outcome
            if conn_cap == 0 and n_ok[g] == 1:
                found += 1
            if unans_cap == 0 and n_ok[g] == 0:
                found += 1
        else:
            if conn_cap >= 0 and n_ok[g] > conn_cap:
                found += 1
            if unans_cap >= 0 and size[g] - n_ok[g] > unans_cap:
                found += 1
    if quiet < 0:
        return found
    # a call after a conversation earlier today: compare each call of an account holding
    # several with the account's other calls (an account makes a handful a day at most)
    begin = np.zeros(n_groups + 2, np.int64)
    for g in range(1, n_groups + 1):
        begin[g + 1] = begin[g] + size[g]
    fill = begin.copy()
    members = np.empty(n_calls, np.int64)  # positions in ``calls``, by group
    for q in range(n_calls):
        members[fill[group[q]]] = q
        fill[group[q]] += 1
    for g in range(1, n_groups + 1):
        if size[g] < 2:
            continue
        for a in range(begin[g], begin[g + 1]):
            k = calls[members[a]]
            for b in range(begin[g], begin[g + 1]):
                qj = members[b]
                j = calls[qj]
                if j != k and ok[qj] and talks[channel[j]]:
                    if _after(priority, attempt, channel, j, k):
                        found += 1
                        break
    return found


@njit(**_JIT)
def record_and_count_breaches(
    att, day, key, limits, cap_7d, is_call, talks, draws, last_conversation, ring, slots
):
    """:func:`count_breaches`, then the calls made written into each account's ring of recent
    attempt days (``ring`` is ``(call_ring, call_ring_pos)``), which counts the 7-day cap's
    breaches (``cap_7d``, ``-1``: none): the day's breach count, in one call."""
    found = count_breaches(att, day, key, limits, is_call, talks, draws, last_conversation, slots)
    account, channel = att[0], att[1]
    n_calls = 0
    for k in range(account.size):
        n_calls += is_call[channel[k]]
    calls = np.empty(n_calls, np.int64)
    m = 0
    for k in range(account.size):
        if is_call[channel[k]]:
            calls[m] = account[k]
            m += 1
    if n_calls == 0:
        return found
    return found + record_call_attempts(calls, day, ring[0], ring[1], cap_7d, slots)


__all__ = ["count_breaches", "record_and_count_breaches"]
