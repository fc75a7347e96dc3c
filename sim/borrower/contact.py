"""Contact: reach, right-party contact, and the excitation a contact gives."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.borrower.params import CONTACT_FADE
from sim.constants import ATTEMPT_STRIDE
from sim.jit import RULE, decay_at, minimum
from sim.rng import Stream, uniform_at

_REACH = int(Stream.REACH)
#: No channel reaches a borrower with more than this chance per attempt.
REACH_CAP = 0.98


@njit(**RULE)
def attempt_counter(i, channel, attempt, n_channels):
    """The draw counter of attempt ``attempt`` of the day on ``channel`` to account ``i``:
    ``i * n_channels + channel + attempt * ATTEMPT_STRIDE`` (attempt 0: the plain counter)."""
    return i * n_channels + channel + attempt * ATTEMPT_STRIDE


@njit(**RULE)
def reach_chance(channel_reach, borrower_reach):
    """``min(channel reach * the borrower's reach on the channel's trait, REACH_CAP)``."""
    return minimum(channel_reach * borrower_reach, REACH_CAP)


@njit(**RULE)
def right_party_contact(off, counter, channel_reach, borrower_reach):
    """Does the attempt reach the borrower? ``u < reach_chance`` (stream ``REACH``, the
    attempt's counter)."""
    return uniform_at(off[_REACH], counter) < reach_chance(channel_reach, borrower_reach)


@njit(**RULE)
def contact_jump(prm, tables, effect, sensitivity, dpd):
    """The excitation a right-party contact with a delinquent borrower gives:
    ``effect * sensitivity * exp(-dpd / contact_effect_dpd_scale)``."""
    return (
        effect
        * sensitivity
        * decay_at(tables, np.int64(CONTACT_FADE), np.int64(dpd), prm[0].contact_effect_dpd_scale)
    )
