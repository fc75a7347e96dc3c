"""The daily, monthly and summary tables against pandas formulas of the same KPIs.

The tables are built from numpy blocks for speed; they must hold exactly what the plain pandas
formulas give (``groupby`` sums and month-end values, row sums across channels), to the last
bit, and NaN in a flow must be skipped as pandas skips it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from sim.channels import CHANNEL_NAMES
from sim.engine import simulate
from sim.kpis import FLOW_COLUMNS, STOCK_COLUMNS, monthly_table, roll_matrix, summarise
from sim.portfolio import BUCKET_NAMES
from sim.scenario import load_scenario
from strategies.registry import resolve

SMALL = Path(__file__).resolve().parents[1] / "scenarios" / "small.yaml"


@pytest.fixture(scope="module")
def run():
    return simulate(load_scenario(SMALL, accounts=3000, days=75), resolve("aggressive"), 5)


def _monthly_reference(daily: pd.DataFrame, roll_counts: np.ndarray) -> pd.DataFrame:
    derived = ("cost", "cost_contact", "collected", "net_recovery", "net_value")
    flows = [c for c in daily.columns if c in FLOW_COLUMNS or c in derived]
    stocks = [c for c in daily.columns if c in STOCK_COLUMNS or c.endswith(("_30p", "_90p"))]
    g = daily.groupby("month")
    out = g[flows].sum().join(g[stocks].last())
    out["days"] = g.size()
    mats = [roll_matrix(roll_counts[m]) for m in range(min(len(out), roll_counts.shape[0]))]
    rolls = pd.DataFrame(
        {
            f"roll_{a}_to_{b}": [mat[i, j] for mat in mats]
            for i, a in enumerate(BUCKET_NAMES[:5])
            for j, b in enumerate(BUCKET_NAMES)
        },
        index=out.index[: len(mats)],
    )
    return pd.concat([out, rolls], axis=1).reset_index()


def test_daily_table_derived_columns_are_the_pandas_formulas(run) -> None:
    df = run.daily
    cost_contact = df[[f"cost_{c}" for c in CHANNEL_NAMES]].sum(axis=1)
    assert np.array_equal(df["cost_contact"], cost_contact)
    assert np.array_equal(df["cost"], cost_contact + df["cost_recovery"] + df["cost_staff"])
    late = df[["balance_31_60", "balance_61_90", "balance_91_120"]].sum(axis=1)
    rate = (late / df["outstanding"].where(df["outstanding"] > 0)).fillna(0.0)
    assert np.array_equal(df["delinquency_rate_30p"], rate)
    assert df["day"].dtype == np.int64 and df["month"].dtype == np.int64


def test_monthly_table_is_pandas_groupby_to_the_last_bit(run) -> None:
    pdt.assert_frame_equal(
        monthly_table(run.daily, run.roll_counts),
        _monthly_reference(run.daily, run.roll_counts),
        check_exact=True,
    )
    with_nan = run.daily.copy()
    with_nan.loc[3, "collected_delinquent"] = np.nan  # pandas skips it in a sum
    pdt.assert_frame_equal(
        monthly_table(with_nan, run.roll_counts),
        _monthly_reference(with_nan, run.roll_counts),
        check_exact=True,
    )


def test_summary_totals_are_pandas_sums(run) -> None:
    daily = run.daily
    s = summarise(
        daily,
        run.roll_counts,
        accounts=3000,
        days=75,
        seed=5,
        initial_delinquent=100,
        recovery_rates=run.recovery_rates,
        recovery_beyond_horizon=0.0,
    )
    assert s["collected"] == float(daily["collected"].sum())
    assert s["net_recovery"] == float(daily["net_recovery"].sum())
    assert s["cost_by_channel"]["call"] == float(daily["cost_call"].sum())
    assert s["delinquency_rate_30p_mean"] == float(daily["delinquency_rate_30p"].mean())
    month_ends = daily.groupby("month").last()
    current = month_ends["n_current"].shift(1).fillna(3000 - 100)
    monthly = daily.groupby("month")["new_delinquent"].sum() / current.clip(lower=1)
    assert s["monthly_new_delinquency_rate"] == float(monthly.mean())


def test_skew_and_kurtosis_are_scipys_to_the_last_bit() -> None:
    """The summary's recovery-rate shape without importing scipy.stats at run time: the same
    numbers as scipy.stats.skew / kurtosis (biased, Fisher), bit for bit, on rates shaped like
    recoveries (bimodal, rounded, constant and near-constant)."""
    from scipy.stats import kurtosis, skew

    from sim.kpis import skew_and_excess_kurtosis

    rng = np.random.default_rng(11)
    for i in range(400):
        n = int(rng.integers(4, 2000))
        a = [
            rng.random(n),
            rng.beta(0.3, 0.3, n),
            np.round(rng.random(n), 2),
            np.full(n, 0.25),
        ][i % 4]
        g, k = skew_and_excess_kurtosis(a)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = (float(skew(a)), float(kurtosis(a)))
        np.testing.assert_array_equal([g, k], want)
