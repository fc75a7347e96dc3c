"""Rule tables: strategies as data.

A :class:`Rule` says "for accounts in this DPD range (and, optionally, these segments, this
score band, with these early-warning flags, this promise status, this balance), use this channel
every N days, this many attempts a day, within these hours, with this priority, falling back to
that channel when staff run short". A :class:`RuleTable` evaluates all its rules over the view:
DPD ranges and contact spacing in one compiled pass over the view
(:func:`strategies.rule_kernels.requests_by_rules`), the finer conditions as array masks over
the requests of the rules that have them. Never a loop over accounts in Python.

:class:`RecoveryRule` rows choose the post-charge-off path (internal, agency, legal, sale) by
balance and segment: the first matching row wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.actions import (
    EW_BROKEN_PROMISE,
    EW_DTI_RISING,
    EW_HARDSHIP_SEEN,
    EW_MISSED_REMINDER,
    EW_PARTIAL_PAYMENT,
    RECOVERY_PATHS,
    AccountView,
    ActionRequests,
    ChargeOffView,
)
from sim.channels import channel_code
from sim.scenario import CAPACITIES, CREDIT_STANDINGS, PURPOSES, VALUE_TIERS
from strategies.base import Strategy
from strategies.score import DEFAULT_SCORECARD, Scorecard

#: The recovery path of a charged-off account no recovery rule matches.
_AGENCY = RECOVERY_PATHS.index("agency")

#: Early-warning flag names usable in rules, and their bits.
FLAG_BITS: dict[str, int] = {
    "partial_payment": EW_PARTIAL_PAYMENT,
    "dti_rising": EW_DTI_RISING,
    "missed_reminder": EW_MISSED_REMINDER,
    "hardship_seen": EW_HARDSHIP_SEEN,
    "broken_promise": EW_BROKEN_PROMISE,
}
PROMISE_STATES = ("any", "pending", "none", "broken")


def _codes(names: tuple[str, ...], allowed: tuple[str, ...], what: str) -> tuple[int, ...]:
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; allowed: {', '.join(allowed)}")
    return tuple(allowed.index(n) for n in names)


@dataclass(frozen=True)
class Rule:
    """One line of a rule table.

    Attributes
    ----------
    channel : str
        ``sms``, ``email``, ``ivr``, ``letter``, ``call``, ``visit``, ``legal_notice`` or
        ``restructure_offer``.
    dpd_min, dpd_max : int
        Inclusive DPD range; negative values mean days before the due date (pre-due).
    every_days : int
        Minimum days between two attempts on this channel for one account.
    attempts_per_day : int
        Attempts on the days the rule fires (compliance caps may cut them).
    priority : float
        Higher is served first when staff capacity runs short.
    hours : (int, int) or None
        Allowed hours ``[start, end)``; None = any hour the compliance profile allows.
    fallback : str or None
        Channel to use when staff capacity cannot serve the request.
    purposes, credits, capacities : tuple of str
        Segment filters (empty: any).
    value_tiers : tuple of str
        Customer value tiers (``low``, ``medium``, ``high``: :data:`sim.scenario.VALUE_TIERS`,
        set at the start of a run from the loan's remaining margin and the customer's lifetime
        value, :mod:`sim.value`); empty: any.
    score_min, score_max : float or None
        Behaviour-score band ``[min, max)`` (score 0..1000, higher is better).
    flags : tuple of str
        Only accounts with at least one of these early-warning flags (``FLAG_BITS``).
    promise : {"any", "pending", "none", "broken"}
        Promise status: one pending, none pending, or a broken promise on record.
    balance_min, balance_max : float or None
        Outstanding principal range ``[min, max)``.
    hardship_seen_only : bool
        Only accounts whose hardship indicator is visible.
    once : bool
        At most one attempt per account on this channel, ever.
    """

    channel: str
    dpd_min: int
    dpd_max: int
    every_days: int = 1
    attempts_per_day: int = 1
    priority: float = 1.0
    hours: tuple[int, int] | None = None
    fallback: str | None = None
    purposes: tuple[str, ...] = ()
    credits: tuple[str, ...] = ()
    capacities: tuple[str, ...] = ()
    value_tiers: tuple[str, ...] = ()
    score_min: float | None = None
    score_max: float | None = None
    flags: tuple[str, ...] = ()
    promise: str = "any"
    balance_min: float | None = None
    balance_max: float | None = None
    hardship_seen_only: bool = False
    once: bool = False
    code: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", channel_code(self.channel))
        if self.fallback is not None:
            channel_code(self.fallback)
            if self.fallback == self.channel:
                raise ValueError("fallback must differ from the rule's channel")
        if self.dpd_min > self.dpd_max:
            raise ValueError(f"dpd_min {self.dpd_min} > dpd_max {self.dpd_max}")
        if self.every_days < 1:
            raise ValueError("every_days must be >= 1")
        if not 1 <= self.attempts_per_day <= 10:
            raise ValueError("attempts_per_day must be between 1 and 10")
        if self.hours is not None and not 0 <= self.hours[0] < self.hours[1] <= 24:
            raise ValueError("hours must be [start, end) with 0 <= start < end <= 24")
        _codes(self.purposes, PURPOSES, "purpose")
        _codes(self.credits, CREDIT_STANDINGS, "credit standing")
        _codes(self.capacities, CAPACITIES, "capacity")
        _codes(self.value_tiers, VALUE_TIERS, "value tier")
        unknown = [f for f in self.flags if f not in FLAG_BITS]
        if unknown:
            raise ValueError(f"unknown flag {unknown}; allowed: {', '.join(FLAG_BITS)}")
        if self.promise not in PROMISE_STATES:
            raise ValueError(f"promise must be one of {', '.join(PROMISE_STATES)}")

    @property
    def needs_hardship_seen(self) -> bool:
        """Only accounts with a visible hardship indicator: ``hardship_seen_only``, or
        ``flags`` asking for that one flag (the same condition; the compiled rule evaluation
        checks it, ``strategies.rule_kernels.rule_requests``)."""
        return self.hardship_seen_only or tuple(self.flags) == ("hardship_seen",)

    @property
    def refined(self) -> bool:
        """Has conditions beyond DPD range, contact spacing and the hardship indicator."""
        return bool(
            self.purposes
            or self.credits
            or self.capacities
            or self.value_tiers
            or self.score_min is not None
            or self.score_max is not None
            or (self.flags and tuple(self.flags) != ("hardship_seen",))
            or self.promise != "any"
            or self.balance_min is not None
            or self.balance_max is not None
        )

    @property
    def uses_score(self) -> bool:
        return self.score_min is not None or self.score_max is not None

    def matches(self, view: AccountView, score: np.ndarray | None) -> np.ndarray:
        """The finer conditions over a view (the DPD range and spacing are checked already)."""
        keep = np.ones(len(view), bool)
        for names, allowed, attr in (
            (self.purposes, PURPOSES, "purpose"),
            (self.credits, CREDIT_STANDINGS, "credit"),
            (self.capacities, CAPACITIES, "capacity"),
            (self.value_tiers, VALUE_TIERS, "value_tier"),
        ):
            if names:
                keep &= np.isin(getattr(view, attr), _codes(names, allowed, attr))
        if self.uses_score:
            if self.score_min is not None:
                keep &= score >= self.score_min
            if self.score_max is not None:
                keep &= score < self.score_max
        if self.flags:
            any_flag = np.zeros(len(view), bool)
            for f in self.flags:
                any_flag |= view.flag(FLAG_BITS[f])
            keep &= any_flag
        if self.promise == "pending":
            keep &= view.promise_pending
        elif self.promise == "none":
            keep &= ~view.promise_pending
        elif self.promise == "broken":
            keep &= view.promises_broken > 0
        if self.balance_min is not None:
            keep &= view.balance >= self.balance_min
        if self.balance_max is not None:
            keep &= view.balance < self.balance_max
        return keep


@dataclass(frozen=True)
class RecoveryRule:
    """Post-charge-off path for claims in a balance range and segment (first match wins)."""

    path: str
    balance_min: float | None = None
    balance_max: float | None = None
    purposes: tuple[str, ...] = ()
    credits: tuple[str, ...] = ()
    capacities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.path not in RECOVERY_PATHS:
            raise ValueError(f"unknown path {self.path!r}; allowed: {', '.join(RECOVERY_PATHS)}")
        self.segment_masks()  # validates the segment names

    def segment_masks(self) -> tuple[int, int, int]:
        """Bit masks of the purpose, credit-standing and capacity codes the rule takes (all
        bits set where it takes any)."""
        masks = []
        for names, allowed, what in (
            (self.purposes, PURPOSES, "purpose"),
            (self.credits, CREDIT_STANDINGS, "credit standing"),
            (self.capacities, CAPACITIES, "capacity"),
        ):
            masks.append(sum(1 << c for c in _codes(names, allowed, what)) if names else -1)
        return masks[0], masks[1], masks[2]


class RuleTable(Strategy):
    """A strategy given as a table of contact rules and recovery rules.

    Parameters
    ----------
    name : str
    rules : list of Rule
    description : str
    recovery : list of RecoveryRule, optional
        Without it, the base class's default paths apply.
    scorecard : Scorecard
        The behaviour score that score bands refer to.
    """

    def __init__(
        self,
        name: str,
        rules: list[Rule],
        description: str = "",
        recovery: list[RecoveryRule] | None = None,
        scorecard: Scorecard = DEFAULT_SCORECARD,
    ):
        self.name = name
        self.rules = tuple(rules)
        self.description = description
        self.recovery = tuple(recovery or ())
        # the recovery rules as arrays for the compiled first-match (kernels.first_matching_path)
        self._recovery_table = (
            np.array([-np.inf if x.balance_min is None else x.balance_min for x in self.recovery]),
            np.array([np.inf if x.balance_max is None else x.balance_max for x in self.recovery]),
            np.array([x.segment_masks() for x in self.recovery], np.int64).reshape(-1, 3),
            np.array([RECOVERY_PATHS.index(x.path) for x in self.recovery], np.int64),
        )
        self.scorecard = scorecard
        self.pre_due_days = max((-r.dpd_min for r in rules if r.dpd_min < 0), default=0)
        rs = self.rules
        self._table = (
            np.array([r.code for r in rs], np.int64),
            np.array([r.dpd_min for r in rs], np.int64),
            np.array([r.dpd_max for r in rs], np.int64),
            np.array([10**5 if r.once else r.every_days for r in rs], np.int64),
            np.array([r.needs_hardship_seen for r in rs], np.bool_),
            np.array([float(r.priority) for r in rs], np.float64),
        )
        self._refined = [i for i, r in enumerate(rs) if r.refined]
        self._attempts = np.array([r.attempts_per_day for r in rs], np.int8)
        self._hour_start = np.array([r.hours[0] if r.hours else 0 for r in rs], np.int8)
        self._hour_end = np.array([r.hours[1] if r.hours else 24 for r in rs], np.int8)
        self._fallback = np.array(
            [channel_code(r.fallback) if r.fallback else -1 for r in rs], np.int8
        )
        self._plain = (
            not self._refined
            and (self._attempts == 1).all()
            and not any(r.hours for r in rs)
            and (self._fallback < 0).all()
        )

    @property
    def table(self) -> tuple[np.ndarray, ...]:
        """The contact rules as the parallel arrays ``rule_kernels.requests_by_rules`` takes:
        channel code, dpd range, days between contacts, hardship-only flag and priority."""
        return self._table

    def decide(self, view: AccountView) -> ActionRequests:
        from strategies import rule_kernels  # compiled: imported when a strategy first decides

        req, rule, pos = rule_kernels.requests_by_rules(view, *self._table)
        if not len(req):
            return req
        if self._refined:
            keep = np.ones(len(req), bool)
            for r in self._refined:  # a loop over rules; each is a mask over its requests
                sel = np.flatnonzero(rule == r)
                if not sel.size:
                    continue
                sub = view.subset(pos[sel])
                score = self.scorecard.score(sub) if self.rules[r].uses_score else None
                keep[sel] = self.rules[r].matches(sub, score)
            req, rule = req.take(keep), rule[keep]
        if self._plain:
            return req
        from strategies import rule_kernels as kernels  # compiled: imported on first use

        attempts, hour_start, hour_end, fallback = kernels.rule_attributes(
            rule, self._attempts, self._hour_start, self._hour_end, self._fallback
        )
        return ActionRequests(
            req.account,
            req.channel,
            req.priority,
            req.value,
            attempts=attempts,
            hour_start=hour_start,
            hour_end=hour_end,
            fallback=fallback,
        )

    def recovery_path(self, view: ChargeOffView) -> np.ndarray:
        if not self.recovery:
            return super().recovery_path(view)
        from strategies import rule_kernels as kernels

        return kernels.first_matching_path(
            np.ascontiguousarray(view.claim, dtype=np.float64),
            np.ascontiguousarray(view.purpose),  # segment codes as they are (int8)
            np.ascontiguousarray(view.credit),
            np.ascontiguousarray(view.capacity),
            *self._recovery_table,
            _AGENCY,
        )
