"""A due date: paying or missing the instalment, prepayment, paying it while in arrears."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.borrower.response import hardship_weight
from sim.constants import DTI_CENTRE, WILLINGNESS_CENTRE
from sim.jit import JIT, RULE, minimum, sigmoid
from sim.rng import Stream, uniform_at

_DUE_PAYMENT = int(Stream.DUE_PAYMENT)
_PREPAYMENT = int(Stream.PREPAYMENT)
_INSTALMENT_PAY = int(Stream.INSTALMENT_PAY)
_W_CENTRE = float(WILLINGNESS_CENTRE)
#: Instalments behind from which ``delinquent_instalment_pay_late`` applies.
LATE_FROM = 2


@njit(**RULE)
def miss_logit(prm, willingness, hardship, dti, restructured):
    """``c0 - c_w (w - 1.5) + c_h hardship + c_dti (dti - 0.35) + c_r restructured`` (the
    ``miss_*`` parameters; ``hardship`` and ``restructured`` as 0/1 floats)."""
    b = prm[0]
    return (
        b.miss_intercept
        - b.miss_willingness * (willingness - _W_CENTRE)
        + b.miss_hardship * hardship
        + b.miss_dti * (dti - DTI_CENTRE)
        + b.miss_restructured * restructured
    )


@njit(**RULE)
def miss_probability(prm, willingness, in_hardship, dti, restructured, shocked):
    """Chance to miss the instalment: ``sigmoid(miss_logit)``, the logit raised by
    ``medical_shock_miss_push`` after a medical shock today; hardship's term weighted by
    :func:`sim.borrower.response.hardship_weight` (a plan may relieve it)."""
    logit = miss_logit(
        prm,
        willingness,
        hardship_weight(prm, in_hardship, restructured),
        dti,
        1.0 if restructured else 0.0,
    )
    if shocked:
        logit += prm[0].medical_shock_miss_push
    return sigmoid(logit)


@njit(**RULE)
def pays_instalment(off, i, p_miss):
    """A current account pays what it owes unless ``u < p_miss`` (stream ``DUE_PAYMENT``)."""
    return uniform_at(off[_DUE_PAYMENT], i) >= p_miss


@njit(**RULE)
def prepays(prm, off, i):
    """A current account that pays also pays off the loan with chance ``prepayment_monthly``
    (stream ``PREPAYMENT``; no draw when 0)."""
    chance = prm[0].prepayment_monthly
    return chance > 0.0 and uniform_at(off[_PREPAYMENT], i) < chance


@njit(**RULE)
def arrears_instalment_chance(prm, behind):
    """Chance that an account ``behind`` instalments in arrears pays the one falling due:
    ``delinquent_instalment_pay``; from ``LATE_FROM`` behind ``delinquent_instalment_pay_late``
    (when set) times ``exp(slope (behind - 2))`` capped at 1 (when the slope is not 0)."""
    b = prm[0]
    chance = b.delinquent_instalment_pay
    late = b.delinquent_instalment_pay_late
    if behind >= LATE_FROM and late >= 0.0:
        chance = late
        slope = b.delinquent_instalment_pay_slope
        if slope != 0.0:
            chance = minimum(late * math.exp(slope * (behind - LATE_FROM)), 1.0)
    return chance


@njit(**RULE)
def pays_arrears_instalment(prm, off, i, behind):
    """Does a delinquent account pay the instalment falling due (and its fees)? Chance
    :func:`arrears_instalment_chance` (stream ``INSTALMENT_PAY``; no draw when 0)."""
    chance = arrears_instalment_chance(prm, behind)
    return chance > 0.0 and uniform_at(off[_INSTALMENT_PAY], i) < chance


@njit(**JIT)
def miss_logits(prm, willingness, dti):
    """:func:`miss_logit` of current accounts out of hardship, one per account (set-up)."""
    out = np.empty(willingness.size)
    for k in range(willingness.size):
        out[k] = miss_logit(prm, willingness[k], 0.0, dti[k], 0.0)
    return out
