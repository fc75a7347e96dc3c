"""The vectorised portfolio engine: a whole book, day by day, under a collections strategy.

One day (see DESIGN.md, "The data flow of one run"):

1. due dates: the accounts whose due day it is bring hardship up to date, the instalment
   falls due, current accounts pay it or miss it (a miss starts DPD);
2. charge-off of accounts reaching the charge-off DPD, and placement on a recovery path;
3. the strategy sees today's workable accounts and requests actions; compliance drops what the
   rules forbid; staff-limited channels are served by priority up to capacity;
4. contact outcomes: right-party contacts, promises, restructuring, irritation, complaints,
   churn;
5. delinquent accounts repay with their self-exciting intensity, promises fall due;
6. post-charge-off recoveries arrive; the day's KPIs are recorded.

Only the active subset is touched: current accounts on their due dates, delinquent accounts
daily. The delinquent set is maintained incrementally, never rebuilt by scanning the book.

The order of the day is :class:`sim.day_loop.DayLoop`'s, shared with the Mesa model; this
module implements its steps (:class:`sim.day_loop.DayEngine`) over arrays, and hands observers
the day's events when some observer wants them (:mod:`sim.day_loop`).

The per-account work runs in compiled kernels (:mod:`sim.kernels`), a few passes a day over the
delinquent list (morning: drop-outs, DPD, charge-off, hardship; contact; repayment; evening:
tomorrow's list and the stocks) and one over the due block. At a million accounts the delinquent
accounts are scattered over the book and each visit is a cache miss, so the kernels prefetch
ahead and the portfolio keeps each account's fields in one record (``Portfolio.packed``).
Results are bit for bit those of the vectorised formulas (see :mod:`sim.kernels`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from sim import behaviour as bh
from sim import compliance as rules
from sim import kernels, ledger
from sim.actions import RECOVERY_PATHS, AccountView, ChargeOffView, StrategyProtocol
from sim.borrower.params import behaviour_record, decay_tables
from sim.channels import Channel
from sim.churn import Departures
from sim.compliance import DEFAULT_PROFILE, ComplianceProfile
from sim.day_loop import DayLoop, EventLog
from sim.dispatch import ChannelTable, serve
from sim.kpis import DailyRecorder
from sim.population import generate
from sim.portfolio import MONTH_DAYS, Portfolio, Status
from sim.recovery import RecoveryBook
from sim.rng import Stream, seed_key, uniforms
from sim.run_result import RunResult, assemble
from sim.scenario import Scenario
from sim.value import complaint_price

__all__ = ["RunResult", "place_charge_offs", "run_days", "simulate", "take_up_restructuring"]


def place_charge_offs(
    p: Portfolio,
    sc: Scenario,
    strategy: StrategyProtocol | None,
    recovery: RecoveryBook,
    rec: DailyRecorder,
    key,
    day: int,
    idx: np.ndarray,
    claim: np.ndarray,
) -> None:
    """Charged-off accounts go on the recovery path the strategy chooses (the scenario's
    default path without a strategy); today's recovery cash and cost are recorded."""
    if strategy is not None:
        view = ChargeOffView(idx, claim, p.purpose[idx], p.credit[idx], p.capacity[idx])
        path = np.asarray(strategy.recovery_path(view), dtype=np.int64)
    else:
        path = np.full(idx.size, RECOVERY_PATHS.index(sc.pre_charge_off_recovery_path))
    cash, cost = recovery.place(
        p, idx, claim, path, day, sc, key, settle=sc.behaviour.recovery_settlement
    )
    rec.add(day, charge_offs=int(idx.size), collected_recovery=cash, cost_recovery=cost)


