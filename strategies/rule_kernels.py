"""Compiled strategy rule evaluation: which rule of a strategy's table applies to each account,
and the recovery path of each charged-off claim (:mod:`strategies.rules` builds the tables).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.actions import AccountView, ActionRequests
from sim.jit import AHEAD as _AHEAD
from sim.jit import JIT as _JIT
from sim.jit import as_ids, prefetch, prefetch2
from sim.jit import decay as _decay
from sim.jit import decay_table as _decay_table

#: The index of a 64-bit word's single set bit: ``_BIT_INDEX[(bit * _DE_BRUIJN) >> 58]``
#: (a de Bruijn sequence makes the top six bits of the product distinct for each bit).
_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
_BIT_INDEX = np.zeros(64, np.int64)
for _b in range(64):
    _BIT_INDEX[((1 << _b) * 0x03F79D71B4CB0A89 % 2**64) >> 58] = _b


@njit(**_JIT)
def rule_requests(account, dpd, day, book, table):
    """Evaluate a table of up to 64 contact rules over a view, visiting each account once.

    ``book`` is the accounts' ``(last_contact, hardship_seen, promises_broken,
    arrears_principal, arrears_interest, fees_due)`` and ``table`` the rules' parallel
    ``(code, dpd_min, dpd_max, min_days_since, hardship_seen_only, priority)``.

    Rule ``r`` selects, in view order, the accounts with ``dpd_min[r] <= dpd <= dpd_max[r]``
    whose last attempt on channel ``code[r]`` is at least ``min_days_since[r]`` days ago (and,
    when ``hardship_seen_only[r]``, whose hardship indicator is on). Requests come rule by rule.

    Returns
    -------
    account, channel, priority, value, rule, position : ndarray
        Parallel request arrays; ``value`` is the view's expected value (arrears times
        ``exp(-dpd / 45) / (1 + promises broken)``), ``rule`` the index of the rule that made
        the request and ``position`` the account's position in the view.
    """
    last_contact, hardship_seen, promises_broken, arrears_principal, arrears_interest, fees_due = (
        book
    )
    code, dpd_min, dpd_max, min_days_since, hardship_seen_only, priority = table
    n = account.size
    n_rules = code.size
    chosen = np.zeros(n, np.uint64)  # bit r: rule r selects view position k
    value = np.empty(n)
    per_rule = np.zeros(n_rules, np.int64)
    one = np.uint64(1)
    value_table = _decay_table(45.0)
    for k in range(n):
        if k + _AHEAD < n:
            j = account[k + _AHEAD]
            prefetch(fees_due, j)
            prefetch2(last_contact, code[0], j)
        d = dpd[k]
        i = account[k]
        bits = np.uint64(0)
        for r in range(n_rules):
            if d < dpd_min[r] or d > dpd_max[r]:
                continue
            if day - last_contact[code[r], i] < min_days_since[r]:
                continue
            if hardship_seen_only[r] and not hardship_seen[i]:
                continue
            bits |= one << np.uint64(r)
            per_rule[r] += 1
        if bits:
            chosen[k] = bits
            arrears = arrears_principal[i] + arrears_interest[i] + fees_due[i]
            value[k] = arrears * (_decay(value_table, max(d, 0), 45.0) / (1.0 + promises_broken[i]))
    # rule r's requests fill the slots from start[r], in view order: one pass over the view,
    # visiting only the rules each account matched (lowest set bit first)
    start = np.empty(n_rules, np.int64)
    m = 0
    for r in range(n_rules):
        start[r] = m
        m += per_rule[r]
    out_acc = np.empty(m, np.int64)
    out_chan = np.empty(m, np.int8)
    out_prio = np.empty(m, np.float64)
    out_value = np.empty(m, np.float64)
    out_rule = np.empty(m, np.int16)
    out_pos = np.empty(m, np.int64)
    for k in range(n):
        bits = chosen[k]
        while bits:
            low = bits & (~bits + one)
            r = _BIT_INDEX[(low * _DE_BRUIJN) >> np.uint64(58)]
            bits ^= low
            j = start[r]
            start[r] = j + 1
            out_acc[j] = account[k]
            out_chan[j] = code[r]
            out_prio[j] = priority[r]
            out_value[j] = value[k]
            out_rule[j] = r
            out_pos[j] = k
    return out_acc, out_chan, out_prio, out_value, out_rule, out_pos


@njit(**_JIT)
def rule_attributes(rule, attempts, hour_start, hour_end, fallback):
    """Each request's attempts, hours and fall-back channel, from the rule that made it."""
    n = rule.size
    out = (
        np.empty(n, np.int8),
        np.empty(n, np.int8),
        np.empty(n, np.int8),
        np.empty(n, np.int8),
    )
    for k in range(n):
        r = rule[k]
        out[0][k] = attempts[r]
        out[1][k] = hour_start[r]
        out[2][k] = hour_end[r]
        out[3][k] = fallback[r]
    return out


