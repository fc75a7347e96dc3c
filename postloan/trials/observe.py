"""Enrolment and per-account outcomes of a trial, read from the portfolio during one run.

All reading of engine state for trials lives here, so it can move to the day loop's hooks in one
place. Today the engine offers one daily point where the caller sees the book: the strategy's
``decide``, called every day on which there are workable accounts, after that day's due dates
and charge-offs and before its contacts and repayments. The observer runs there (through
:class:`postloan.trials.arms.TrialStrategy`) and once more after the run, on the book the caller
holds (``simulate(..., portfolio=book)``), whose last day is the last day of the window.

Timing, precisely (window: days ``start_day`` to ``start_day + days - 1``):

* enrolment reads the book on ``start_day`` at the strategy's turn: that day's instalments have
  fallen due, so ``days_to_due`` (1-30) counts to the *next* due date;
* ``paid_on_time``: no instalment in arrears right after the first due date in the window
  (``paid_late``: its complement);
* ``cured_within``: an account in arrears at enrolment seen with none (or paid off) on any later
  day of the window, or at its end (sampled once a day, before that day's repayments, and at the
  end: a cure undone by a miss the very next morning is not seen);
* every other outcome compares the book at the end of the window with the book at enrolment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from postloan.trials.spec import TrialError, TrialSpec
from sim.actions import AccountView
from sim.portfolio import CENT, MONTH_DAYS, Bucket, Portfolio, Status, bucket_of
from sim.rng import Stream, uniforms
from sim.scenario import CAPACITIES, CREDIT_STANDINGS, PURPOSES
from strategies.score import DEFAULT_SCORECARD

#: ``day`` arguments of the trial's draws (stream ``ARM_SPLIT``): far past any simulation day, so
#: they never meet the champion/challenger split's draws (day 0) of the same stream.
ASSIGN_DRAW = 1_000_000
SAMPLE_DRAW = 1_000_001


@dataclass(frozen=True)
class Outcomes:
    """Per-account results of one run: the enrolled accounts, their arm and outcome.

    Attributes
    ----------
    account : ndarray of int64
    arm : ndarray of int64
        Index into the trial's ``arms``.
    y : ndarray of float64
        The outcome (0/1, or an amount).
    conversation : ndarray of float64
        1 if the account had a right-party conversation in the window (per_contact).
    contact_cost : ndarray of float64
        What contacting the account cost in the window (shows that an arm's treatment ran).
    eligible : int
        Accounts meeting the population filter before sampling.
    """

    account: np.ndarray
    arm: np.ndarray
    y: np.ndarray
    conversation: np.ndarray
    contact_cost: np.ndarray
    eligible: int


def days_to_due(due_day: np.ndarray, day: int) -> np.ndarray:
    """Days from ``day`` to each account's next due date (1-30; today's has already passed)."""
    return (due_day.astype(np.int64) - day - 1) % MONTH_DAYS + 1


def population_mask(p: Portfolio, spec: TrialSpec, day: int) -> np.ndarray:
    """Accounts of the book meeting the trial's population filter on ``day``."""
    pop = spec.population
    open_ = p.status == Status.OPEN
    current = open_ & (p.missed == 0) & (p.remaining > 0)
    delinquent = open_ & (p.missed > 0)
    mask = np.zeros(p.n, bool)
    if "current" in pop.status:
        mask |= current
    if "delinquent" in pop.status:
        mask |= delinquent
    dpd = p.dpd(day)
    if pop.dpd is not None:
        mask &= (dpd >= pop.dpd[0]) & (dpd <= pop.dpd[1])
    if pop.days_to_due is not None:
        d = days_to_due(p.due_day, day)
        mask &= (d >= pop.days_to_due[0]) & (d <= pop.days_to_due[1])
    for values, names, codes in (
        (pop.purpose, PURPOSES, p.purpose),
        (pop.credit, CREDIT_STANDINGS, p.credit),
        (pop.capacity, CAPACITIES, p.capacity),
    ):
        if values:
            mask &= np.isin(codes, [names.index(v) for v in values])
    if pop.score is not None:
        idx = np.flatnonzero(mask)
        score = DEFAULT_SCORECARD.score(AccountView(p, day, idx, dpd[idx].astype(np.int32)))
        keep = (score >= pop.score[0]) & (score < pop.score[1])
        mask[idx[~keep]] = False
    return mask


def assign_arms(accounts: np.ndarray, shares: list[float], key) -> np.ndarray:
    """Arm index of each account: a counter-based draw on the account id (reproducible)."""
    u = uniforms(key, Stream.ARM_SPLIT, ASSIGN_DRAW, accounts)
    return np.searchsorted(np.cumsum(shares)[:-1], u, side="right").astype(np.int64)


