"""Post-charge-off behaviour: the recovery luck of a charged-off account on its path."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.constants import WILLINGNESS_CENTRE
from sim.jit import RULE, maximum, minimum, sigmoid
from sim.rng import Stream, uniform_at

_RECOVERY_SUCCESS = int(Stream.RECOVERY_SUCCESS)
_RECOVERY_RATE = int(Stream.RECOVERY_RATE)
_RECOVERY_LAG = int(Stream.RECOVERY_LAG)
_W_CENTRE = float(WILLINGNESS_CENTRE)
#: Success chance ``success (SUCCESS_FLOOR + sigmoid(w - 1.5))``.
SUCCESS_FLOOR = 0.5
#: A success recovers ``s_mean (RATE_LOW + RATE_SPAN u)``; a failure ``f_mean FAILURE_SPAN u``.
RATE_LOW = 0.6
RATE_SPAN = 0.8
FAILURE_SPAN = 2.0
#: Rows of the recovery paths' table (a column per path).
SUCCESS, SUCCESS_RATE, FAILURE_RATE, LAG_DAYS, FIXED_COST, COMMISSION, PRICE = range(7)


@njit(**RULE)
def recovery_luck(once, i, willingness, table, path, sale):
    """Recovery of charged-off account ``i`` on ``path`` (once-per-account draws: ``once`` are
    the offsets of day ``sim.rng.ONCE``): success with chance ``clip(success (0.5 + sigmoid(w -
    1.5)), 0, 1)``; the rate ``clip(s_mean (0.6 + 0.8 u), 0, 1)`` on success, else ``f_mean 2
    u``, a sale's rate its price; the lag ``ceil(-log1p(-u) lag_mean)`` days, 0 for a sale.

    Returns ``(success, rate, lag)``."""
    will = sigmoid(willingness - _W_CENTRE)
    chance = minimum(maximum(table[SUCCESS, path] * (SUCCESS_FLOOR + will), 0.0), 1.0)
    ok = uniform_at(once[_RECOVERY_SUCCESS], i) < chance
    u = uniform_at(once[_RECOVERY_RATE], i)
    if path == sale:
        return ok, table[PRICE, path], np.int64(0)
    if ok:
        rate = minimum(maximum(table[SUCCESS_RATE, path] * (RATE_LOW + RATE_SPAN * u), 0.0), 1.0)
    else:
        rate = table[FAILURE_RATE, path] * FAILURE_SPAN * u
    lag = np.int64(
        math.ceil(-math.log1p(-uniform_at(once[_RECOVERY_LAG], i)) * table[LAG_DAYS, path])
    )
    return ok, rate, lag
