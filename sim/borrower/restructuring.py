"""Restructuring: take-up of a hardship plan offered to a delinquent borrower, or to a current
borrower in hardship (an early-warning offer)."""

from __future__ import annotations

from numba import njit

from sim.jit import RULE
from sim.rng import Stream, uniform_at

_RESTRUCTURE = int(Stream.RESTRUCTURE)


@njit(**RULE)
def takes_up(prm, off, i, in_hardship, missed):
    """Take-up of an offer that reached the borrower (stream ``RESTRUCTURE``): a borrower in
    arrears takes it up with chance ``take_up`` in hardship, else ``take_up_no_hardship``; a
    current borrower in hardship with ``take_up_current`` (an early-warning plan), one out of
    hardship never (no draw for a current borrower when ``take_up_current`` is 0)."""
    b = prm[0]
    if missed > 0:
        chance = b.take_up if in_hardship else b.take_up_no_hardship
        return uniform_at(off[_RESTRUCTURE], i) < chance
    if not in_hardship or b.take_up_current <= 0.0:
        return False
    return uniform_at(off[_RESTRUCTURE], i) < b.take_up_current