def take_up_restructuring(
    p: Portfolio,
    sc: Scenario,
    key,
    rec: DailyRecorder,
    day: int,
    offers: np.ndarray,
    events: EventLog | None = None,
) -> None:
    """Borrowers reached by a restructuring offer (``offers``: accounts, possibly repeated)
    take it up or not (:func:`sim.borrower.restructuring.takes_up`: hardship makes it likelier;
    a current borrower only in hardship); a take-up puts the loan on a hardship plan
    (``ledger.restructure``: a delinquent account is cured) and drops its pending promise.
    The cures go to ``events`` when an observer wants them."""
    # deduplicated here, in numpy: numba's np.unique would compile a sort for this one call
    offered = np.unique(kernels.as_ids(offers))
    if events is not None and events.cures:
        offered_delinquent = offered[p.missed[offered] > 0]
    n, waived, cures, self_cures = kernels.take_up_offers(
        offered,
        day,
        np.uint64(key),
        behaviour_record(sc),
        p.hardship,
        p.missed,
        p.promise_day,
        p.episode_contacted,
        ledger.restructuring_arrays(p),
    )
    if n:
        rec.add(day, restructures=n, concessions=waived, cures=cures)
        rec.add(day, self_cures=self_cures)
        if events is not None and events.cures:
            events.add("cures", offered_delinquent[p.missed[offered_delinquent] == 0])


