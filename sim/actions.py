"""What strategies see and what they may ask for: the contract between ``sim`` and ``strategies``.

``sim`` defines the protocol; ``strategies`` implements it. A strategy receives an
:class:`AccountView` over today's workable accounts (every delinquent account, plus current
accounts a few days before their due date when the strategy asks for pre-due work) and returns
:class:`ActionRequests`: parallel arrays of account id, channel code and priority. The engine then
enforces compliance, serves staff-limited channels by priority up to capacity, and plays out
the outcomes. Strategies never touch the portfolio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from sim.portfolio import NEVER, Portfolio, bucket_of

#: Early-warning flag bits, visible to strategies.
EW_PARTIAL_PAYMENT = 1  # a partial payment in the last 90 days
EW_DTI_RISING = 2  # debt-to-income up 15 % or more since the start
EW_MISSED_REMINDER = 4  # the last pre-due reminder did not reach the borrower
EW_HARDSHIP_SEEN = 8  # a hardship indicator, observed with noise
EW_BROKEN_PROMISE = 16  # a broken promise to pay on record
EW_BITS = (
    EW_PARTIAL_PAYMENT,
    EW_DTI_RISING,
    EW_MISSED_REMINDER,
    EW_HARDSHIP_SEEN,
    EW_BROKEN_PROMISE,
)


class AccountView:
    """Read-only, lazily gathered view of the accounts a strategy may act on today.

    Attributes are gathered from the portfolio on first access, so a strategy pays only for
    what it reads. Arrays are aligned with :attr:`account`.

    Attributes
    ----------
    day : int
    account : ndarray of int64
        Account ids.
    dpd : ndarray of int32
        Days past due; negative for current accounts ``-k`` days before their due date.
    """

    _GATHERED = (
        "purpose",
        "credit",
        "capacity",
        "value_tier",
        "dti",
        "restructured",
        "churned",
        "promises_broken",
        "hardship_seen",
        "arm",
    )

    def __init__(self, portfolio: Portfolio, day: int, account: np.ndarray, dpd: np.ndarray):
        self._p = portfolio
        self.day = day
        self.account = account
        self.dpd = dpd
        self._cache: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return int(self.account.size)

    def __getattr__(self, name: str) -> np.ndarray:
        if name.startswith("_") or name not in self._GATHERED:
            raise AttributeError(name)
        if name not in self._cache:
            self._cache[name] = self._gather(name)
        return self._cache[name]

    def _gather(self, name: str) -> np.ndarray:
        """The portfolio's ``name`` for the view's accounts (a copy)."""
        from sim import kernels  # compiled kernels: imported on first use (fast start-up)

        values = getattr(self._p, name)
        if values.ndim == 1:
            return kernels.gather(values, self.account)  # prefetching: the book is scattered
        return values[self.account]

    def _cached(self, name: str, fn) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = fn()
        return self._cache[name]

    @property
    def bucket(self) -> np.ndarray:
        """Bucket code (0 current ... 4 for 91+), from DPD."""
        return self._cached(
            "bucket", lambda: bucket_of(np.maximum(self.dpd, 0), self._gather("status"))
        )

    @property
    def balance(self) -> np.ndarray:
        """Outstanding principal."""
        return self._cached("balance", lambda: self._p.outstanding(self.account))

    @property
    def arrears(self) -> np.ndarray:
        """Amount overdue: principal and interest in arrears plus fees."""
        g = self._gather
        return self._cached(
            "arrears", lambda: g("arrears_principal") + g("arrears_interest") + g("fees_due")
        )

    @property
    def pre_due(self) -> np.ndarray:
        """True for current accounts seen before their due date."""
        return self.dpd < 0

    @property
    def promise_pending(self) -> np.ndarray:
        """A promise to pay falls due today or later."""
        return self._cached("promise_pending", lambda: self._gather("promise_day") >= self.day)

    def flag(self, bit: int) -> np.ndarray:
        """One early-warning flag (an ``EW_*`` constant) as a boolean array."""

        def compute() -> np.ndarray:
            day = self.day
            if bit == EW_PARTIAL_PAYMENT:
                return day - self._gather("last_partial_day") <= 90
            if bit == EW_DTI_RISING:
                return self._gather("dti") >= 1.15 * self._gather("dti_opening")
            if bit == EW_MISSED_REMINDER:
                return self._gather("missed_reminder")
            if bit == EW_HARDSHIP_SEEN:
                return self.hardship_seen.copy()
            if bit == EW_BROKEN_PROMISE:
                return self.promises_broken > 0
            raise ValueError(f"unknown early-warning flag bit {bit}")

        return self._cached(f"flag_{bit}", compute)

    @property
    def early_warning(self) -> np.ndarray:
        """Early-warning flag bits (``EW_*`` constants), all of them."""

        def flags() -> np.ndarray:
            f = np.zeros(len(self), np.int8)
            for bit in EW_BITS:
                f |= np.where(self.flag(bit), bit, 0).astype(np.int8)
            return f

        return self._cached("early_warning", flags)

    def days_since_contact(self, channel: int) -> np.ndarray:
        """Days since the last attempt on ``channel`` (a large number if never)."""
        return self._cached(
            f"since_{channel}", lambda: self.day - self._p.last_contact[channel, self.account]
        )

    def days_since_conversation(self) -> np.ndarray:
        """Days since the last right-party contact on any channel."""
        return self.day - self._gather("last_conversation")

    @property
    def expected_value(self) -> np.ndarray:
        """A lender's rough expected recovery from working the account: arrears weighted by an
        observable propensity (fewer broken promises, lower DPD pay more). Used to rank
        requests inside a priority level when capacity runs out."""

        def ev() -> np.ndarray:
            d = np.maximum(self.dpd, 0)
            propensity = np.exp(-d / 45.0) / (1.0 + self.promises_broken)
            return self.arrears * propensity

        return self._cached("expected_value", ev)

    @property
    def portfolio(self) -> Portfolio:
        """The book behind the view (for compiled strategy code that reads it in place)."""
        return self._p

    def subset(self, positions: np.ndarray) -> AccountView:
        """A view of some of this view's accounts (by position)."""
        return AccountView(self._p, self.day, self.account[positions], self.dpd[positions])


