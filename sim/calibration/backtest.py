"""Back-tests: a temporal hold-out. Fit on the early periods of a panel, forecast the later
ones, and compare with the naive last-matrix forecast on the same accounts.

*The cohort and censoring.* The forecasts follow the accounts observed at the training cut-off
(``cut``), from the states they were in then. An account whose records stop (or skip a month)
is *censored* from then on, not carried forward in its last state: the observed shares of
period ``t`` are over the cohort's accounts still observed at ``t``, and every forecast of
period ``t`` is for exactly those accounts, from their own states at ``cut``
(``mix_t = start states of the accounts observed at t``). Monthly rates from ``t`` to ``t + 1``
are over the cohort's accounts observed at both, and each forecast's rate is for accounts with
their start mix.

*The forecasts.* ``simulated``: the calibrated scenario run from the cohort's open-state mix;
its accounts' month-end states give, per start state ``s0``, the share in each state after
``t`` months and the one-month moves at ``t``, so any start mix is a weighted sum of them (the
same simulated accounts serve every resample). ``naive_last_matrix``: the matrix of the moves
into ``cut`` (``cut - 1 -> cut``, all made by cohort accounts), held fixed.
``naive_pooled_matrix`` (reference, no interval): the pooled matrix of every training move.

*Intervals: a paired bootstrap over accounts.* A resample draws the cohort's accounts with
replacement (whole histories; :mod:`sim.calibration.bootstrap`) and the simulated accounts
independently; in each resample the observed shares and rates, the naive matrix (re-estimated)
and both forecasts are computed, and the errors of the simulator and of the naive forecast
are paired. Reported: each forecast's mean absolute error on the state shares and on the
monthly rates with a 95 % basic bootstrap interval (:func:`_interval`), and the interval of
the difference (simulator minus naive: below 0, the simulator is better); per state and per
rate, the cells where the simulator loses. The fit's own uncertainty is not resampled (the
fit is run once).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sim.calibration import bootstrap
from sim.calibration.book import REVOLVING_TERM
from sim.calibration.states import CURE_PAIRS, ROLL_PAIRS, STATE_INDEX, STATES
from sim.calibration.transitions import transition_counts
from sim.day_loop import MonthEndStates
from sim.engine import run_days
from sim.scenario import Scenario

N = len(STATES)
OPEN = slice(0, 5)
#: Rates compared period by period: the rolls one bucket worse, then the cures to current.
RATE_PAIRS: tuple[tuple[str, str], ...] = ROLL_PAIRS + CURE_PAIRS
RATE_NAMES: tuple[str, ...] = tuple(f"{a}->{b}" for a, b in RATE_PAIRS)
FORECASTS: tuple[str, ...] = ("simulated", "naive_last_matrix", "naive_pooled_matrix")
#: The forecasts with bootstrap intervals (paired).
PAIRED: tuple[str, str] = ("simulated", "naive_last_matrix")
_RATE_IJ = np.array([(STATE_INDEX[a], STATE_INDEX[b]) for a, b in RATE_PAIRS])


# --------------------------------------------------------------------------- observed side
def cohort_states(panel: pd.DataFrame, cut: int, horizon: int) -> np.ndarray:
    """``(accounts, horizon + 2)`` states of the cohort observed at ``cut``, in periods
    ``cut - 1 .. cut + horizon``; -1 where an account has no record (censored)."""
    codes = panel["state"].cat.codes.to_numpy().astype(np.int64)
    ids = panel["account_id"].to_numpy()
    periods = panel["period"].to_numpy(dtype=np.int64)
    cohort = pd.Index(np.unique(ids[periods == cut]))
    row = cohort.get_indexer(ids)
    col = periods - (cut - 1)
    keep = (row >= 0) & (col >= 0) & (col <= horizon + 1)
    out = np.full((len(cohort), horizon + 2), -1, dtype=np.int64)
    out[row[keep], col[keep]] = codes[keep]
    return out


def cohort_shares(panel: pd.DataFrame, cut: int, horizon: int) -> pd.DataFrame:
    """State shares in periods ``cut .. cut + horizon`` over the cohort's accounts still
    observed then (censored accounts left out, not carried forward); ``attrs["accounts"]``
    the cohort, ``attrs["observed"]`` the accounts observed per period."""
    s = cohort_states(panel, cut, horizon)[:, 1:]
    counts = np.stack([np.bincount(s[:, t][s[:, t] >= 0], minlength=N) for t in range(s.shape[1])])
    frame = pd.DataFrame(
        counts / np.maximum(counts.sum(axis=1, keepdims=True), 1),
        index=pd.Index(range(cut, cut + horizon + 1), name="period"),
        columns=list(STATES),
    )
    frame.attrs["accounts"] = int(s.shape[0])
    frame.attrs["observed"] = dict(
        zip(frame.index.tolist(), counts.sum(axis=1).tolist(), strict=True)
    )
    return frame


def _observed_design(states: np.ndarray) -> tuple[sp.csr_matrix, dict[str, slice]]:
    """Per cohort account, the indicator columns every statistic is a sum of (see module)."""
    a_n, width = states.shape
    h = width - 2
    prev, s = states[:, 0], states[:, 1:]
    start = s[:, 0]
    seen = s >= 0
    rows, cols, blocks, offset = [], [], {}, 0

    def add(name, mask, col, size):
        nonlocal offset
        r, c = np.nonzero(mask) if mask.ndim == 2 else (np.flatnonzero(mask), None)
        rows.append(r)
        cols.append(offset + (col[r, c] if c is not None else col[r]))
        blocks[name] = slice(offset, offset + size)
        offset += size

    t_idx = np.arange(h + 1)[None, :]
    add("shares", seen, t_idx * N + np.maximum(s, 0), (h + 1) * N)
    add("mix", seen, t_idx * N + start[:, None], (h + 1) * N)
    both = seen[:, :-1] & seen[:, 1:]
    pair = np.arange(h)[None, :] * N * N + np.maximum(s[:, :-1], 0) * N + np.maximum(s[:, 1:], 0)
    add("pairs", both, pair, h * N * N)
    add("pair_mix", both, np.arange(h)[None, :] * N + start[:, None], h * N)
    add("last", prev >= 0, np.maximum(prev, 0) * N + start, N * N)
    r, c = np.concatenate(rows), np.concatenate(cols)
    design = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(a_n, offset))
    return design, blocks


# --------------------------------------------------------------------------- simulated side
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


def simulated_paths(
    scenario: Scenario, strategy, start: np.ndarray, horizon: int, seed: int, accounts: int
) -> np.ndarray:
    """``(accounts, horizon + 1)`` month-end states of the book of :func:`forecast_book`."""
    observer = MonthEndStates()
    run_days(
        forecast_book(scenario, start, horizon, accounts), strategy, seed, observers=[observer]
    )
    return np.stack(observer.states[: horizon + 1]).T.astype(np.int64)


def _simulated_design(paths: np.ndarray) -> tuple[sp.csr_matrix, dict[str, slice]]:
    """Per simulated account: its state after t months by start state, and its moves."""
    n, width = paths.shape
    h = width - 1
    s0 = paths[:, :1]
    t = np.arange(width)[None, :]
    traj = t * N * N + s0 * N + paths
    moves = np.arange(h)[None, :] * N**3 + s0 * N * N + paths[:, :-1] * N + paths[:, 1:]
    cols = np.concatenate([traj, width * N * N + moves], axis=1)
    rows = np.repeat(np.arange(n), cols.shape[1])
    size = width * N * N + h * N**3
    design = sp.csr_matrix((np.ones(rows.size), (rows, cols.ravel())), shape=(n, size))
    return design, {"traj": slice(0, width * N * N), "moves": slice(width * N * N, size)}


# --------------------------------------------------------------------------- forecasts
def _rows(counts: np.ndarray) -> np.ndarray:
    """Row-normalised matrices (..., 7, 7); empty rows become identity rows (stay put)."""
    tot = counts.sum(axis=-1, keepdims=True)
    eye = np.broadcast_to(np.eye(N), counts.shape)
    return np.where(tot > 0, counts / np.where(tot > 0, tot, 1.0), eye)


def _safe_div(a, b):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


def _evaluate(obs: np.ndarray, blocks: dict, sim: np.ndarray, sblocks: dict, h: int, pooled):
    """Shares and rates of the observed cohort and of the three forecasts, for each row of
    ``obs`` / ``sim`` (resamples of the observed and the simulated accounts' sums)."""
    b = obs.shape[0]
    shares_n = obs[:, blocks["shares"]].reshape(b, h + 1, N)
    mix = obs[:, blocks["mix"]].reshape(b, h + 1, N)
    mix = _safe_div(mix, mix.sum(axis=-1, keepdims=True))
    pairs = obs[:, blocks["pairs"]].reshape(b, h, N, N)
    pmix = obs[:, blocks["pair_mix"]].reshape(b, h, N)
    pmix = _safe_div(pmix, pmix.sum(axis=-1, keepdims=True))
    last = _rows(obs[:, blocks["last"]].reshape(b, N, N))
    traj = sim[:, sblocks["traj"]].reshape(b, h + 1, N, N)
    n0 = traj[:, 0].diagonal(axis1=1, axis2=2)  # (b, s0): simulated accounts per start state
    steps = _rows(traj)  # (b, t, s0, s): empty start states stay put
    moves = sim[:, sblocks["moves"]].reshape(b, h, N, N, N)
    moves = moves / np.where(n0 > 0, n0, 1.0)[:, None, :, None, None]

    observed = _safe_div(shares_n, shares_n.sum(axis=-1, keepdims=True))
    obs_rates = _safe_div(pairs, pairs.sum(axis=-1, keepdims=True))
    powers_last, powers_pool = [np.broadcast_to(np.eye(N), (b, N, N))], [np.eye(N)]
    for _ in range(h):
        powers_last.append(powers_last[-1] @ last)
        powers_pool.append(powers_pool[-1] @ pooled)
    powers_last, powers_pool = np.stack(powers_last, axis=1), np.stack(powers_pool)
    shares = {
        "simulated": np.einsum("bts,btsr->btr", mix, steps),
        "naive_last_matrix": np.einsum("bts,btsr->btr", mix, powers_last),
        "naive_pooled_matrix": np.einsum("bts,tsr->btr", mix, powers_pool),
    }
    sim_num = np.einsum("bts,btsij->btij", pmix, moves)
    rates = {
        "simulated": _safe_div(sim_num, sim_num.sum(axis=-1, keepdims=True)),
        "naive_last_matrix": np.broadcast_to(last[:, None], (b, h, N, N)),
        "naive_pooled_matrix": np.broadcast_to(pooled, (b, h, N, N)),
    }
    return observed, obs_rates, pairs.sum(axis=-1), shares, rates


def _errors(observed, obs_rates, shares, rates, mask):
    """Per forecast: absolute share errors (b, t, state) over the test periods and absolute
    rate errors (b, t, rate) where the full sample has enough moves (NaN elsewhere)."""
    i, j = _RATE_IJ[:, 0], _RATE_IJ[:, 1]
    out = {}
    for name in shares:
        se = np.abs(shares[name][:, 1:] - observed[:, 1:])
        re = np.abs(rates[name][:, :, i, j] - obs_rates[:, :, i, j])
        out[name] = (se, np.where(mask, re, np.nan))
    return out


@dataclass
class BacktestResult:
    """Observed and forecast cohort shares and monthly rates by period, their errors, and the
    paired bootstrap comparison of the simulator with the naive last-matrix forecast."""

    cut: int
    observed: pd.DataFrame
    predicted: dict[str, pd.DataFrame]  # forecast name -> shares by period
    observed_rates: pd.DataFrame
    rate_counts: pd.DataFrame
    predicted_rates: dict[str, pd.DataFrame]  # forecast name -> rates by period
    min_rate_count: int = 50
    #: the paired bootstrap (:func:`backtest`): intervals and the cells where the simulator loses
    comparison: dict = field(default_factory=dict)

    @property
    def simulated(self) -> pd.DataFrame:
        return self.predicted["simulated"]

    @property
    def naive_last(self) -> pd.DataFrame:
        return self.predicted["naive_last_matrix"]

    def errors(self) -> pd.DataFrame:
        """Per forecast and test period: share errors (mean and max over states, delinquent
        share 1-30..91-120, paid-off share) and the mean absolute monthly-rate error over the
        rates with at least ``min_rate_count`` observed moves that period."""
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
        """Mean absolute error of each monthly rate over the test periods, per forecast
        (periods with fewer than ``min_rate_count`` observed moves left out)."""
        out = {}
        for name in self.predicted:
            err = (self.predicted_rates[name] - self.observed_rates).abs()
            out[name] = err.where(self.rate_counts >= self.min_rate_count).mean()
        return pd.DataFrame(out)

    def summary(self) -> dict:
        e = self.errors()
        return {
            name: {
                "mean_abs_share_error": float(g["mean_abs_share_error"].mean()),
                "max_abs_share_error": float(g["max_abs_share_error"].max()),
                "mean_abs_delinquent_share_error": float(g["delinquent_share_error"].abs().mean()),
                "final_delinquent_share_error": float(g["delinquent_share_error"].iloc[-1]),
                "mean_abs_paid_off_share_error": float(g["paid_off_share_error"].abs().mean()),
                "mean_abs_rate_error": self._mean_rate_error(name),
            }
            for name, g in e.groupby("forecast", sort=False)
        }

    def _mean_rate_error(self, name: str) -> float:
        """Mean absolute rate error over every (period, rate) with enough observed moves."""
        err = (self.predicted_rates[name] - self.observed_rates).abs()
        values = err.where(self.rate_counts >= self.min_rate_count).to_numpy()
        return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")

    def holdout_lines(self) -> list[str]:
        """The hold-out comparison in a few lines of text, for ``postloan backtest`` to print."""
        c = self.comparison
        if not c:
            return []
        lines = []
        for kind, label in (("share", "state shares"), ("rate", "monthly rates")):
            f = c["forecasts"]
            sim = f["simulated"][f"mean_abs_{kind}_error"]
            naive = f["naive_last_matrix"][f"mean_abs_{kind}_error"]
            d = c[f"{kind}_difference"]
            lines.append(
                f"{label}: mean abs error simulator {sim['estimate']:.4f} "
                f"[{sim['interval'][0]:.4f}, {sim['interval'][1]:.4f}], naive last matrix "
                f"{naive['estimate']:.4f} [{naive['interval'][0]:.4f}, {naive['interval'][1]:.4f}]"
                f"; simulator - naive {d['estimate']:+.4f} "
                f"[{d['interval'][0]:+.4f}, {d['interval'][1]:+.4f}] (95 %, paired bootstrap "
                f"over accounts, {c['resamples']} resamples)"
            )
            losing = c[f"{kind}_cells_simulator_loses"]
            if losing:
                lines.append(
                    "  simulator loses on: "
                    + ", ".join(
                        f"{x['cell']}{'*' if x['significant'] else ''} "
                        f"({x['simulated']:.4f} vs {x['naive_last_matrix']:.4f})"
                        for x in losing
                    )
                    + " (* interval of the difference excludes 0)"
                )
        return lines

    def to_dict(self) -> dict:
        def records(frame: pd.DataFrame) -> list[dict]:
            return frame.reset_index(names="period").to_dict(orient="records")

        return {
            "train_until": self.cut,
            "cohort_accounts": self.observed.attrs.get("accounts"),
            "observed_accounts": self.observed.attrs.get("observed"),
            "censoring": "accounts without a record in a period are left out of that period "
            "(observed shares and every forecast: the same accounts)",
            "summary": self.summary(),
            "holdout": self.comparison,
            "errors": self.errors().to_dict(orient="records"),
            "rate_errors": self.rate_errors().reset_index(names="rate").to_dict(orient="records"),
            "observed_shares": records(self.observed),
            "predicted_shares": {k: records(v) for k, v in self.predicted.items()},
            "observed_rates": records(self.observed_rates),
            "rate_counts": records(self.rate_counts),
            "predicted_rates": {k: records(v) for k, v in self.predicted_rates.items()},
        }


def _interval(estimate: float, x: np.ndarray, floor: float | None = None) -> list[float]:
    """95 % basic (reverse-percentile) bootstrap interval ``[2 e - q97.5, 2 e - q2.5]``.

    Not the plain percentiles: a resample adds noise to the observed rates and to the naive
    matrix, which lifts every absolute error in the resamples above the estimate (the naive
    forecast's more, being re-estimated from the resample); the basic interval reflects that
    shift instead of reporting it. ``floor``: the lowest possible value (0 for an error).
    """
    x = x[np.isfinite(x)]
    if not x.size or not np.isfinite(estimate):
        return [np.nan, np.nan]
    lo, hi = 2 * estimate - np.percentile(x, 97.5), 2 * estimate - np.percentile(x, 2.5)
    if floor is not None:
        lo, hi = max(lo, floor), max(hi, floor)
    return [float(lo), float(hi)]


def _comparison(point: dict, boot: dict, resamples: int) -> dict:
    """Mean errors with intervals, the paired difference and the cells the simulator loses."""
    out: dict = {"resamples": resamples, "seed": bootstrap.SEED, "forecasts": {}}
    for kind, k in (("share", 0), ("rate", 1)):
        for name in PAIRED:
            est = float(np.nanmean(point[name][k]))
            dist = np.nanmean(boot[name][k], axis=(1, 2))
            out["forecasts"].setdefault(name, {})[f"mean_abs_{kind}_error"] = {
                "estimate": est,
                "interval": _interval(est, dist, floor=0.0),
            }
        a, b = PAIRED
        diff_point = float(np.nanmean(point[a][k]) - np.nanmean(point[b][k]))
        diff = np.nanmean(boot[a][k], axis=(1, 2)) - np.nanmean(boot[b][k], axis=(1, 2))
        out[f"{kind}_difference"] = {
            "estimate": diff_point,
            "interval": _interval(diff_point, diff),
        }
        names = list(STATES) if kind == "share" else list(RATE_NAMES)
        losing = []
        for c, cell in enumerate(names):
            if not np.isfinite(point[a][k][0, :, c]).any():
                continue  # a rate never observed often enough
            pa, pb = np.nanmean(point[a][k][0, :, c]), np.nanmean(point[b][k][0, :, c])
            if pa <= pb:
                continue
            d = np.nanmean(boot[a][k][:, :, c], axis=1) - np.nanmean(boot[b][k][:, :, c], axis=1)
            iv = _interval(float(pa - pb), d)
            losing.append(
                {
                    "cell": cell,
                    "simulated": float(pa),
                    "naive_last_matrix": float(pb),
                    "difference_interval": iv,
                    "significant": bool(iv[0] > 0),
                }
            )
        out[f"{kind}_cells_simulator_loses"] = losing
    return out


def backtest(
    panel: pd.DataFrame,
    train_until: int,
    scenario: Scenario,
    strategy,
    horizon: int | None = None,
    seed: int = 1,
    accounts: int = 40_000,
    resamples: int = bootstrap.RESAMPLES,
    min_rate_count: int = 50,
) -> BacktestResult:
    """Forecast the periods after ``train_until`` with the calibrated simulator and the naive
    matrices, on the cohort observed at ``train_until`` with censoring, and compare them with a
    paired bootstrap over accounts (module docstring)."""
    last = int(panel["period"].max())
    h = int(horizon or (last - train_until))
    states = cohort_states(panel, train_until, h)
    if states.shape[0] == 0:
        raise ValueError(f"no account is observed at period {train_until}")
    design, blocks = _observed_design(states)
    start = np.bincount(states[:, 1], minlength=N) / states.shape[0]
    paths = simulated_paths(scenario, strategy, start, h, seed, accounts)
    sdesign, sblocks = _simulated_design(paths)
    pooled = _rows(transition_counts(panel, until=train_until).to_numpy().astype(float))

    full = np.asarray(design.sum(axis=0))
    sfull = np.asarray(sdesign.sum(axis=0))
    observed, obs_rates, rate_n, shares, rates = _evaluate(full, blocks, sfull, sblocks, h, pooled)
    i, j = _RATE_IJ[:, 0], _RATE_IJ[:, 1]
    mask = rate_n[:, :, i] >= min_rate_count  # (1, h, rates), fixed across resamples
    point = _errors(observed, obs_rates, shares, rates, mask)
    obs_b = bootstrap.resampled_sums(design, resamples, bootstrap.SEED)
    sim_b = bootstrap.resampled_sums(sdesign, resamples, bootstrap.SEED + 1)
    o_b, r_b, _, s_b, q_b = _evaluate(obs_b, blocks, sim_b, sblocks, h, pooled)
    boot = _errors(o_b, r_b, {k: s_b[k] for k in PAIRED}, {k: q_b[k] for k in PAIRED}, mask)

    idx = pd.Index(range(train_until, train_until + h + 1), name="period")
    ridx = pd.Index(range(train_until + 1, train_until + h + 1), name="period")

    def frame(a: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a, index=idx, columns=list(STATES))

    def rate_frame(a: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(a[:, i, j], index=ridx, columns=list(RATE_NAMES))

    obs_frame = frame(observed[0])
    obs_frame.attrs["accounts"] = int(states.shape[0])
    obs_frame.attrs["observed"] = dict(
        zip(idx.tolist(), (states[:, 1:] >= 0).sum(axis=0).tolist(), strict=True)
    )
    return BacktestResult(
        cut=train_until,
        observed=obs_frame,
        predicted={k: frame(v[0]) for k, v in shares.items()},
        observed_rates=rate_frame(obs_rates[0]),
        rate_counts=pd.DataFrame(rate_n[0][:, i], index=ridx, columns=list(RATE_NAMES)),
        predicted_rates={k: rate_frame(np.asarray(v[0])) for k, v in rates.items()},
        min_rate_count=min_rate_count,
        comparison=_comparison(point, boot, resamples),
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
