"""Write-off of a current account: bankruptcy, death or fraud, charged off without ageing.

Real status panels show current accounts that are charged off at the next month end (the
status panel of docs/calibration.md: 44 of 345,417 moves), which ageing through the DPD
buckets cannot produce: the lender writes the account off when it learns of the event.
"""

from __future__ import annotations

from numba import njit

from sim.jit import RULE
from sim.rng import Stream, uniform_at

_WRITE_OFF = int(Stream.WRITE_OFF)
#: Days the written-off account's missed instalment is dated back: its DPD is then past any
#: allowed charge-off DPD (``sim.scenario.MAX_CHARGE_OFF_DPD``), so the next morning's
#: charge-off takes it with the usual claim and recovery path.
WRITE_OFF_AGE = 10_000


@njit(**RULE)
def written_off(prm, off, i):
    """Is current account ``i`` written off at this due date? Chance ``write_off_monthly``
    (stream ``WRITE_OFF``; no draw when 0). A written-off account pays nothing (it misses
    the instalment) and its DPD is dated back by :data:`WRITE_OFF_AGE` days."""
    chance = prm[0].write_off_monthly
    return chance > 0.0 and uniform_at(off[_WRITE_OFF], i) < chance
