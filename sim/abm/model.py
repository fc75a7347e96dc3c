"""The Mesa model: a book of borrower agents under a collections strategy.

:class:`CollectionsModel` runs the day of docs/behaviour.md with one :class:`BorrowerAgent` per
account. The book-level steps (the strategy's decision, compliance, staff capacity, recovery
placements) are the engine's own functions (:mod:`sim.compliance`, :mod:`sim.capacity`,
:mod:`sim.recovery`) called on an :class:`~sim.actions.AccountView` built from the agents' state;
everything a borrower does is an agent rule (:mod:`sim.abm.agents`). The order of the day is
:class:`sim.day_loop.DayLoop`'s, the one the vectorised engine runs; the model implements its
steps agent by agent (:class:`sim.day_loop.DayEngine`) and hands observers the same events.

Seeding is the Mesa way (``CollectionsModel(scenario, strategy, seed=...)``): the seed fixes the
book (``sim.population.generate``) and the counter-based draws of every agent, so the same seed
gives the vectorised engine's borrowers and luck. A :class:`mesa.DataCollector` records the
daily KPIs; :func:`run_abm` returns a :class:`sim.engine.RunResult` whose ``summary`` has the
names of :func:`sim.kpis.summarise`.

The ABM is the readable engine, not the fast one: books above :data:`MAX_ACCOUNTS` are refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import mesa
import numpy as np
import pandas as pd

from sim import behaviour as bh
from sim import ledger
from sim.abm.agents import BorrowerAgent, Rules
from sim.actions import AccountView, StrategyProtocol
from sim.borrower.params import behaviour_record, day_offsets, decay_tables
from sim.channels import N_CHANNELS, Channel
from sim.churn import Departures
from sim.compliance import DEFAULT_PROFILE, ComplianceProfile
from sim.day_loop import DayLoop, EventLog
from sim.dispatch import ChannelTable, serve
from sim.engine import place_charge_offs, take_up_restructuring
from sim.kpis import DailyRecorder
from sim.population import generate
from sim.portfolio import MONTH_DAYS, N_BUCKETS, Status
from sim.recovery import RecoveryBook
from sim.rng import Stream, seed_key, uniform_at
from sim.run_result import RunResult, assemble
from sim.scenario import Scenario
from sim.value import complaint_price

#: The largest book the ABM accepts. It makes about 300,000 account-days a second on this
#: project's 2-core machine (the baseline, 100,000 accounts x 180 days, in about a minute, 400 MiB).
MAX_ACCOUNTS = 200_000


class BookTooLarge(ValueError):
    """The book is beyond what the agent-based model can run in reasonable time."""


class CollectionsModel(mesa.Model):
    """A loan book as Mesa agents.

    Parameters
    ----------
    scenario : Scenario
    strategy : StrategyProtocol or None
        The same strategy objects the vectorised engine takes (``None``: nobody is contacted).
    seed : int, optional
        Defaults to ``scenario.seed``.
    compliance : ComplianceProfile
    rules : Rules
        Behaviour rules to follow (all on by default).
    observers : iterable of sim.day_loop.Observer
        Hooks called once a day with the day's events (:mod:`sim.day_loop`), as in
        :func:`sim.engine.simulate`; e.g. the peer effects of :mod:`sim.peer`.
    """

    def __init__(
        self,
        scenario: Scenario,
        strategy: StrategyProtocol | None,
        seed: int | None = None,
        *,
        compliance: ComplianceProfile = DEFAULT_PROFILE,
        rules: Rules = Rules(),  # frozen: safe as a default
        observers: Iterable[object] = (),
    ):
        seed = scenario.seed if seed is None else int(seed)
        if scenario.accounts > MAX_ACCOUNTS:
            raise BookTooLarge(
                f"the agent-based engine handles books up to {MAX_ACCOUNTS:,} accounts "
                f"(this one has {scenario.accounts:,}); use the vectorised engine "
                "(--engine vector) or --accounts to shrink the book"
            )
        if scenario.behaviour.mode == "markov":
            raise ValueError("the agent-based engine does not run the Markov test mode")
        super().__init__(seed=seed)
        self.sc = scenario
        self.strategy = strategy
        self.seed = seed
        self.key = seed_key(seed)
        self.compliance = compliance
        self.rules = rules
        self.p = generate(scenario, seed)
        self.macro = bh.MacroPath(scenario)
        self.ch = ChannelTable(scenario)
        self.rec = DailyRecorder(scenario.days)
        self.recovery = RecoveryBook(horizon=scenario.days)
        self.events = EventLog()  # the kinds observers want (set by the DayLoop)
        self.departures = Departures(
            scenario.economics.funding_rate_annual, scenario.behaviour.prepayment_monthly
        )
        self.day = 0
        # the borrower rules' parameters, built once per run, and the day's stream offsets
        self.prm = behaviour_record(scenario)
        self.tables = decay_tables(self.prm)
        self.off = day_offsets(self.key, 0)
        p = self.p
        self.borrowers = [BorrowerAgent(self, i) for i in range(p.n)]
        order = np.argsort(p.due_day, kind="stable")
        bounds = np.searchsorted(p.due_day[order], np.arange(MONTH_DAYS + 1))
        self.due_lists = [order[bounds[d] : bounds[d + 1]] for d in range(MONTH_DAYS)]
        self.delinquent: list[int] = [int(i) for i in np.flatnonzero(p.missed > 0)]
        self.initial_delinquent = len(self.delinquent)
        self.arms = getattr(strategy, "arms", None)
        if self.arms is not None:
            p.arm[:] = strategy.assign(np.arange(p.n, dtype=np.int64), self.key)
            if hasattr(strategy, "bind"):
                strategy.bind(p.arm)
            p.cash_collected = np.zeros(p.n)
            p.contact_cost = np.zeros(p.n)
        self.loop = DayLoop(self, observers)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                k: (lambda m, k=k: m._today(k))
                for k in (
                    "collected_delinquent",
                    "collected_recovery",
                    "scheduled_cash",
                    "cures",
                    "charge_offs",
                    "churned",
                    "n_current",
                    "n_1_30",
                    "n_31_60",
                    "n_61_90",
                    "n_91_120",
                    "n_charged_off",
                    "n_paid_off",
                    "outstanding",
                )
            }
            | {"cost": lambda m: m._today_cost()},
        )

    # ------------------------------------------------------------------ helpers
    def draw(self, stream: Stream, counter: int) -> float:
        """The engine's counter-based uniform for (seed, stream, today, counter)."""
        return float(uniform_at(self.off[int(stream)], counter))

    def _today(self, name: str) -> float:
        d = self.day - 1
        src = self.rec.flows if name in self.rec.flows else self.rec.stocks
        return float(src[name][d])

    def _today_cost(self) -> float:
        d = self.day - 1
        f = self.rec.flows
        # contact cost per channel + recovery + staff, as ``DailyRecorder.frame``'s ``cost``
        return float(sum(v[d] for k, v in f.items() if k.startswith("cost_")))

    # ------------------------------------------------------------------ the day
    @property
    def roll(self) -> np.ndarray:
        """Month-end to month-end account counts by bucket, ``(months, 7, 7)``."""
        return self.loop.roll

    @property
    def initial_bucket(self) -> np.ndarray:
        return self.loop.initial_bucket

    def step(self) -> None:
        """One day: :meth:`sim.day_loop.DayLoop.step` over this model's steps."""
        self.off = day_offsets(self.key, self.day)
        self.loop.step(self.day)
        self.day += 1
        self.datacollector.collect(self)
        if self.day >= self.sc.days:
            self.running = False

    # The steps of sim.day_loop.DayLoop (the DayEngine protocol), agent by agent.
    def morning(self, day: int) -> list[tuple[BorrowerAgent, int]] | None:
        """Delinquent borrowers: drop-outs, DPD, charge-off, hardship. Returns the live ones
        with their DPD (``None``: none)."""
        live: list[tuple[BorrowerAgent, int]] = []
        charge_off: list[int] = []
        onsets = 0
        for i in self.delinquent:
            agent = self.borrowers[i]
            state, d = agent.morning(day)
            if state == "charge_off":
                charge_off.append(i)
            elif state == "live":
                live.append((agent, d))
                onsets += agent.onset_today
        if charge_off:
            self._charge_off(day, np.array(charge_off, np.int64))
        self.rec.add(day, hardship_onsets=onsets)
        return live or None

    def settle_recoveries(self, day: int) -> None:
        p = self.p
        ids = self.recovery.settled(day)
        ids = ids[p.status[ids] == Status.CHARGED_OFF]
        p.status[ids] = Status.PAID_OFF

    def evening(self, day: int, live, new_misses: list[int]) -> None:
        """Tomorrow's delinquent list and the day's stocks."""
        p = self.p
        self.departures.leave(p, self.rec, day)  # churned customers refinance away
        carried = [a.account for a, _ in live or ()]
        self.delinquent = [i for i in carried + new_misses if p.missed[i] > 0]
        self._record_stocks(day)

    def due_dates(self, day: int) -> list[int]:
        """Today's due borrowers; returns the new misses."""
        self.macro.month_start(self.p, day, self.key)  # income and rate paths (sim.macro)
        misses: list[int] = []
        cash = onsets = 0.0
        arrears_cash = 0.0
        for i in self.due_lists[day % MONTH_DAYS]:
            agent = self.borrowers[i]
            out = agent.due_date(day)
            if out is None:
                continue
            onsets += out["onset"]
            cash += out["cash"]
            if out["missed"]:
                misses.append(agent.account)
            if "arrears_cash" in out:
                arrears_cash += out["arrears_cash"]
                if self.arms is not None:
                    self.p.cash_collected[agent.account] += out["arrears_cash"]
                if self.events.payments:
                    self.events.add("payments", [agent.account], [out["arrears_cash"]])
        self.rec.add(day, hardship_onsets=int(onsets), scheduled_cash=cash)
        self.rec.add(day, new_delinquent=len(misses))
        if arrears_cash:
            self.rec.add(day, collected_delinquent=arrears_cash)
        return misses

    def _charge_off(self, day: int, idx: np.ndarray) -> None:
        p, sc = self.p, self.sc
        principal, claim = ledger.charge_off(p, idx)
        p.missed[idx] = 0
        place_charge_offs(p, sc, self.strategy, self.recovery, self.rec, self.key, day, idx, claim)
        self.rec.add(day, charge_off_amount=float(principal.sum()))
        if self.events.charge_offs:
            self.events.add("charge_offs", idx, claim)

    def _view(self, day: int, live: list[tuple[BorrowerAgent, int]]) -> AccountView:
        p = self.p
        acc = [a.account for a, _ in live]
        dpd = [d for _, d in live]
        for ahead in range(1, int(getattr(self.strategy, "pre_due_days", 0) or 0) + 1):
            for i in self.due_lists[(day + ahead) % MONTH_DAYS]:
                if p.status[i] == Status.OPEN and p.missed[i] == 0 and p.remaining[i] > 0:
                    acc.append(int(i))
                    dpd.append(-ahead)
        return AccountView(p, day, np.array(acc, np.int64), np.array(dpd, np.int32))

    def contact_today(self, day: int, live: list[tuple[BorrowerAgent, int]]) -> None:
        """The strategy asks, compliance and capacity filter, the borrowers answer."""
        p, ch, rec, prof = self.p, self.ch, self.rec, self.compliance
        req = self.strategy.decide(self._view(day, live))
        att = serve(req, p, ch, prof, day, self.key, rec, self.strategy.name)
        if att is None:
            return
        acc, chan = att.account, att.channel

        # the borrowers answer, attempt by attempt in the order served
        p.last_contact[chan, acc] = day
        attempts = np.zeros(N_CHANNELS, np.int64)
        rpcs = np.zeros(N_CHANNELS, np.int64)
        cost = np.zeros(N_CHANNELS)
        jumps: dict[int, float] = {}
        irritation: dict[int, float] = {}
        offers: list[int] = []
        promises = 0
        rpc_log: list[bool] | None = [] if self.events.contacts else None
        for i, c, a in zip(acc.tolist(), chan.tolist(), att.attempt.tolist(), strict=True):
            agent = self.borrowers[i]
            irritation[i] = irritation.get(i, 0.0) + ch.irritation[c]
            delinquent = agent.missed > 0
            rpc, jump, promised = agent.answer(c, a, day)
            if rpc_log is not None:
                rpc_log.append(bool(rpc))
            attempts[c] += 1
            rpcs[c] += rpc
            spent = ch.cost_attempt[c] + (ch.cost_contact[c] if rpc else 0.0)
            cost[c] += spent
            if self.arms is not None:
                p.contact_cost[i] += spent
            if delinquent and rpc:
                jumps[i] = jumps.get(i, 0.0) + jump
                promises += promised
                if c == Channel.RESTRUCTURE_OFFER:
                    offers.append(i)
            elif rpc and c == Channel.RESTRUCTURE_OFFER and self.rules.current_offers:
                offers.append(i)  # an early-warning offer to a current borrower
        for i, jump in jumps.items():
            self.borrowers[i].contacted(day, jump)
        if rpc_log is not None:
            self.events.add("contacts", acc, chan, np.array(rpc_log, bool))
        rec.add_by_channel(day, "attempts", attempts)
        rec.add_by_channel(day, "rpc", rpcs)
        rec.add_by_channel(day, "cost", cost)
        if promises:
            rec.add(day, promises_made=promises)
        if offers:
            self._restructure(day, np.unique(np.array(offers, np.int64)))
        complaints = churned = 0
        lost = 0.0
        churners: list[int] = []
        for i, amount in irritation.items():
            complained, churn = self.borrowers[i].feel_irritation(amount, day)
            complaints += complained
            if churn:
                churned += 1
                lost += float(p.lifetime_value[i])
                churners.append(i)
        rec.add(
            day,
            complaints=complaints,
            complaint_cost=complaints * complaint_price(self.sc.economics),
            churned=churned,
            lifetime_value_lost=lost,
        )
        self.departures.add(p, np.array(churners, np.int64))  # they leave once current
        if self.events.churn:
            self.events.add("churn", np.array(churners, np.int64))

    def _restructure(self, day: int, acc: np.ndarray) -> None:
        take_up_restructuring(self.p, self.sc, self.key, self.rec, day, acc, self.events)

    def repay_today(self, day: int, live: list[tuple[BorrowerAgent, int]]) -> None:
        p, rec = self.p, self.rec
        kept = broken = cures = self_cures = 0
        collected = 0.0
        paid_log: list[tuple[int, float]] | None = [] if self.events.payments else None
        cured_log: list[int] | None = [] if self.events.cures else None
        for agent, d in live:
            out = agent.repayment(day, d)
            if out is None:
                continue
            kind, amount, settles = out
            if kind == "broken":
                broken += 1
                continue
            kept += kind == "kept"
            i = agent.account
            one = np.array([i], np.int64)
            paid = ledger.pay(p, one, np.array([amount]))
            cash = float(paid.cash[0])
            if settles:
                cash += float(ledger.settle(p, one)[0])
            collected += cash
            if self.arms is not None:
                p.cash_collected[i] += cash
            if paid_log is not None:
                paid_log.append((i, cash))
            cured = bool(paid.cured[0])
            if cured:
                cures += 1
                self_cures += not p.episode_contacted[i]
                if cured_log is not None:
                    cured_log.append(i)
            agent.after_payment(cured, day)
            ledger.close_and_book(p, one)
        if kept or broken:
            rec.add(day, promises_kept=kept, promises_broken=broken)
        rec.add(day, collected_delinquent=collected, cures=cures, self_cures=self_cures)
        if paid_log:
            self.events.add("payments", *zip(*paid_log, strict=True))
        if cured_log:
            self.events.add("cures", cured_log)

    def _record_stocks(self, day: int) -> None:
        p = self.p
        b = p.bucket(day).astype(np.int64)
        counts = np.bincount(b, minlength=N_BUCKETS).astype(float)
        principal = p.sched_balance + p.arrears_principal
        bal = np.bincount(b, weights=principal, minlength=N_BUCKETS)
        open_ = p.status == Status.OPEN
        self.rec.set_stocks(
            day,
            counts,
            bal[:5],
            outstanding=float(principal[open_].sum()),
            unemployment=float(self.macro.unemployment[day]),
        )


