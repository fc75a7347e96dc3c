"""One day of a loan book, written once for both engines, and the observers that watch it.

The order of a day (DESIGN.md, "The data flow of one run") lives here and nowhere else:

1. **due dates**: the accounts due today bring hardship up to date; the instalment falls due;
   current accounts pay it or miss it (a miss starts DPD): ``on_new_delinquent``;
2. **delinquent morning**: accounts cured or closed since yesterday drop out of the delinquent
   list; DPD; charge-off at the scenario's DPD and placement on a recovery path; hardship of the
   delinquent accounts: ``on_charge_off``;
3. **contact** (with a strategy): the strategy decides, compliance drops what the rules forbid,
   staff capacity serves by priority, the borrowers answer (reach, promises, restructuring),
   irritation, complaints and churn: ``on_contact``, ``on_promise``, ``on_complaint``,
   ``on_churn``;
4. **repayment**: promises fall due, delinquent accounts repay with their intensity
   (partials, cures, settlements): ``on_payment``, ``on_cure``;
5. **staff cost** of the day, **recoveries** arriving on charged-off accounts and the
   settlements they bring;
6. **evening**: tomorrow's delinquent list and the day's stocks: ``on_bucket_change``,
   ``on_day_end``;
7. **month end** (every 30th day and the horizon's last day): the month's roll counts,
   ``on_month_end``.

Each engine does its own per-account work behind the :class:`DayEngine` protocol: the vectorised
engine (:mod:`sim.engine`) with compiled loops over arrays, the Mesa model
(:mod:`sim.abm.model`) agent by agent. :class:`DayLoop` calls them in this order, keeps the
roll counts, and hands the day's events to the observers.

Observers
---------
An observer is any object with some of the hook methods of :class:`Observer` (subclassing it
is convenient, not required). Each hook is called at most once a day with that day's events as
arrays, so an observer costs one call a day, never one per account; and an engine collects the
arrays of an event only when some observer has its hook (or asks for it in ``events`` for
``on_day_end``): a run without observers does no extra work. Account arrays are ``int64`` ids
in ascending order (``on_contact``: the attempts in the order they were served), the same in
both engines on the same seed.

Observers may change the book (``on_start`` hands it over): a change made in ``on_charge_off``
is seen by the same day's contacts and repayments (the peer-effect example of
docs/extending.md, :mod:`sim.peer`). The engine's own book-keeping never depends on observers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from sim.kpis import DailyRecorder
from sim.oprisk import OperationalEvents
from sim.portfolio import MONTH_DAYS, N_BUCKETS, Portfolio
from sim.recovery import RecoveryBook
from sim.scenario import Scenario

#: Event kinds an engine can collect, and the hook that receives each.
EVENT_HOOKS = {
    "new_delinquent": "on_new_delinquent",
    "charge_offs": "on_charge_off",
    "contacts": "on_contact",
    "promises": "on_promise",
    "complaints": "on_complaint",
    "churn": "on_churn",
    "payments": "on_payment",
    "cures": "on_cure",
    "bucket_changes": "on_bucket_change",
}
# promises, complaints and bucket_changes the loop reads off the book itself (a copy of one
# field before the step and a comparison after it, O(accounts) a day, paid only when
# subscribed): the same in both engines by construction. The engines collect the others.


class Observer:
    """Base class of run observers: override the hooks you need, leave the rest.

    Every hook is optional; an engine collects an event's arrays only for the hooks some
    observer overrides. ``events`` names the event kinds (keys of :data:`EVENT_HOOKS`) an
    ``on_day_end`` wants in its :class:`DayEvents` without having their own hooks.
    """

    events: ClassVar[frozenset[str]] = frozenset()

    def on_start(self, book: Portfolio, scenario: Scenario) -> None:
        """Before day 0, with the book the run works on (modifiable) and its scenario."""

    def on_new_delinquent(self, day: int, accounts: np.ndarray) -> None:
        """Current accounts that missed today's instalment (their delinquency starts)."""

    def on_charge_off(self, day: int, accounts: np.ndarray, claims: np.ndarray) -> None:
        """Accounts charged off today (already placed on their recovery paths), with the claim
        (outstanding principal, interest and fees) each carries to recovery. Fired before the
        day's contacts: a change to the book here acts on today's contacts and repayments."""

    def on_contact(
        self, day: int, accounts: np.ndarray, channels: np.ndarray, rpc: np.ndarray
    ) -> None:
        """Every contact attempt made today, in the order served: account, channel
        (:class:`sim.channels.Channel` codes) and whether it reached the right party."""

    def on_promise(
        self, day: int, accounts: np.ndarray, due_days: np.ndarray, amounts: np.ndarray
    ) -> None:
        """Promises to pay made today and pending at the end of the contact step (a promise
        dropped by a restructuring taken up the same day is not reported): the day each falls
        due and the amount promised."""

    def on_complaint(self, day: int, accounts: np.ndarray) -> None:
        """Accounts that complained today (at most one complaint an account a day): as many as
        the day's ``complaints``."""

    def on_churn(self, day: int, accounts: np.ndarray) -> None:
        """Accounts whose borrower left today (irritation above tolerance)."""

    def on_payment(self, day: int, accounts: np.ndarray, amounts: np.ndarray) -> None:
        """Cash paid today by accounts in arrears, one entry per account (partials, cures,
        kept promises, settlements and instalments paid in arrears on the due date): the
        amounts add up to the day's ``collected_delinquent``."""

    def on_cure(self, day: int, accounts: np.ndarray) -> None:
        """Accounts cured today (paid back to current, or restructured): as many as the
        day's ``cures``."""

    def on_bucket_change(
        self, day: int, accounts: np.ndarray, before: np.ndarray, after: np.ndarray
    ) -> None:
        """Accounts whose bucket (``sim.portfolio`` codes: 0 current, 1-4 the DPD buckets,
        5 charged off, 6 paid off) at this evening differs from yesterday evening's (day 0:
        from the start), with both buckets."""

    def on_day_end(self, day: int, events: DayEvents) -> None:
        """After the evening book-keeping: the day's events collected for any observer (and
        those named in ``events``), and the day's recorded KPIs (:meth:`DayEvents.kpi`)."""

    def on_month_end(self, month: int, day: int, roll: np.ndarray, buckets: np.ndarray) -> None:
        """At each 30th day, and on the horizon's last day when its month is incomplete:
        ``roll`` the (7, 7) account counts from the previous month end's bucket (rows) to
        today's (columns), ``buckets`` every account's bucket today (do not modify)."""


