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
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim import behaviour as bh
from sim import ledger
from sim.actions import RECOVERY_PATHS, AccountView, ChargeOffView, StrategyProtocol
from sim.capacity import allocate
from sim.channels import CHANNEL_NAMES, N_CHANNELS, Channel, Reachability
from sim.compliance import (
    DEFAULT_PROFILE,
    ComplianceProfile,
    call_channel_mask,
    enforce,
    record_calls,
)
from sim.kpis import DailyRecorder, monthly_table, summarise
from sim.population import generate
from sim.portfolio import MONTH_DAYS, N_BUCKETS, NEVER, Portfolio, Status, bucket_of
from sim.recovery import RecoveryBook
from sim.rng import Stream, seed_key, uniforms
from sim.scenario import Scenario


@dataclass
class RunResult:
    """Everything a run produces."""

    scenario: Scenario
    strategy: str
    seed: int
    daily: pd.DataFrame
    monthly: pd.DataFrame
    roll_counts: np.ndarray  # (months, 7, 7) account counts, month-end to month-end
    summary: dict
    recovery_rates: np.ndarray
    initial_bucket: np.ndarray
    portfolio: Portfolio | None = None


class _ChannelTable:
    """The scenario's channel specs as arrays indexed by channel code."""

    def __init__(self, sc: Scenario):
        specs = [sc.channels[name] for name in CHANNEL_NAMES]
        self.cost_attempt = np.array([s.cost_per_attempt for s in specs])
        self.cost_contact = np.array([s.cost_per_contact for s in specs])
        self.reach = np.array([s.reach for s in specs])
        self.effect = np.array([s.effect for s in specs])
        self.promise_rate = np.array([s.promise_rate for s in specs])
        self.irritation = np.array([s.irritation for s in specs])
        self.reach_trait = np.array(
            [Reachability[s.reachability.upper()].value for s in specs], np.int64
        )
        self.is_call = call_channel_mask(sc.channels)
        self.capacity = np.full(N_CHANNELS, np.inf)
        self.capacity[Channel.CALL] = sc.staff.call_attempts_per_day
        self.capacity[Channel.VISIT] = sc.staff.visits_per_day


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
        self.ch = _ChannelTable(sc)
        self.rec = DailyRecorder(sc.days)
        self.recovery = RecoveryBook(horizon=sc.days)
        p = self.p
        order = np.argsort(p.due_day, kind="stable")
        bounds = np.searchsorted(p.due_day[order], np.arange(MONTH_DAYS + 1))
        self.due_lists = [order[bounds[d] : bounds[d + 1]] for d in range(MONTH_DAYS)]
        self.delinquent = np.flatnonzero(p.missed > 0)
        self.initial_delinquent = int(self.delinquent.size)
        self.outstanding = float(p.opening_principal.sum())
        self.n_charged_off = 0
        self.n_paid_off = 0
        self.markov = None
        if sc.behaviour.mode == "markov":
            self.markov = np.cumsum(np.array(sc.behaviour.roll_matrix), axis=1)

    # ------------------------------------------------------------------ due dates
    def due_dates(self, day: int) -> np.ndarray:
        """Instalments fall due; current accounts pay or miss. Returns today's new misses."""
        p, sc = self.p, self.sc
        idx = self.due_lists[day % MONTH_DAYS]
        idx = idx[(p.status[idx] == Status.OPEN) & (p.remaining[idx] > 0)]
        if not idx.size:
            return idx
        onsets = bh.update_hardship(p, idx, day, sc, self.macro, self.key)
        self.rec.add(day, hardship_onsets=int(onsets.sum()))
        bh.observe_hardship(p, idx, day, self.key)
        bh.drift_dti(p, idx, day, self.key)
        if self.markov is not None:
            return self._markov_due(day, idx)
        was_current = p.missed[idx] == 0
        p_miss = bh.miss_probability(p, idx, sc)
        ledger.fall_due(p, idx, day)
        cur = idx[was_current]
        pays = uniforms(self.key, Stream.DUE_PAYMENT, day, cur) >= p_miss[was_current]
        payers = cur[pays]
        applied = ledger.pay(p, payers, ledger.amount_owed(p, payers))
        self._book_principal(applied.principal)
        self.rec.add(day, scheduled_cash=float(applied.cash.sum()))
        missers = cur[~pays]
        missers = missers[p.missed[missers] > 0]
        p.fees_due[idx[p.missed[idx] > 0]] += sc.behaviour.late_fee
        p.episode_contacted[missers] = False
        self.rec.add(day, new_delinquent=int(missers.size))
        self._close(day, payers)
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
        missers = idx[was_current & (nxt >= 1) & (nxt <= 4)]
        self.rec.add(day, new_delinquent=int(missers.size))
        self._close(day, tr)
        return missers

    # ------------------------------------------------------------------ charge-off
    def _charge_off(self, day: int, idx: np.ndarray) -> None:
        p, sc = self.p, self.sc
        principal, claim = ledger.charge_off(p, idx)
        p.missed[idx] = 0
        self._book_principal(principal)
        self.n_charged_off += idx.size
        if self.strategy is not None:
            path = np.asarray(
                self.strategy.recovery_path(
                    ChargeOffView(idx, claim, p.purpose[idx], p.credit[idx], p.capacity[idx])
                ),
                dtype=np.int64,
            )
        else:
            path = np.full(idx.size, RECOVERY_PATHS.index(sc.pre_charge_off_recovery_path))
        cash, cost = self.recovery.place(p, idx, claim, path, day, sc, self.key)
        self.rec.add(
            day,
            charge_offs=int(idx.size),
            charge_off_amount=float(principal.sum()),
            collected_recovery=cash,
            cost_recovery=cost,
        )

    def _book_principal(self, amount: np.ndarray) -> None:
        self.outstanding -= float(np.sum(amount))

    def _close(self, day: int, idx: np.ndarray) -> None:
        done = ledger.close_paid_off(self.p, idx)
        self.n_paid_off += done.size

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
        p, sc, ch, rec = self.p, self.sc, self.ch, self.rec
        req = self.strategy.decide(view)
        if not len(req):
            return
        if req.channel.size and (req.channel.min() < 0 or req.channel.max() >= N_CHANNELS):
            raise ValueError(f"strategy {self.strategy.name!r} requested an unknown channel code")
        req, dropped = enforce(req, p, day, self.compliance, ch.is_call)
        rec.add(day, **{f"dropped_{k}": v for k, v in dropped.items()})
        req, unserved = allocate(req, ch.capacity)
        rec.add_by_channel(day, "unserved", unserved)
        acc, chan = req.account, req.channel.astype(np.int64)
        if not acc.size:
            return
        p.last_contact[chan, acc] = day
        calls = ch.is_call[chan]
        rec.add(day, compliance_breaches=record_calls(p, acc[calls], day, self.compliance))

        reach = np.minimum(ch.reach[chan] * p.reach[acc, ch.reach_trait[chan]], 0.98)
        u = uniforms(self.key, Stream.REACH, day, acc * N_CHANNELS + chan)
        rpc = u < reach
        rec.add_by_channel(day, "attempts", np.bincount(chan, minlength=N_CHANNELS))
        rec.add_by_channel(day, "rpc", np.bincount(chan[rpc], minlength=N_CHANNELS))
        cost = ch.cost_attempt[chan] + np.where(rpc, ch.cost_contact[chan], 0.0)
        rec.add_by_channel(day, "cost", np.bincount(chan, weights=cost, minlength=N_CHANNELS))

        delinquent = p.missed[acc] > 0
        # pre-due reminders: remember whether the borrower was reached (an early-warning signal)
        pre = ~delinquent
        p.missed_reminder[acc[pre]] = ~rpc[pre]

        # reaching a delinquent borrower excites repayment; conversations (channels where a
        # promise can be made) also count for compliance and for self-cure accounting
        conv = rpc & delinquent
        if conv.any():
            c_acc, c_ch = acc[conv], chan[conv]
            talk = c_acc[ch.promise_rate[c_ch] > 0]
            p.episode_contacted[talk] = True
            p.last_conversation[talk] = day
            uniq, inv = np.unique(c_acc, return_inverse=True)
            # contacts move late-stage borrowers less: the effect fades with DPD
            fade = np.exp(-p.dpd(day, c_acc) / sc.behaviour.contact_effect_dpd_scale)
            jump = np.bincount(inv, weights=ch.effect[c_ch] * p.sensitivity[c_acc] * fade)
            bh.excite(p, uniq, jump, day, sc)
            self._promises(day, c_acc, c_ch)
            offers = c_ch == Channel.RESTRUCTURE_OFFER
            if offers.any():
                self._restructure(day, np.unique(c_acc[offers]))

        # irritation, complaints and churn, once per contacted account
        uniq, inv = np.unique(acc, return_inverse=True)
        bh.add_irritation(p, uniq, np.bincount(inv, weights=ch.irritation[chan]), day, sc)
        complain, churn = bh.complaint_and_churn(p, uniq, day, sc, self.key)
        rec.add(
            day,
            complaints=int(complain.sum()),
            churned=int(churn.sum()),
            lifetime_value_lost=float(p.lifetime_value[uniq[churn]].sum()),
        )

    def _promises(self, day: int, acc: np.ndarray, chan: np.ndarray) -> None:
        p, b = self.p, self.sc.behaviour
        rate = self.ch.promise_rate[chan] * (0.5 + bh.sigmoid(p.willingness[acc] - 1.5))
        counter = acc * N_CHANNELS + chan
        made = (uniforms(self.key, Stream.PROMISE, day, counter) < rate) & (
            p.promise_day[acc] < day
        )
        acc = np.unique(acc[made])  # one promise per account and day
        if not acc.size:
            return
        wait = 1 + np.floor(uniforms(self.key, Stream.PROMISE_DAY, day, acc) * b.promise_days_max)
        p.promise_day[acc] = day + wait.astype(np.int32)
        owed = ledger.amount_owed(p, acc)
        full = uniforms(self.key, Stream.PROMISE_AMOUNT, day, acc) < 0.6
        p.promise_amount[acc] = np.where(full, owed, np.minimum(owed, p.last_instalment[acc]))
        self.rec.add(day, promises_made=int(acc.size))

    def _restructure(self, day: int, acc: np.ndarray) -> None:
        p, r = self.p, self.sc.restructuring
        take = np.where(p.hardship[acc], r.take_up, r.take_up_no_hardship)
        yes = acc[uniforms(self.key, Stream.RESTRUCTURE, day, acc) < take]
        yes = yes[p.missed[yes] > 0]
        if not yes.size:
            return
        waived = ledger.restructure(p, yes, r.extension_months)
        p.promise_day[yes] = NEVER
        self.rec.add(
            day, restructures=int(yes.size), concessions=float(waived.sum()), cures=int(yes.size)
        )
        self.rec.add(day, self_cures=int((~p.episode_contacted[yes]).sum()))

    # ------------------------------------------------------------------ repayment
    def repay(self, day: int, dl: np.ndarray, dpd: np.ndarray) -> None:
        """Promises fall due; delinquent accounts repay with their intensity."""
        p, sc, rec = self.p, self.sc, self.rec
        live = p.missed[dl] > 0
        dl, dpd = dl[live], dpd[live]
        if not dl.size:
            return
        promised = p.promise_day[dl] == day
        payers = []
        amounts = []
        if promised.any():
            pa = dl[promised]
            keep = uniforms(self.key, Stream.PROMISE_KEEP, day, pa) < bh.promise_keep_probability(
                p, pa, sc
            )
            rec.add(day, promises_kept=int(keep.sum()), promises_broken=int((~keep).sum()))
            broken = pa[~keep]
            p.promises_broken[broken] += 1
            p.excitation[broken] *= 0.5
            p.promise_day[pa] = NEVER
            payers.append(pa[keep])
            amounts.append(np.minimum(p.promise_amount[pa[keep]], ledger.amount_owed(p, pa[keep])))
        rest, rdpd = dl[~promised], dpd[~promised]
        lam = bh.repayment_intensity(p, rest, rdpd, day, sc)
        pays = uniforms(self.key, Stream.REPAY, day, rest) < -np.expm1(-lam)
        who = rest[pays]
        if who.size:
            b = sc.behaviour
            full_share = np.where(
                p.hardship[who], b.full_payment_share_hardship, b.full_payment_share
            )
            full = uniforms(self.key, Stream.REPAY_KIND, day, who) < full_share
            frac = b.partial_fraction_low + (b.partial_fraction_high - b.partial_fraction_low) * (
                uniforms(self.key, Stream.REPAY_FRACTION, day, who)
            )
            owed = ledger.amount_owed(p, who)
            payers.append(who)
            amounts.append(np.where(full, owed, owed * frac))
        if not payers:
            return
        who = np.concatenate(payers)
        amount = np.concatenate(amounts)
        applied = ledger.pay(p, who, amount)
        self._book_principal(applied.principal)
        p.last_partial_day[who[~applied.cured]] = day
        bh.excite(p, who, np.full(who.size, sc.behaviour.payment_excitation), day, sc)
        cured = who[applied.cured]
        rec.add(
            day,
            collected_delinquent=float(applied.cash.sum()),
            cures=int(cured.size),
            self_cures=int((~p.episode_contacted[cured]).sum()),
        )
        self._close(day, who)

    # ------------------------------------------------------------------ the day
    def step(self, day: int) -> None:
        p, sc = self.p, self.sc
        new_misses = self.due_dates(day)
        dl = self.delinquent
        dl = dl[p.missed[dl] > 0]  # cured, restructured or closed since yesterday drop out
        if self.markov is None and dl.size:
            dpd = p.dpd(day, dl)
            co = dpd >= sc.charge_off_dpd
            if co.any():
                self._charge_off(day, dl[co])
                dl, dpd = dl[~co], dpd[~co]
            onsets = bh.update_hardship(p, dl, day, sc, self.macro, self.key)
            self.rec.add(day, hardship_onsets=int(onsets.sum()))
            if self.strategy is not None:
                self.contact(day, self.workable(day, dl, dpd))
                keep = p.missed[dl] > 0
                dl, dpd = dl[keep], dpd[keep]
            self.repay(day, dl, dpd)
        cash, cost = self.recovery.collect(day)
        self.rec.add(day, collected_recovery=cash, cost_recovery=cost)
        dl = dl[p.missed[dl] > 0]
        self.delinquent = np.concatenate([dl, new_misses[p.missed[new_misses] > 0]])
        self._record_stocks(day)

    def _record_stocks(self, day: int) -> None:
        p = self.p
        dl = self.delinquent
        b = bucket_of(p.dpd(day, dl), p.status[dl])
        counts = np.bincount(b, minlength=N_BUCKETS).astype(float)
        bal = np.bincount(b, weights=p.outstanding(dl), minlength=N_BUCKETS)
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

    Returns
    -------
    RunResult
    """
    seed = scenario.seed if seed is None else int(seed)
    t0 = time.perf_counter()
    run = _Run(scenario, strategy, seed, compliance, portfolio)
    p = run.p
    snapshot = p.bucket(0)
    initial_bucket = snapshot.copy()
    months = -(-scenario.days // MONTH_DAYS)
    roll = np.zeros((months, N_BUCKETS, N_BUCKETS), np.int64)
    for day in range(scenario.days):
        run.step(day)
        if day % MONTH_DAYS == MONTH_DAYS - 1 or day == scenario.days - 1:
            now = p.bucket(day)
            m = day // MONTH_DAYS
            roll[m] = np.bincount(
                snapshot.astype(np.int64) * N_BUCKETS + now, minlength=N_BUCKETS**2
            ).reshape(N_BUCKETS, N_BUCKETS)
            snapshot = now
        if progress is not None and (day % 5 == 4 or day == scenario.days - 1):
            progress(day + 1)
    if check:
        ledger.check_invariants(p, scenario.days - 1)
        if abs(run.outstanding - float(p.outstanding().sum())) > 1e-6 * max(run.outstanding, 1):
            raise ledger.InvariantError("running outstanding balance drifted from the book")
    wall = time.perf_counter() - t0
    daily = run.rec.frame()
    rates = run.recovery.all_rates()
    summary = summarise(
        daily,
        roll,
        accounts=scenario.accounts,
        days=scenario.days,
        seed=seed,
        initial_delinquent=run.initial_delinquent,
        recovery_rates=rates,
        recovery_beyond_horizon=run.recovery.beyond_horizon,
        wall_seconds=wall,
    )
    return RunResult(
        scenario=scenario,
        strategy=getattr(strategy, "name", "none"),
        seed=seed,
        daily=daily,
        monthly=monthly_table(daily, roll),
        roll_counts=roll,
        summary=summary,
        recovery_rates=rates,
        initial_bucket=initial_bucket,
        portfolio=p if keep_portfolio else None,
    )
