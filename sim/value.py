"""Customer value: the interest margin a loan still has to earn, and value tiers.

A churned customer who prepays costs the lender the margin its loan would have earned over the
rest of its schedule (interest less the cost of funds; prepaid principal is not income) and its
lifetime value (the future business of the relationship). :func:`remaining_margin` gives the
first from the contract; :func:`value_tiers` sorts a book into the tiers strategies can match
(``value_tier`` in rule tables, :data:`sim.scenario.VALUE_TIERS`).
"""

from __future__ import annotations

import numpy as np

from sim.loans import Method


def remaining_interest(
    method: np.ndarray,
    balance: np.ndarray,
    rate_m: np.ndarray,
    remaining: np.ndarray,
    level_payment: np.ndarray,
    level_principal: np.ndarray,
) -> np.ndarray:
    """Interest still scheduled on each loan: the sum over the instalments left.

    With ``B`` the scheduled balance, ``r`` the monthly rate and ``n`` the instalments left:
    annuity ``n L - B`` (``L`` its level payment); equal principal
    ``r (n B - P n (n - 1) / 2)`` (``P`` its level principal; the balance falls by ``P`` a
    month); interest only ``r B n``. Not discounted. Never negative.
    """
    b = np.asarray(balance, float)
    r = np.asarray(rate_m, float)
    n = np.asarray(remaining, float)
    annuity = n * np.asarray(level_payment, float) - b
    equal = r * (n * b - np.asarray(level_principal, float) * n * (n - 1.0) / 2.0)
    bullet = r * b * n
    out = np.where(
        method == Method.ANNUITY,
        annuity,
        np.where(method == Method.EQUAL_PRINCIPAL, equal, bullet),
    )
    return np.where((n > 0) & (r > 0), np.maximum(out, 0.0), 0.0)


def margin_share(rate_m: np.ndarray, funding_rate_annual: float) -> np.ndarray:
    """The share of a loan's interest that is margin: ``max(0, 1 - f / (12 r))``. Interest and
    the cost of funding the same balance both scale with the balance, month by month, so the
    margin over any balance path is this share of the interest."""
    annual = 12.0 * np.asarray(rate_m, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(annual > 0, 1.0 - funding_rate_annual / annual, 0.0)
    return np.clip(share, 0.0, 1.0)


def remaining_margin(p, idx: np.ndarray, funding_rate_annual: float) -> np.ndarray:
    """Interest margin the loans ``idx`` of book ``p`` would still earn over their schedule:
    :func:`remaining_interest` times :func:`margin_share` (undiscounted)."""
    interest = remaining_interest(
        p.method[idx],
        p.sched_balance[idx],
        p.rate_m[idx],
        p.remaining[idx],
        p.level_payment[idx],
        p.level_principal[idx],
    )
    return interest * margin_share(p.rate_m[idx], funding_rate_annual)


def customer_value(p, funding_rate_annual: float) -> np.ndarray:
    """What each customer is worth to the lender: the loan's remaining interest margin plus
    its lifetime value (the future business of the relationship: other products, renewals)."""
    every = np.arange(p.n)
    return remaining_margin(p, every, funding_rate_annual) + p.lifetime_value


def value_tiers(value: np.ndarray, cuts: tuple[float, float]) -> np.ndarray:
    """Tier codes 0 (low), 1 (medium), 2 (high) by the book's quantiles of ``value``: the
    lowest ``cuts[0]`` of the book are low, the highest ``1 - cuts[1]`` high. Ties share a
    tier; a deterministic function of the book (no random draw)."""
    if value.size == 0:
        return np.zeros(0, np.int8)
    lo, hi = np.quantile(value, cuts)
    tier = np.zeros(value.size, np.int8)
    tier[value >= lo] = 1
    tier[value >= hi] = 2
    if cuts[0] >= 1.0:
        tier[:] = 0
    if cuts[1] >= 1.0:
        tier[tier == 2] = 1 if cuts[0] < 1.0 else 0
    return tier


def complaint_price(economics) -> float:
    """What one complaint costs (``scenario.economics``): handling plus the expected
    regulatory cost."""
    return float(economics.complaint_handling_cost + economics.complaint_regulatory_cost)
