"""The compiled part of the day's dispatch: from expanded requests to the attempts made.

:func:`dispatch_attempts` runs steps 2-4 of :mod:`sim.dispatch` in one call (the compliance
checks that need no other attempt, staff capacity served by priority with fall-back channels,
and the caps that depend on today's earlier attempts), so that a day costs one pass over the
requests and not a few dozen array operations. Each step is its own function here, written
to give exactly what the array formulas of the earlier Python implementation gave:

* order by priority: a stable sort on ``(-priority, -value, account)`` (``numpy.lexsort``
  order; NaN sorts last as in numpy);
* the caps per account in execution order: a stable sort on ``(account, -priority, attempt,
  channel)``; a cap is tested against all earlier attempts of the account today (made or
  not) and the first stop ends the account's calls for the day; a later attempt that is not
  made is counted under the reason of the latest stop before it.

Right-party contact draws use the engine's own counters (``sim.compliance.reached``), so the
caps see the outcomes the engine will play out.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.borrower import contact as contact_rules
from sim.borrower.params import day_offsets
from sim.jit import ACCOUNT_HELPER as _ACCOUNT_HELPER
from sim.jit import AHEAD as _AHEAD
from sim.jit import JIT as _JIT
from sim.jit import prefetch
from sim.kernels import calls_in_window, group_sizes, static_checks

#: Positions in the ``dropped`` counts, ``sim.compliance.DROP_REASONS`` order.
_DUPLICATE = 0
_CALL_CAP_7D = 3  # then quiet period, daily connected cap, daily unanswered cap (stop codes 1-4)
_N_REASONS = 7


# --------------------------------------------------------------------------- ordering
_SIGN = np.uint64(1) << np.uint64(63)


@njit(**_ACCOUNT_HELPER)
def float_key(x):
    """An unsigned integer in the order numpy sorts floats: ascending, -0.0 equal to 0.0,
    NaN last."""
    if x != x:
        return np.uint64(0xFFFFFFFFFFFFFFFF)
    u = np.float64(x + 0.0).view(np.uint64)  # x + 0.0 turns -0.0 into 0.0
    return ~u if u & _SIGN else u | _SIGN


@njit(**_ACCOUNT_HELPER)
def _int_key(x):
    """An unsigned integer in the order of the signed integer ``x``."""
    return np.uint64(x) ^ _SIGN


@njit(**_ACCOUNT_HELPER)
def _row_before(keys, i, j):
    """Row ``i`` of ``keys`` sorts before row ``j`` (lexicographic, unsigned)."""
    for c in range(keys.shape[1]):
        if keys[i, c] != keys[j, c]:
            return keys[i, c] < keys[j, c]
    return False


#: Runs sorted by insertion before merging.
_RUN = 16


@njit(**_JIT)
def _sort_rows(keys):
    """The stable permutation that sorts the rows of ``keys`` (insertion-sorted runs, then
    bottom-up merges; equal rows keep their order)."""
    n = keys.shape[0]
    a = np.arange(n)
    for lo in range(0, n, _RUN):
        hi = min(lo + _RUN, n)
        for q in range(lo + 1, hi):
            x = a[q]
            r = q - 1
            while r >= lo and _row_before(keys, x, a[r]):
                a[r + 1] = a[r]
                r -= 1
            a[r + 1] = x
    b = np.empty(n, np.int64)
    width = _RUN
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            x, y, k = lo, mid, lo
            while x < mid and y < hi:
                if _row_before(keys, a[y], a[x]):
                    b[k] = a[y]
                    y += 1
                else:
                    b[k] = a[x]
                    x += 1
                k += 1
            while x < mid:
                b[k] = a[x]
                x += 1
                k += 1
            while y < hi:
                b[k] = a[y]
                y += 1
                k += 1
        a, b = b, a
        width *= 2
    return a


@njit(**_JIT)
def _serving_keys(pos, priority, value, account):
    """Rows that sort entries ``pos`` into serving order: higher priority, then value, then
    lower account, then earlier position (numpy's stable lexsort of ``(account, -value,
    -priority)``). The last column makes every row unique."""
    m = pos.size
    keys = np.empty((m, 4), np.uint64)
    for q in range(m):
        k = pos[q]
        keys[q, 0] = float_key(-priority[k])
        keys[q, 1] = float_key(-value[k])
        keys[q, 2] = _int_key(account[k])
        keys[q, 3] = np.uint64(q)
    return keys


@njit(**_JIT)
def _smallest(keys, cut):
    """Which ``cut`` rows of ``keys`` (all distinct) sort first: a selection by partitions
    around a median of three, O(n) on average; a full sort if it ever takes too many steps."""
    n = keys.shape[0]
    first = np.zeros(n, np.bool_)
    a = np.arange(n)
    lo, hi, steps = 0, n, 0
    while hi - lo > 1 and lo < cut < hi:
        steps += 1
        if steps > 100:  # adversarial order: sort instead
            order = _sort_rows(keys)
            for q in range(cut):
                first[order[q]] = True
            return first
        x, y, z = a[lo], a[(lo + hi - 1) // 2], a[hi - 1]
        if _row_before(keys, y, x):
            x, y = y, x
        if _row_before(keys, z, y):
            y = z
            if _row_before(keys, y, x):
                y = x
        pivot = y
        store = lo
        for q in range(lo, hi):
            if _row_before(keys, a[q], pivot):
                a[q], a[store] = a[store], a[q]
                store += 1
        if store >= cut:
            hi = store
        else:  # the pivot is the smallest of the rest: put it next
            for q in range(store, hi):
                if a[q] == pivot:
                    a[q], a[store] = a[store], a[q]
                    break
            lo = store + 1
    for q in range(cut):
        first[a[q]] = True
    return first


@njit(**_JIT)
def _sort_made(pos, account, priority, attempt, channel):
    """``pos`` in the order attempts are made: by account, then higher priority, then
    attempt, then channel, then position (numpy's lexsort of ``(channel, attempt, -priority,
    account)``)."""
    m = pos.size
    keys = np.empty((m, 4), np.uint64)
    for q in range(m):
        k = pos[q]
        keys[q, 0] = _int_key(account[k])
        keys[q, 1] = float_key(-priority[k])
        keys[q, 2] = _int_key(attempt[k])
        keys[q, 3] = _int_key(channel[k])
    return pos[_sort_rows(keys)]


# --------------------------------------------------------------------------- capacity
@njit(**_JIT)
def allocate_by_priority(channel, priority, value, account, capacity):
    """Which entries the staff can serve (see ``sim.capacity.allocate_mask``).

    For a channel whose demand exceeds ``floor(max(capacity, 0))``, the entries in serving
    order (:func:`_serving_keys`) beyond that many are not served.

    Returns
    -------
    keep : ndarray of bool
    unserved : ndarray of int64, one per channel code
    """
    n_channels = capacity.size
    n = channel.size
    keep = np.ones(n, np.bool_)
    unserved = np.zeros(n_channels, np.int64)
    demand = np.zeros(n_channels, np.int64)
    for k in range(n):
        demand[channel[k]] += 1
    for c in range(n_channels):
        limit = np.floor(max(capacity[c], 0.0))
        if not demand[c] > limit:
            continue
        pos = np.empty(demand[c], np.int64)
        m = 0
        for k in range(n):
            if channel[k] == c:
                pos[m] = k
                m += 1
        cut = int(limit)
        served = _smallest(_serving_keys(pos, priority, value, account), cut)
        for q in range(m):
            if not served[q]:
                keep[pos[q]] = False
        unserved[c] = m - cut
    return keep, unserved


# --------------------------------------------------------------------------- the pipeline
@njit(**_ACCOUNT_HELPER)
def _all(mask):
    """Every entry of a boolean array is set (a loop, so that no array is live in it)."""
    for k in range(mask.size):
        if not mask[k]:
            return False
    return True


#: What :func:`expand_requests` found (nothing is expanded unless ``EXPANDED``).
EXPANDED, UNKNOWN_CHANNEL, UNKNOWN_ACCOUNT, DUPLICATES = 0, 1, 2, 3


@njit(**_JIT)
def expand_requests(req, n_accounts, n_channels, slots):
    """The attempts of a day's requests (step 1 of :mod:`sim.dispatch`), checked in one pass.

    ``req`` is ``(account, channel, priority, value, attempts, hour_start, hour_end,
    fallback)``; an optional field the strategy left out is an empty array and takes its
    default (value 0, one attempt, hours 0-24, no fall-back). A request for ``a`` attempts
    (at least 1) becomes ``a`` attempts numbered from 0, in request order.

    Returns
    -------
    status : int
        ``EXPANDED``; or, with nothing expanded, ``UNKNOWN_CHANNEL`` (a code outside
        ``[0, n_channels)``), ``UNKNOWN_ACCOUNT`` (an id outside the book) or ``DUPLICATES``
        (an account and channel requested twice: the caller keeps one of each first).
    att : tuple of ndarray
        The attempts (the eight fields of :func:`dispatch_attempts`).
    """
    account, channel, priority, value, attempts, hour_start, hour_end, fallback = req
    n = account.size
    total = 0
    status = EXPANDED
    for k in range(n):
        if channel[k] < 0 or channel[k] >= n_channels:
            status = UNKNOWN_CHANNEL
            break
        total += max(attempts[k], 1) if attempts.size else 1
    for k in range(n if status == EXPANDED else 0):
        if account[k] < 0 or account[k] >= n_accounts:
            status = UNKNOWN_ACCOUNT
            break
    if status == EXPANDED:  # a bit per channel in each account's slot (cleared after)
        for k in range(n):
            if k + _AHEAD < n:
                prefetch(slots, account[k + _AHEAD])
            bit = np.int64(1) << np.int64(channel[k])
            if slots[account[k]] & bit:
                status = DUPLICATES
            slots[account[k]] |= bit
        for k in range(n):
            slots[account[k]] = 0
    if status != EXPANDED:
        total = 0
    out = (
        np.empty(total, np.int64),
        np.empty(total, np.int64),
        np.empty(total, np.int64),
        np.empty(total, np.float64),
        np.empty(total, np.float64),
        np.empty(total, np.int8),
        np.empty(total, np.int8),
        np.empty(total, np.int8),
    )
    j = 0
    for k in range(n if status == EXPANDED else 0):
        a = max(attempts[k], 1) if attempts.size else 1
        for q in range(a):
            out[0][j] = account[k]
            out[1][j] = channel[k]
            out[2][j] = q
            out[3][j] = priority[k]
            out[4][j] = value[k] if value.size else 0.0
            out[5][j] = hour_start[k] if hour_start.size else 0
            out[6][j] = hour_end[k] if hour_end.size else 24
            out[7][j] = fallback[k] if fallback.size else -1
            j += 1
    return status, out


@njit(**_JIT)
def _positions(mask):
    n = 0
    for k in range(mask.size):
        if mask[k]:
            n += 1
    out = np.empty(n, np.int64)
    m = 0
    for k in range(mask.size):
        if mask[k]:
            out[m] = k
            m += 1
    return out


@njit(**_JIT)
def reached(pos, account, channel, attempt, draws):
    """Right-party contact of the attempts at ``pos``: the engine's draws exactly; ``draws``
    is ``(day, key, channel reach, channel reachability trait, borrowers' reach)``."""
    day, key, ch_reach, ch_trait, reach = draws
    n_channels = ch_reach.size
    off = day_offsets(key, day)
    out = np.empty(pos.size, np.bool_)
    for q in range(pos.size):
        k = pos[q]
        i = account[k]
        c = channel[k]
        counter = contact_rules.attempt_counter(i, c, attempt[k], n_channels)
        out[q] = contact_rules.right_party_contact(off, counter, ch_reach[c], reach[i, ch_trait[c]])
    return out


@njit(**_JIT)
def _sequential_caps(att, limits, draws, is_call, talks, call_ring, slots, dropped):
    """Keep mask of the caps that depend on today's earlier attempts; ``limits`` is
    ``(cap_7d, quiet, connected, unanswered)`` (``-1``: no such cap), ``draws`` as in
    :func:`reached`. Drops are added to ``dropped``."""
    account, channel, attempt, priority = att[0], att[1], att[2], att[3]
    cap7, quiet, conn_cap, unans_cap = limits
    day = draws[0]
    n = account.size
    keep = np.ones(n, np.bool_)
    call_mask = np.empty(n, np.bool_)
    for k in range(n):
        call_mask[k] = is_call[channel[k]]
    calls = _positions(call_mask)
    if calls.size == 0 or (cap7 < 0 and conn_cap < 0 and unans_cap < 0 and quiet < 0):
        return keep
    acc_calls = account[calls]
    size = group_sizes(acc_calls, slots)
    # a single call attempt today: only the 7-day cap and daily caps at 0 can stop it
    single = calls[size == 1]
    if single.size:
        stop1 = np.zeros(single.size, np.int64)
        if cap7 >= 0:
            used = calls_in_window(account[single], call_ring, day - 7)
            for q in range(single.size):
                if used[q] + 1 > cap7:
                    stop1[q] = 1
        if conn_cap == 0 or unans_cap == 0:
            ok = reached(single, account, channel, attempt, draws)
            for q in range(single.size):
                if stop1[q] == 0 and conn_cap == 0 and ok[q]:
                    stop1[q] = 3
                if stop1[q] == 0 and unans_cap == 0 and not ok[q]:
                    stop1[q] = 4
        for q in range(single.size):
            if stop1[q] > 0:
                keep[single[q]] = False
                dropped[_CALL_CAP_7D + stop1[q] - 1] += 1
    multi = calls[size > 1]
    if multi.size == 0:
        return keep
    idx = _sort_made(multi, account, priority, attempt, channel)
    ok = reached(idx, account, channel, attempt, draws)
    used = calls_in_window(account[idx], call_ring, day - 7) if cap7 >= 0 else idx
    start = 0
    while start < idx.size:
        end = start + 1
        while end < idx.size and account[idx[end]] == account[idx[start]]:
            end += 1
        conv_before = 0
        ok_before = 0
        not_ok_before = 0
        reason = 0  # of the latest stop so far in the group
        for q in range(start, end):
            k = idx[q]
            stop = 0
            if cap7 >= 0 and used[q] + (q - start) + 1 > cap7:
                stop = 1
            if quiet >= 0 and stop == 0 and conv_before > 0:
                stop = 2
            if conn_cap >= 0 and stop == 0 and ok_before >= conn_cap:
                stop = 3
            if unans_cap >= 0 and stop == 0 and not_ok_before >= unans_cap:
                stop = 4
            if stop > 0:
                reason = stop
            if reason > 0:
                keep[k] = False
                dropped[_CALL_CAP_7D + reason - 1] += 1
            if ok[q]:
                ok_before += 1
                if talks[channel[k]]:
                    conv_before += 1
            else:
                not_ok_before += 1
        start = end
    return keep


@njit(**_JIT)
def _first_of_each(account, channel, attempt, n_channels):
    """Which entries are the first of their (account, channel, attempt capped at 15), in
    order (an open-addressing hash set of the codes seen)."""
    n = account.size
    bits = 4
    while (1 << bits) < 2 * n:
        bits += 1
    size = 1 << bits
    table = np.full(size, -1, np.int64)
    mask = size - 1
    shift = np.uint64(64 - bits)  # the product's top bits: Fibonacci hashing
    keep = np.zeros(n, np.bool_)
    for k in range(n):
        code = (account[k] * n_channels + channel[k]) * 16 + min(attempt[k], 15)
        slot = np.int64((np.uint64(code) * np.uint64(0x9E3779B97F4A7C15)) >> shift)
        while table[slot] != -1 and table[slot] != code:
            slot = (slot + 1) & mask
        if table[slot] == -1:
            table[slot] = code
            keep[k] = True
    return keep


@njit(**_JIT)
def _take(pos, account, channel, attempt, priority, value, hour_start, hour_end, fallback):
    """The attempts at positions ``pos`` (all eight fields)."""
    return (
        account[pos],
        channel[pos],
        attempt[pos],
        priority[pos],
        value[pos],
        hour_start[pos],
        hour_end[pos],
        fallback[pos],
    )


@njit(**_JIT)
def _static(att, checks, dropped):
    """Step 1 of :func:`dispatch_attempts` on ``att`` (the eight fields); ``checks`` is
    ``(day, enforce, rules, third_party_allowed, is_call, third_party, last_conversation)``
    with ``rules = (hours_start, hours_end, quiet)``. Returns the attempts kept."""
    day, enforce, rules, third_party_allowed, is_call, third_party, last_conv = checks
    account, channel, attempt, priority, value, hour_start, hour_end, fallback = att
    if not enforce or account.size == 0:
        return att
    keep, counts = static_checks(
        (account, channel, hour_start, hour_end),
        rules,
        third_party_allowed,
        (third_party, is_call),
        last_conv,
        day,
    )
    dropped[1] += counts[0]
    dropped[2] += counts[1]
    dropped[4] += counts[2]
    if counts[0] + counts[1] + counts[2] == 0:
        return att
    pos = _positions(keep)
    return _take(pos, account, channel, attempt, priority, value, hour_start, hour_end, fallback)


@njit(**_JIT)
def _with_fall_back(att, served, checks, capacity, dropped):
    """Step 2's fall-back: the served attempts, then those moved to their fall-back channel
    that pass step 1 there and fit in the room left (first of each account, channel and
    attempt only)."""
    account, channel, attempt, priority, value, hour_start, hour_end, fallback = att
    n = served.size
    moving = np.zeros(n, np.bool_)
    for k in range(n):
        moving[k] = not served[k] and fallback[k] >= 0
    out = _positions(served)
    made = _take(out, account, channel, attempt, priority, value, hour_start, hour_end, fallback)
    fb = _positions(moving)
    if fb.size == 0:
        return made
    moved = _take(fb, account, channel, attempt, priority, value, hour_start, hour_end, fallback)
    moved = (
        moved[0],
        moved[7].astype(np.int64),  # the fall-back channel, without a fall-back of its own
        moved[2],
        moved[3],
        moved[4],
        moved[5],
        moved[6],
        np.full(fb.size, -1, np.int8),
    )
    moved = _static(moved, checks, dropped)
    busy = np.zeros(capacity.size, np.int64)
    for q in range(out.size):
        busy[channel[out[q]]] += 1
    fits, _ = allocate_by_priority(moved[1], moved[3], moved[4], moved[0], capacity - busy)
    pos = _positions(fits)
    if pos.size == 0:
        return made
    moved = _take(pos, *moved)
    both = (
        np.concatenate((made[0], moved[0])),
        np.concatenate((made[1], moved[1])),
        np.concatenate((made[2], moved[2])),
        np.concatenate((made[3], moved[3])),
        np.concatenate((made[4], moved[4])),
        np.concatenate((made[5], moved[5])),
        np.concatenate((made[6], moved[6])),
        np.concatenate((made[7], moved[7])),
    )
    first = _first_of_each(both[0], both[1], both[2], capacity.size)
    pos = _positions(first)
    if pos.size == first.size:
        return both
    dropped[_DUPLICATE] += first.size - pos.size
    return _take(pos, *both)


@njit(**_JIT)
def dispatch_attempts(att, day, key, profile, channels, book, slots):
    """The attempts made today from the day's expanded requests (steps 2-4 of
    :mod:`sim.dispatch`).

    ``att`` is ``(account, channel, attempt, priority, value, hour_start, hour_end,
    fallback)`` (int64, int64, int64, float64, float64, int8, int8, int8). ``profile`` is
    ``(enforce, rules, caps, third_party_allowed)`` of the compliance profile, with ``rules =
    (hours_start, hours_end, quiet)`` and ``caps = (cap_7d, connected, unanswered)``, ``-1``
    where the profile has no such rule; ``channels`` is the channel table's ``(is_call, talks,
    third_party, capacity, reach, reach_trait)`` and ``book`` the accounts' ``(last_conversation,
    call_ring, reach)``; ``slots`` is ``sim.kernels.account_slots``'s scratch.

    1. without ``enforce`` nothing is dropped for the profile; else attempts outside the hours
       ``[hours_start, hours_end)``, on third-party channels when those are not allowed, or
       calls within ``quiet`` days after an earlier day's conversation are dropped
       (``sim.kernels.static_checks``);
    2. staff-limited channels are served by priority up to ``capacity``
       (:func:`allocate_by_priority`); attempts not served move to their fall-back channel
       (when ``>= 0``), pass step 1 there and are served by priority in the room left; an
       attempt already made on that channel today is not repeated (counted as a duplicate);
    3. the caps that depend on today's earlier attempts, per account in execution order
       (:func:`_sequential_caps`).

    Returns
    -------
    att : tuple of ndarray
        The attempts made (the eight fields), in the order they are played out (served ones
        first, then fall-backs).
    dropped : ndarray of int64
        Attempts dropped by reason, ``sim.compliance.DROP_REASONS`` order.
    unserved : ndarray of int64
        Attempts per channel that staff could not serve (before fall-back).
    """
    enforce, rules, caps, third_party_allowed = profile
    is_call, talks, third_party, capacity, ch_reach, ch_trait = channels
    last_conversation, call_ring, reach = book
    dropped = np.zeros(_N_REASONS, np.int64)
    checks = (day, enforce, rules, third_party_allowed, is_call, third_party, last_conversation)
    att = _static(att, checks, dropped)
    served, unserved = allocate_by_priority(att[1], att[3], att[4], att[0], capacity)
    if not _all(served):
        att = _with_fall_back(att, served, checks, capacity, dropped)
    if enforce and att[0].size:
        limits = (caps[0], rules[2], caps[1], caps[2])
        draws = (day, key, ch_reach, ch_trait, reach)
        made = _sequential_caps(att, limits, draws, is_call, talks, call_ring, slots, dropped)
        pos = _positions(made)
        if pos.size < made.size:
            att = _take(pos, *att)
    return att, dropped, unserved


__all__ = ["allocate_by_priority", "dispatch_attempts", "expand_requests"]
