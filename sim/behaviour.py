"""The borrower model: stochastic, per account, vectorised over the accounts worked today.

Every function takes the portfolio, an index array of accounts and the day, and draws its luck
from :mod:`sim.rng` (so the same account on the same day always gets the same luck).

The equations (per day unless said otherwise):

* **Hardship** is a two-state Markov process. Onset hazard
  ``a = h_i / 30 * exp(elasticity * (u_t - u_ref))`` with ``h_i`` the borrower's monthly onset
  chance (capacity and resilience) and ``u_t`` unemployment; recovery hazard
  ``b = 1 / spell_days``. The state is brought up to date lazily, only when an account is
  worked, with the exact two-state transition over the elapsed days (onset hazard averaged
  over the macro path in between), so current accounts cost nothing between due dates.
* **Due-date payment**: logit P(miss) = ``c0 - c_w (w - 1.5) + c_h hardship + c_dti (dti - 0.35)
  + c_r restructured`` with ``w`` the willingness logit.
* **Delinquent repayment intensity** (Chehrazi & Weber style self-exciting process):
  ``lambda = base * exp(k_w (w - 1.5)) * exp(-dpd / s) * m_h + E(t)``, with ``m_h`` < 1 in hardship
  and ``E`` the excitation: it jumps by ``effect * sensitivity`` at each right-party contact and by
  ``payment_excitation`` at each payment, and decays as ``exp(-t / excitation_decay_days)``. A
  day's payment chance is ``1 - exp(-lambda)``; nobody calling still leaves ``base`` (self-cure).
* **Promises**: a right-party contact ends with a promise with the channel's promise rate
  (scaled by willingness); the promise falls due 1..``promise_days_max`` days later and is kept
  with ``promise_keep`` (``promise_keep_hardship`` in hardship), scaled by willingness.
* **Irritation** is a stock decaying with a half-life, raised by every attempt; above the
  borrower's tolerance each further contact risks a complaint and churn in proportion to the
  excess.
* **Calibration additions** (off by default; docs/behaviour.md, "Calibration additions"):
  prepayment of a paying current account (``prepayment_monthly``); on the due date a delinquent
  account pays the new instalment with ``delinquent_instalment_pay`` (``_late`` two or more
  behind, times ``exp(slope (k - 2))``); a full payment settles the loan with
  ``settlement_share`` (rising as ``1 - (1 - s) exp(-dpd / settlement_dpd_scale)``), and one
  that does not settle stays full with ``exp(-dpd / full_payment_dpd_scale)``; a partial
  payment is a catch-up to one instalment behind with ``catch_up_share``, after which the
  account rests 30 days with ``rest_after_partial``; a successful recovery settles a
  charged-off debt with ``recovery_settlement``. They run in the kernels ``due_date_work``
  and ``repayment_draws`` and in :mod:`sim.recovery`.

The engine runs these equations in compiled loops (:mod:`sim.kernels`): the hardship, signal,
DTI and excitation updates below call those kernels directly; the contact and repayment steps
use fused kernels (``contact_outcomes``, ``irritation_and_churn``, ``repayment_draws``) that
evaluate the same formulas as :func:`repayment_intensity`, :func:`promise_keep_probability`,
:func:`add_irritation` and :func:`complaint_and_churn`, which remain as their readable
vectorised form.
"""

from __future__ import annotations

import numpy as np

from sim import kernels
from sim.population import WILLINGNESS_CENTRE, miss_logit
from sim.portfolio import Portfolio
from sim.rng import Stream, uniforms
from sim.scenario import Scenario


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class MacroPath:
    """Unemployment by day and the cumulative hardship multiplier it implies."""

    def __init__(self, scenario: Scenario):
        m = scenario.macro
        months = scenario.days // 30 + 2
        if m.path is not None:
            path = np.array(m.path + [m.path[-1]] * max(0, months - len(m.path)))[:months]
        elif m.shock is not None:
            s = m.shock
            start = s.get("start_month", 0.0)
            ramp = max(s.get("ramp_months", 3.0), 1e-9)
            hold = s.get("hold_months", 6.0)
            recover = max(s.get("recover_months", 6.0), 1e-9)
            t = np.arange(months, dtype=float)
            rise = np.clip((t - start) / ramp, 0, 1)
            fall = np.clip((t - start - ramp - hold) / recover, 0, 1)
            path = m.reference + s["size"] * rise * (1 - fall)
        else:
            path = np.full(months, m.reference)
        self.unemployment_monthly = path
        self.unemployment = np.repeat(path, 30)[: scenario.days + 1]
        self.multiplier = np.exp(m.elasticity * (self.unemployment - m.reference))
        self.cumulative = np.concatenate([[0.0], np.cumsum(self.multiplier)])

    def integral(self, t0: np.ndarray, t1: int) -> np.ndarray:
        """Sum of the daily multiplier over days ``t0 .. t1 - 1``."""
        return self.cumulative[t1] - self.cumulative[np.clip(t0, 0, t1)]


