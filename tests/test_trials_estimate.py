"""Trial estimators against independent references, randomisation balance, transportability."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from postloan.trials.estimate import difference, transport, wald
from postloan.trials.observe import assign_arms
from sim.rng import seed_key


def bernoulli(n: int, k: int) -> np.ndarray:
    """``n`` accounts, ``k`` of them with the outcome."""
    y = np.zeros(n)
    y[:k] = 1.0
    return y


def test_difference_of_proportions_matches_welch_and_textbook():
    y_t, y_c = bernoulli(1200, 540), bernoulli(1500, 510)  # 45 % vs 34 %
    est = difference(y_t, y_c, "absolute", binary=True)
    assert est.effect == pytest.approx(100 * (0.45 - 0.34), abs=1e-12)
    # scipy's Welch t-test uses the same per-arm sample variances: se = diff / t exactly
    welch = stats.ttest_ind(y_t, y_c, equal_var=False)
    assert est.se == pytest.approx(100 * (0.45 - 0.34) / welch.statistic, rel=1e-10)
    # the textbook Wald interval for two proportions (variance p(1-p)/n; ours is /(n-1))
    se = math.sqrt(0.45 * 0.55 / 1200 + 0.34 * 0.66 / 1500)
    z = stats.norm.ppf(0.975)
    assert est.low == pytest.approx(100 * (0.11 - z * se), rel=2e-3)
    assert est.high == pytest.approx(100 * (0.11 + z * se), rel=2e-3)


def test_relative_effect_matches_katz_log_interval():
    y_t, y_c = bernoulli(2000, 300), bernoulli(2000, 240)  # 15 % vs 12 %: +25 %
    est = difference(y_t, y_c, "relative", binary=True)
    assert est.effect == pytest.approx(25.0, abs=1e-9)
    # Katz et al. (1978): se(log RR) = sqrt((1 - p1) / x1 + (1 - p2) / x2)
    se = math.sqrt(0.85 / 300 + 0.88 / 240)
    z = stats.norm.ppf(0.975)
    assert est.low == pytest.approx(100 * (1.25 * math.exp(-z * se) - 1), rel=2e-3)
    assert est.high == pytest.approx(100 * (1.25 * math.exp(z * se) - 1), rel=2e-3)


def test_relative_interval_covers_truth_by_bootstrap():
    rng = np.random.default_rng(5)
    y_t = rng.lognormal(3.0, 1.0, 4000)
    y_c = rng.lognormal(2.9, 1.0, 4000)
    est = difference(y_t, y_c, "relative", binary=False)
    # percentile bootstrap of the ratio of means as an independent reference for the width
    boot = [
        rng.choice(y_t, y_t.size).mean() / rng.choice(y_c, y_c.size).mean() for _ in range(2000)
    ]
    lo, hi = 100 * (np.quantile(boot, [0.025, 0.975]) - 1)
    assert est.low == pytest.approx(lo, abs=1.5)
    assert est.high == pytest.approx(hi, abs=1.5)


def test_wald_exact_on_a_small_example():
    # treatment: 10 accounts, 6 spoken to, 5 paid; control: 10, 1 spoken to, 2 paid
    y_t = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0], float)
    d_t = np.array([1, 1, 1, 1, 0, 1, 1, 0, 0, 0], float)
    y_c = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], float)
    d_c = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], float)
    est = wald(y_t, d_t, y_c, d_c, binary=True)
    assert est.effect == pytest.approx(100 * (0.5 - 0.2) / (0.6 - 0.1), abs=1e-12)  # 60 pp
    assert est.first_stage == pytest.approx(0.5)


def test_wald_recovers_a_known_effect_and_matches_2sls_robust_se():
    rng = np.random.default_rng(11)
    n = 100_000
    z = rng.random(2 * n) < 0.5  # assignment
    talks = np.where(z, rng.random(2 * n) < 0.6, rng.random(2 * n) < 0.1)  # first stage 0.5
    base = rng.random(2 * n)
    y = (base < 0.3 + 0.25 * talks).astype(float)  # a conversation adds 25 pp
    d = talks.astype(float)
    est = wald(y[z], d[z], y[~z], d[~z], binary=True)
    assert est.low < 25.0 < est.high
    assert abs(est.effect - 25.0) < 3 * est.se
    # reference: just-identified 2SLS with intercept, heteroskedasticity-robust (HC0) sandwich
    Z = np.column_stack([np.ones(2 * n), z.astype(float)])
    X = np.column_stack([np.ones(2 * n), d])
    beta = np.linalg.solve(Z.T @ X, Z.T @ y)
    u = y - X @ beta
    A = np.linalg.inv(Z.T @ X)
    meat = (Z * u[:, None] ** 2).T @ Z
    cov = A @ meat @ A.T
    assert est.effect == pytest.approx(100 * beta[1], rel=1e-9)
    assert est.se == pytest.approx(100 * math.sqrt(cov[1, 1]), rel=2e-3)


def test_weak_first_stage_flagged():
    rng = np.random.default_rng(3)
    y = (rng.random(4000) < 0.4).astype(float)
    d = (rng.random(4000) < 0.2).astype(float)  # no difference in conversations between arms
    assert wald(y[:2000], d[:2000], y[2000:], d[2000:], binary=True).weak_instrument


@pytest.mark.parametrize("shares", [[0.5, 0.5], [0.2, 0.3, 0.5]])
def test_randomisation_balance_and_reproducibility(shares):
    accounts = np.arange(50_000, dtype=np.int64) * 3 + 7  # ids need not be contiguous
    arm = assign_arms(accounts, shares, seed_key(42))
    counts = np.bincount(arm, minlength=len(shares))
    for k, share in enumerate(shares):
        se = math.sqrt(accounts.size * share * (1 - share))
        assert abs(counts[k] - accounts.size * share) < 3 * se, (k, counts)
    assert np.array_equal(arm, assign_arms(accounts, shares, seed_key(42)))
    other = assign_arms(accounts, shares, seed_key(43))
    assert (other != arm).mean() > 0.3
    # an account's arm depends on its id only, not on who else is enrolled
    assert np.array_equal(assign_arms(accounts[::7], shares, seed_key(42)), arm[::7])


def test_transport_rule_boundary():
    y_c = bernoulli(10_000, 3000)  # simulated control rate 0.30
    se_sim = math.sqrt(0.3 * 0.7 / 9_999)  # sample variance (ddof 1) over n
    for published, n in [(0.33, 1000), (0.28, 400)]:
        se_study = math.sqrt(published * (1 - published) / n)
        tol = stats.norm.ppf(0.975) * math.sqrt(se_study**2 + se_sim**2)
        t = transport(y_c, published, n, binary=True)
        assert t.tolerance == pytest.approx(tol, rel=1e-9)
        assert t.transportable == (abs(0.3 - published) <= tol)
    # at n = 1,000 the tolerance is about 3.0 pp: 3.5 pp off fails, 2.5 pp off passes
    assert transport(y_c, 0.335, 1000, binary=True).transportable is False
    assert transport(y_c, 0.325, 1000, binary=True).transportable is True
    unchecked = transport(y_c, None, None, binary=True)
    assert not unchecked.checked and not unchecked.transportable
