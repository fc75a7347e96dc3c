"""The back-test as a temporal hold-out (sim/calibration/backtest.py).

* censoring: an account whose records stop is left out from then on (not carried forward in
  its last state), in the observed shares and in every forecast, which is for the same
  accounts; checked on a small panel where the censoring is known, by hand;
* the real panels: fit on the earlier months with a tiny budget, forecast the later ones and
  compare with the naive last-matrix forecast with a paired bootstrap over accounts (skipped,
  with the reason, without ``../shared/data``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_calibration_fit import SHIPPED, needs_data
from test_calibration_holdout import SMALL

from sim.calibration import load_panel
from sim.calibration.backtest import backtest, cohort_shares, simulated_paths
from sim.calibration.fit import BookSpec, calibrate
from sim.calibration.states import STATE_DTYPE
from sim.calibration.transitions import panel_transition_matrix
from sim.scenario import load_scenario
from strategies.default import default_strategy


def known_panel() -> pd.DataFrame:
    """Periods -1..2, cut 0. A (100): current throughout. B (100): current at -1 and 0, then no
    record (censored). C (50): current at -1, 1-30 at 0, paid off at 1 and 2."""
    rows = []
    for k in range(100):
        rows += [(f"A{k}", t, "current") for t in (-1, 0, 1, 2)]
        rows += [(f"B{k}", t, "current") for t in (-1, 0)]
    for k in range(50):
        rows += [(f"C{k}", -1, "current"), (f"C{k}", 0, "1-30")]
        rows += [(f"C{k}", t, "paid_off") for t in (1, 2)]
    panel = pd.DataFrame(rows, columns=["account_id", "period", "state"])
    panel["state"] = pd.Categorical(panel["state"], dtype=STATE_DTYPE)
    return panel


def test_censored_accounts_are_left_out_not_carried_forward():
    panel = known_panel()
    shares = cohort_shares(panel, 0, 2)
    assert shares.attrs["accounts"] == 250 and shares.attrs["observed"] == {0: 250, 1: 150, 2: 150}
    # over the 150 accounts still observed; carrying B forward would say 200 / 250 current
    assert shares.loc[1, "current"] == pytest.approx(100 / 150)
    assert shares.loc[1, "paid_off"] == pytest.approx(50 / 150)

    sc = load_scenario(SMALL, accounts=2000)
    bt = backtest(panel, 0, sc, None, seed=3, accounts=2000, resamples=50)
    assert bt.observed.loc[1, "current"] == pytest.approx(100 / 150)
    # the naive forecast of the same 150 accounts from their own states at the cut: last matrix
    # (moves -1 -> 0) current -> current 0.8, current -> 1-30 0.2, 1-30 row empty (stays put)
    naive = bt.naive_last
    assert naive.loc[1, "current"] == pytest.approx(2 / 3 * 0.8)
    assert naive.loc[1, "1-30"] == pytest.approx(2 / 3 * 0.2 + 1 / 3)
    assert naive.loc[0].to_numpy() == pytest.approx(bt.observed.loc[0].to_numpy())
    # the simulator's forecast of period 1 is its one-month shares by start state, weighted by
    # the start states of the accounts observed at 1 (2/3 current, 1/3 in 1-30)
    start = np.array([200, 50, 0, 0, 0, 0, 0]) / 250
    paths = simulated_paths(sc, None, start, 2, 3, 2000)
    step = np.array(
        [np.bincount(paths[paths[:, 0] == s0, 1], minlength=7) / (paths[:, 0] == s0).sum()
         for s0 in (0, 1)]
    )  # fmt: skip
    assert bt.simulated.loc[1].to_numpy() == pytest.approx(2 / 3 * step[0] + 1 / 3 * step[1])
    # rates: over the cohort's accounts observed in both months (A and C)
    assert bt.rate_counts.loc[1, "current->1-30"] == 100
    assert bt.rate_counts.loc[1, "1-30->current"] == 50
    assert bt.observed_rates.loc[1, "1-30->current"] == 0.0
    hold = bt.to_dict()["holdout"]
    assert hold["resamples"] == 50
    lo, hi = hold["share_difference"]["interval"]
    assert lo <= hi
    text = bt.holdout_lines()
    assert text[0].startswith("state shares: mean abs error simulator")
    assert sum("simulator - naive" in line for line in text) == 2


def _tiny_fit(empirical, charge_off_dpd):
    return calibrate(
        load_scenario(SMALL),
        empirical,
        default_strategy(),
        book=BookSpec(accounts=4000, months=2, charge_off_dpd=charge_off_dpd),
        max_evaluations=2,
        warm_evaluations=2,
        late_evaluations=2,
        refine_evaluations=0,
        screen=False,
        holdout_seeds=(),
    )


@needs_data
@pytest.mark.parametrize(
    ("name", "cut", "horizon", "charge_off_dpd", "cohort", "paid_off_at_end"),
    [("status_panel", -25, 25, 121, 15_942, 0.8911), ("taiwan_cards", 3, 2, 360, 30_000, 0.0)],
)
def test_temporal_holdout_on_the_real_panels(
    name, cut, horizon, charge_off_dpd, cohort, paid_off_at_end
):
    """Fit on the moves up to ``cut`` only (a tiny budget: this checks the machinery, the
    figures at a real budget are in docs/calibration.md), forecast the later months, compare
    with the naive last-matrix forecast on the same accounts, with paired intervals."""
    path, kwargs, _ = SHIPPED[name]
    panel = load_panel(path, **kwargs)
    fit = _tiny_fit(panel_transition_matrix(panel, until=cut), charge_off_dpd)
    bt = backtest(panel, cut, fit.scenario, default_strategy(), horizon, accounts=8000)
    assert bt.observed.attrs["accounts"] == cohort
    # censoring: among the status panel's accounts still reporting, 89.1 % are paid off at
    # period 0 (80.4 % when the censored ones are carried forward as last seen)
    assert bt.observed.iloc[-1]["paid_off"] == pytest.approx(paid_off_at_end, abs=1e-4)
    hold = bt.comparison
    for kind in ("share", "rate"):
        for forecast in ("simulated", "naive_last_matrix"):
            est = hold["forecasts"][forecast][f"mean_abs_{kind}_error"]
            assert np.isfinite(est["estimate"]) and est["interval"][0] <= est["interval"][1]
        diff = hold[f"{kind}_difference"]
        sim = hold["forecasts"]["simulated"][f"mean_abs_{kind}_error"]["estimate"]
        naive = hold["forecasts"]["naive_last_matrix"][f"mean_abs_{kind}_error"]["estimate"]
        assert diff["estimate"] == pytest.approx(sim - naive)
        for cell in hold[f"{kind}_cells_simulator_loses"]:
            assert cell["simulated"] > cell["naive_last_matrix"]
    summary = bt.summary()
    assert summary["simulated"]["mean_abs_share_error"] == pytest.approx(
        hold["forecasts"]["simulated"]["mean_abs_share_error"]["estimate"]
    )