@dataclass
class DayEvents:
    """The day's events as arrays (``None``: not collected, no observer asked for it)."""

    day: int
    record: DailyRecorder
    new_delinquent: np.ndarray | None = None
    charge_offs: np.ndarray | None = None
    charge_off_claims: np.ndarray | None = None
    contacts: np.ndarray | None = None
    contact_channels: np.ndarray | None = None
    contact_rpc: np.ndarray | None = None
    promises: np.ndarray | None = None
    promise_due_days: np.ndarray | None = None
    promise_amounts: np.ndarray | None = None
    complaints: np.ndarray | None = None
    churn: np.ndarray | None = None
    payments: np.ndarray | None = None
    payment_amounts: np.ndarray | None = None
    cures: np.ndarray | None = None
    bucket_changes: np.ndarray | None = None
    buckets_before: np.ndarray | None = None
    buckets_after: np.ndarray | None = None

    def kpi(self, name: str) -> float:
        """Today's value of a daily KPI column of :class:`sim.kpis.DailyRecorder`."""
        src = self.record.flows if name in self.record.flows else self.record.stocks
        return float(src[name][self.day])


class EventLog:
    """Where an engine drops the day's events, for the kinds some observer wants.

    The engines test the flag of a kind (``log.payments``, a plain bool) before building its
    arrays, so a kind nobody wants costs one attribute test a day.
    """

    def __init__(self, kinds: Iterable[str] = ()):
        kinds = frozenset(kinds)
        unknown = kinds - set(EVENT_HOOKS)
        if unknown:
            raise ValueError(f"unknown event kinds {sorted(unknown)}; known: {list(EVENT_HOOKS)}")
        self.kinds = kinds
        for kind in EVENT_HOOKS:
            setattr(self, kind, kind in kinds)
        self._parts: dict[str, list[tuple[np.ndarray, ...]]] = {k: [] for k in kinds}

    def add(self, kind: str, *arrays) -> None:
        """Append the arrays of one batch of ``kind`` events (accounts first)."""
        self._parts[kind].append(tuple(np.asarray(a) for a in arrays))

    def take(self, kind: str, width: int) -> tuple[np.ndarray, ...]:
        """The day's ``kind`` events so far (and forget them): ``width`` arrays, accounts
        first, in ascending account order (contacts: as served; payments: summed per
        account)."""
        parts = self._parts[kind]
        if not parts:
            empty = [np.zeros(0, np.int64)] + [np.zeros(0) for _ in range(width - 1)]
            if kind == "contacts":
                empty[1:] = [np.zeros(0, np.int64), np.zeros(0, bool)]
            return tuple(empty)
        cols = [np.concatenate([p[j] for p in parts]) for j in range(width)]
        parts.clear()
        cols[0] = cols[0].astype(np.int64, copy=False)
        if kind == "contacts":
            return tuple(cols)
        order = np.argsort(cols[0], kind="stable")
        cols = [c[order] for c in cols]
        if kind == "payments" and cols[0].size:
            first = np.r_[True, cols[0][1:] != cols[0][:-1]]
            starts = np.flatnonzero(first)
            cols = [cols[0][starts], np.add.reduceat(cols[1].astype(float), starts)]
        return tuple(cols)