def run_abm(
    scenario: Scenario,
    strategy: StrategyProtocol | None,
    seed: int | None = None,
    *,
    compliance: ComplianceProfile = DEFAULT_PROFILE,
    progress: Callable[[int], None] | None = None,
    keep_portfolio: bool = False,
    check: bool = True,
    **model_options,
) -> RunResult:
    """Run a book as Mesa agents; the result has the vectorised engine's shape and KPI names.

    ``model_options`` go to :class:`CollectionsModel` (``rules``, ``observers``).
    """
    t0 = time.perf_counter()
    model = CollectionsModel(scenario, strategy, seed, compliance=compliance, **model_options)
    while model.running:
        model.step()
        if progress is not None and (model.day % 5 == 0 or not model.running):
            progress(model.day)
    if check:
        ledger.check_invariants(model.p, scenario.days - 1)
    result = assemble(
        model.loop,
        seed=model.seed,
        compliance=compliance,
        wall_seconds=time.perf_counter() - t0,
        engine="abm",
        keep_portfolio=keep_portfolio,
    )
    result.model = model  # type: ignore[attr-defined]  # the Mesa model (DataCollector, agents)
    return result


def model_frame(result: RunResult) -> pd.DataFrame:
    """The DataCollector's daily table of an ABM run."""
    return result.model.datacollector.get_model_vars_dataframe()  # type: ignore[attr-defined]
