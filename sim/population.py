"""Borrower populations: a book of N accounts drawn from a scenario's segment mix.

Attributes are drawn jointly through one latent factor per borrower (a one-factor Gaussian
copula): a borrower who is more willing to pay also tends to be more resilient and to carry
less debt for their income, as in real books. Loans have mixed seasoning (each is some way into
its term) and due days spread over the month. A share of the book starts delinquent, chosen
with weights that favour the riskier borrowers, so the book starts near its steady state.
"""

from __future__ import annotations

import numpy as np

from sim.borrower.due_date import miss_logits
from sim.borrower.params import behaviour_record
from sim.channels import N_CHANNELS
from sim.constants import CALL_RING, MONTH_DAYS, NEVER, Status
from sim.loans import METHOD_NAMES, balance_after, instalment_split, level_amounts
from sim.portfolio import Portfolio
from sim.scenario import CAPACITIES, CREDIT_STANDINGS, PURPOSES, Scenario
from sim.value import customer_value, value_tiers


def segment_counts(shares: np.ndarray, n: int) -> np.ndarray:
    """Accounts per segment, exactly proportional up to rounding (largest remainder)."""
    raw = shares * n
    counts = np.floor(raw).astype(np.int64)
    short = n - counts.sum()
    if short:
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


def _lognormal_mean_one(rng: np.random.Generator, sigma: float, size) -> np.ndarray:
    return np.exp(sigma * rng.standard_normal(size) - 0.5 * sigma**2)


