"""Rule tables: strategies as data.

A :class:`Rule` says "for accounts in this DPD range (and, optionally, these buckets or
segments), use this channel every N days, with this priority". A :class:`RuleTable` evaluates
all its rules over the view in one compiled pass
(:meth:`sim.actions.AccountView.requests_by_rules`): for each rule in order, the accounts in its
DPD range whose last attempt on the rule's channel is old enough (never made, for ``once``
rules), in view order. Never a loop over accounts in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.actions import AccountView, ActionRequests
from sim.channels import channel_code
from strategies.base import Strategy


@dataclass(frozen=True)
class Rule:
    """One line of a rule table.

    Attributes
    ----------
    channel : str
        Channel name (``sms``, ``email``, ``ivr``, ``letter``, ``call``, ``visit``,
        ``legal_notice``, ``restructure_offer``).
    dpd_min, dpd_max : int
        Inclusive DPD range; negative values mean days before the due date (pre-due).
    every_days : int
        Minimum days between two attempts on this channel for one account.
    priority : float
        Higher is served first when staff capacity runs short.
    hardship_seen_only : bool
        Only for accounts whose hardship indicator is visible (restructuring offers).
    once : bool
        At most one attempt per account on this channel, ever (e.g. a legal notice).
    """

    channel: str
    dpd_min: int
    dpd_max: int
    every_days: int = 1
    priority: float = 1.0
    hardship_seen_only: bool = False
    once: bool = False
    code: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", channel_code(self.channel))
        if self.dpd_min > self.dpd_max:
            raise ValueError(
                f"rule for {self.channel}: dpd_min {self.dpd_min} > dpd_max {self.dpd_max}"
            )
        if self.every_days < 1:
            raise ValueError(f"rule for {self.channel}: every_days must be >= 1")


class RuleTable(Strategy):
    """A strategy given as a table of rules."""

    def __init__(self, name: str, rules: list[Rule], description: str = ""):
        self.name = name
        self.rules = tuple(rules)
        self.description = description
        self.pre_due_days = max((-r.dpd_min for r in rules if r.dpd_min < 0), default=0)
        self._arrays: tuple[np.ndarray, ...] | None = None

    def decide(self, view: AccountView) -> ActionRequests:
        # every rule is one pass over the view, evaluated together in compiled code
        return view.requests_by_rules(*self._table)

    @property
    def _table(self) -> tuple[np.ndarray, ...]:
        if self._arrays is None:
            rules = self.rules
            self._arrays = (
                np.array([r.code for r in rules], np.int64),
                np.array([r.dpd_min for r in rules], np.int64),
                np.array([r.dpd_max for r in rules], np.int64),
                np.array([10**5 if r.once else r.every_days for r in rules], np.int64),
                np.array([r.hardship_seen_only for r in rules], np.bool_),
                np.array([float(r.priority) for r in rules], np.float64),
            )
        return self._arrays
