"""Compliance's compiled checks: static rules per attempt and the ring of recent call attempts."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.constants import Status
from sim.jit import AHEAD as _AHEAD
from sim.jit import JIT as _JIT
from sim.jit import group_of as _group_of
from sim.jit import prefetch, prefetch2

_OPEN = int(Status.OPEN)
_PAID_OFF = int(Status.PAID_OFF)
_CHARGED_OFF = int(Status.CHARGED_OFF)


@njit(**_JIT)
def static_checks(att, window, third_party_allowed, channels, last_conversation, day):
    """The compliance checks that need no other attempt of the day, in one pass.

    ``att`` is the attempts' ``(account, channel, hour_start, hour_end)``, ``window`` the
    profile's ``(start, end, quiet_days)`` and ``channels`` the channel table's
    ``(third_party, is_call)``.

    An attempt is dropped, in this order, when its hours miss the window ``[start, end)``, when
    its channel is a third-party one and those are not allowed, or when it is a call within
    ``quiet_days`` (``< 0``: no quiet period) after an earlier day's conversation.

    Returns
    -------
    keep : ndarray of bool
    dropped : ndarray of int64
        Counts by reason: hours, third party, quiet period.
    """
    account, channel, hour_start, hour_end = att
    start, end, quiet_days = window
    third_party, is_call = channels
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
    n_acc = np.int64(0)  # not a literal: _group_of compiles once
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
