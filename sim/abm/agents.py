"""Borrower agents: one account's behaviour, written as one agent's rules.

A :class:`BorrowerAgent` is a Mesa agent whose state lives in the model's
:class:`~sim.portfolio.Portfolio` (the same record the vectorised engine uses): the agent reads
and writes its own row through properties, so the strategy, compliance and capacity steps of the
model see exactly what they would see in the engine. Every rule is the compiled
function of :mod:`sim.borrower` that the vectorised engine's loops call, run here on the agent's
own account with the model's parameter record and the day's stream offsets, so the two engines
follow the same rules and face the same luck, borrower by borrower. Each method is one agent's
step and can be overridden per agent (a subclass, or a method set on one instance).

The rules, in the order of a day (docs/behaviour.md):

* :meth:`BorrowerAgent.due_date` -- hardship, the noisy hardship signal, DTI drift, the instalment
  falls due, pay or miss (a miss starts DPD), late fee;
* :meth:`BorrowerAgent.morning` -- a delinquent borrower's DPD, charge-off, hardship;
* :meth:`BorrowerAgent.answer` -- an attempt reaches (or misses) the borrower; a right-party
  contact excites repayment and may end in a promise;
* :meth:`BorrowerAgent.feel_irritation` -- contacts irritate; complaints and churn;
* :meth:`BorrowerAgent.contacted` -- the day's contacts excite repayment (diminishing returns);
* :meth:`BorrowerAgent.repayment` -- promises fall due (weaker with DPD); a pending promise
  displaces the borrower's own payments; the self-exciting repayment intensity;
* :meth:`BorrowerAgent.after_payment` -- a payment excites further payments.

Each rule can be switched off with a flag in :class:`Rules` (for tests showing that a rule
missing from one engine breaks parity, and for researchers' ablations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mesa
import numpy as np

from sim import ledger
from sim.borrower import contact as contact_rules
from sim.borrower import due_date as due_rules
from sim.borrower import hardship as hardship_rules
from sim.borrower import irritation as irritation_rules
from sim.borrower import payment_shock as shock_rules
from sim.borrower import promises as promise_rules
from sim.borrower import reageing as reageing_rules
from sim.borrower import repayment as repayment_rules
from sim.borrower import response as response_rules
from sim.borrower import write_off as write_off_rules
from sim.constants import MONTH_DAYS, NEVER, Status
from sim.rng import Stream


@dataclass(frozen=True)
class Rules:
    """Which behaviour rules the agents follow (all on: the engine's behaviour)."""

    hardship: bool = True
    due_date_payment: bool = True
    contact_excitation: bool = True
    promises: bool = True
    irritation: bool = True
    self_excitation: bool = True  # each payment raises the repayment intensity
    # the response model (sim.borrower.response); each acts only when its parameter is on
    reminders: bool = True  # a reminder prevents a forgetful borrower's miss
    diminishing_returns: bool = True  # contact_saturation
    promise_weakening: bool = True  # promise_dpd_scale
    promise_displacement: bool = True  # promise_displacement
    current_offers: bool = True  # restructuring offers to current borrowers (take_up_current)


def _one(i: int) -> np.ndarray:
    return np.array([i], np.int64)


class BorrowerAgent(mesa.Agent):
    """One borrower and its loan (row ``i`` of the model's portfolio)."""

    def __init__(self, model, account: int):
        super().__init__(model)
        self.account = int(account)

    # ------------------------------------------------------------------ state (portfolio row)
    @property
    def p(self):
        return self.model.p

    @property
    def willingness(self) -> float:
        return float(self.p.willingness[self.account])

    @willingness.setter
    def willingness(self, value: float) -> None:
        self.p.willingness[self.account] = value

    @property
    def in_hardship(self) -> bool:
        return bool(self.p.hardship[self.account])

    @property
    def missed(self) -> int:
        """Instalments in arrears (0: current)."""
        return int(self.p.missed[self.account])

    @property
    def is_open(self) -> bool:
        return int(self.p.status[self.account]) == Status.OPEN

    def dpd(self, day: int) -> int:
        """Days since the due date of the oldest unpaid instalment."""
        m = self.missed
        if m <= 0:
            return 0
        return day - int(self.p.last_due_day[self.account]) + MONTH_DAYS * (m - 1)

    def owed(self) -> float:
        i, p = self.account, self.p
        return float(p.fees_due[i] + p.arrears_interest[i] + p.arrears_principal[i])

    def excitation_now(self, day: int) -> float:
        """The self-exciting repayment intensity, decayed to today."""
        i, p, m = self.account, self.p, self.model
        return repayment_rules.excitation_now(
            m.prm, m.tables, p.excitation[i], p.excitation_day[i], day
        )

    def excite(self, day: int, jump: float) -> None:
        """Add ``jump`` to the excitation decayed to today."""
        i, p, m = self.account, self.p, self.model
        p.excitation[i] = repayment_rules.excite(
            m.prm, m.tables, p.excitation[i], p.excitation_day[i], day, jump
        )
        p.excitation_day[i] = day

    def draw(self, stream: Stream, counter: int | None = None) -> float:
        """This borrower's uniform draw of today for ``stream`` (the engine's draw)."""
        return self.model.draw(stream, self.account if counter is None else counter)

    # ------------------------------------------------------------------ rules
    def update_hardship(self, day: int) -> bool:
        """Bring the two-state hardship process up to today; True on a new onset
        (:func:`sim.borrower.hardship.hardship_update`)."""
        i, p, m = self.account, self.p, self.model
        hazard = float(p.hardship_hazard[i]) if m.rules.hardship else 0.0
        old = bool(p.hardship[i])
        new, stamp = hardship_rules.hardship_update(
            m.prm, m.off, i, day, old, int(p.hardship_day[i]), hazard, m.macro.cumulative
        )
        p.hardship[i] = new
        p.hardship_day[i] = stamp
        return new and not old

    def due_date(self, day: int) -> dict | None:
        """The instalment falls due: pay it, or miss it (:mod:`sim.borrower.hardship`,
        :mod:`sim.borrower.due_date`). Returns what happened (or None)."""
        i, p, m = self.account, self.p, self.model
        if not self.is_open or p.remaining[i] <= 0:
            return None
        out = {"onset": self.update_hardship(day), "cash": 0.0, "principal": 0.0, "residue": 0.0}
        shocked = hardship_rules.medical_shock(m.prm, m.off, i)
        if shocked and not p.hardship[i]:
            p.hardship[i] = True
            out["onset"] = True
        hard = self.in_hardship
        p.hardship_seen[i] = hardship_rules.hardship_signal(m.off, i, hard)
        p.dti[i] *= hardship_rules.dti_factor(m.off, i, hard)
        was_current = self.missed == 0
        p_miss = due_rules.miss_probability(
            m.prm, self.willingness, hard, float(p.dti[i]), bool(p.restructured[i]), shocked
        )
        behind = self.missed
        ledger.fall_due(p, _one(i), day)
        pays = False
        if was_current:
            p_miss = shock_rules.shocked_miss(
                m.prm, p_miss, float(p.last_instalment[i]), float(p.capacity_payment[i])
            )
            if m.rules.reminders:
                p_miss = response_rules.reminded_miss_probability(
                    m.prm, m.off, i, p_miss, hard, self.willingness, p.last_reminded, day
                )
            gone = write_off_rules.written_off(m.prm, m.off, i)  # charged off next morning
            if gone:
                p.last_due_day[i] = day - write_off_rules.WRITE_OFF_AGE
            pays = not gone and (
                due_rules.pays_instalment(m.off, i, p_miss) or not m.rules.due_date_payment
            )
            if pays:
                paid = ledger.pay(p, _one(i), np.array([self.owed()]))
                out["cash"] += float(paid.cash[0])
                out["principal"] += float(paid.principal[0])
                out["residue"] += paid.residue
                if due_rules.prepays(m.prm, m.off, i):
                    rest = float(ledger.settle(p, _one(i))[0])
                    out["cash"] += rest
                    out["principal"] += rest
        elif due_rules.pays_arrears_instalment(m.prm, m.off, i, behind):
            # a payment arrangement: fees, interest in arrears and the instalment, re-aged
            reaged = p.remaining[i] > 0 and reageing_rules.reages(m.prm, m.off, i, behind)
            amount = float(p.fees_due[i] + p.last_instalment[i])
            if reaged:
                amount += float(p.arrears_interest[i])
            paid = ledger.pay(p, _one(i), np.array([amount]))
            if reaged:
                ledger.reage(p, _one(i))
            out["arrears_cash"] = float(paid.cash[0])
            out["arrears_principal"] = float(paid.principal[0])
            out["residue"] += paid.residue
            if self.missed > behind:  # older instalments larger than this one
                p.missed[i] = behind
        out["missed"] = False
        if self.missed > 0:
            p.fees_due[i] += m.prm[0]["late_fee"]
            if was_current and not pays:
                out["missed"] = True
                p.episode_contacted[i] = False
        out["closed"] = False
        if pays:
            done, rest = ledger.close_and_book(p, _one(i))
            out["closed"] = bool(done.size)
            out["residue"] += rest
        return out

    def morning(self, day: int) -> tuple[str, int]:
        """A delinquent borrower's morning: ('cured'|'charge_off'|'live', dpd)."""
        if self.missed <= 0:
            return "cured", 0
        d = self.dpd(day)
        if d >= self.model.sc.charge_off_dpd:
            return "charge_off", d
        self.onset_today = self.update_hardship(day)
        return "live", d

    def answer(self, channel: int, attempt: int, day: int) -> tuple[bool, float, bool]:
        """An attempt on ``channel`` (:mod:`sim.borrower.contact`, :mod:`sim.borrower.promises`):
        returns (right-party contact, excitation jump, promise)."""
        i, p, m = self.account, self.p, self.model
        ch = m.ch
        counter = contact_rules.attempt_counter(i, channel, attempt, ch.reach.size)
        rpc = contact_rules.right_party_contact(
            m.off, counter, ch.reach[channel], p.reach[i, ch.reach_trait[channel]]
        )
        if self.missed <= 0:
            p.missed_reminder[i] = not rpc  # a pre-due reminder
            if rpc:
                p.last_reminded[i] = day
            return rpc, 0.0, False
        if not rpc:
            return rpc, 0.0, False
        if ch.conversation[channel]:  # a conversation with a person
            p.episode_contacted[i] = True
            p.last_conversation[i] = day
        jump = 0.0
        if m.rules.contact_excitation:
            jump = contact_rules.contact_jump(
                m.prm, m.tables, ch.effect[channel], p.sensitivity[i], self.dpd(day)
            )
        made = m.rules.promises and promise_rules.promise_made(
            m.off, counter, ch.promise_rate[channel], self.willingness, p.promise_day[i], day
        )
        if made:
            p.promise_day[i], p.promise_amount[i] = promise_rules.promise_terms(
                m.prm, m.off, i, day, self.owed(), p.last_instalment[i]
            )
        return rpc, float(jump), bool(made)

    def feel_irritation(self, amount: float, day: int) -> tuple[bool, bool]:
        """Today's contacts add ``amount`` to the decaying irritation stock
        (:mod:`sim.borrower.irritation`). Returns (complained, churned today)."""
        i, p, m = self.account, self.p, self.model
        irr = irritation_rules.irritation_now(
            m.prm, m.tables, p.irritation[i], p.irritation_day[i], day
        )
        irr += amount
        p.irritation[i] = irr
        p.irritation_day[i] = day
        tolerance = p.tolerance[i] if m.rules.irritation else math.inf
        excess = irritation_rules.excess_irritation(irr, tolerance)
        complained = irritation_rules.complains(m.prm, m.off, i, excess)
        if complained:
            p.complaints[i] += 1
        churn = irritation_rules.churns(m.prm, m.off, i, excess, p.churned[i])
        if churn:
            p.churned[i] = True
        return bool(complained), bool(churn)

    def repayment(self, day: int, dpd: int) -> tuple[str, float, bool] | None:
        """Does the borrower pay today (:mod:`sim.borrower.promises`,
        :mod:`sim.borrower.repayment`)? Returns (kind, amount, settles) or None.

        ``kind`` is 'kept' (a promise kept), 'broken' (amount 0) or 'pay'."""
        i, p, m = self.account, self.p, self.model
        if self.missed <= 0:
            return None
        hard = self.in_hardship
        if p.promise_day[i] == day:
            if m.rules.promise_weakening:
                kept = response_rules.keeps_promise(m.prm, m.off, i, hard, self.willingness, dpd)
            else:
                kept = promise_rules.keeps_promise(m.prm, m.off, i, hard, self.willingness)
            p.promise_day[i] = NEVER
            if kept:
                return "kept", min(float(p.promise_amount[i]), self.owed()), False
            p.promises_broken[i] += 1
            p.excitation[i] *= promise_rules.BROKEN_EXCITATION_FACTOR
            return "broken", 0.0, False
        if repayment_rules.rests(m.prm, m.off, i, day, p.last_partial_day):
            return None
        if m.rules.promise_displacement and response_rules.waits_for_promise(
            m.prm, m.off, i, p.promise_day[i], day
        ):
            return None
        pays, amount, settles = repayment_rules.repayment(
            m.prm,
            m.tables,
            m.off,
            i,
            dpd,
            hard,
            self.willingness,
            self.excitation_now(day),
            self.owed(),
            p.last_instalment,
        )
        return ("pay", amount, settles) if pays else None

    def contacted(self, day: int, jump: float) -> None:
        """Today's contacts add ``jump`` to the excitation, with diminishing returns
        (:func:`sim.borrower.response.contact_excite`)."""
        i, p, m = self.account, self.p, self.model
        if m.rules.diminishing_returns:
            p.excitation[i] = response_rules.contact_excite(
                m.prm, m.tables, p.excitation[i], p.excitation_day[i], day, jump
            )
            p.excitation_day[i] = day
        else:
            self.excite(day, jump)

    def after_payment(self, cured: bool, day: int) -> None:
        """A payment: partial payers are flagged; every payment excites further payments."""
        i, p, m = self.account, self.p, self.model
        if not cured:
            p.last_partial_day[i] = day
        jump = m.prm[0]["payment_excitation"] if m.rules.self_excitation else 0.0
        self.excite(day, jump)
