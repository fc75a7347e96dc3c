"""Hardship onset and exit, the medical-expense shock, the early-warning signal, DTI drift."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.constants import MONTH_DAYS
from sim.jit import RULE, maximum
from sim.rng import Stream, uniform_at

_HARDSHIP = int(Stream.HARDSHIP)
_EARLY_WARNING = int(Stream.EARLY_WARNING)
_DTI_DRIFT = int(Stream.DTI_DRIFT)
_MEDICAL_SHOCK = int(Stream.MEDICAL_SHOCK)

#: The lender's hardship indicator: share of true hardship it shows, and false alarms.
SIGNAL_TRUE_POSITIVE = 0.6
SIGNAL_FALSE_ALARM = 0.01
#: Debt-to-income drift at a due date: spread of the noise, and the rise in hardship.
DTI_DRIFT_SPREAD = 0.04
DTI_DRIFT_HARDSHIP = 0.06
_PER_DAY = float(MONTH_DAYS)  # the onset hazard is monthly


@njit(**RULE)
def hardship_update(prm, off, i, day, in_hardship, since, hazard, cumulative):
    """The two-state hardship process of account ``i`` brought from day ``since`` to ``day``.

    Over the ``e = day - since`` days, the onset hazard ``a`` is the account's monthly hazard
    ``hazard / 30`` averaged over the macro onset multiplier (``cumulative[0]`` is its running
    sum, :class:`sim.macro.MacroPath`) and the recovery hazard ``b`` is ``1 /
    hardship_spell_days`` averaged over the macro recovery multiplier (``cumulative[1]``:
    spells lengthen when unemployment is above its reference); the chance of being in
    hardship now is ``pi + (h0 - pi) exp(-(a + b) e)`` with ``pi = a / (a + b)`` (stream
    ``HARDSHIP``).

    Returns
    -------
    state : bool
    stamp : int
        The day the state now refers to (``since`` unchanged, and no draw, if ``day <= since``).
    """
    if day - since <= 0:
        return in_hardship, since
    elapsed = np.float64(day - since)
    start = min(max(since, 0), day)
    days = maximum(elapsed, 1.0)
    a = hazard / _PER_DAY * (cumulative[0, day] - cumulative[0, start]) / days
    # written so that a flat path gives exactly 1 / spell (results bit-identical without a gap)
    b = 1.0 / prm[0].hardship_spell_days * ((cumulative[1, day] - cumulative[1, start]) / days)
    pi = a / (a + b)
    h0 = 1.0 if in_hardship else 0.0
    p1 = pi + (h0 - pi) * math.exp(-(a + b) * elapsed)
    return uniform_at(off[_HARDSHIP], i) < p1, day


@njit(**RULE)
def medical_shock(prm, off, i):
    """A medical-expense shock at a due date: chance ``medical_shock_monthly`` (stream
    ``MEDICAL_SHOCK``; no draw when 0). A shocked borrower is in hardship from today (its
    usual spell follows) and this due date's miss logit rises by ``medical_shock_miss_push``
    (:func:`sim.borrower.due_date.miss_probability`)."""
    chance = prm[0].medical_shock_monthly
    return chance > 0.0 and uniform_at(off[_MEDICAL_SHOCK], i) < chance


@njit(**RULE)
def hardship_signal(off, i, in_hardship):
    """The lender's noisy hardship indicator: shown for ``SIGNAL_TRUE_POSITIVE`` of true cases
    and ``SIGNAL_FALSE_ALARM`` of the others (stream ``EARLY_WARNING``)."""
    u = uniform_at(off[_EARLY_WARNING], i)
    return u < SIGNAL_TRUE_POSITIVE if in_hardship else u < SIGNAL_FALSE_ALARM


@njit(**RULE)
def dti_factor(off, i, in_hardship):
    """Debt-to-income is multiplied at each due date by ``exp(DTI_DRIFT_SPREAD (u - 1/2) +
    DTI_DRIFT_HARDSHIP h)`` (``u`` uniform, stream ``DTI_DRIFT``; ``h`` 1 in hardship)."""
    h = 1.0 if in_hardship else 0.0
    return math.exp(
        DTI_DRIFT_SPREAD * (uniform_at(off[_DTI_DRIFT], i) - 0.5) + DTI_DRIFT_HARDSHIP * h
    )
