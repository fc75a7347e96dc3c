"""Contact outcomes: reach, excitation, promises, restructuring take-up, irritation, complaints
and churn (the rules of :mod:`sim.borrower.contact`, :mod:`sim.borrower.promises`,
:mod:`sim.borrower.restructuring` and :mod:`sim.borrower.irritation`, over the day's served
attempts)."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.borrower import contact as contact_rules
from sim.borrower import irritation as irritation_rules
from sim.borrower import promises as promise_rules
from sim.borrower import response as response_rules
from sim.borrower import restructuring as restructuring_rules
from sim.borrower.params import behaviour_values, day_offsets
from sim.constants import NEVER, Status
from sim.jit import AHEAD as _AHEAD
from sim.jit import JIT as _JIT
from sim.jit import dpd as _dpd
from sim.jit import group_of as _group_of
from sim.jit import numpy_sum, prefetch, prefetch2
from sim.kernels.ledger import restructure_loans

_OPEN = int(Status.OPEN)
_PAID_OFF = int(Status.PAID_OFF)
_CHARGED_OFF = int(Status.CHARGED_OFF)


@njit(**_JIT)
def contact_outcomes(
    account, channel, attempt, day, key, prm, tables, chan, restructure_code, book
):
    """Play out the served attempts (in request order): reach, cost, excitation, promises.

    ``chan`` holds the channel records (:func:`sim.borrower.params.channel_records`); ``book``
    the arrays ``(last_contact, reach, missed, last_due_day, missed_reminder,
    episode_contacted, last_conversation, sensitivity, excitation, excitation_day, willingness,
    promise_day, promise_amount, fees_due, arrears_interest, arrears_principal,
    last_instalment, last_reminded, slots)``. The rules are :mod:`sim.borrower.contact` and
    :mod:`sim.borrower.promises`:

    * every attempt is stamped in ``last_contact`` and reaches the right party or not
      (:func:`~sim.borrower.contact.right_party_contact`);
    * a pre-due reminder (current account) records whether it missed the borrower, and the day
      it reached it (``last_reminded``); a restructuring offer that reaches a current borrower
      is an early-warning offer (in ``offers``);
    * a right-party contact with a delinquent borrower: on conversation channels (a person:
      call, visit, or a channel where promises are made) it is a conversation
      (``episode_contacted``, ``last_conversation``); it raises the excitation
      (:func:`~sim.borrower.contact.contact_jump`, summed per account in request order, then
      added to the decayed excitation with diminishing returns,
      :func:`~sim.borrower.response.contact_excite`); it may end in a promise (one per account
      and day).

    Returns
    -------
    attempts, rpc : ndarray of int64, one per channel code
    cost : ndarray of float, one per channel code
        Attempt cost plus contact cost on right-party contacts, summed in request order.
    offers : ndarray of int64
        Accounts reached by a restructuring offer (may repeat; request order).
    promises : int
        Promises made.
    """
    last_contact, reach, missed, last_due_day, missed_reminder, episode_contacted = book[:6]
    last_conversation, sensitivity, excitation, excitation_day, willingness = book[6:11]
    promise_day, promise_amount, fees_due, arrears_interest, arrears_principal = book[11:16]
    last_instalment, last_reminded, slots = book[16:]
    n_channels = chan.size
    attempts = np.zeros(n_channels, np.int64)
    rpcs = np.zeros(n_channels, np.int64)
    cost = np.zeros(n_channels)
    off = day_offsets(key, day)
    prm = behaviour_values(prm)  # a private copy (see behaviour_values)
    n = account.size
    for k in range(n):
        if k + _AHEAD < n:
            j = account[k + _AHEAD]
            prefetch2(last_contact, channel[k + _AHEAD], j)
            prefetch(missed, j)
            prefetch(sensitivity, j)
            prefetch(slots, j)
        last_contact[channel[k], account[k]] = day
    conv_acc = np.empty(n, np.int64)
    jump = np.zeros(n)
    offers = np.empty(n, np.int64)
    n_conv = np.int64(0)  # not a literal: _group_of compiles once
    n_offers = 0
    n_promises = 0
    for k in range(n):
        i = account[k]
        c = channel[k]
        ch = chan[c]
        counter = contact_rules.attempt_counter(i, c, attempt[k], n_channels)
        rpc = contact_rules.right_party_contact(off, counter, ch.reach, reach[i, ch.trait])
        attempts[c] += 1
        if rpc:
            rpcs[c] += 1
        cost[c] += ch.cost_attempt + (ch.cost_contact if rpc else 0.0)
        if missed[i] <= 0:
            missed_reminder[i] = not rpc  # pre-due reminder: the last one of the day counts
            if rpc:
                last_reminded[i] = day
                if c == restructure_code:  # an early-warning offer
                    offers[n_offers] = i
                    n_offers += 1
            continue
        if not rpc:
            continue
        # a right-party contact with a delinquent borrower
        if ch.conversation:
            episode_contacted[i] = True
            last_conversation[i] = day
        s, n_conv = _group_of(i, slots, conv_acc, n_conv)
        d = _dpd(day, missed[i], last_due_day[i])
        jump[s - 1] += contact_rules.contact_jump(prm, tables, ch.effect, sensitivity[i], d)
        if promise_rules.promise_made(
            off, counter, ch.promise_rate, willingness[i], promise_day[i], day
        ):
            owed = fees_due[i] + arrears_interest[i] + arrears_principal[i]
            promise_day[i], promise_amount[i] = promise_rules.promise_terms(
                prm, off, i, day, owed, last_instalment[i]
            )
            n_promises += 1
        if c == restructure_code:
            offers[n_offers] = i
            n_offers += 1
    for g in range(n_conv):
        if g + _AHEAD < n_conv:
            prefetch(excitation, conv_acc[g + _AHEAD])
        i = conv_acc[g]
        slots[i] = 0
        excitation[i] = response_rules.contact_excite(
            prm, tables, excitation[i], excitation_day[i], day, jump[g]
        )
        excitation_day[i] = day
    return attempts, rpcs, cost, offers[:n_offers], n_promises


@njit(**_JIT)
def irritation_and_churn(account, channel, day, key, prm, tables, chan, book):
    """Irritation, complaints and churn, once per contacted account (:mod:`sim.borrower.
    irritation`): the stock decays to today and grows by each attempt's irritation (summed per
    account in request order); above the borrower's tolerance it drives complaints and churn.
    ``book`` holds ``(irritation, irritation_day, tolerance, complaints, churned, slots)``.

    Returns
    -------
    n_complaints : int
    churners : ndarray of int64
        New churners (unordered).
    """
    irritation, irritation_day, tolerance, complaints, churned, slots = book
    n = account.size
    uniq = np.empty(n, np.int64)
    amount = np.zeros(n)
    n_acc = np.int64(0)  # not a literal: _group_of compiles once
    for k in range(n):
        if k + _AHEAD < n:
            prefetch(slots, account[k + _AHEAD])
        i = account[k]
        s, n_acc = _group_of(i, slots, uniq, n_acc)
        amount[s - 1] += chan[channel[k]].irritation
    off = day_offsets(key, day)
    prm = behaviour_values(prm)  # a private copy (see behaviour_values)
    churners = np.empty(n_acc, np.int64)
    n_churn = 0
    n_complaints = 0
    for g in range(n_acc):
        if g + _AHEAD < n_acc:
            j = uniq[g + _AHEAD]
            prefetch(irritation, j)
            prefetch(churned, j)
        i = uniq[g]
        slots[i] = 0
        irr = irritation_rules.irritation_now(prm, tables, irritation[i], irritation_day[i], day)
        irr += amount[g]
        irritation[i] = irr
        irritation_day[i] = day
        excess = irritation_rules.excess_irritation(irr, tolerance[i])
        if irritation_rules.complains(prm, off, i, excess):
            complaints[i] += 1
            n_complaints += 1
        if irritation_rules.churns(prm, off, i, excess, churned[i]):
            churned[i] = True
            churners[n_churn] = i
            n_churn += 1
    return n_complaints, churners[:n_churn]


@njit(**_JIT)
def restructuring_take_up(acc, day, key, prm, hardship, missed):
    """The accounts of ``acc`` (offered a restructuring today) that take it up
    (:func:`sim.borrower.restructuring.takes_up`). Returns their ids in ``acc`` order."""
    off = day_offsets(key, day)
    out = np.empty(acc.size, np.int64)
    m = 0
    for k in range(acc.size):
        i = acc[k]
        if restructuring_rules.takes_up(prm, off, i, hardship[i], missed[i]):
            out[m] = i
            m += 1
    return out[:m]


@njit(**_JIT)
def take_up_offers(
    offers,
    day,
    key,
    prm,
    hardship,
    missed,
    promise_day,
    episode_contacted,
    loan,
):
    """Restructuring offers made today (``offers``: the distinct accounts offered, in id order,
    as ``numpy.unique`` gives them) and their take-up, in one call: the accounts that take the
    offer up (:func:`restructuring_take_up`)
    are re-amortised (:func:`restructure_loans`, ``loan`` its ten arrays from
    ``sched_balance`` to ``restructured``) and their pending promise dropped.

    Returns
    -------
    restructured : int
    waived : float
        Interest and fees waived (summed as ``numpy.sum`` sums them).
    cures : int
        Restructured accounts that were in arrears (a plan cures them; a current account's
        early-warning plan is no cure).
    self_cures : int
        Cured accounts never reached during the episode (a cure without contact).
    """
    yes = restructuring_take_up(offers, day, key, prm, hardship, missed)
    if yes.size == 0:
        return 0, 0.0, 0, 0
    cures = 0
    self_cures = 0
    for i in yes:
        if missed[i] > 0:
            cures += 1
            if not episode_contacted[i]:
                self_cures += 1
    waived = restructure_loans(yes, np.int64(prm[0].extension_months), *loan)
    for i in yes:
        promise_day[i] = NEVER
    return yes.size, numpy_sum(waived), cures, self_cures