def generate(scenario: Scenario, seed: int | None = None) -> Portfolio:
    """Draw the book of a scenario.

    Parameters
    ----------
    scenario : Scenario
    seed : int, optional
        Defaults to ``scenario.seed``. The same seed gives the same book, bit for bit.

    Returns
    -------
    Portfolio
    """
    seed = scenario.seed if seed is None else seed
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x9E17]))
    n = scenario.accounts
    tr = scenario.traits

    # --- segment of every account, in exact proportion, shuffled ---
    shares = np.array([s.share for s in scenario.segments])
    seg = np.repeat(np.arange(len(shares)), segment_counts(shares, n))
    rng.shuffle(seg)
    purpose = np.array([PURPOSES.index(s.purpose) for s in scenario.segments], np.int8)[seg]
    credit = np.array([CREDIT_STANDINGS.index(s.credit) for s in scenario.segments], np.int8)[seg]
    capacity = np.array([CAPACITIES.index(s.capacity) for s in scenario.segments], np.int8)[seg]

    def by(table, names, attr, codes):
        return np.array([getattr(table[k], attr) for k in names], dtype=float)[codes]

    # --- latent traits, drawn jointly through one factor ---
    z = rng.standard_normal(n)

    def correlated(loading: float) -> np.ndarray:
        return loading * z + np.sqrt(1.0 - loading**2) * rng.standard_normal(n)

    willingness = by(
        scenario.credit_standings, CREDIT_STANDINGS, "willingness", credit
    ) + tr.willingness_sigma * correlated(tr.factor_loading_willingness)
    resilience_mean = by(scenario.capacities, CAPACITIES, "resilience", capacity)
    resilience = resilience_mean + tr.resilience_sigma * correlated(tr.factor_loading_resilience)
    dti = by(scenario.capacities, CAPACITIES, "dti_median", capacity) * np.exp(
        -tr.dti_sigma * correlated(tr.factor_loading_dti)
    )
    reach = np.clip(_lognormal_mean_one(rng, tr.reach_sigma, (n, 3)), 0.05, 3.0)
    sensitivity = _lognormal_mean_one(rng, tr.sensitivity_sigma, n)
    tolerance = tr.tolerance_median * np.exp(tr.tolerance_sigma * rng.standard_normal(n))
    lifetime_value = by(
        scenario.credit_standings, CREDIT_STANDINGS, "lifetime_value", credit
    ) * _lognormal_mean_one(rng, tr.lifetime_value_sigma, n)
    hazard = by(scenario.capacities, CAPACITIES, "hardship_hazard", capacity) * np.exp(
        -0.5 * (resilience - resilience_mean)
    )

    # --- contracts ---
    p_median = by(scenario.purposes, PURPOSES, "principal_median", purpose)
    p_sigma = by(scenario.purposes, PURPOSES, "principal_sigma", purpose)
    principal = np.round(p_median * np.exp(p_sigma * rng.standard_normal(n)), 2)
    annual = by(scenario.purposes, PURPOSES, "annual_rate", purpose) + by(
        scenario.credit_standings, CREDIT_STANDINGS, "rate_spread", credit
    )
    rate_m = np.clip(annual, 0.0, None) / 12.0
    term = np.empty(n, np.int64)
    method = np.empty(n, np.int8)
    for code, name in enumerate(PURPOSES):  # a loop over three purposes, vectorised inside
        mask = purpose == code
        k = int(mask.sum())
        if not k:
            continue
        spec = scenario.purposes[name]
        term[mask] = rng.choice(np.array(spec.terms), size=k)
        names = list(spec.method_mix)
        probs = np.array([spec.method_mix[m] for m in names])
        method[mask] = np.array([METHOD_NAMES[m] for m in names], np.int8)[
            rng.choice(len(names), size=k, p=probs / probs.sum())
        ]
    level_payment, level_principal = level_amounts(principal, rate_m, term, method)
    # what the borrower was underwritten for: the annuity payment of the original terms
    capacity_payment = level_amounts(principal, rate_m, term, np.zeros(n, np.int8))[0]
    age = np.floor(rng.random(n) * (np.floor(scenario.seasoning_max_share * term) + 1)).astype(
        np.int64
    )
    age = np.minimum(age, term - 1)
    sched_balance = balance_after(principal, rate_m, term, age, method)
    remaining = (term - age).astype(np.int16)
    due_day = rng.integers(0, MONTH_DAYS, n).astype(np.int8)
    interest, princ = instalment_split(
        method, sched_balance, rate_m, remaining, level_payment, level_principal
    )
    instalment = interest + princ

    # --- a steady-state share of delinquency, favouring riskier borrowers ---
    missed = np.zeros(n, np.int16)
    risk = np.exp(miss_logits(behaviour_record(scenario), willingness, dti))
    keys = np.log(rng.random(n)) / risk  # Efraimidis-Spirakis weighted sampling keys
    order = np.argsort(-keys, kind="stable")
    d = scenario.initial_delinquency
    start = 0
    for b, share in enumerate((d.dpd_1_30, d.dpd_31_60, d.dpd_61_90, d.dpd_91_120), start=1):
        k = round(share * n)
        missed[order[start : start + k]] = b
        start += k
    delinquent = missed > 0
    arrears_principal = np.where(delinquent, np.minimum(missed * princ, sched_balance), 0.0)
    arrears_interest = np.where(delinquent, missed * interest, 0.0)
    sched_balance = sched_balance - arrears_principal
    hardship_p = np.where(delinquent, 0.45, hazard * scenario.behaviour.hardship_spell_days / 30)
    hardship = rng.random(n) < np.clip(hardship_p, 0, 1)

    f64 = lambda: np.zeros(n)  # noqa: E731
    never = lambda: np.full(n, NEVER, np.int32)  # noqa: E731
    book = Portfolio(
        purpose=purpose,
        credit=credit,
        capacity=capacity,
        willingness=willingness,
        resilience=resilience,
        reach=reach,
        sensitivity=sensitivity,
        tolerance=tolerance,
        lifetime_value=lifetime_value,
        hardship_hazard=hazard,
        value_tier=np.zeros(n, np.int8),
        rate_m=rate_m,
        method=method,
        due_day=due_day,
        level_payment=level_payment,
        level_principal=level_principal,
        opening_principal=sched_balance + arrears_principal,
        capacity_payment=capacity_payment,
        dti=dti,
        dti_opening=dti.copy(),
        sched_balance=sched_balance,
        remaining=remaining,
        arrears_principal=arrears_principal,
        arrears_interest=arrears_interest,
        fees_due=np.where(delinquent, missed * scenario.behaviour.late_fee, 0.0),
        last_instalment=instalment,
        last_due_day=(due_day.astype(np.int32) - MONTH_DAYS),
        missed=missed,
        status=np.full(n, Status.OPEN, np.int8),
        principal_repaid=f64(),
        principal_charged_off=f64(),
        hardship=hardship,
        hardship_day=np.zeros(n, np.int32),
        hardship_seen=np.zeros(n, bool),
        excitation=f64(),
        excitation_day=np.zeros(n, np.int32),
        irritation=f64(),
        irritation_day=np.zeros(n, np.int32),
        promise_day=never(),
        promise_amount=f64(),
        promises_broken=np.zeros(n, np.int16),
        last_partial_day=never(),
        last_contact=np.full((N_CHANNELS, n), NEVER, np.int32),
        last_conversation=never(),
        call_ring=np.full((n, CALL_RING), NEVER, np.int32),
        call_ring_pos=np.zeros(n, np.int8),
        episode_contacted=np.zeros(n, bool),
        restructured=np.zeros(n, bool),
        missed_reminder=np.zeros(n, bool),
        churned=np.zeros(n, bool),
        complaints=np.zeros(n, np.int16),
        last_reminded=never(),
        arm=np.zeros(n, np.int8),
    )
    econ = scenario.economics
    book.value_tier = value_tiers(
        customer_value(book, econ.funding_rate_annual), econ.value_tier_cuts
    )
    # Number accounts by due day: the accounts due on one day are then one contiguous block,
    # which keeps the engine's due-date work cache-friendly.
    return book.take(np.argsort(due_day, kind="stable"))