class DayEngine(Protocol):
    """What :class:`DayLoop` needs of an engine: its book and book-level services, and one
    method per step of the day doing that engine's per-account work."""

    sc: Scenario
    strategy: Any
    p: Portfolio
    rec: DailyRecorder
    recovery: RecoveryBook
    ch: Any  # sim.dispatch.ChannelTable
    events: EventLog

    def due_dates(self, day: int) -> Any:
        """Instalments fall due; returns today's new misses (account ids)."""

    def morning(self, day: int) -> Any:
        """Delinquent accounts: drop-outs, DPD, charge-off, hardship. Returns today's live
        delinquent accounts in the engine's form, or ``None`` when there are none."""

    def contact_today(self, day: int, live: Any) -> None:
        """Strategy, compliance, capacity, contact outcomes, irritation and churn."""

    def repay_today(self, day: int, live: Any) -> None:
        """Promises falling due and the delinquent repayment draws."""

    def settle_recoveries(self, day: int) -> None:
        """Charged-off accounts whose recovery settles today leave charged-off."""

    def evening(self, day: int, live: Any, new_misses: Any) -> None:
        """Tomorrow's delinquent list and the day's stocks."""


@dataclass
class _Subscribers:
    hooks: dict[str, list[Callable]] = field(default_factory=dict)

    def add(self, name: str, fn: Callable) -> None:
        self.hooks.setdefault(name, []).append(fn)

    def get(self, name: str) -> list[Callable]:
        return self.hooks.get(name, [])


def _hook(observer: object, name: str) -> Callable | None:
    """The observer's ``name`` hook if it has one of its own (not :class:`Observer`'s no-op)."""
    fn = getattr(type(observer), name, None)
    if fn is None or fn is getattr(Observer, name):
        return None
    return getattr(observer, name)


