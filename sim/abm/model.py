"""The Mesa model: a book of borrower agents under a collections strategy.

:class:`CollectionsModel` runs the day of docs/behaviour.md with one :class:`BorrowerAgent` per
account. The book-level steps (the strategy's decision, compliance, staff capacity, recovery
placements) are the engine's own functions (:mod:`sim.compliance`, :mod:`sim.capacity`,
:mod:`sim.recovery`) called on an :class:`~sim.actions.AccountView` built from the agents' state;
everything a borrower does is an agent rule (:mod:`sim.abm.agents`).

Seeding is the Mesa way (``CollectionsModel(scenario, strategy, seed=...)``): the seed fixes the
book (``sim.population.generate``) and the counter-based draws of every agent, so the same seed
gives the vectorised engine's borrowers and luck. A :class:`mesa.DataCollector` records the
daily KPIs; :func:`run_abm` returns a :class:`sim.engine.RunResult` whose ``summary`` has the
names of :func:`sim.kpis.summarise`.

The ABM is the readable engine, not the fast one: books above :data:`MAX_ACCOUNTS` are refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import mesa
import numpy as np
import pandas as pd

from sim import behaviour as bh
from sim import ledger
from sim.abm.agents import BorrowerAgent, Rules
from sim.abm.peer import edge_array
from sim.actions import AccountView, StrategyProtocol
from sim.borrower.params import behaviour_record, day_offsets, decay_tables
from sim.channels import N_CHANNELS, Channel
from sim.compliance import DEFAULT_PROFILE, ComplianceProfile
from sim.dispatch import ChannelTable, serve
from sim.engine import RunResult, arm_kpis, place_charge_offs, take_up_restructuring
from sim.kpis import DailyRecorder, monthly_table, summarise
from sim.population import generate
from sim.portfolio import MONTH_DAYS, N_BUCKETS, Status
from sim.recovery import RecoveryBook
from sim.rng import Stream, seed_key, uniform_at
from sim.scenario import Scenario

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
    network : (m, 2) edge array or networkx graph, optional
        A borrower network over account ids (:func:`sim.abm.peer.borrower_network`); with
        ``peer_shock > 0`` a charge-off lowers each open neighbour's willingness by
        ``peer_shock`` (docs/extending.md).
    """

    def __init__(
        self,
        scenario: Scenario,
        strategy: StrategyProtocol | None,
        seed: int | None = None,
        *,
        compliance: ComplianceProfile = DEFAULT_PROFILE,
        rules: Rules = Rules(),  # frozen: safe as a default
        network=None,
        peer_shock: float = 0.0,
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
        self.peer_shock = float(peer_shock)
        self.p = generate(scenario, seed)
        self.macro = bh.MacroPath(scenario)
        self.ch = ChannelTable(scenario)
        self.rec = DailyRecorder(scenario.days)
        self.recovery = RecoveryBook(horizon=scenario.days)
        self.day = 0
        # the borrower rules' parameters, built once per run, and the day's stream offsets
        self.prm = behaviour_record(scenario)
        self.tables = decay_tables(self.prm)
        self.off = day_offsets(self.key, 0)
        p = self.p
        self.borrowers = [BorrowerAgent(self, i) for i in range(p.n)]
        if network is not None:
            for a, b in edge_array(network).tolist():
                self.borrowers[a].neighbours.append(self.borrowers[b])
                self.borrowers[b].neighbours.append(self.borrowers[a])
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
        self.initial_bucket = p.bucket(0)
        self._snapshot = self.initial_bucket.copy()
        months = -(-scenario.days // MONTH_DAYS)
        self.roll = np.zeros((months, N_BUCKETS, N_BUCKETS), np.int64)
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
    def step(self) -> None:
        day = self.day
        self.off = day_offsets(self.key, day)
        rec, p = self.rec, self.p
        new_misses = self._due_dates(day)
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
        rec.add(day, hardship_onsets=onsets)
        if live and self.strategy is not None:
            self._contact(day, live)
        if live:
            self._repay(day, live)
        if self.ch.staffing is not None:
            rec.add(day, cost_staff=self.ch.staffing.staff_cost_per_day)
        cash, cost = self.recovery.collect(day)
        rec.add(day, collected_recovery=cash, cost_recovery=cost)
        if self.recovery.settling:
            ids = self.recovery.settled(day)
            ids = ids[p.status[ids] == Status.CHARGED_OFF]
            p.status[ids] = Status.PAID_OFF
        carried = [a.account for a, _ in live]
        self.delinquent = [i for i in carried + new_misses if p.missed[i] > 0]
        self._record_stocks(day)
        if day % MONTH_DAYS == MONTH_DAYS - 1 or day == self.sc.days - 1:
            now = p.bucket(day)
            self.roll[day // MONTH_DAYS] = np.bincount(
                self._snapshot.astype(np.int64) * N_BUCKETS + now, minlength=N_BUCKETS**2
            ).reshape(N_BUCKETS, N_BUCKETS)
            self._snapshot = now
        self.day += 1
        self.datacollector.collect(self)
        if self.day >= self.sc.days:
            self.running = False

    def _due_dates(self, day: int) -> list[int]:
        """Today's due borrowers; returns the new misses."""
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
        if self.peer_shock > 0:
            for i in idx:
                for nb in self.borrowers[int(i)].neighbours:
                    nb.on_neighbour_default(self.peer_shock)

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

    def _contact(self, day: int, live: list[tuple[BorrowerAgent, int]]) -> None:
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
        for i, c, a in zip(acc.tolist(), chan.tolist(), att.attempt.tolist(), strict=True):
            agent = self.borrowers[i]
            irritation[i] = irritation.get(i, 0.0) + ch.irritation[c]
            delinquent = agent.missed > 0
            rpc, jump, promised = agent.answer(c, a, day)
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
        for i, jump in jumps.items():
            self.borrowers[i].excite(day, jump)
        rec.add_by_channel(day, "attempts", attempts)
        rec.add_by_channel(day, "rpc", rpcs)
        rec.add_by_channel(day, "cost", cost)
        if promises:
            rec.add(day, promises_made=promises)
        if offers:
            self._restructure(day, np.unique(np.array(offers, np.int64)))
        complaints = churned = 0
        lost = 0.0
        for i, amount in irritation.items():
            complained, churn = self.borrowers[i].feel_irritation(amount, day)
            complaints += complained
            if churn:
                churned += 1
                lost += float(p.lifetime_value[i])
        rec.add(day, complaints=complaints, churned=churned, lifetime_value_lost=lost)

    def _restructure(self, day: int, acc: np.ndarray) -> None:
        take_up_restructuring(self.p, self.sc, self.key, self.rec, day, acc)

    def _repay(self, day: int, live: list[tuple[BorrowerAgent, int]]) -> None:
        p, rec = self.p, self.rec
        kept = broken = cures = self_cures = 0
        collected = 0.0
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
            cured = bool(paid.cured[0])
            if cured:
                cures += 1
                self_cures += not p.episode_contacted[i]
            agent.after_payment(cured, day)
            ledger.close_and_book(p, one)
        if kept or broken:
            rec.add(day, promises_kept=kept, promises_broken=broken)
        rec.add(day, collected_delinquent=collected, cures=cures, self_cures=self_cures)

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

    ``model_options`` go to :class:`CollectionsModel` (``rules``, ``network``, ``peer_shock``).
    """
    t0 = time.perf_counter()
    model = CollectionsModel(scenario, strategy, seed, compliance=compliance, **model_options)
    while model.running:
        model.step()
        if progress is not None and (model.day % 5 == 0 or not model.running):
            progress(model.day)
    p = model.p
    if check:
        ledger.check_invariants(p, scenario.days - 1)
    wall = time.perf_counter() - t0
    daily = model.rec.frame()
    rates = model.recovery.all_rates()
    summary = summarise(
        daily,
        model.roll,
        accounts=scenario.accounts,
        days=scenario.days,
        seed=model.seed,
        initial_delinquent=model.initial_delinquent,
        recovery_rates=rates,
        recovery_beyond_horizon=model.recovery.beyond_horizon,
        wall_seconds=wall,
    )
    summary["compliance_profile"] = compliance.name
    summary["engine"] = "abm"
    if model.arms is not None:
        summary["arms"] = arm_kpis(p, model.arms, scenario.days - 1)
    result = RunResult(
        scenario=scenario,
        strategy=getattr(strategy, "name", "none"),
        seed=model.seed,
        daily=daily,
        monthly=monthly_table(daily, model.roll),
        roll_counts=model.roll,
        summary=summary,
        recovery_rates=rates,
        initial_bucket=model.initial_bucket,
        portfolio=p if keep_portfolio else None,
    )
    result.model = model  # type: ignore[attr-defined]  # the Mesa model (DataCollector, agents)
    return result


def model_frame(result: RunResult) -> pd.DataFrame:
    """The DataCollector's daily table of an ABM run."""
    return result.model.datacollector.get_model_vars_dataframe()  # type: ignore[attr-defined]
