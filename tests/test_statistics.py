"""The statistics module and the outcome registry, against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim import outcomes
from sim.outcomes import HEADLINE_KPIS, OUTCOMES, Kind, check_names, direction, label, outcome
from sim.statistics import (
    column_intervals,
    holm,
    mean_interval,
    paired_columns,
    paired_difference,
    verdict,
    welch_interval,
)


def test_holm_matches_a_hand_computed_example():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])


def test_holm_skips_nan_and_caps_at_one():
    np.testing.assert_allclose(holm([math.nan, 0.2, 0.5]), [math.nan, 0.4, 0.5])
    np.testing.assert_allclose(holm([0.6, 0.7]), [1.0, 1.0])
    assert np.isnan(holm([math.nan, math.nan])).all()
    assert holm([0.04]) == pytest.approx([0.04])  # one test: nothing to adjust


def test_paired_interval_and_p_value_match_scipy():
    rng = np.random.default_rng(7)
    y = rng.normal(100, 20, 12)
    x = y + rng.normal(3, 2, 12)  # paired: large common spread, small difference
    d = paired_difference(x, y, higher_is_better=True, confidence=0.95)
    ref = stats.ttest_rel(x, y)
    lo, hi = ref.confidence_interval(0.95)
    assert d.n == 12
    assert d.diff == pytest.approx(np.mean(x - y), rel=1e-12)
    assert (d.low, d.high) == pytest.approx((lo, hi), rel=1e-10)
    assert d.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert d.win_rate == pytest.approx(np.mean(x > y))
    # lower is better: winning means a smaller value
    assert paired_difference(x, y, higher_is_better=False).win_rate == pytest.approx(np.mean(x < y))


def test_welch_interval_matches_scipy():
    rng = np.random.default_rng(3)
    a, b = rng.normal(5, 1, 9), rng.normal(4, 3, 14)
    diff, lo, hi = welch_interval(a, b, 0.9)
    ref = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.9)
    assert diff == pytest.approx(a.mean() - b.mean())
    assert (lo, hi) == pytest.approx((ref.low, ref.high), rel=1e-10)


def test_mean_interval_matches_scipy_and_skips_nan():
    x = np.array([3.0, 5.0, math.nan, 4.0, 9.0])
    iv = mean_interval(x, 0.99)
    ok = x[np.isfinite(x)]
    lo, hi = stats.t.interval(0.99, ok.size - 1, loc=ok.mean(), scale=stats.sem(ok))
    assert iv.n == 4 and (iv.low, iv.high) == pytest.approx((lo, hi), rel=1e-12)
    one = mean_interval([2.0])
    assert one.mean == 2.0 and math.isnan(one.low) and math.isnan(one.sd)


def test_columns_are_independent():
    x = np.array([[1.0, 10.0], [2.0, 30.0], [3.0, math.nan]])
    n, mean, _sd, lo, _hi = column_intervals(x)
    assert list(n) == [3, 2] and mean.tolist() == [2.0, 20.0]
    assert lo[0] == pytest.approx(mean_interval([1.0, 2.0, 3.0]).low)
    nn, diff, *_ = paired_columns(x, np.zeros_like(x), np.array([True, False]))
    assert list(nn) == [3, 2] and diff.tolist() == [2.0, 20.0]


def test_zero_spread_differences():
    d = paired_difference([5.0, 6.0, 7.0], [4.0, 5.0, 6.0])
    assert d.diff == 1.0 and d.low == d.high == 1.0 and d.p_value == 0.0
    same = paired_difference([5.0, 6.0], [5.0, 6.0])
    assert same.p_value == 1.0 and same.win_rate == 0.0


def test_outcome_registry_directions_and_families():
    assert OUTCOMES["net_recovery"].kind is Kind.MAXIMIZE
    assert direction("churned") == "lower" and direction("cure_rate") == "higher"
    assert direction("cost_by_channel_sms") == "lower"  # a family member
    assert direction("contacts_call") == "neutral"
    assert direction("roll_rates_current_1_30") == "neutral"
    assert outcome("right_party_contacts_call").name == "right_party_contacts"  # longest prefix
    assert direction("no_such_column") == "neutral"
    assert label("contacts_call") == "contact attempts: call"
    for k in HEADLINE_KPIS:
        o = OUTCOMES[k]
        assert o.label and o.unit and o.definition


def test_unknown_kpi_names_are_refused_with_the_allowed_list():
    check_names(["net_recovery", "contacts_call"], "x.yaml: kpis")
    with pytest.raises(ValueError, match=r"x.yaml: kpis: unknown KPI 'net_recovry'.*net_recovery"):
        check_names(["net_recovry"], "x.yaml: kpis")
    with pytest.raises(ValueError, match="wall_seconds"):
        check_names(["wall_seconds"], "x.yaml: kpis")  # a timing, not an outcome


def test_verdict_an_interval_below_zero_is_significant():
    """An interval wholly below 0 excludes 0: worse where higher is better, better where lower
    is; never "contains 0" (the optimiser's verification once said "interval includes 0" for
    any interval not above 0)."""
    v = verdict("x", "y", "net recovery", -120.0, -180.0, -60.0, 5, "higher")
    assert (v.significant, v.word) == (True, "worse")
    assert "contains 0" not in v.text and "-180 to -60" in v.text
    assert verdict("x", "y", "cost", -120.0, -180.0, -60.0, 5, "lower").word == "better"
    assert verdict("x", "y", "days", -120.0, -180.0, -60.0, 5).word == "lower"
    inside = verdict("x", "y", "net recovery", -10.0, -50.0, 30.0, 5, "higher")
    assert (inside.significant, inside.word) == (False, "not significant")
    assert "contains 0" in inside.text
    assert verdict("x", "y", "k", 0.0, 0.0, 0.0, 5, "higher").word == "no difference"
    assert verdict("x", "y", "k", 1.0, math.nan, math.nan, 1, "higher").significant is None


def test_objective_is_a_registry_lookup(monkeypatch):
    monkeypatch.delitem(OUTCOMES, "net_value", raising=False)
    assert outcomes.objective() == "net_recovery"  # until net_value is registered
    priced = outcomes.Outcome("net_value", "net value", "money", Kind.MAXIMIZE, "priced")
    monkeypatch.setitem(OUTCOMES, "net_value", priced)
    assert outcomes.objective() == "net_value"  # registering net_value switches the decision
    assert outcomes.unit("net_recovery", "EUR") == "EUR" and outcomes.unit("cure_rate") == "%"
    assert outcomes.unit("churned") == "accounts" and outcomes.definition("cost")