class DayLoop:
    """Runs an engine's days in the one order of the module docstring, with observers.

    Parameters
    ----------
    engine : DayEngine
        The vectorised engine's run or the Mesa model.
    observers : iterable of Observer
        Called in the order given, each hook once a day.

    Attributes
    ----------
    roll : ndarray, shape (months, 7, 7)
        Month-end to month-end account counts by bucket, filled as the months end.
    initial_bucket : ndarray
        Every account's bucket at the start.
    """

    def __init__(self, engine: DayEngine, observers: Iterable[object] = ()):
        self.engine = engine
        self.observers = list(observers)
        self.days = int(engine.sc.days)
        subs = _Subscribers()
        wanted: set[str] = set()
        for obs in self.observers:
            for kind, hook in EVENT_HOOKS.items():
                fn = _hook(obs, hook)
                if fn is not None:
                    subs.add(hook, fn)
                    wanted.add(kind)
            for hook in ("on_start", "on_day_end", "on_month_end"):
                fn = _hook(obs, hook)
                if fn is not None:
                    subs.add(hook, fn)
            if _hook(obs, "on_day_end") is not None:
                wanted |= set(getattr(obs, "events", ()))
        self.oprisk = OperationalEvents(engine.sc, engine.key)
        if self.oprisk.contact_errors:  # wrong-number and wrong-amount contacts read them
            wanted.add("contacts")
        self._subs = subs
        self.events = engine.events = EventLog(wanted)
        months = -(-self.days // MONTH_DAYS)
        self.roll = np.zeros((months, N_BUCKETS, N_BUCKETS), np.int64)
        self.initial_bucket = engine.p.bucket(0)
        self._snapshot = self.initial_bucket.copy()
        self._buckets = self.initial_bucket.copy() if self.events.bucket_changes else None
        for fn in subs.get("on_start"):
            fn(engine.p, engine.sc)

    # ------------------------------------------------------------------ the day
    def step(self, day: int) -> None:
        """Run one day of the engine and tell the observers."""
        e = self.engine
        ev = DayEvents(day, e.rec)
        misses = e.due_dates(day)
        if self.events.new_delinquent:
            ev.new_delinquent = np.sort(np.asarray(misses, np.int64))
            self._fire("on_new_delinquent", day, ev.new_delinquent)
        live = e.morning(day)
        if self.events.charge_offs:
            ev.charge_offs, ev.charge_off_claims = self.events.take("charge_offs", 2)
            self._fire("on_charge_off", day, ev.charge_offs, ev.charge_off_claims)
        outage = self.oprisk.outage(day)  # contact systems down: no contact today
        if outage:
            e.rec.add(day, outage_days=1)
        if live is not None and e.strategy is not None and not outage:
            promised = e.p.promise_day.copy() if self.events.promises else None
            complained = e.p.complaints.copy() if self.events.complaints else None
            e.contact_today(day, live)
            if self.oprisk.contact_errors:
                self.oprisk.book_contact_errors(e, day, self.events)
            self._contact_events(ev, day, promised, complained)
        self._fire_contact_hooks(ev, day)
        if live is not None:
            e.repay_today(day, live)
        if self.events.payments:
            ev.payments, ev.payment_amounts = self.events.take("payments", 2)
            self._fire("on_payment", day, ev.payments, ev.payment_amounts)
        if self.events.cures:
            (ev.cures,) = self.events.take("cures", 1)
            self._fire("on_cure", day, ev.cures)
        if e.ch.staffing is not None:
            e.rec.add(day, cost_staff=e.ch.staff_cost_per_day)  # pay and training
            # SMS and letters that reached borrowers bring call-backs tomorrow (sim.book_staffing)
            reached = e.rec.flows["rpc_sms"][day] + e.rec.flows["rpc_letter"][day]
            e.ch.answer_callbacks(reached)
        cash, cost = e.recovery.collect(day)
        e.rec.add(day, collected_recovery=cash, cost_recovery=cost)
        if e.recovery.settling:
            e.settle_recoveries(day)
        e.evening(day, live, misses)
        if self._buckets is not None:
            now = e.p.bucket(day)
            changed = np.flatnonzero(now != self._buckets)
            ev.bucket_changes = changed
            ev.buckets_before, ev.buckets_after = self._buckets[changed], now[changed]
            self._buckets = now
            self._fire("on_bucket_change", day, changed, ev.buckets_before, ev.buckets_after)
        self._fire("on_day_end", day, ev)
        if day % MONTH_DAYS == MONTH_DAYS - 1 or day == self.days - 1:
            self._month_end(day)

    def _fire_contact_hooks(self, ev: DayEvents, day: int) -> None:
        """The contact step's hooks (empty arrays on a day without contacts)."""
        if self.events.contacts:
            ev.contacts, ev.contact_channels, ev.contact_rpc = self.events.take("contacts", 3)
            self._fire("on_contact", day, ev.contacts, ev.contact_channels, ev.contact_rpc)
        if self.events.promises:
            if ev.promises is None:  # no contact step today
                ev.promises, ev.promise_due_days = np.zeros(0, np.int64), np.zeros(0, np.int64)
                ev.promise_amounts = np.zeros(0)
            self._fire("on_promise", day, ev.promises, ev.promise_due_days, ev.promise_amounts)
        if self.events.complaints:
            if ev.complaints is None:
                ev.complaints = np.zeros(0, np.int64)
            self._fire("on_complaint", day, ev.complaints)
        if self.events.churn:
            (ev.churn,) = self.events.take("churn", 1)
            self._fire("on_churn", day, ev.churn)

    def _contact_events(self, ev: DayEvents, day: int, promised, complained) -> None:
        """Promises and complaints of the contact step, read off the book (both engines)."""
        p = self.engine.p
        if promised is not None:
            acc = np.flatnonzero((p.promise_day != promised) & (p.promise_day > day))
            ev.promises = acc
            ev.promise_due_days = p.promise_day[acc].astype(np.int64)
            ev.promise_amounts = p.promise_amount[acc].astype(float)
        if complained is not None:
            ev.complaints = np.flatnonzero(p.complaints != complained)

    def _month_end(self, day: int) -> None:
        now = self.engine.p.bucket(day)
        m = day // MONTH_DAYS
        self.roll[m] = np.bincount(
            self._snapshot.astype(np.int64) * N_BUCKETS + now, minlength=N_BUCKETS**2
        ).reshape(N_BUCKETS, N_BUCKETS)
        self._snapshot = now
        self._fire("on_month_end", m, day, self.roll[m], now)

    def _fire(self, hook: str, *args) -> None:
        for fn in self._subs.get(hook):
            fn(*args)

    def run(self, progress: Callable[[int], None] | None = None) -> None:
        """All the days of the horizon; ``progress(days_done)`` every five days."""
        for day in range(self.days):
            self.step(day)
            if progress is not None and (day % 5 == 4 or day == self.days - 1):
                progress(day + 1)


class RollCounts(Observer):
    """Month-end to month-end roll counts, the months from ``skip_months`` on added up: the
    calibration's simulated transition counts."""

    def __init__(self, skip_months: int = 0):
        self.skip_months = int(skip_months)
        self.counts = np.zeros((N_BUCKETS, N_BUCKETS), np.int64)

    def on_month_end(self, month: int, day: int, roll: np.ndarray, buckets: np.ndarray) -> None:
        if month >= self.skip_months:
            self.counts += roll


class MonthEndStates(Observer):
    """Every account's bucket at the start and at each complete month end (a status panel)."""

    def __init__(self) -> None:
        self.states: list[np.ndarray] = []

    def on_start(self, book: Portfolio, scenario: Scenario) -> None:
        self.states = [book.bucket(0)]

    def on_month_end(self, month: int, day: int, roll: np.ndarray, buckets: np.ndarray) -> None:
        if day % MONTH_DAYS == MONTH_DAYS - 1:
            self.states.append(buckets.copy())