def update_hardship(
    p: Portfolio, idx: np.ndarray, day: int, sc: Scenario, macro: MacroPath, key
) -> np.ndarray:
    """Bring the hardship state of ``idx`` (unique ids) up to ``day``; returns the new onsets'
    mask (aligned with ``idx``). See :func:`sim.kernels.hardship_update` for the transition."""
    return kernels.hardship_update(
        kernels.as_ids(idx),
        day,
        p.hardship,
        p.hardship_day,
        p.hardship_hazard,
        macro.cumulative,
        sc.behaviour.hardship_spell_days,
        np.uint64(key),
    )


def observe_hardship(p: Portfolio, idx: np.ndarray, day: int, key) -> None:
    """A lender sees hardship with noise: 60 % of true cases, 1 % false alarms."""
    kernels.hardship_observe(kernels.as_ids(idx), day, p.hardship, p.hardship_seen, np.uint64(key))


def drift_dti(p: Portfolio, idx: np.ndarray, day: int, key) -> None:
    """Debt-to-income drifts month to month, upwards in hardship (an early-warning signal)."""
    kernels.dti_drift(kernels.as_ids(idx), day, p.hardship, p.dti, np.uint64(key))


def miss_probability(p: Portfolio, idx: np.ndarray, sc: Scenario) -> np.ndarray:
    """Chance that each account misses the instalment falling due today."""
    logit = miss_logit(sc, p.willingness[idx], p.dti[idx], p.hardship[idx], p.restructured[idx])
    return sigmoid(logit)


def repayment_intensity(
    p: Portfolio, idx: np.ndarray, dpd: np.ndarray, day: int, sc: Scenario
) -> np.ndarray:
    """Daily repayment intensity of delinquent accounts (baseline plus excitation)."""
    b = sc.behaviour
    base = (
        b.base_intensity
        * np.exp(b.intensity_willingness * (p.willingness[idx] - WILLINGNESS_CENTRE))
        * np.exp(-dpd / b.intensity_dpd_scale)
    )
    hard = p.hardship[idx]
    base = np.where(hard, base * b.intensity_hardship, base)
    excitation = current_excitation(p, idx, day, sc)
    return base + np.where(hard, 0.5 * excitation, excitation)


def current_excitation(p: Portfolio, idx: np.ndarray, day: int, sc: Scenario) -> np.ndarray:
    decay = np.exp(-(day - p.excitation_day[idx]) / sc.behaviour.excitation_decay_days)
    return p.excitation[idx] * decay


def excite(p: Portfolio, idx: np.ndarray, jump: np.ndarray, day: int, sc: Scenario) -> None:
    """Add a jump to the excitation of ``idx`` (unique ids), decaying what was there first."""
    idx = kernels.as_ids(idx)
    kernels.excite(
        idx,
        kernels.as_values(jump, idx.size),
        day,
        p.excitation,
        p.excitation_day,
        sc.behaviour.excitation_decay_days,
    )


def promise_keep_probability(p: Portfolio, idx: np.ndarray, sc: Scenario) -> np.ndarray:
    b = sc.behaviour
    base = np.where(p.hardship[idx], b.promise_keep_hardship, b.promise_keep)
    return np.clip(base * (0.6 + 0.8 * sigmoid(p.willingness[idx] - WILLINGNESS_CENTRE)), 0, 1)


def add_irritation(
    p: Portfolio, idx: np.ndarray, amount: np.ndarray, day: int, sc: Scenario
) -> np.ndarray:
    """Decay the irritation stock of ``idx`` (unique ids) to today and add ``amount``."""
    half = sc.behaviour.irritation_half_life_days
    decay = np.exp(-np.log(2.0) * (day - p.irritation_day[idx]) / half)
    p.irritation[idx] = p.irritation[idx] * decay + amount
    p.irritation_day[idx] = day
    return p.irritation[idx]


def complaint_and_churn(
    p: Portfolio, idx: np.ndarray, day: int, sc: Scenario, key
) -> tuple[np.ndarray, np.ndarray]:
    """Complaints and churn among contacted accounts (unique ids) whose irritation exceeds
    their tolerance; returns the masks of new complaints and new churners."""
    excess = np.clip(p.irritation[idx] / p.tolerance[idx] - 1.0, 0.0, 1.0)
    complain = uniforms(key, Stream.COMPLAINT, day, idx) < sc.behaviour.complaint_rate * excess
    churn = (uniforms(key, Stream.CHURN, day, idx) < sc.behaviour.churn_rate * excess) & ~p.churned[
        idx
    ]
    p.complaints[idx] += complain
    p.churned[idx] |= churn
    return complain, churn
