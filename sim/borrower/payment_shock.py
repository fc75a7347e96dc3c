"""Payment shock: the instalment against what the borrower was underwritten to pay.

A borrower's capacity is the payment the loan was underwritten for: the annuity payment of its
original terms (``Portfolio.capacity_payment``). An instalment above it (equal principal's heavier
first instalments, an interest-only balloon) raises the chance of missing it; one below it
(interest only before maturity, a restructuring that stretches the term) lowers it. The rule
multiplies the miss odds formed by :func:`sim.borrower.due_date.miss_probability` by
``(instalment / capacity) ** miss_payment_shock``.
"""

from __future__ import annotations

import math

from numba import njit

from sim.jit import RULE

#: A ratio this close to 1 is no shock: the annuity instalment equals the capacity up to the
#: rounding of ``interest + (payment - interest)``, and such a book keeps its numbers exactly.
_SAME = 1e-9


@njit(**RULE)
def shock_factor(prm, instalment, capacity):
    """``(instalment / capacity) ** miss_payment_shock``, the factor on the miss odds; 1 when the
    rule is off (``miss_payment_shock = 0``), when either amount is not positive, or when the
    ratio is within ``1e-9`` of 1."""
    beta = prm[0].miss_payment_shock
    if beta == 0.0 or instalment <= 0.0 or capacity <= 0.0:
        return 1.0
    ratio = instalment / capacity
    if abs(ratio - 1.0) < _SAME:
        return 1.0
    return math.exp(beta * math.log(ratio))


@njit(**RULE)
def shocked_miss(prm, p_miss, instalment, capacity):
    """The miss probability with the payment shock: odds ``p / (1 - p)`` times
    :func:`shock_factor` ``k``, i.e. ``p k / (1 - p + p k)`` (exactly ``p_miss`` when
    ``k = 1``)."""
    k = shock_factor(prm, instalment, capacity)
    if k == 1.0:
        return p_miss
    return p_miss * k / (1.0 - p_miss + p_miss * k)
