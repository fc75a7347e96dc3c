"""Back-tests: fit on the early periods of a panel, predict the later ones, compare.

The comparison follows a cohort: the accounts observed at the training cut-off, in the states
they were in then. Three forecasts of that cohort's state shares in each later period are set
against what was observed:

* the calibrated simulator, started from the cohort's observed state mix;
* a naive Markov forecast with the last observed (training) month's transition matrix;
* (for reference) the same Markov forecast with the pooled training matrix.

Observed shares: an account missing from the panel in a later period (a month mapped to
``none``, or after its last record) is carried in the state it was last seen in, so the cohort
keeps its size (absorbing states stay absorbing; the simulator has no "no loan" state).

Roll rates are compared month by month as well: the observed one-month rates of all accounts
of the panel moving from period ``t`` to ``t + 1`` (not only the cohort: more moves, less
noise), against the simulated book's month ``t - cut`` and the naive matrices' fixed rates.
Errors are reported per period, and summarised per forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.calibration.book import REVOLVING_TERM
from sim.calibration.states import CURE_PAIRS, ROLL_PAIRS, STATE_INDEX, STATES
from sim.calibration.transitions import transition_counts, transition_matrix
from sim.engine import simulate
from sim.scenario import Scenario

N = len(STATES)
OPEN = slice(0, 5)
#: Rates compared period by period: the rolls one bucket worse, then the cures to current.
RATE_PAIRS: tuple[tuple[str, str], ...] = ROLL_PAIRS + CURE_PAIRS
RATE_NAMES: tuple[str, ...] = tuple(f"{a}->{b}" for a, b in RATE_PAIRS)
FORECASTS: tuple[str, ...] = ("simulated", "naive_last_matrix", "naive_pooled_matrix")


def cohort_shares(panel: pd.DataFrame, cut: int, horizon: int) -> pd.DataFrame:
    """State shares of the accounts present at ``cut``, in periods ``cut .. cut + horizon``.

    Accounts missing from the panel later keep their last observed state (absorbing states are
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
    frame = pd.DataFrame(out, index=list(STATES)).T
    frame.index.name = "period"
    frame.attrs["accounts"] = len(at_cut)
    return frame


def markov_forecast(start: np.ndarray, matrix: np.ndarray, horizon: int) -> np.ndarray:
    """Shares after 0..horizon months under a fixed monthly matrix (empty rows stay put)."""
    m = np.where(np.isfinite(matrix), matrix, 0.0)
    empty = ~np.isfinite(matrix).all(axis=1)
    m[empty] = np.eye(N)[empty]
    out = [start]
    for _ in range(horizon):
        out.append(out[-1] @ m)
    return np.array(out)


def forecast_book(scenario: Scenario, start: np.ndarray, horizon: int, accounts: int) -> Scenario:
    """The calibrated scenario as the book that starts from ``start``'s open-state mix.

    Its initial delinquency is the mix of the open states (scaled down to the scenario's cap
    of 0.5 in total if need be); loans are revolving (no maturity within the horizon).
    """
    open_mass = start[OPEN].sum()
    rel = start[OPEN] / open_mass if open_mass > 0 else np.eye(5)[0]
    data = scenario.model_dump()
    data["days"] = 30 * horizon
    data["accounts"] = int(accounts)
    shares = {
        "dpd_1_30": float(rel[1]),
        "dpd_31_60": float(rel[2]),
        "dpd_61_90": float(rel[3]),
        "dpd_91_120": float(rel[4]),
    }
    total = sum(shares.values())
    if total > 0.5:
        shares = {k: v * 0.5 / total for k, v in shares.items()}
    data["initial_delinquency"] = shares
    for purpose in data["purposes"].values():
        purpose["terms"] = [max(REVOLVING_TERM, *purpose["terms"])]
    return Scenario.model_validate(data)


def simulated_forecast(
    scenario: Scenario,
    strategy,
    start: np.ndarray,
    horizon: int,
    seed: int,
    accounts: int = 40_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Shares of a simulated book started from ``start`` (open states set the initial
    delinquency; mass already charged off or paid off is carried unchanged), and the book's
    monthly transition counts ``(horizon, 7, 7)``."""
    sc = forecast_book(scenario, start, horizon, accounts)
    result = simulate(sc, strategy, seed, check=False)
    m = result.monthly
    cols = ["n_current", "n_1_30", "n_31_60", "n_61_90", "n_91_120", "n_charged_off", "n_paid_off"]
    shares = m[cols].to_numpy(dtype=float) / sc.accounts
    init = np.bincount(result.initial_bucket, minlength=N) / sc.accounts
    sim = np.vstack([init, shares[:horizon]])
    out = sim * start[OPEN].sum()
    out[:, 5] += start[5]
    out[:, 6] += start[6]
    return out, result.roll_counts[:horizon]


def _rates(matrix: np.ndarray) -> list[float]:
    return [float(matrix[STATE_INDEX[a], STATE_INDEX[b]]) for a, b in RATE_PAIRS]


def observed_rates(
    panel: pd.DataFrame, cut: int, horizon: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One-month rates observed from period ``t`` to ``t + 1``, ``t = cut .. cut + horizon - 1``,
    over all accounts of the panel, and the number of moves out of each rate's from-state."""
    rows, counts = {}, {}
    for t in range(cut, cut + horizon):
        est = transition_matrix(transition_counts(panel, since=t, until=t + 1))
        rows[t + 1] = _rates(est.probabilities)
        counts[t + 1] = [int(est.row_totals[STATE_INDEX[a]]) for a, _ in RATE_PAIRS]
    index = pd.Index(list(rows), name="period")
    return (
        pd.DataFrame(list(rows.values()), index=index, columns=list(RATE_NAMES)),
        pd.DataFrame(list(counts.values()), index=index, columns=list(RATE_NAMES)),
    )


@dataclass
class BacktestResult:
    """Observed and predicted cohort shares and roll rates by period, and their errors."""

    cut: int
    observed: pd.DataFrame
    predicted: dict[str, pd.DataFrame]  # forecast name -> shares by period
    observed_rates: pd.DataFrame
    rate_counts: pd.DataFrame
    predicted_rates: dict[str, pd.DataFrame]  # forecast name -> rates by period
    min_rate_count: int = 50

    @property
    def simulated(self) -> pd.DataFrame:
        return self.predicted["simulated"]

    @property
    def naive_last(self) -> pd.DataFrame:
        return self.predicted["naive_last_matrix"]

    def errors(self) -> pd.DataFrame:
        """Per forecast and test period: share errors (mean and max over states, delinquent
        share 1-30..91-120, paid-off share) and the mean absolute roll-rate error over the rates
        with at least ``min_rate_count`` observed moves that period."""
        rows = []
        delinquent = list(STATES[1:5])
        for name, pred in self.predicted.items():
            diff = (pred - self.observed).abs()
            rate_err = (self.predicted_rates[name] - self.observed_rates).abs()
            rate_err = rate_err.where(self.rate_counts >= self.min_rate_count)
            for t in self.observed.index[1:]:
                rows.append(
                    {
                        "forecast": name,
                        "period": int(t),
                        "mean_abs_share_error": float(diff.loc[t].mean()),
                        "max_abs_share_error": float(diff.loc[t].max()),
                        "delinquent_share_error": float(
                            pred.loc[t, delinquent].sum() - self.observed.loc[t, delinquent].sum()
                        ),
                        "paid_off_share_error": float(
                            pred.loc[t, "paid_off"] - self.observed.loc[t, "paid_off"]
                        ),
                        "mean_abs_rate_error": float(rate_err.loc[t].mean())
                        if t in rate_err.index
                        else float("nan"),
                    }
                )
        return pd.DataFrame(rows)

    def rate_errors(self) -> pd.DataFrame:
        """Mean absolute error of each one-month rate over the test periods, per forecast
        (periods with fewer than ``min_rate_count`` observed moves left out)."""
        out = {}
        for name in self.predicted:
            err = (self.predicted_rates[name] - self.observed_rates).abs()
            out[name] = err.where(self.rate_counts >= self.min_rate_count).mean()
        return pd.DataFrame(out)

    def summary(self) -> dict:
        e = self.errors()
        rates = self.rate_errors()
        return {
            name: {
                "mean_abs_share_error": float(g["mean_abs_share_error"].mean()),
                "max_abs_share_error": float(g["max_abs_share_error"].max()),
                "mean_abs_delinquent_share_error": float(g["delinquent_share_error"].abs().mean()),
                "final_delinquent_share_error": float(g["delinquent_share_error"].iloc[-1]),
                "mean_abs_paid_off_share_error": float(g["paid_off_share_error"].abs().mean()),
                "mean_abs_rate_error": float(rates[name].mean()),
            }
            for name, g in e.groupby("forecast", sort=False)
        }

    def to_dict(self) -> dict:
        def records(frame: pd.DataFrame) -> list[dict]:
            return frame.reset_index(names="period").to_dict(orient="records")

        return {
            "train_until": self.cut,
            "cohort_accounts": self.observed.attrs.get("accounts"),
            "summary": self.summary(),
            "errors": self.errors().to_dict(orient="records"),
            "rate_errors": self.rate_errors().reset_index(names="rate").to_dict(orient="records"),
            "observed_shares": records(self.observed),
            "predicted_shares": {k: records(v) for k, v in self.predicted.items()},
            "observed_rates": records(self.observed_rates),
            "rate_counts": records(self.rate_counts),
            "predicted_rates": {k: records(v) for k, v in self.predicted_rates.items()},
        }


def backtest(
    panel: pd.DataFrame,
    train_until: int,
    scenario: Scenario,
    strategy,
    horizon: int | None = None,
    seed: int = 1,
    accounts: int = 40_000,
) -> BacktestResult:
    """Compare the calibrated simulator and naive Markov forecasts on the periods after
    ``train_until`` (see the module docstring)."""
    last = int(panel["period"].max())
    horizon = horizon or (last - train_until)
    observed = cohort_shares(panel, train_until, horizon)
    start = observed.iloc[0].to_numpy()
    last_matrix = transition_matrix(
        transition_counts(panel, until=train_until, since=train_until - 1)
    ).probabilities
    pooled = transition_matrix(transition_counts(panel, until=train_until)).probabilities
    idx = observed.index

    def frame(a: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a, index=idx, columns=list(STATES))

    sim_shares, sim_counts = simulated_forecast(scenario, strategy, start, horizon, seed, accounts)
    obs_rates, rate_counts = observed_rates(panel, train_until, horizon)
    sim_rates = pd.DataFrame(
        [_rates(transition_matrix(c).probabilities) for c in sim_counts],
        index=obs_rates.index,
        columns=list(RATE_NAMES),
    )

    def constant(matrix: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            [_rates(matrix)] * len(obs_rates), index=obs_rates.index, columns=list(RATE_NAMES)
        )

    return BacktestResult(
        cut=train_until,
        observed=observed,
        predicted={
            "simulated": frame(sim_shares),
            "naive_last_matrix": frame(markov_forecast(start, last_matrix, horizon)),
            "naive_pooled_matrix": frame(markov_forecast(start, pooled, horizon)),
        },
        observed_rates=obs_rates,
        rate_counts=rate_counts,
        predicted_rates={
            "simulated": sim_rates,
            "naive_last_matrix": constant(last_matrix),
            "naive_pooled_matrix": constant(pooled),
        },
    )


def chart_html(result: BacktestResult, title: str) -> str | None:
    """A self-contained HTML chart (plotly, its script inlined) of the back-test: delinquent
    and paid-off shares and two roll rates, observed against each forecast. ``None`` when
    plotly is not installed."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        return None
    fig = make_subplots(
        rows=2,
        cols=2,
        subplot_titles=(
            "delinquent share (1-30 .. 91-120)",
            "paid-off share",
            "roll rate current -> 1-30",
            "cure rate 1-30 -> current",
        ),
    )
    colours = {
        "observed": "black",
        "simulated": "#1f77b4",
        "naive_last_matrix": "#d62728",
        "naive_pooled_matrix": "#7f7f7f",
    }
    delinquent = list(STATES[1:5])
    series = {"observed": result.observed, **result.predicted}
    rates = {"observed": result.observed_rates, **result.predicted_rates}
    for k, (name, frame) in enumerate(series.items()):
        style = {"color": colours[name], "dash": "solid" if k < 2 else "dot"}
        x = frame.index.tolist()
        fig.add_trace(
            go.Scatter(
                x=x,
                y=frame[delinquent].sum(axis=1),
                name=name,
                legendgroup=name,
                line=style,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x, y=frame["paid_off"], name=name, legendgroup=name, line=style, showlegend=False
            ),
            row=1,
            col=2,
        )
        r = rates[name]
        for col, rate in ((1, "current->1-30"), (2, "1-30->current")):
            fig.add_trace(
                go.Scatter(
                    x=r.index.tolist(),
                    y=r[rate],
                    name=name,
                    legendgroup=name,
                    line=style,
                    showlegend=False,
                ),
                row=2,
                col=col,
            )
    fig.update_layout(title=title, template="plotly_white", height=720)
    return fig.to_html(full_html=True, include_plotlyjs=True)
