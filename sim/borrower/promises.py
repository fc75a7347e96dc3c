"""Promises to pay: made in a right-party conversation, kept or broken when they fall due."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.constants import WILLINGNESS_CENTRE
from sim.jit import RULE, maximum, minimum, sigmoid
from sim.rng import Stream, uniform_at

_PROMISE = int(Stream.PROMISE)
_PROMISE_DAY = int(Stream.PROMISE_DAY)
_PROMISE_AMOUNT = int(Stream.PROMISE_AMOUNT)
_PROMISE_KEEP = int(Stream.PROMISE_KEEP)
_W_CENTRE = float(WILLINGNESS_CENTRE)

#: The promise rate is the channel's times ``PROMISE_RATE_FLOOR + sigmoid(w - 1.5)``.
PROMISE_RATE_FLOOR = 0.5
#: Share of promises for the full amount owed (the others: at most the last instalment).
FULL_AMOUNT_SHARE = 0.6
#: The keep chance is ``keep * (KEEP_FLOOR + KEEP_WILLINGNESS sigmoid(w - 1.5))``.
KEEP_FLOOR = 0.6
KEEP_WILLINGNESS = 0.8
#: A broken promise multiplies the repayment excitation by this.
BROKEN_EXCITATION_FACTOR = 0.5


@njit(**RULE)
def promise_made(off, counter, promise_rate, willingness, pending_day, day):
    """A right-party contact ends in a promise with chance ``promise_rate (0.5 + sigmoid(w -
    1.5))`` (stream ``PROMISE``, the attempt's counter), unless one is pending (due today or
    later: one promise at a time)."""
    rate = promise_rate * (PROMISE_RATE_FLOOR + sigmoid(willingness - _W_CENTRE))
    return uniform_at(off[_PROMISE], counter) < rate and pending_day < day


@njit(**RULE)
def promise_terms(prm, off, i, day, owed, last_instalment):
    """A new promise: due in ``1 + floor(u promise_days_max)`` days (stream ``PROMISE_DAY``),
    for everything owed with chance ``FULL_AMOUNT_SHARE``, else for at most the last instalment
    (stream ``PROMISE_AMOUNT``). Returns ``(due day, amount)``."""
    wait = 1.0 + np.floor(uniform_at(off[_PROMISE_DAY], i) * prm[0].promise_days_max)
    if uniform_at(off[_PROMISE_AMOUNT], i) < FULL_AMOUNT_SHARE:
        amount = owed
    else:
        amount = minimum(owed, last_instalment)
    return day + np.int32(wait), amount


@njit(**RULE)
def keep_chance(prm, in_hardship, willingness):
    """``clip(keep (0.6 + 0.8 sigmoid(w - 1.5)), 0, 1)``, ``keep`` = ``promise_keep``
    (``promise_keep_hardship`` in hardship)."""
    b = prm[0]
    base = b.promise_keep_hardship if in_hardship else b.promise_keep
    return minimum(
        maximum(base * (KEEP_FLOOR + KEEP_WILLINGNESS * sigmoid(willingness - _W_CENTRE)), 0.0),
        1.0,
    )


@njit(**RULE)
def keeps_promise(prm, off, i, in_hardship, willingness):
    """A promise falling due today is kept with :func:`keep_chance` (stream ``PROMISE_KEEP``);
    a kept one pays up to the promised amount, a broken one multiplies the excitation by
    ``BROKEN_EXCITATION_FACTOR``."""
    return uniform_at(off[_PROMISE_KEEP], i) < keep_chance(prm, in_hardship, willingness)
