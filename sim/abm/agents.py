"""Borrower agents: one account's behaviour, written as one agent's rules.

A :class:`BorrowerAgent` is a Mesa agent whose state lives in the model's
:class:`~sim.portfolio.Portfolio` (the same record the vectorised engine uses): the agent reads
and writes its own row through properties, so the strategy, compliance and capacity steps of the
model see exactly what they would see in the engine. Every random draw is the engine's
counter-based draw ``uniform(seed, stream, day, account)`` (:mod:`sim.rng`), so the two engines
face the same luck, borrower by borrower.

The rules, in the order of a day (docs/behaviour.md):

* :meth:`BorrowerAgent.due_date` -- hardship, the noisy hardship signal, DTI drift, the instalment
  falls due, pay or miss (a miss starts DPD), late fee;
* :meth:`BorrowerAgent.morning` -- a delinquent borrower's DPD, charge-off, hardship;
* :meth:`BorrowerAgent.answer` -- an attempt reaches (or misses) the borrower; a right-party
  contact excites repayment and may end in a promise;
* :meth:`BorrowerAgent.feel_irritation` -- contacts irritate; complaints and churn;
* :meth:`BorrowerAgent.repayment` -- promises fall due; the self-exciting repayment intensity;
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
from sim.population import WILLINGNESS_CENTRE
from sim.portfolio import MONTH_DAYS, NEVER, Status
from sim.rng import Stream

W_CENTRE = float(WILLINGNESS_CENTRE)
ATTEMPT_STRIDE = 1 << 40  # attempt a of the day on a channel: counter + a * 2**40


@dataclass(frozen=True)
class Rules:
    """Which behaviour rules the agents follow (all on: the engine's behaviour)."""

    hardship: bool = True
    due_date_payment: bool = True
    contact_excitation: bool = True
    promises: bool = True
    irritation: bool = True
    self_excitation: bool = True  # each payment raises the repayment intensity


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _one(i: int) -> np.ndarray:
    return np.array([i], np.int64)


class BorrowerAgent(mesa.Agent):
    """One borrower and its loan (row ``i`` of the model's portfolio)."""

    def __init__(self, model, account: int):
        super().__init__(model)
        self.account = int(account)
        self.neighbours: list[BorrowerAgent] = []  # filled when a network is given

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
        i, p = self.account, self.p
        decay = self.model.sc.behaviour.excitation_decay_days
        return float(p.excitation[i]) * math.exp(-(day - int(p.excitation_day[i])) / decay)

    def excite(self, day: int, jump: float) -> None:
        i, p = self.account, self.p
        p.excitation[i] = self.excitation_now(day) + jump
        p.excitation_day[i] = day

    def draw(self, stream: Stream, counter: int | None = None) -> float:
        """This borrower's uniform draw of today for ``stream`` (the engine's draw)."""
        return self.model.draw(stream, self.account if counter is None else counter)

    # ------------------------------------------------------------------ rules
    def update_hardship(self, day: int) -> bool:
        """Bring the two-state hardship process up to today; True on a new onset."""
        i, p, m = self.account, self.p, self.model
        t0 = int(p.hardship_day[i])
        if day - t0 <= 0:
            return False
        elapsed = float(day - t0)
        cum = m.macro.cumulative
        integral = cum[day] - cum[min(max(t0, 0), day)]
        a = p.hardship_hazard[i] / 30.0 * integral / max(elapsed, 1.0)
        b = 1.0 / m.sc.behaviour.hardship_spell_days
        h0 = 1.0 if p.hardship[i] else 0.0
        if not m.rules.hardship:
            a = 0.0
        pi = a / (a + b)
        p1 = pi + (h0 - pi) * math.exp(-(a + b) * elapsed)
        new = self.draw(Stream.HARDSHIP) < p1
        onset = new and not p.hardship[i]
        p.hardship[i] = new
        p.hardship_day[i] = day
        return bool(onset)

    def due_date(self, day: int) -> dict | None:
        """The instalment falls due: pay it, or miss it. Returns what happened (or None)."""
        i, p, m = self.account, self.p, self.model
        b = m.sc.behaviour
        if not self.is_open or p.remaining[i] <= 0:
            return None
        out = {"onset": self.update_hardship(day), "cash": 0.0, "principal": 0.0, "residue": 0.0}
        hard = self.in_hardship
        u = self.draw(Stream.EARLY_WARNING)
        p.hardship_seen[i] = u < 0.6 if hard else u < 0.01
        h = 1.0 if hard else 0.0
        p.dti[i] *= math.exp(0.04 * (self.draw(Stream.DTI_DRIFT) - 0.5) + 0.06 * h)
        was_current = self.missed == 0
        p_miss = _sigmoid(
            b.miss_intercept
            - b.miss_willingness * (self.willingness - W_CENTRE)
            + b.miss_hardship * h
            + b.miss_dti * (p.dti[i] - 0.35)
            + b.miss_restructured * (1.0 if p.restructured[i] else 0.0)
        )
        behind = self.missed
        ledger.fall_due(p, _one(i), day)
        pays = False
        if was_current:
            pays = self.draw(Stream.DUE_PAYMENT) >= p_miss or not m.rules.due_date_payment
            if pays:
                paid = ledger.pay(p, _one(i), np.array([self.owed()]))
                out["cash"] += float(paid.cash[0])
                out["principal"] += float(paid.principal[0])
                out["residue"] += paid.residue
                if b.prepayment_monthly > 0 and self.draw(Stream.PREPAYMENT) < b.prepayment_monthly:
                    rest = float(ledger.settle(p, _one(i))[0])
                    out["cash"] += rest
                    out["principal"] += rest
        else:
            late = b.delinquent_instalment_pay_late
            chance = late if (behind >= 2 and late is not None) else b.delinquent_instalment_pay
            if chance > 0 and self.draw(Stream.INSTALMENT_PAY) < chance:
                amount = float(p.fees_due[i] + p.last_instalment[i])
                paid = ledger.pay(p, _one(i), np.array([amount]))
                out["arrears_cash"] = float(paid.cash[0])
                out["arrears_principal"] = float(paid.principal[0])
                out["residue"] += paid.residue
                if self.missed > behind:
                    p.missed[i] = behind
        out["missed"] = False
        if self.missed > 0:
            p.fees_due[i] += b.late_fee
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
        """An attempt on ``channel``: returns (right-party contact, excitation jump, promise)."""
        i, p, m = self.account, self.p, self.model
        ch, b = m.ch, m.sc.behaviour
        n_channels = ch.reach.size
        r = min(ch.reach[channel] * p.reach[i, ch.reach_trait[channel]], 0.98)
        counter = i * n_channels + channel + attempt * ATTEMPT_STRIDE
        rpc = self.draw(Stream.REACH, counter) < r
        if self.missed <= 0:
            p.missed_reminder[i] = not rpc  # a pre-due reminder
            return rpc, 0.0, False
        if not rpc:
            return rpc, 0.0, False
        if ch.promise_rate[channel] > 0:  # a conversation
            p.episode_contacted[i] = True
            p.last_conversation[i] = day
        fade = math.exp(-self.dpd(day) / b.contact_effect_dpd_scale)
        jump = ch.effect[channel] * p.sensitivity[i] * fade
        if not m.rules.contact_excitation:
            jump = 0.0
        rate = ch.promise_rate[channel] * (0.5 + _sigmoid(self.willingness - W_CENTRE))
        made = self.draw(Stream.PROMISE, counter) < rate and m.rules.promises
        promised = False
        if made and p.promise_day[i] < day:
            wait = 1 + math.floor(self.draw(Stream.PROMISE_DAY) * b.promise_days_max)
            p.promise_day[i] = day + wait
            owed = self.owed()
            if self.draw(Stream.PROMISE_AMOUNT) < 0.6:
                p.promise_amount[i] = owed
            else:
                p.promise_amount[i] = min(owed, p.last_instalment[i])
            promised = True
        return rpc, float(jump), promised

    def feel_irritation(self, amount: float, day: int) -> tuple[bool, bool]:
        """Today's contacts add ``amount`` to the decaying irritation stock.

        Returns (complained, churned today)."""
        i, p, b = self.account, self.p, self.model.sc.behaviour
        decay = math.exp(
            -math.log(2.0) * (day - int(p.irritation_day[i])) / b.irritation_half_life_days
        )
        irr = p.irritation[i] * decay + amount
        p.irritation[i] = irr
        p.irritation_day[i] = day
        excess = min(max(irr / p.tolerance[i] - 1.0, 0.0), 1.0)
        if not self.model.rules.irritation:
            excess = 0.0
        complained = self.draw(Stream.COMPLAINT) < b.complaint_rate * excess
        if complained:
            p.complaints[i] += 1
        churn = self.draw(Stream.CHURN) < b.churn_rate * excess and not p.churned[i]
        if churn:
            p.churned[i] = True
        return bool(complained), bool(churn)

    def repayment(self, day: int, dpd: int) -> tuple[str, float, bool] | None:
        """Does the borrower pay today? Returns (kind, amount, settles) or None.

        ``kind`` is 'kept' (a promise kept), 'broken' (amount 0) or 'pay'."""
        i, p, b = self.account, self.p, self.model.sc.behaviour
        if self.missed <= 0:
            return None
        hard = self.in_hardship
        if p.promise_day[i] == day:
            base = b.promise_keep_hardship if hard else b.promise_keep
            keep = min(max(base * (0.6 + 0.8 * _sigmoid(self.willingness - W_CENTRE)), 0.0), 1.0)
            p.promise_day[i] = NEVER
            if self.draw(Stream.PROMISE_KEEP) < keep:
                return "kept", min(float(p.promise_amount[i]), self.owed()), False
            p.promises_broken[i] += 1
            p.excitation[i] *= 0.5
            return "broken", 0.0, False
        base = (
            b.base_intensity
            * math.exp(b.intensity_willingness * (self.willingness - W_CENTRE))
            * math.exp(-dpd / b.intensity_dpd_scale)
        )
        exc = self.excitation_now(day)
        lam = base * b.intensity_hardship + 0.5 * exc if hard else base + exc
        if not self.draw(Stream.REPAY) < -math.expm1(-lam):
            return None
        share = b.full_payment_share_hardship if hard else b.full_payment_share
        u_kind = self.draw(Stream.REPAY_KIND)
        full = u_kind < share
        settles = False
        s_share, s_scale = b.settlement_share, b.settlement_dpd_scale or 0.0
        if full and (s_share > 0 or s_scale > 0):
            if s_scale > 0:
                s_share = 1.0 - (1.0 - s_share) * math.exp(-dpd / s_scale)
            settles = self.draw(Stream.SETTLEMENT) < s_share
        f_scale = b.full_payment_dpd_scale or 0.0
        if f_scale > 0 and not settles:
            full = u_kind < share * math.exp(-dpd / f_scale)
        frac = b.partial_fraction_low + (
            b.partial_fraction_high - b.partial_fraction_low
        ) * self.draw(Stream.REPAY_FRACTION)
        owed = self.owed()
        return "pay", owed if full else owed * frac, settles

    def after_payment(self, cured: bool, day: int) -> None:
        """A payment: partial payers are flagged; every payment excites further payments."""
        i, p = self.account, self.p
        if not cured:
            p.last_partial_day[i] = day
        jump = (
            self.model.sc.behaviour.payment_excitation if self.model.rules.self_excitation else 0.0
        )
        self.excite(day, jump)

    # ------------------------------------------------------------------ extensions
    def on_neighbour_default(self, shock: float) -> None:
        """Peer effect (docs/extending.md): a neighbour was charged off; willingness drops."""
        if self.is_open:
            self.willingness = self.willingness - shock