@njit(**_JIT)
def first_matching_path(
    claim, purpose, credit, capacity, balance_min, balance_max, segments, path, default
):
    """The path of the first recovery rule each charged-off claim matches (``default`` when
    none does): rule ``r`` takes claims in ``[balance_min[r], balance_max[r])`` whose purpose,
    credit standing and capacity codes are set in the bit masks ``segments[r, 0..2]``."""
    n = claim.size
    out = np.empty(n, np.int64)
    for k in range(n):
        out[k] = default
        for r in range(path.size):
            if (
                balance_min[r] <= claim[k] < balance_max[r]
                and (segments[r, 0] >> purpose[k]) & 1
                and (segments[r, 1] >> credit[k]) & 1
                and (segments[r, 2] >> capacity[k]) & 1
            ):
                out[k] = path[r]
                break
    return out


def requests_by_rules(
    view: AccountView,
    channel: np.ndarray,
    dpd_min: np.ndarray,
    dpd_max: np.ndarray,
    min_days_since: np.ndarray,
    hardship_seen_only: np.ndarray,
    priority: np.ndarray,
) -> tuple[ActionRequests, np.ndarray, np.ndarray]:
    """Requests of a table of contact rules, evaluated in one compiled pass.

    Rule ``r`` (one entry of each parallel array) asks for channel ``channel[r]`` for the
    accounts of ``view`` with ``dpd_min[r] <= dpd <= dpd_max[r]`` whose days since contact on
    that channel are at least ``min_days_since[r]`` (and whose hardship indicator is on when
    ``hardship_seen_only[r]``), with ``priority[r]``. Requests come rule by rule, each in view
    order, valued by the view's ``expected_value``: exactly what a loop over the rules with
    array masks gives, without the gathers.

    Returns
    -------
    requests : ActionRequests
    rule : ndarray of int16
        The rule behind each request.
    position : ndarray of int64
        Each request's position in the view (to read view attributes for it).
    """
    p = view.portfolio
    table = [
        np.ascontiguousarray(channel, dtype=np.int64),
        np.ascontiguousarray(dpd_min, dtype=np.int64),
        np.ascontiguousarray(dpd_max, dtype=np.int64),
        np.ascontiguousarray(min_days_since, dtype=np.int64),
        np.ascontiguousarray(hardship_seen_only, dtype=np.bool_),
        np.ascontiguousarray(priority, dtype=np.float64),
    ]
    account = as_ids(view.account)
    dpd = np.ascontiguousarray(view.dpd)
    book = (
        p.last_contact,
        p.hardship_seen,
        p.promises_broken,
        p.arrears_principal,
        p.arrears_interest,
        p.fees_due,
    )
    parts = []
    for start in range(0, table[0].size, 64):  # the kernel takes up to 64 rules at a time
        acc, chan, prio, value, rule, pos = rule_requests(
            account,
            dpd,
            view.day,
            book,
            tuple(column[start : start + 64] for column in table),
        )
        parts.append((acc, chan, prio, value, rule + start, pos))
    if not parts:  # an empty table asks for nothing
        return ActionRequests.empty(), np.empty(0, np.int16), np.empty(0, np.int64)
    if len(parts) == 1:
        acc, chan, prio, value, rule, pos = parts[0]
    else:
        acc, chan, prio, value, rule, pos = (
            np.concatenate(col) for col in zip(*parts, strict=True)
        )
    if not acc.size:
        return ActionRequests.empty(), rule, pos
    return ActionRequests(acc, chan, prio, value), rule, pos
