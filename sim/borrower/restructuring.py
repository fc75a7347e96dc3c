"""Restructuring: take-up of a hardship plan offered to a delinquent borrower."""

from __future__ import annotations

from numba import njit

from sim.jit import RULE
from sim.rng import Stream, uniform_at

_RESTRUCTURE = int(Stream.RESTRUCTURE)


@njit(**RULE)
def takes_up(prm, off, i, in_hardship, missed):
    """An offer is taken up with chance ``take_up`` in hardship, else ``take_up_no_hardship``
    (stream ``RESTRUCTURE``), by a borrower still in arrears."""
    b = prm[0]
    chance = b.take_up if in_hardship else b.take_up_no_hardship
    return uniform_at(off[_RESTRUCTURE], i) < chance and missed > 0
