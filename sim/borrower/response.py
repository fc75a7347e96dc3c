"""Response to contact: reminders for forgetful borrowers, diminishing returns to repeated
contact, promises that displace payments and weaken with DPD, plans for current borrowers.

Each rule is off at its parameter's default (``sim.scenario.Behaviour`` / ``Restructuring``):
it then returns what the engine computed without it and draws nothing. The equations and the
evidence each parameter is anchored on are in docs/behaviour.md ("Response to contact"); the
parameters' ranges in ``sim/borrower/response_ranges.yaml``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.borrower.params import RUN_KEY
from sim.borrower.promises import keep_chance
from sim.borrower.repayment import excitation_now
from sim.constants import WILLINGNESS_CENTRE
from sim.jit import RULE, minimum, sigmoid
from sim.rng import Stream, stream_offset, uniform_at

_FORGETFUL = int(Stream.FORGETFUL)
_PROMISE_WAIT = int(Stream.PROMISE_WAIT)
_PROMISE_KEEP = int(Stream.PROMISE_KEEP)
_W_CENTRE = float(WILLINGNESS_CENTRE)


@njit(**RULE)
def forgetful(prm, off, i, willingness):
    """Is borrower ``i`` forgetful? A fixed trait of the book: ``u < min(1, 2 forgetful_share
    sigmoid(1.5 - w))`` with one draw per account and run (stream ``FORGETFUL`` dated day 0,
    whatever the day). Forgetfulness goes with low willingness (less organised borrowers pay
    late more often); over a book centred on ``w = 1.5`` the share is about
    ``forgetful_share``."""
    share = prm[0].forgetful_share
    if share <= 0.0:
        return False
    chance = minimum(2.0 * share * sigmoid(_W_CENTRE - willingness), 1.0)
    u = uniform_at(stream_offset(off[RUN_KEY], np.int64(_FORGETFUL), np.int64(0)), i)
    return u < chance


@njit(**RULE)
def reminded_miss_probability(prm, off, i, p_miss, in_hardship, willingness, last_reminded, day):
    """The miss chance at a due date after reminders: ``p_miss (1 - reminder_recall)`` for a
    forgetful borrower (:func:`forgetful`) out of hardship whom a contact reached within
    ``reminder_window_days`` before today (``last_reminded``: the book's array, read only when
    the rule is on), else ``p_miss``. A reminder does nothing for a borrower who cannot pay
    (in hardship) or who does not forget."""
    b = prm[0]
    if b.reminder_recall <= 0.0 or in_hardship:
        return p_miss
    if day - last_reminded[i] > b.reminder_window_days:
        return p_miss
    if not forgetful(prm, off, i, willingness):
        return p_miss
    return p_miss * (1.0 - b.reminder_recall)


@njit(**RULE)
def contact_excite(prm, tables, excitation, since, day, jump):
    """The excitation after today's contacts (``jump``: their summed
    :func:`sim.borrower.contact.contact_jump`): the excitation ``E`` decayed to today plus
    ``jump S / (S + E)`` with ``S = contact_saturation`` (0: plus ``jump``). A borrower already
    excited (recently contacted, or paying) gains less from another contact."""
    e = excitation_now(prm, tables, excitation, since, day)
    s = prm[0].contact_saturation
    if s > 0.0:
        return e + jump * s / (s + e)
    return e + jump


@njit(**RULE)
def keeps_promise(prm, off, i, in_hardship, willingness, dpd):
    """A promise falling due today at ``dpd`` is kept with
    :func:`sim.borrower.promises.keep_chance` times ``exp(-dpd / promise_dpd_scale)`` (1 when
    the scale is off; stream ``PROMISE_KEEP``, the draw of
    :func:`sim.borrower.promises.keeps_promise`)."""
    chance = keep_chance(prm, in_hardship, willingness)
    scale = prm[0].promise_dpd_scale
    if scale > 0.0:
        chance *= math.exp(-dpd / scale)
    return uniform_at(off[_PROMISE_KEEP], i) < chance


@njit(**RULE)
def waits_for_promise(prm, off, i, promise_day, day):
    """With a promise pending (due after today) the borrower makes no payment of its own today
    with chance ``promise_displacement`` (stream ``PROMISE_WAIT``; no draw when 0): the
    promised payment displaces a payment it would have made anyway."""
    chance = prm[0].promise_displacement
    return chance > 0.0 and promise_day > day and uniform_at(off[_PROMISE_WAIT], i) < chance


@njit(**RULE)
def hardship_weight(prm, in_hardship, restructured):
    """Weight of hardship's term in the miss logit: 0 out of hardship, ``1 - plan_relief`` in
    hardship on a plan (restructured), 1 otherwise."""
    if not in_hardship:
        return 0.0
    if restructured:
        return 1.0 - prm[0].plan_relief
    return 1.0


def pay_within_uplift(jump: float, decay_days: float, window_days: float) -> float:
    """What a contact's excitation ``jump`` means: the rise in the chance of paying within
    ``window_days`` for a borrower who would not have paid otherwise, ``1 - exp(-jump tau (1 -
    exp(-W / tau)))`` with ``tau = excitation_decay_days`` (the jump's added cumulative
    intensity over the window). For the tables of docs/behaviour.md and the ranges file."""
    added = jump * decay_days * (1.0 - math.exp(-window_days / decay_days))
    return 1.0 - math.exp(-added)
