"""Synthetic status panels simulated by the lab itself: for tests and demonstrations.

A panel made here is what a lender's monthly status extract would look like had its book
behaved exactly as the scenario says: one row per account and month-end, with the account's
state then. Calibrating on it must give back the scenario's parameters (within simulation
noise), and the CLI can be tried on it without real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.calibration.states import STATE_DTYPE, STATES
from sim.day_loop import MonthEndStates
from sim.engine import run_days
from sim.portfolio import Portfolio
from sim.scenario import Scenario


def simulate_panel(
    scenario: Scenario, strategy, seed: int | None = None, portfolio: Portfolio | None = None
) -> pd.DataFrame:
    """The month-end states of every account of a simulated book, as a long panel.

    Periods are 0 (the start) .. ``scenario.days // 30``; accounts keep their absorbing state
    once there (as in the lender's extract, where a paid-off or charged-off account stays so).
    ``portfolio`` runs that book (modified in place) instead of the one ``seed`` draws, so that
    a panel can differ from another run only in its behavioural luck.

    Returns
    -------
    DataFrame
        ``account_id`` (str), ``period`` (int64), ``state`` (categorical, the lab's states),
        the form :func:`sim.calibration.load_panel` returns.
    """
    observer = MonthEndStates()
    run_days(scenario, strategy, seed, observers=[observer], portfolio=portfolio)
    states = np.stack(observer.states)  # (periods, accounts)
    periods, n = states.shape
    return pd.DataFrame(
        {
            "account_id": np.tile(np.arange(n).astype(str), periods),
            "period": np.repeat(np.arange(periods, dtype=np.int64), n),
            "state": pd.Categorical.from_codes(
                states.reshape(-1).astype(np.int64), dtype=STATE_DTYPE
            ),
        }
    )


def write_panel_csv(panel: pd.DataFrame, path, codes: dict[str, str] | None = None) -> None:
    """Write a panel as a lender would: columns ``acct, month, status`` with the states coded
    by ``codes`` (state -> code; default: the state names themselves)."""
    codes = codes or {s: s for s in STATES}
    status = panel["state"].astype(str).map(codes)
    pd.DataFrame({"acct": panel["account_id"], "month": panel["period"], "status": status}).to_csv(
        path, index=False
    )