class TrialObserver:
    """Enrols the population on ``start_day`` and follows it to the end of the window.

    Parameters
    ----------
    spec : TrialSpec
    portfolio : Portfolio
        The book the run works on (modified in place by the engine).
    key : numpy.uint64
        The run's key (:func:`sim.rng.seed_key` of its seed).
    """

    def __init__(self, spec: TrialSpec, portfolio: Portfolio, key):
        self.spec, self.p, self.key = spec, portfolio, key
        self.start = spec.start_day
        self.end = spec.start_day + spec.outcome.days  # first day after the window
        self.account: np.ndarray | None = None
        self.eligible = 0
        self.seen: set[int] = set()

    # ------------------------------------------------------------------ the daily hook
    def on_day(self, day: int) -> None:
        """Called at the strategy's turn on ``day``."""
        self.seen.add(day)
        if day == self.start:
            self._enrol(day)
        elif self.account is not None and self.start < day < self.end:
            self._daily(day)

    def _enrol(self, day: int) -> None:
        p, spec = self.p, self.spec
        mask = population_mask(p, spec, day)
        self.eligible = int(mask.sum())
        acc = np.flatnonzero(mask).astype(np.int64)
        if spec.population.sample < 1:
            acc = acc[
                uniforms(self.key, Stream.ARM_SPLIT, SAMPLE_DRAW, acc) < spec.population.sample
            ]
        self.account = acc
        self.arm = assign_arms(acc, spec.shares(), self.key)
        p.arm[acc] = (self.arm + 1).astype(np.int8)  # 0 is "not enrolled"
        self.missed0 = p.missed[acc].copy()
        self.bucket0 = bucket_of(p.dpd(day, acc), p.status[acc])
        self.cash0 = p.cash_collected[acc].copy()
        self.cost0 = p.contact_cost[acc].copy()
        self.complaints0 = p.complaints[acc].copy()
        self.churned0 = p.churned[acc].copy()
        self.cured = np.zeros(acc.size, bool)
        self.due = day + days_to_due(p.due_day[acc], day)  # the first due date in the window
        self.on_time = np.zeros(acc.size, bool)
        self.due_seen = np.zeros(acc.size, bool)

    def _daily(self, day: int) -> None:
        acc = self.account
        self.cured |= self._clear(acc)
        today = np.flatnonzero(self.due == day)
        if today.size:
            self.on_time[today] = self._clear(acc[today])
            self.due_seen[today] = True

    def _clear(self, acc: np.ndarray) -> np.ndarray:
        """No instalment in arrears (paid off included), not charged off."""
        return (self.p.missed[acc] == 0) & (self.p.status[acc] != Status.CHARGED_OFF)

    # ------------------------------------------------------------------ after the run
    def outcomes(self, last_day: int) -> Outcomes:
        """Every enrolled account's outcome, on the book at the end of the window."""
        spec, p = self.spec, self.p
        if self.account is None:
            raise TrialError(
                f"trial {spec.name}: the engine did not consult the strategy on start_day "
                f"{self.start} (no workable accounts that day, or a scenario whose behaviour "
                "mode has no contacts); no one could be enrolled"
            )
        missing = sorted(set(range(self.start, self.end)) - self.seen)
        if missing:
            raise TrialError(
                f"trial {spec.name}: the strategy was not consulted on day {missing[0]} of the "
                "window (no workable accounts), so daily outcomes cannot be read"
            )
        acc = self.account
        clear = self._clear(acc)
        self.cured |= clear
        if spec.outcome.measure in ("paid_on_time", "paid_late") and not self.due_seen.all():
            raise TrialError(f"trial {spec.name}: a due date falls after the window")
        status = p.status[acc]
        measure = spec.outcome.measure
        if measure == "paid_on_time":
            y = self.on_time
        elif measure == "paid_late":
            y = ~self.on_time
        elif measure == "paid_any_within":
            y = (p.cash_collected[acc] - self.cash0) > CENT
        elif measure == "cured_within":
            y = self.cured & (self.missed0 > 0)
        elif measure == "amount_collected_within":
            y = p.cash_collected[acc] - self.cash0
        elif measure == "rolled_to_later_bucket":
            now = bucket_of(p.dpd(last_day, acc), status)
            later = np.where(now == Bucket.PAID_OFF, -1, now)  # paying off is not rolling
            y = later > self.bucket0
        elif measure == "charged_off":
            y = status == Status.CHARGED_OFF
        elif measure == "churned_or_closed":
            y = (p.churned[acc] & ~self.churned0) | (status == Status.PAID_OFF)
        elif measure == "complained":
            y = p.complaints[acc] > self.complaints0
        else:  # pragma: no cover - the spec validates the measure
            raise AssertionError(measure)
        conversation = p.last_conversation[acc] >= self.start
        return Outcomes(
            account=acc,
            arm=self.arm,
            y=np.asarray(y, np.float64),
            conversation=conversation.astype(np.float64),
            contact_cost=p.contact_cost[acc] - self.cost0,
            eligible=self.eligible,
        )
