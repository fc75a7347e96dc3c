"""Irritation, complaints and churn."""

from __future__ import annotations

import math

from numba import njit

from sim.borrower.params import IRRITATION_DECAY, NEG_LN2
from sim.jit import RULE, maximum, minimum
from sim.rng import Stream, uniform_at

_COMPLAINT = int(Stream.COMPLAINT)
_CHURN = int(Stream.CHURN)


@njit(**RULE)
def irritation_now(prm, tables, irritation, since, day):
    """The irritation stock decayed from day ``since`` to ``day``: it halves every
    ``irritation_half_life_days`` (``irritation * exp(-ln 2 (day - since) / half_life)``)."""
    if irritation == 0.0:  # 0 * exp(.) is 0 exactly: no decay to compute
        return irritation
    d = day - since
    if 0 <= d < tables.shape[1]:
        return irritation * tables[IRRITATION_DECAY, d]
    return irritation * math.exp(NEG_LN2 * d / prm[0].irritation_half_life_days)


@njit(**RULE)
def excess_irritation(irritation, tolerance):
    """``clip(irritation / tolerance - 1, 0, 1)``: how far the stock is above tolerance."""
    return minimum(maximum(irritation / tolerance - 1.0, 0.0), 1.0)


@njit(**RULE)
def complains(prm, off, i, excess):
    """A contacted borrower complains with chance ``complaint_rate * excess`` (stream
    ``COMPLAINT``)."""
    return uniform_at(off[_COMPLAINT], i) < prm[0].complaint_rate * excess


@njit(**RULE)
def churns(prm, off, i, excess, churned):
    """A contacted borrower not yet gone churns with chance ``churn_rate * excess`` (stream
    ``CHURN``)."""
    return uniform_at(off[_CHURN], i) < prm[0].churn_rate * excess and not churned