#: Optional per-request fields of :class:`ActionRequests` and their defaults.
_OPTIONAL = ("value", "attempts", "hour_start", "hour_end", "fallback")


@dataclass(frozen=True)
class ActionRequests:
    """Requested actions: parallel arrays, one entry per (account, channel) request.

    Attributes
    ----------
    account : ndarray of int64
    channel : ndarray of int8
    priority : ndarray of float64
        Higher is served first when staff capacity runs short.
    value : ndarray of float64, optional
        Expected value of the action; ranks requests inside a priority.
    attempts : ndarray of int8, optional
        Attempts wanted today on this channel (default 1).
    hour_start, hour_end : ndarray of int8, optional
        The hours of the day the strategy allows, ``[start, end)`` (default the whole day);
        the engine drops a request whose window does not meet the compliance profile's.
    fallback : ndarray of int8, optional
        Channel to use when staff capacity cannot serve the request (-1: none).
    """

    account: np.ndarray
    channel: np.ndarray
    priority: np.ndarray
    value: np.ndarray | None = None
    attempts: np.ndarray | None = None
    hour_start: np.ndarray | None = None
    hour_end: np.ndarray | None = None
    fallback: np.ndarray | None = None

    @staticmethod
    def empty() -> ActionRequests:
        return ActionRequests(np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0, np.float64))

    def __len__(self) -> int:
        return int(self.account.size)

    def take(self, keep: np.ndarray) -> ActionRequests:
        """The requests selected by a boolean mask or index array."""
        extra = {f: (None if (v := getattr(self, f)) is None else v[keep]) for f in _OPTIONAL}
        return ActionRequests(self.account[keep], self.channel[keep], self.priority[keep], **extra)

    def filled(self, name: str) -> np.ndarray:
        """An optional field with its default where the strategy left it out."""
        v = getattr(self, name)
        if v is not None:
            return v
        n = len(self)
        return {
            "value": lambda: np.zeros(n),
            "attempts": lambda: np.ones(n, np.int8),
            "hour_start": lambda: np.zeros(n, np.int8),
            "hour_end": lambda: np.full(n, 24, np.int8),
            "fallback": lambda: np.full(n, -1, np.int8),
        }[name]()

    @staticmethod
    def concat(parts: list[ActionRequests]) -> ActionRequests:
        parts = [p for p in parts if len(p)]
        if not parts:
            return ActionRequests.empty()
        if len(parts) == 1:
            return parts[0]
        extra = {}
        for f in _OPTIONAL:
            if any(getattr(p, f) is not None for p in parts):
                extra[f] = np.concatenate([p.filled(f) for p in parts])
        return ActionRequests(
            np.concatenate([p.account for p in parts]),
            np.concatenate([p.channel for p in parts]).astype(np.int8),
            np.concatenate([p.priority for p in parts]).astype(np.float64),
            **extra,
        )


#: Post-charge-off recovery paths, by code.
RECOVERY_PATHS: tuple[str, ...] = ("internal", "agency", "legal", "sale")


@dataclass(frozen=True)
class ChargeOffView:
    """Accounts charged off today, for the strategy to choose their recovery path."""

    account: np.ndarray
    claim: np.ndarray  # principal + interest in arrears + fees at charge-off
    purpose: np.ndarray
    credit: np.ndarray
    capacity: np.ndarray

    def subset(self, positions: np.ndarray) -> ChargeOffView:
        """A view of some of these accounts (by position)."""
        return ChargeOffView(
            self.account[positions],
            self.claim[positions],
            self.purpose[positions],
            self.credit[positions],
            self.capacity[positions],
        )


@runtime_checkable
class StrategyProtocol(Protocol):
    """What the engine needs from a strategy."""

    name: str
    #: how many days before the due date current accounts appear in the view (0: never)
    pre_due_days: int

    def decide(self, view: AccountView) -> ActionRequests:
        """Requested actions for today's workable accounts."""
        ...

    def recovery_path(self, view: ChargeOffView) -> np.ndarray:
        """Recovery path code (index into ``RECOVERY_PATHS``) of each charged-off account."""
        ...


__all__ = [
    "NEVER",
    "RECOVERY_PATHS",
    "AccountView",
    "ActionRequests",
    "ChargeOffView",
    "StrategyProtocol",
]
