"""Delinquent repayment: the self-exciting intensity, full and partial payments, settlement,
catch-up and rest after a partial payment."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.borrower.params import (
    EXCITATION_DECAY,
    FULL_PAYMENT_FADE,
    INTENSITY_FADE,
    RUN_KEY,
    SETTLEMENT_FADE,
)
from sim.constants import MONTH_DAYS, WILLINGNESS_CENTRE
from sim.jit import RULE, decay_at, maximum
from sim.rng import Stream, stream_offset, uniform_at

_REPAY = int(Stream.REPAY)
_REPAY_KIND = int(Stream.REPAY_KIND)
_REPAY_FRACTION = int(Stream.REPAY_FRACTION)
_SETTLEMENT = int(Stream.SETTLEMENT)
_CATCH_UP = int(Stream.CATCH_UP)
_REST = int(Stream.REST)
_W_CENTRE = float(WILLINGNESS_CENTRE)
#: In hardship the excitation counts for this much of the intensity.
HARDSHIP_EXCITATION_FACTOR = 0.5
#: Days after a partial payment during which the borrower may rest (``rest_after_partial``).
REST_DAYS = MONTH_DAYS


@njit(**RULE)
def excitation_now(prm, tables, excitation, since, day):
    """The self-exciting intensity decayed from day ``since`` to ``day``:
    ``excitation * exp(-(day - since) / excitation_decay_days)``."""
    if excitation == 0.0:  # most accounts: nothing to decay (and 0 * exp(.) is 0 exactly)
        return excitation
    return excitation * decay_at(
        tables, np.int64(EXCITATION_DECAY), np.int64(day - since), prm[0].excitation_decay_days
    )


@njit(**RULE)
def intensity(prm, tables, willingness, dpd, in_hardship, excitation):
    """Daily repayment intensity ``lambda = base exp(k_w (w - 1.5)) exp(-dpd / s) + E`` (the
    ``base_intensity``, ``intensity_willingness``, ``intensity_dpd_scale`` parameters; ``E``
    the decayed excitation); in hardship the first term is times ``intensity_hardship`` and
    ``E`` times ``HARDSHIP_EXCITATION_FACTOR``."""
    b = prm[0]
    base = (
        b.base_intensity
        * math.exp(b.intensity_willingness * (willingness - _W_CENTRE))
        * decay_at(tables, np.int64(INTENSITY_FADE), np.int64(dpd), b.intensity_dpd_scale)
    )
    if in_hardship:
        return base * b.intensity_hardship + HARDSHIP_EXCITATION_FACTOR * excitation
    return base + excitation


@njit(**RULE)
def rests(prm, off, i, day, last_partial_day):
    """After a partial payment in the last ``REST_DAYS`` days the borrower makes no other
    payment (kept promises aside) with chance ``rest_after_partial`` (stream ``REST``, one
    draw per partial payment: dated the payment's day; no draw when 0).

    ``last_partial_day`` is the book's array, read only when the rule is on: the day loop is
    memory-bound, and reading the account's field unconditionally costs a cache line."""
    chance = prm[0].rest_after_partial
    if chance > 0.0 and day - last_partial_day[i] < REST_DAYS:
        rest_offset = stream_offset(off[RUN_KEY], np.int64(_REST), np.int64(last_partial_day[i]))
        return uniform_at(rest_offset, i) < chance
    return False


@njit(**RULE)
def repayment(
    prm, tables, off, i, dpd, in_hardship, willingness, excitation, owed, last_instalment
):
    """Does a delinquent account (no promise due today) pay today, and how much?

    It pays with chance ``1 - exp(-lambda)`` (:func:`intensity`, stream ``REPAY``); in full
    with ``full_payment_share`` (``_hardship`` in hardship), else a fraction uniform on
    ``[partial_fraction_low, partial_fraction_high]`` of what it owes (stream
    ``REPAY_FRACTION``). Options (off at 0, no draw then): a full payment settles the whole
    loan with ``settlement_share`` (stream ``SETTLEMENT``), rising with DPD as ``1 - (1 -
    share) exp(-dpd / settlement_dpd_scale)`` when that scale is set; a full payment that does
    not settle stays full only with ``exp(-dpd / full_payment_dpd_scale)`` (the same
    ``REPAY_KIND`` draw against the decayed share), so ``P(settle) = share s`` and ``P(cure) =
    share (1 - s) exp(-dpd / scale)``; a partial payment is, with ``catch_up_share`` (stream
    ``CATCH_UP``), a catch-up paying everything overdue but the newest instalment.

    Returns
    -------
    pays : bool
    amount : float
    settles : bool
        The payment also settles the principal not yet due.
    """
    b = prm[0]
    lam = intensity(prm, tables, willingness, dpd, in_hardship, excitation)
    if not uniform_at(off[_REPAY], i) < -math.expm1(-lam):
        return False, 0.0, False
    share = b.full_payment_share_hardship if in_hardship else b.full_payment_share
    u_kind = uniform_at(off[_REPAY_KIND], i)
    full = u_kind < share
    settles = False
    s_scale = b.settlement_dpd_scale
    if full and (b.settlement_share > 0.0 or s_scale > 0.0):
        s_share = b.settlement_share
        if s_scale > 0.0:
            s_share = 1.0 - (1.0 - b.settlement_share) * decay_at(
                tables, np.int64(SETTLEMENT_FADE), np.int64(dpd), s_scale
            )
        settles = uniform_at(off[_SETTLEMENT], i) < s_share
    f_scale = b.full_payment_dpd_scale
    if f_scale > 0.0 and not settles:
        full = u_kind < share * decay_at(
            tables, np.int64(FULL_PAYMENT_FADE), np.int64(dpd), f_scale
        )
    span = b.partial_fraction_high - b.partial_fraction_low
    frac = b.partial_fraction_low + span * uniform_at(off[_REPAY_FRACTION], i)
    amount = owed if full else owed * frac
    catch_up = b.catch_up_share
    if catch_up > 0.0 and not full and uniform_at(off[_CATCH_UP], i) < catch_up:
        # catch up: everything overdue but the newest instalment (one instalment behind)
        # the book's array, read only here (a cache line per account otherwise)
        amount = maximum(owed - last_instalment[i], owed * frac)
    return True, amount, settles


@njit(**RULE)
def excite(prm, tables, excitation, since, day, jump):
    """The excitation after a jump today: decayed to today (:func:`excitation_now`) plus
    ``jump`` (``payment_excitation`` after a payment, :func:`sim.borrower.contact.contact_jump`
    after contacts)."""
    return excitation_now(prm, tables, excitation, since, day) + jump