class _Run:
    def __init__(
        self,
        sc: Scenario,
        strategy: StrategyProtocol | None,
        seed: int,
        compliance: ComplianceProfile,
        portfolio: Portfolio | None,
    ):
        self.sc = sc
        self.strategy = strategy
        self.seed = seed
        self.key = seed_key(seed)
        self.compliance = compliance
        self.p = portfolio if portfolio is not None else generate(sc, seed)
        self.macro = bh.MacroPath(sc)
        self.ch = ChannelTable(sc)
        self.rec = DailyRecorder(sc.days)
        self.recovery = RecoveryBook(horizon=sc.days)
        self.events = EventLog()  # the kinds observers want (set by the DayLoop)
        self.departures = Departures(
            sc.economics.funding_rate_annual, sc.behaviour.prepayment_monthly
        )
        p = self.p
        order, bounds, self.delinquent, self.outstanding = kernels.book_at_start(
            p.due_day, p.missed, p.opening_principal, MONTH_DAYS
        )
        self.opening_outstanding = self.outstanding
        self.due_lists = [order[bounds[d] : bounds[d + 1]] for d in range(MONTH_DAYS)]
        self.initial_delinquent = int(self.delinquent.size)
        self.n_charged_off = 0
        self.n_paid_off = 0
        self.contact_log: list[pd.DataFrame] | None = None
        # champion/challenger: a strategy with arms assigns each account to one, at random by
        # account id (counter-based, so the same accounts every run with the same seed)
        self.arms: tuple[str, ...] | None = getattr(strategy, "arms", None)
        if self.arms is not None:
            p.arm[:] = strategy.assign(np.arange(p.n, dtype=np.int64), self.key)
            if hasattr(strategy, "bind"):
                strategy.bind(p.arm)
            p.cash_collected = np.zeros(p.n)
            p.contact_cost = np.zeros(p.n)
        # the borrower rules' parameters, built once per run (sim.borrower.params)
        self.prm = behaviour_record(sc)
        self.tables = decay_tables(self.prm)
        self.chan = self.ch.records()
        self.markov = None
        if sc.behaviour.mode == "markov":
            self.markov = np.cumsum(np.array(sc.behaviour.roll_matrix), axis=1)

    # ------------------------------------------------------------------ due dates
    def due_dates(self, day: int) -> np.ndarray:
        """Instalments fall due; current accounts pay or miss. Returns today's new misses."""
        p = self.p
        self.macro.month_start(p, day, self.key)  # income and rate paths (sim.macro)
        idx = self.due_lists[day % MONTH_DAYS]
        if self.markov is not None:
            idx = idx[(p.status[idx] == Status.OPEN) & (p.remaining[idx] > 0)]
            if not idx.size:
                return idx
            onsets = bh.update_hardship(p, idx, day, self.prm, self.macro, self.key)
            self.rec.add(day, hardship_onsets=int(onsets.sum()))
            bh.observe_hardship(p, idx, day, self.key)
            bh.drift_dti(p, idx, day, self.key)
            return self._markov_due(day, idx)
        (
            onsets,
            cash,
            principal,
            missers,
            closed,
            residue,
            arrears_payers,
            arrears_cash,
            arrears_principal,
            _prepaid,
        ) = kernels.due_date_work(
            idx,
            day,
            self.key,
            self.prm,
            self.macro.cumulative,
            (
                p.status,
                p.hardship,
                p.hardship_day,
                p.hardship_hazard,
                p.hardship_seen,
                p.dti,
                p.willingness,
                p.restructured,
                p.fees_due,
                p.principal_repaid,
                p.episode_contacted,
                p.capacity_payment,
                p.last_reminded,
            ),
            ledger.loan_arrays(p),
        )
        self.outstanding -= principal
        self._book_residue(residue)
        self.rec.add(
            day, hardship_onsets=onsets, scheduled_cash=cash, new_delinquent=int(missers.size)
        )
        if arrears_cash.size:  # delinquent_instalment_pay: cash from accounts in arrears
            self._book_principal(arrears_principal)
            self.rec.add(day, collected_delinquent=float(arrears_cash.sum()))
            if self.arms is not None:
                p.cash_collected[arrears_payers] += arrears_cash
            if self.events.payments:
                self.events.add("payments", arrears_payers, arrears_cash)
        self.n_paid_off += int(closed)
        return missers

    def _markov_due(self, day: int, idx: np.ndarray) -> np.ndarray:
        """Test mode: the account moves between buckets with fixed monthly probabilities."""
        p = self.p
        state = np.minimum(p.missed[idx], 4).astype(np.int64)
        u = uniforms(self.key, Stream.MARKOV, day, idx)
        nxt = (u[:, None] >= self.markov[state]).sum(axis=1)
        nxt = np.minimum(nxt, 6)
        was_current = state == 0
        ledger.fall_due(p, idx, day)
        # charged off
        co = idx[nxt == 5]
        if co.size:
            self._charge_off(day, co)
        # paid off: everything overdue and the scheduled balance are repaid
        po = idx[nxt == 6]
        applied = ledger.pay(p, po, ledger.amount_owed(p, po))
        self._book_principal(applied.principal)
        self._book_residue(applied.residue)
        p.principal_repaid[po] += p.sched_balance[po]
        self._book_principal(p.sched_balance[po])
        p.sched_balance[po] = 0.0
        p.remaining[po] = 0
        self._close(day, po)
        # transient: pay down to exactly nxt instalments in arrears
        tr = idx[nxt <= 4]
        target = nxt[nxt <= 4]
        overdue = p.arrears_principal[tr] + p.arrears_interest[tr]
        amount = np.maximum(overdue - target * p.last_instalment[tr], 0.0) + p.fees_due[tr]
        amount = np.where(target == 0, ledger.amount_owed(p, tr), amount)
        applied = ledger.pay(p, tr, amount)
        self._book_principal(applied.principal)
        self._book_residue(applied.residue)
        missers = idx[was_current & (nxt >= 1) & (nxt <= 4)]
        self.rec.add(day, new_delinquent=int(missers.size))
        self._close(day, tr)
        return missers

    # ------------------------------------------------------------------ charge-off
    def _charge_off(self, day: int, idx: np.ndarray) -> None:
        p, sc = self.p, self.sc
        principal, claim = ledger.charge_off(p, idx)
        p.missed[idx] = 0
        amount = float(np.sum(principal))
        self.outstanding -= amount
        self.n_charged_off += idx.size
        place_charge_offs(p, sc, self.strategy, self.recovery, self.rec, self.key, day, idx, claim)
        self.rec.add(day, charge_off_amount=amount)
        if self.events.charge_offs:
            self.events.add("charge_offs", idx, claim)

    def _book_principal(self, amount: np.ndarray) -> None:
        self.outstanding -= float(np.sum(amount))

    def _book_residue(self, residue: float) -> None:
        """Principal dust (below a cent an account) that cures and closures move into
        ``principal_repaid`` without cash: booked so that ``outstanding`` stays the book's."""
        if residue:
            self.outstanding -= float(residue)

    def _close(self, day: int, idx: np.ndarray) -> None:
        done, residue = ledger.close_and_book(self.p, idx)
        self._book_residue(residue)
        self.n_paid_off += done.size

    def settle_recoveries(self, day: int) -> None:
        """Charged-off accounts whose successful recovery arrives today and settles the debt
        (``behaviour.recovery_settlement``) leave charged_off for paid_off. Their principal stays
        charged off (the recovery is cash on a charged-off claim), so the identity is unchanged."""
        ids = self.recovery.settled(day)
        if not ids.size:
            return
        ids = ids[self.p.status[ids] == Status.CHARGED_OFF]
        self.p.status[ids] = Status.PAID_OFF
        self.n_charged_off -= ids.size
        self.n_paid_off += ids.size

    # ------------------------------------------------------------------ strategy
    def workable(self, day: int, dl: np.ndarray, dpd: np.ndarray) -> AccountView:
        p = self.p
        k = int(getattr(self.strategy, "pre_due_days", 0) or 0)
        if k <= 0:
            return AccountView(p, day, dl, dpd)
        parts, dpds = [dl], [dpd]
        for ahead in range(1, k + 1):
            cand = self.due_lists[(day + ahead) % MONTH_DAYS]
            cand = cand[
                (p.status[cand] == Status.OPEN) & (p.missed[cand] == 0) & (p.remaining[cand] > 0)
            ]
            parts.append(cand)
            dpds.append(np.full(cand.size, -ahead, np.int32))
        return AccountView(p, day, np.concatenate(parts), np.concatenate(dpds))

    def contact(self, day: int, view: AccountView) -> None:
        """Ask the strategy, enforce compliance and capacity, play out the contacts."""
        p, ch, rec, prof = self.p, self.ch, self.rec, self.compliance
        att = serve(self.strategy.decide(view), p, ch, prof, day, self.key, rec, self.strategy.name)
        if att is None:
            return
        trained = ch.promise_rates(day)  # the team's training moves agent promise rates
        if trained is not None:
            self.chan["promise_rate"] = trained
        acc, chan = att.account, att.channel
        rpc_of = rules.reach_draws(p, day, self.key, ch.reach, ch.reach_trait)
        if self.contact_log is not None:
            self.contact_log.append(
                pd.DataFrame(
                    {
                        "day": day,
                        "account": acc,
                        "channel": chan,
                        "attempt": att.attempt,
                        "rpc": rpc_of(att),
                    }
                )
            )
        if self.arms is not None:
            cost = ch.cost_attempt[chan] + np.where(rpc_of(att), ch.cost_contact[chan], 0.0)
            np.add.at(p.contact_cost, acc, cost)
        if self.events.contacts:
            self.events.add("contacts", acc, chan, rpc_of(att))

        # reach, cost, pre-due reminders; a right-party contact with a delinquent borrower
        # excites repayment, may end in a promise and, on channels where promises are made,
        # counts as a conversation (for compliance and for self-cure accounting)
        slots = kernels.account_slots(p.n)
        attempts, rpc, cost, offers, promises = kernels.contact_outcomes(
            acc,
            chan,
            att.attempt,
            day,
            self.key,
            self.prm,
            self.tables,
            self.chan,
            int(Channel.RESTRUCTURE_OFFER),
            (
                p.last_contact,
                p.reach,
                p.missed,
                p.last_due_day,
                p.missed_reminder,
                p.episode_contacted,
                p.last_conversation,
                p.sensitivity,
                p.excitation,
                p.excitation_day,
                p.willingness,
                p.promise_day,
                p.promise_amount,
                p.fees_due,
                p.arrears_interest,
                p.arrears_principal,
                p.last_instalment,
                p.last_reminded,
                slots,
            ),
        )
        rec.add_by_channel(day, "attempts", attempts)
        rec.add_by_channel(day, "rpc", rpc)
        rec.add_by_channel(day, "cost", cost)
        if promises:
            rec.add(day, promises_made=int(promises))
        if offers.size:
            self._restructure(day, offers)

        # irritation, complaints and churn, once per contacted account
        complaints, churners = kernels.irritation_and_churn(
            acc,
            chan,
            day,
            self.key,
            self.prm,
            self.tables,
            self.chan,
            (p.irritation, p.irritation_day, p.tolerance, p.complaints, p.churned, slots),
        )
        rec.add(
            day,
            complaints=int(complaints),
            complaint_cost=int(complaints) * complaint_price(self.sc.economics),
            churned=int(churners.size),
            lifetime_value_lost=float(p.lifetime_value[np.sort(churners)].sum()),
        )
        self.departures.add(p, churners)  # they leave once current (sim.churn)
        if self.events.churn:
            self.events.add("churn", churners)

    def _restructure(self, day: int, acc: np.ndarray) -> None:
        take_up_restructuring(self.p, self.sc, self.key, self.rec, day, acc, self.events)

    # ------------------------------------------------------------------ repayment
    def repay(self, day: int, dl: np.ndarray, dpd: np.ndarray) -> None:
        """Promises fall due; delinquent accounts repay with their intensity."""
        p, rec = self.p, self.rec
        who, amount, kept, broken, settle = kernels.repayment_draws(
            dl,
            dpd,
            day,
            self.key,
            self.prm,
            self.tables,
            (
                p.missed,
                p.promise_day,
                p.promise_amount,
                p.promises_broken,
                p.hardship,
                p.willingness,
                p.excitation,
                p.excitation_day,
                p.fees_due,
                p.arrears_interest,
                p.arrears_principal,
                p.last_instalment,
                p.last_partial_day,
            ),
        )
        if kept or broken:
            rec.add(day, promises_kept=int(kept), promises_broken=int(broken))
        if not who.size:
            return
        (
            cash,
            principal,
            residue,
            settlers,
            rest,
            rest_total,
            cash_total,
            cures,
            self_cures,
            closed,
            closing_residue,
        ) = kernels.pay_and_close(
            who,
            amount,
            settle,
            day,
            self.prm,
            self.tables,
            (
                *ledger.payment_arrays(p),
                p.sched_balance,
                p.remaining,
                p.status,
                p.last_partial_day,
                p.excitation,
                p.excitation_day,
                p.episode_contacted,
            ),
        )
        self.outstanding -= principal
        self._book_residue(residue)
        if self.arms is not None:
            p.cash_collected[who] += cash  # ids are unique here
        if settlers.size:
            # settlement: the full payment also pays the principal not yet due (closed too)
            self.outstanding -= rest_total
            rec.add(day, collected_delinquent=rest_total)
            if self.arms is not None:
                p.cash_collected[settlers] += rest
        rec.add(day, collected_delinquent=cash_total, cures=cures, self_cures=self_cures)
        self._book_residue(closing_residue)
        self.n_paid_off += closed
        if self.events.payments:
            self.events.add("payments", who, cash)
            if settlers.size:
                self.events.add("payments", settlers, rest)
        if self.events.cures and cures:
            self.events.add("cures", who[p.missed[who] == 0])

    # ------------------------------------------------------------------ the day
    # The steps of sim.day_loop.DayLoop (the DayEngine protocol); due_dates is above.
    def morning(self, day: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Cured, restructured or closed since yesterday drop out; DPD; charge-off; hardship.
        Returns today's delinquent accounts and their DPD (``None``: none, or Markov mode)."""
        p, sc = self.p, self.sc
        dl = self.delinquent
        if self.markov is not None or not dl.size:
            return None
        dl, dpd, co, onsets = kernels.delinquent_morning(
            dl,
            day,
            sc.charge_off_dpd,
            self.prm,
            self.key,
            p.missed,
            p.last_due_day,
            p.hardship,
            p.hardship_day,
            p.hardship_hazard,
            self.macro.cumulative,
        )
        if co.size:
            self._charge_off(day, co)
        self.rec.add(day, hardship_onsets=int(onsets))
        return dl, dpd

    def contact_today(self, day: int, live: tuple[np.ndarray, np.ndarray]) -> None:
        self.contact(day, self.workable(day, *live))

    def repay_today(self, day: int, live: tuple[np.ndarray, np.ndarray]) -> None:
        self.repay(day, *live)  # accounts restructured today are skipped there

    def evening(self, day: int, live, new_misses: np.ndarray) -> None:
        """Tomorrow's delinquent list (today's plus the new misses, less drop-outs); stocks."""
        p = self.p
        gone, prepaid, residue = self.departures.leave(p, self.rec, day)
        if gone.size:  # churned customers refinance away (sim.churn)
            self.outstanding -= prepaid
            self._book_residue(residue)
            self.n_paid_off += gone.size
        dl = self.delinquent if live is None else live[0]
        self.delinquent, counts, bal = kernels.delinquent_evening(
            dl,
            new_misses,
            day,
            p.missed,
            p.last_due_day,
            p.status,
            p.sched_balance,
            p.arrears_principal,
        )
        self._record_stocks(day, counts, bal)

    def _record_stocks(self, day: int, counts: np.ndarray, bal: np.ndarray) -> None:
        """Record the day's stocks; ``counts`` and ``bal`` are the delinquent list's buckets."""
        p = self.p
        dl = self.delinquent
        counts = counts.astype(float)
        n_open = p.n - self.n_charged_off - self.n_paid_off
        counts[0] = n_open - dl.size + counts[0]
        counts[5] = self.n_charged_off
        counts[6] = self.n_paid_off
        bal[0] = self.outstanding - bal[1:5].sum()
        self.rec.set_stocks(
            day,
            counts,
            bal[:5],
            outstanding=self.outstanding,
            unemployment=float(self.macro.unemployment[day]),
        )


def run_days(
    scenario: Scenario,
    strategy: StrategyProtocol | None,
    seed: int | None = None,
    *,
    observers: Iterable[object] = (),
    compliance: ComplianceProfile = DEFAULT_PROFILE,
    portfolio: Portfolio | None = None,
    progress: Callable[[int], None] | None = None,
) -> DayLoop:
    """Run a book's days with observers, without the tables and the summary of a result.

    For callers that need only what their observers gather (the calibration's roll counts, a
    status panel): :func:`simulate` is this plus the invariant check and :func:`assemble`.

    Parameters
    ----------
    observers : iterable of sim.day_loop.Observer
        Hooks called once a day with the day's events (:mod:`sim.day_loop`).

    Returns
    -------
    DayLoop
        After the last day: ``roll`` (month-end roll counts), ``initial_bucket`` and
        ``engine`` (the run, with its book ``p``, recorder ``rec`` and ``recovery``).
    """
    seed = scenario.seed if seed is None else int(seed)
    loop = DayLoop(_Run(scenario, strategy, seed, compliance, portfolio), observers)
    loop.run(progress)
    return loop


def simulate(
    scenario: Scenario,
    strategy: StrategyProtocol | None,
    seed: int | None = None,
    *,
    compliance: ComplianceProfile = DEFAULT_PROFILE,
    progress: Callable[[int], None] | None = None,
    keep_portfolio: bool = False,
    check: bool = True,
    portfolio: Portfolio | None = None,
    contact_log: bool = False,
    observers: Iterable[object] = (),
) -> RunResult:
    """Run a book under a strategy.

    Parameters
    ----------
    scenario : Scenario
    strategy : StrategyProtocol or None
        ``None`` contacts nobody (the self-cure baseline).
    seed : int, optional
        Defaults to ``scenario.seed``. The seed fixes the book and all behavioural luck.
    compliance : ComplianceProfile
    progress : callable, optional
        Called with the number of days done, every few days.
    keep_portfolio : bool
        Keep the final account state in the result (memory!).
    check : bool
        Verify the accounting invariants at the end (cheap; on by default).
    portfolio : Portfolio, optional
        A book to run instead of generating one (it is modified in place).
    contact_log : bool
        Keep every attempt made (day, account, channel, attempt, right-party contact) in
        ``RunResult.contact_log``: for audits and compliance tests on small books.
    observers : iterable of sim.day_loop.Observer
        Hooks called once a day with the day's events (:mod:`sim.day_loop`, docs/extending.md).

    Returns
    -------
    RunResult
    """
    seed = scenario.seed if seed is None else int(seed)
    t0 = time.perf_counter()
    run = _Run(scenario, strategy, seed, compliance, portfolio)
    if contact_log:
        run.contact_log = []
    loop = DayLoop(run, observers)
    loop.run(progress)
    p = run.p
    if check:
        ledger.check_invariants(p, scenario.days - 1)
        book = kernels.book_outstanding(p.sched_balance, p.arrears_principal)
        if ledger.running_balance_drifted(run.outstanding, book, run.opening_outstanding):
            raise ledger.InvariantError("running outstanding balance drifted from the book")
    wall = time.perf_counter() - t0
    log = None
    if run.contact_log is not None:
        log = (
            pd.concat(run.contact_log, ignore_index=True)
            if run.contact_log
            else pd.DataFrame(columns=["day", "account", "channel", "attempt", "rpc"])
        )
    return assemble(
        loop,
        seed=seed,
        compliance=compliance,
        wall_seconds=wall,
        staffing=run.ch.staffing,
        callbacks=run.ch.callbacks,
        keep_portfolio=keep_portfolio,
        contact_log=log,
    )
