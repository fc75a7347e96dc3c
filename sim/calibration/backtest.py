"""Back-tests: fit on the early periods of a panel, predict the later ones, compare.

The comparison follows a cohort: the accounts observed at the training cut-off, in the states
they were in then. Three forecasts of that cohort's state shares in each later period are set
against what was observed:

* the calibrated simulator, started from the cohort's observed state mix;
* a naive Markov forecast with the last observed (training) month's transition matrix;
* (for reference) the same Markov forecast with the pooled training matrix.

Errors are reported per period as mean and maximum absolute share errors, and for one-month
roll rates (current -> 1-30, 1-30 -> 31-60, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.calibration.states import STATES
from sim.calibration.transitions import transition_counts, transition_matrix
from sim.engine import simulate
from sim.scenario import Scenario

N = len(STATES)
OPEN = slice(0, 5)


def cohort_shares(panel: pd.DataFrame, cut: int, horizon: int) -> pd.DataFrame:
    """State shares of the accounts present at ``cut``, in periods ``cut .. cut + horizon``.

    Accounts that leave the panel later keep their last observed state (absorbing states are
    absorbing; an account that simply stops being reported is carried as last seen).
    """
    codes = panel["state"].cat.codes.to_numpy()
    ids = panel["account_id"].to_numpy()
    periods = panel["period"].to_numpy()
    at_cut = pd.Index(np.unique(ids[periods == cut]))
    sel = at_cut.get_indexer(ids) >= 0
    sub = pd.DataFrame({"id": ids[sel], "period": periods[sel], "state": codes[sel]})
    sub = sub[(sub["period"] >= cut) & (sub["period"] <= cut + horizon)]
    wide = sub.pivot(index="id", columns="period", values="state").reindex(
        columns=range(cut, cut + horizon + 1)
    )
    wide = wide.ffill(axis=1)
    out = {}
    for t in wide.columns:
        counts = np.bincount(wide[t].to_numpy(dtype=np.int64), minlength=N)
        out[t] = counts / counts.sum()
    return pd.DataFrame(out, index=list(STATES)).T


def markov_forecast(start: np.ndarray, matrix: np.ndarray, horizon: int) -> np.ndarray:
    """Shares after 1..horizon months under a fixed monthly matrix (empty rows stay put)."""
    m = np.where(np.isfinite(matrix), matrix, 0.0)
    empty = ~np.isfinite(matrix).all(axis=1)
    m[empty] = np.eye(N)[empty]
    out = [start]
    for _ in range(horizon):
        out.append(out[-1] @ m)
    return np.array(out)


def simulated_forecast(
    scenario: Scenario, strategy, start: np.ndarray, horizon: int, seed: int
) -> np.ndarray:
    """Shares of a simulated book started from ``start`` (open states set the initial
    delinquency; mass already charged off or paid off is carried unchanged)."""
    open_mass = start[OPEN].sum()
    rel = start[OPEN] / open_mass if open_mass > 0 else np.eye(5)[0]
    data = scenario.model_dump()
    data["days"] = 30 * horizon
    data["initial_delinquency"] = {
        "dpd_1_30": float(rel[1]),
        "dpd_31_60": float(rel[2]),
        "dpd_61_90": float(rel[3]),
        "dpd_91_120": float(rel[4]),
    }
    total = sum(data["initial_delinquency"].values())
    if total > 0.5:  # the scenario caps the initial delinquent share; rescale and say so
        data["initial_delinquency"] = {
            k: v * 0.5 / total for k, v in data["initial_delinquency"].items()
        }
    sc = Scenario.model_validate(data)
    result = simulate(sc, strategy, seed, check=False)
    m = result.monthly
    cols = ["n_current", "n_1_30", "n_31_60", "n_61_90", "n_91_120", "n_charged_off", "n_paid_off"]
    shares = m[cols].to_numpy(dtype=float) / sc.accounts
    init = np.bincount(result.initial_bucket, minlength=N) / sc.accounts
    sim = np.vstack([init, shares[:horizon]])
    out = sim * open_mass
    out[:, 5] += start[5]
    out[:, 6] += start[6]
    return out


@dataclass
class BacktestResult:
    """Observed and predicted cohort shares by period, and their errors."""

    observed: pd.DataFrame
    simulated: pd.DataFrame
    naive_last: pd.DataFrame
    naive_pooled: pd.DataFrame

    def errors(self) -> pd.DataFrame:
        rows = []
        for name, pred in (
            ("simulated", self.simulated),
            ("naive_last_matrix", self.naive_last),
            ("naive_pooled_matrix", self.naive_pooled),
        ):
            diff = (pred - self.observed).abs()
            for t in self.observed.index[1:]:
                rows.append(
                    {
                        "forecast": name,
                        "period": int(t),
                        "mean_abs_share_error": float(diff.loc[t].mean()),
                        "max_abs_share_error": float(diff.loc[t].max()),
                        "delinquent_share_error": float(
                            pred.loc[t, list(STATES[1:5])].sum()
                            - self.observed.loc[t, list(STATES[1:5])].sum()
                        ),
                    }
                )
        return pd.DataFrame(rows)

    def summary(self) -> dict:
        e = self.errors()
        return {
            name: {
                "mean_abs_share_error": float(g["mean_abs_share_error"].mean()),
                "max_abs_share_error": float(g["max_abs_share_error"].max()),
                "mean_abs_delinquent_share_error": float(g["delinquent_share_error"].abs().mean()),
            }
            for name, g in e.groupby("forecast")
        }


def backtest(
    panel: pd.DataFrame,
    train_until: int,
    scenario: Scenario,
    strategy,
    horizon: int | None = None,
    seed: int = 1,
) -> BacktestResult:
    """Compare the calibrated simulator and naive Markov forecasts on the later periods."""
    last = int(panel["period"].max())
    horizon = horizon or (last - train_until)
    observed = cohort_shares(panel, train_until, horizon)
    start = observed.iloc[0].to_numpy()
    last_matrix = transition_matrix(
        transition_counts(panel, until=train_until, since=train_until - 1)
    ).probabilities
    pooled = transition_matrix(transition_counts(panel, until=train_until)).probabilities
    idx = observed.index
    frame = lambda a: pd.DataFrame(a, index=idx, columns=list(STATES))  # noqa: E731
    return BacktestResult(
        observed=observed,
        simulated=frame(simulated_forecast(scenario, strategy, start, horizon, seed)),
        naive_last=frame(markov_forecast(start, last_matrix, horizon)),
        naive_pooled=frame(markov_forecast(start, pooled, horizon)),
    )
