"""The loan book as a struct of arrays: one row per account, one array per attribute.

Static attributes (segment, traits, contract) are set by :mod:`sim.population`; dynamic state
(balances, arrears, hardship, intensity, irritation, contact history) is advanced by the engine.
Account ``i`` is row ``i`` of every array; account ids never change, which is what lets
:mod:`sim.rng` give every account its own reproducible luck.

Books made by :func:`sim.population.generate` (and :meth:`Portfolio.take`) use the packed
layout: the arrays are views into one block of per-account records (``RECORD_LAYOUT``), so one
account's state sits in a few cache lines. The arrays behave as ordinary arrays (same dtypes,
shapes and indexing); only their strides differ. A portfolio built from separate arrays works
the same, only slower on big books.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import IntEnum

import numpy as np

# the book's constants live in the leaf module sim.constants; re-exported for the book's users
from sim.constants import CALL_RING, CENT, MONTH_DAYS, NEVER, Status  # noqa: F401


class Bucket(IntEnum):
    """DPD buckets, plus the two absorbing states, in reporting order."""

    CURRENT = 0
    DPD_1_30 = 1
    DPD_31_60 = 2
    DPD_61_90 = 3
    DPD_91_120 = 4
    CHARGED_OFF = 5
    PAID_OFF = 6


BUCKET_NAMES: tuple[str, ...] = (
    "current",
    "1-30",
    "31-60",
    "61-90",
    "91-120",
    "charged_off",
    "paid_off",
)
N_BUCKETS = len(BUCKET_NAMES)


def bucket_of(dpd: np.ndarray, status: np.ndarray) -> np.ndarray:
    """Bucket code of each account from its DPD and status (91+ stays in ``91-120``)."""
    b = np.minimum((dpd + 29) // 30, 4).astype(np.int8)
    b[status == Status.CHARGED_OFF] = Bucket.CHARGED_OFF
    b[status == Status.PAID_OFF] = Bucket.PAID_OFF
    return b


#: Arrays stored channel-major (one contiguous row per channel), indexed ``[channel, account]``.
CHANNEL_MAJOR = frozenset({"last_contact"})


#: Bytes of one account's record in the packed layout: five 64-byte cache lines.
RECORD_BYTES = 320

#: The packed layout: every account's state in one 64-byte-aligned record, the fields the daily
#: work on a delinquent account reads and writes in the first four cache lines. Entries are
#: ``(field, dtype, per-account shape)``; offsets are implied by the order (no padding).
RECORD_LAYOUT: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    # line 0: arrears, excitation, DPD, promise and the daily flags
    ("fees_due", "f8", ()),
    ("arrears_interest", "f8", ()),
    ("arrears_principal", "f8", ()),
    ("excitation", "f8", ()),
    ("willingness", "f8", ()),
    ("last_due_day", "i4", ()),
    ("excitation_day", "i4", ()),
    ("promise_day", "i4", ()),
    ("missed", "i2", ()),
    ("promises_broken", "i2", ()),
    ("status", "i1", ()),
    ("hardship", "?", ()),
    ("hardship_seen", "?", ()),
    ("episode_contacted", "?", ()),
    ("churned", "?", ()),
    ("missed_reminder", "?", ()),
    ("call_ring_pos", "i1", ()),
    ("restructured", "?", ()),
    # line 1: irritation, contact response, balances
    ("irritation", "f8", ()),
    ("tolerance", "f8", ()),
    ("sensitivity", "f8", ()),
    ("promise_amount", "f8", ()),
    ("sched_balance", "f8", ()),
    ("last_instalment", "f8", ()),
    ("hardship_hazard", "f8", ()),
    ("hardship_day", "i4", ()),
    ("irritation_day", "i4", ()),
    # line 2: reachability and contact history
    ("reach", "f8", (3,)),
    ("last_conversation", "i4", ()),
    ("last_partial_day", "i4", ()),
    ("last_contact", "i4", (8,)),  # exposed channel-major, (N_CHANNELS, n)
    # line 3: call ring and due-date fields
    ("call_ring", "i4", (7,)),
    ("complaints", "i2", ()),
    ("remaining", "i2", ()),
    ("principal_repaid", "f8", ()),
    ("dti", "f8", ()),
    ("rate_m", "f8", ()),
    ("method", "i1", ()),
    ("due_day", "i1", ()),
    ("purpose", "i1", ()),
    ("credit", "i1", ()),
    ("capacity", "i1", ()),
    ("arm", "i1", ()),
    ("value_tier", "i1", ()),
    ("_pad3", "V1", ()),
    # line 4: contract and static attributes read on due dates or at the end
    ("level_payment", "f8", ()),
    ("level_principal", "f8", ()),
    ("opening_principal", "f8", ()),
    ("principal_charged_off", "f8", ()),
    ("dti_opening", "f8", ()),
    ("resilience", "f8", ()),
    ("lifetime_value", "f8", ()),
    # the borrower's payment capacity (sim.borrower.payment_shock): a ratio's denominator,
    # float32 is ample and keeps the record at four cache lines
    ("capacity_payment", "f4", ()),
    ("last_reminded", "i4", ()),
)


def _record_dtype(channels: int, ring: int) -> np.dtype:
    shapes = {"last_contact": (channels,), "call_ring": (ring,)}
    return np.dtype([(name, dt, shapes.get(name, shape)) for name, dt, shape in RECORD_LAYOUT])


def _take(value, name: str, order: np.ndarray):
    if not isinstance(value, np.ndarray):
        return value
    return value[:, order] if name in CHANNEL_MAJOR else value[order]


@dataclass
class Portfolio:
    """All accounts of a book. Arrays are indexed by account id."""

    # --- segment and traits (static) ---
    purpose: np.ndarray  # int8, index into scenario.PURPOSES
    credit: np.ndarray  # int8
    capacity: np.ndarray  # int8
    willingness: np.ndarray  # float64, logit scale
    resilience: np.ndarray  # float64, logit scale
    reach: np.ndarray  # float64 (n, 3): phone, digital, field multipliers of channel reach
    sensitivity: np.ndarray  # float64, multiplier of contact effects
    tolerance: np.ndarray  # float64, irritation a borrower tolerates
    lifetime_value: np.ndarray  # float64, USD
    hardship_hazard: np.ndarray  # float64, monthly onset chance at the reference macro
    value_tier: np.ndarray  # int8 customer value tier (sim.scenario.VALUE_TIERS), at the start
    # --- contract ---
    rate_m: np.ndarray  # monthly rate
    method: np.ndarray  # int8 Method code
    due_day: np.ndarray  # int8, 0..29 in the 30-day calendar
    level_payment: np.ndarray
    level_principal: np.ndarray
    opening_principal: np.ndarray  # outstanding principal at the start of the run
    capacity_payment: np.ndarray  # the annuity payment of the original terms (payment shock)
    # --- dynamic ---
    dti: np.ndarray
    dti_opening: np.ndarray
    sched_balance: np.ndarray  # contractual principal not yet due
    remaining: np.ndarray  # int16 instalments still to fall due
    arrears_principal: np.ndarray
    arrears_interest: np.ndarray
    fees_due: np.ndarray
    last_instalment: np.ndarray  # amount of the last instalment that fell due
    last_due_day: np.ndarray  # int32
    missed: np.ndarray  # int16 instalments in arrears (0 = current)
    status: np.ndarray  # int8 Status
    principal_repaid: np.ndarray
    principal_charged_off: np.ndarray
    hardship: np.ndarray  # bool
    hardship_day: np.ndarray  # int32 day the hardship state was last brought up to date
    hardship_seen: np.ndarray  # bool, noisy observable hardship indicator
    excitation: np.ndarray  # self-exciting part of the repayment intensity, per day
    excitation_day: np.ndarray  # int32
    irritation: np.ndarray
    irritation_day: np.ndarray  # int32
    promise_day: np.ndarray  # int32, NEVER when no promise is pending
    promise_amount: np.ndarray
    promises_broken: np.ndarray  # int16
    last_partial_day: np.ndarray  # int32
    last_contact: np.ndarray  # int32 (N_CHANNELS, n): day of the last attempt per channel
    last_conversation: np.ndarray  # int32: day of the last right-party contact
    call_ring: np.ndarray  # int32 (n, CALL_RING): days of the most recent call attempts
    call_ring_pos: np.ndarray  # int8
    episode_contacted: np.ndarray  # bool: right-party contact during this delinquency episode
    restructured: np.ndarray  # bool
    missed_reminder: np.ndarray  # bool: last pre-due reminder did not reach the borrower
    churned: np.ndarray  # bool
    complaints: np.ndarray  # int16
    last_reminded: np.ndarray  # int32: day of the last contact that reached it while current
    arm: np.ndarray = field(default=None)  # int8 champion/challenger arm, set by the engine
    # per-account totals kept only for champion/challenger runs (per-arm KPIs)
    cash_collected: np.ndarray | None = None
    contact_cost: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.purpose.size)

    def outstanding(self, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Principal still owed (contractual balance plus principal in arrears)."""
        return self.sched_balance[idx] + self.arrears_principal[idx]

    def take(self, order: np.ndarray) -> Portfolio:
        """A new portfolio with accounts renumbered: new account ``i`` is old ``order[i]``.

        The new portfolio has the packed layout (see :meth:`packed`).
        """
        return self.packed(order)

    def packed(self, order: np.ndarray | None = None) -> Portfolio:
        """A copy in the packed layout (accounts renumbered by ``order`` if given).

        All per-account arrays become views into one block of 64-byte-aligned records
        (``RECORD_LAYOUT``), so the fields the engine touches on one account share a few cache
        lines instead of one line per array. The arrays keep their dtypes, shapes and indexing
        (``last_contact`` stays ``[channel, account]``); only their strides change. Arrays whose
        shape or dtype does not fit the layout are copied as they are.
        """
        n = self.n if order is None else len(order)
        lc = self.last_contact
        dt = _record_dtype(lc.shape[0], self.call_ring.shape[1])
        if dt.itemsize % 64:
            raise AssertionError("record layout must fill whole cache lines")
        raw = np.zeros(n * dt.itemsize + 64, np.uint8)
        offset = (-raw.ctypes.data) % 64
        block = np.ndarray(n, dtype=dt, buffer=raw, offset=offset)
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, np.ndarray):
                out[f.name] = value
                continue
            if order is not None:
                value = _take(value, f.name, order)
            if f.name in dt.names:
                view = block[f.name]
                if f.name in CHANNEL_MAJOR:
                    view = view.T
                if view.shape == value.shape and view.dtype == value.dtype:
                    view[...] = value
                    out[f.name] = view
                    continue
            out[f.name] = value.copy() if order is None else value
        return Portfolio(**out)

    def nbytes(self) -> int:
        """Memory held by the state arrays."""
        return sum(
            getattr(self, f.name).nbytes
            for f in fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)
        )

    def dpd(self, day: int, idx: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Days past due today: days since the due date of the oldest unpaid instalment."""
        missed = self.missed[idx].astype(np.int32)
        d = day - self.last_due_day[idx] + MONTH_DAYS * (missed - 1)
        return np.where(missed > 0, d, 0)

    def bucket(self, day: int) -> np.ndarray:
        """Bucket of every account today (:func:`bucket_of` of DPD and status, in one pass)."""
        from sim.kernels.book import buckets  # compiled: imported on first use (fast start-up)

        return buckets(day, self.missed, self.last_due_day, self.status)
