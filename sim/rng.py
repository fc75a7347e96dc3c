"""Counter-based random numbers: the same account on the same day gets the same luck.

Every draw in the engine is a pure function of ``(seed, stream, day, account)`` (``day`` is
:data:`ONCE` for luck an account uses at most once, see :func:`account_uniforms`), computed with
the SplitMix64 finaliser (Steele, Lea & Flood 2014) over unsigned 64-bit integers. Nothing
depends on which accounts happen to be active today or in what order they are visited, so

* two strategies run with the same seed face the same borrowers and the same behavioural luck
  (common random numbers, exactly, not only "the same generator state at the start");
* results are bit-identical whichever executor, shard layout or process runs them.

Each kind of draw has its own stream id (the :class:`Stream` enum) so draws never collide.

The generator is written once, as compiled scalar functions (:func:`stream_offset`,
:func:`uniform_at`) that the engine's kernels (:mod:`sim.kernels`) call inside their loops;
:func:`uniforms` is the array form of the same functions. Everything is unsigned 64-bit integer
arithmetic, so the numbers are the same on every machine.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_DAY = np.uint64(0xD6E8FEB86659FD93)
_STREAM = np.uint64(0xA0761D6478BD642F)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


class Stream(IntEnum):
    """One id per kind of draw."""

    HARDSHIP = 1
    DUE_PAYMENT = 2
    REPAY = 3
    REPAY_KIND = 4
    REPAY_FRACTION = 5
    REACH = 6
    PROMISE = 7
    PROMISE_DAY = 8
    PROMISE_KEEP = 9
    COMPLAINT = 10
    CHURN = 11
    RECOVERY_SUCCESS = 12
    RECOVERY_RATE = 13
    RECOVERY_LAG = 14
    RESTRUCTURE = 15
    EARLY_WARNING = 16
    DTI_DRIFT = 17
    MARKOV = 18
    ARM_SPLIT = 19
    PROMISE_AMOUNT = 20
    # calibration additions (sim.scenario.Behaviour); drawn only when their parameter is on
    PREPAYMENT = 21
    INSTALMENT_PAY = 22
    SETTLEMENT = 23
    RECOVERY_SETTLE = 24
    CATCH_UP = 25
    REST = 26
    MEDICAL_SHOCK = 27
    REAGE = 28
    WRITE_OFF = 29
    # response model (sim.borrower.response); drawn only when their parameter is on
    FORGETFUL = 30
    PROMISE_WAIT = 31


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, in place on ``z`` (a fresh uint64 array)."""
    z ^= z >> _S30
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return z


def seed_key(seed: int) -> np.uint64:
    """Scramble a user seed into a 64-bit key (so seeds 1 and 2 are unrelated)."""
    return _mix(np.array([seed], dtype=np.uint64) * _GOLDEN + _GOLDEN)[0]


@njit(cache=True, nogil=True)
def stream_offset(key: np.uint64, stream: int, day: int) -> np.uint64:
    """The part of the counter shared by all draws of one ``(key, stream, day)``."""
    return np.uint64(key) ^ (np.uint64(stream) * _STREAM + np.uint64(day + 1) * _DAY)


@njit(cache=True, nogil=True)
def uniform_at(offset: np.uint64, counter: int) -> float:
    """One uniform draw on [0, 1): SplitMix64 of ``counter * golden + offset``, top 53 bits.

    ``offset`` comes from :func:`stream_offset`; ``counter`` is the account id (or any other
    non-negative counter, e.g. ``account * N_CHANNELS + channel``).
    """
    z = np.uint64(counter) * _GOLDEN + offset
    z ^= z >> _S30
    z *= _M1
    z ^= z >> _S27
    z *= _M2
    z ^= z >> _S31
    return np.float64(z >> _S11) * _TO_UNIT


@njit(cache=True, nogil=True)
def _uniforms(key: np.uint64, stream: int, day: int, counters: np.ndarray) -> np.ndarray:
    offset = stream_offset(key, stream, day)
    out = np.empty(counters.size, np.float64)
    for k in range(counters.size):
        out[k] = uniform_at(offset, counters[k])
    return out


def uniforms(key: np.uint64, stream: int, day: int, accounts: np.ndarray) -> np.ndarray:
    """Uniform draws on [0, 1), one per account, for one stream and day.

    Parameters
    ----------
    key : numpy.uint64
        From :func:`seed_key`.
    stream : int
        A :class:`Stream` id.
    day : int
        Simulation day (or any other counter, e.g. a placement id).
    accounts : array of int
        Account ids (stable positions in the book, not positions in a subset).

    Returns
    -------
    numpy.ndarray of float64
    """
    accounts = np.asarray(accounts)
    return _uniforms(np.uint64(key), int(stream), int(day), accounts.reshape(-1)).reshape(
        accounts.shape
    )


#: The ``day`` of draws made at most once per account in a run (:func:`account_uniforms`); no
#: simulation day is negative, so these never meet a day's draws of the same stream.
ONCE = -1


def account_uniforms(key: np.uint64, stream: int, accounts: np.ndarray) -> np.ndarray:
    """Uniform draws on [0, 1) keyed by ``(seed, stream, account)`` only: for luck an account
    uses at most once in a run, whenever that happens (e.g. its post-charge-off recovery).

    The draw does not depend on the day the event happens, so two strategies that charge an
    account off on different days still give it the same recovery luck (common random numbers
    across strategies). Same as ``uniforms(key, stream, ONCE, accounts)``.
    """
    return uniforms(key, stream, ONCE, accounts)
