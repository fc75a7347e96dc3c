"""Empirical monthly transition matrices, state shares and a naive forecast baseline.

From a panel (see :mod:`sim.calibration.panel`) a transition is a pair of rows of one account in
consecutive periods t and t+1; accounts with a gap (a month mapped to ``none``) contribute no pair
across the gap. :func:`transition_counts` counts them in a 7 x 7 table, :func:`transition_matrix`
turns counts into probabilities p = n_ij / n_i with binomial standard errors
sqrt(p (1 - p) / n_i); a row with no observations stays NaN (a state the data never show, or
an absorbing state whose accounts leave the panel when they get there). :func:`shares_by_period` and
:func:`naive_forecast` give the observed state mix per month and the baseline forecast a
calibrated simulator must beat in a back-test.

Measured on the two real data sets
----------------------------------
Probabilities (rows: from, columns: to, n = moves observed out of the row), measured with
:func:`transition_counts` and :func:`transition_matrix` on the files of ``../shared/data``
(the tests re-check the key rates). Standard errors in brackets.

**Monthly status panel** (``credit_card_status_panel/credit_record.csv``, 1,048,575 rows; with
the documented coding, preset ``credit_record``: 839,345 loan months of 41,449 accounts after the
209,230 ``X`` months are dropped; 777,966 consecutive pairs; periods -60..0)::

    from/to         cur   1-30  31-60  61-90 91-120    c/o   paid        n
    current            (no moves)                                        0
    1-30          0.000  0.924  0.020  0.000  0.000  0.000  0.055  345,417
    31-60         0.000  0.519  0.330  0.054  0.001  0.000  0.097   10,340
    61-90         0.000  0.258  0.169  0.170  0.316  0.009  0.079      813
    91-120        0.000  0.087  0.047  0.074  0.094  0.631  0.067      298
    charged_off   0.000  0.019  0.002  0.006  0.004  0.915  0.054    1,774
    paid_off      0.000  0.000  0.000  0.000  0.000  0.000  1.000  419,324

Rolls: 1-30->31-60 0.0204 (0.0002); 31-60->61-90 0.0541 (0.0022); 61-90->91-120 0.3161
(0.0163); 91-120->charged_off 0.6309 (0.0280). The file has no current state (code 0 is
"1-29 DPD"), so nothing cures to ``current``; ``paid_off`` is absorbing bar one move.
Read one bucket lower (preset ``credit_record_shifted``: 0 = current, ..., 4 = 91-120,
5 = charged_off) the same moves give the design's ranges: current->1-30 0.0204 (0.0002),
1-30->31-60 0.0541 (0.0022), 31-60->61-90 0.3161 (0.0163), 61-90->91-120 0.6208 (0.0281),
91-120->charged_off 0.6905 (0.0319); cures to current 0.5187 (0.0049) from 1-30, 0.2583
(0.0154) from 31-60, 0.0872 (0.0163) from 61-90, 0.0524 (0.0154) from 91-120.

**Taiwan credit cards** (``taiwan_credit_card_default/UCI_Credit_Card.csv``, ``fmt="taiwan"``,
default mapping of :mod:`sim.calibration.taiwan`; 30,000 clients x 6 months, 150,000 pairs
Apr->Sep)::

    from/to         cur   1-30  31-60  61-90 91-120    c/o   paid        n
    current       0.939  0.061  0.000  0.000  0.000  0.000  0.000  131,792
    1-30          0.253  0.684  0.063  0.000  0.000  0.000  0.000   16,331
    31-60         0.159  0.425  0.159  0.257  0.000  0.000  0.000    1,108
    61-90         0.042  0.310  0.077  0.281  0.289  0.000  0.000      377
    91-120        0.054  0.225  0.063  0.099  0.108  0.450  0.000      111
    charged_off   0.007  0.242  0.011  0.007  0.011  0.722  0.000      281
    paid_off           (no moves)                                        0

Rolls: current->1-30 0.0612 (0.0007); 1-30->31-60 0.0631 (0.0019); 31-60->61-90 0.2572
(0.0131); 61-90->91-120 0.2891 (0.0233); 91-120->charged_off 0.4505 (0.0472). Cures to current:
0.2529 (0.0034) from 1-30, 0.1588 (0.0110) from 31-60. The Aug->Sep pair differs from the rest
because of the Sep coding (see :mod:`sim.calibration.taiwan`): Apr->Aug only (``until=5``,
120,000 pairs) gives current->1-30 0.0493 (0.0007), 1-30->current 0.3020 (0.0041),
1-30->31-60 0.0613 (0.0022), 31-60->61-90 0.2903 (0.0162), 61-90->91-120 0.3022 (0.0275),
91-120->charged_off 0.4535 (0.0537); Aug->Sep alone (``since=5``, 30,000 pairs) gives
current->1-30 0.1106 (0.0020) and 1-30->current 0.0991 (0.0048). Calibrate on ``until=5``.
Payments in arrears partly clear in both files (e.g. 61-90 -> 1-30), so rows are not the pure
roll-or-cure of the lab's chain, and ``charged_off`` is not absorbing in either file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.calibration import bootstrap
from sim.calibration.states import (
    CURE_PAIRS,
    N_STATES,
    ROLL_PAIRS,
    STATE_DTYPE,
    STATE_INDEX,
    STATES,
)

__all__ = [
    "TransitionEstimate",
    "account_moves",
    "naive_forecast",
    "panel_transition_matrix",
    "shares_by_period",
    "transition_counts",
    "transition_matrix",
]


@dataclass(frozen=True, eq=False)
class TransitionEstimate:
    """A monthly transition matrix estimated from counts, with its standard errors.

    Attributes
    ----------
    states : tuple of str
        Row and column labels (the lab's seven states, in order).
    counts : ndarray of int64, shape (7, 7)
        ``counts[i, j]`` = observed moves from state i to state j in one month.
    row_totals : ndarray of int64, shape (7,)
        Observed moves out of each state (the denominators).
    probabilities : ndarray of float, shape (7, 7)
        ``counts / row_totals``; NaN on rows with no observation.
    standard_errors : ndarray of float, shape (7, 7)
        Binomial standard error ``sqrt(p (1 - p) / n)`` of each cell; 0 where p is 0 or 1
        (the Wald formula says nothing useful there: read the row total), NaN on empty rows.
    clustered_standard_errors : ndarray of float, shape (7, 7), or None
        Account-clustered standard errors (bootstrap over accounts,
        :func:`sim.calibration.bootstrap.clustered_transition_se`) where the moves' accounts
        are known (:func:`panel_transition_matrix`); None for bare counts.
    """

    states: tuple[str, ...]
    counts: np.ndarray
    row_totals: np.ndarray
    probabilities: np.ndarray
    standard_errors: np.ndarray
    clustered_standard_errors: np.ndarray | None = None

    def rate(self, from_state: str, to_state: str) -> tuple[float, float]:
        """Return ``(probability, standard error)`` of moving ``from_state -> to_state``."""
        i, j = STATE_INDEX[from_state], STATE_INDEX[to_state]
        return float(self.probabilities[i, j]), float(self.standard_errors[i, j])

    def roll_rates(self) -> dict[str, float]:
        """One-bucket-worse rates, ``current->1-30`` .. ``91-120->charged_off`` (NaN: no data)."""
        return {f"{a}->{b}": self.rate(a, b)[0] for a, b in ROLL_PAIRS}

    def cure_rates(self) -> dict[str, float]:
        """Back-to-current rates from each delinquency bucket: ``1-30->current``, ..."""
        return {f"{a}->{b}": self.rate(a, b)[0] for a, b in CURE_PAIRS}

    def probability_frame(self) -> pd.DataFrame:
        """The probabilities as a 7 x 7 frame (index: from, columns: to)."""
        return _square_frame(self.probabilities)

    def to_frame(self) -> pd.DataFrame:
        """Long form, one row per cell, for JSON or Parquet.

        Columns: ``from_state, to_state, count, row_total, probability, standard_error``.
        """
        from_idx, to_idx = np.divmod(np.arange(N_STATES * N_STATES), N_STATES)
        return pd.DataFrame(
            {
                "from_state": pd.Categorical.from_codes(from_idx, dtype=STATE_DTYPE),
                "to_state": pd.Categorical.from_codes(to_idx, dtype=STATE_DTYPE),
                "count": self.counts.ravel(),
                "row_total": self.row_totals[from_idx],
                "probability": self.probabilities.ravel(),
                "standard_error": self.standard_errors.ravel(),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists of Python numbers; NaN written as ``None``)."""
        out = {
            "states": list(self.states),
            "counts": self.counts.tolist(),
            "row_totals": self.row_totals.tolist(),
            "probabilities": _nan_to_none(self.probabilities),
            "standard_errors": _nan_to_none(self.standard_errors),
        }
        if self.clustered_standard_errors is not None:
            out["clustered_standard_errors"] = _nan_to_none(self.clustered_standard_errors)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransitionEstimate:
        """Rebuild an estimate from :meth:`to_dict` output (recomputed from the counts)."""
        if tuple(data.get("states", ())) != STATES:
            raise ValueError(f"states must be {list(STATES)}, got {data.get('states')!r}")
        clustered = data.get("clustered_standard_errors")
        if clustered is not None:
            clustered = np.array(clustered, dtype=float)  # None -> NaN
        return transition_matrix(np.asarray(data["counts"]), clustered)


def transition_counts(
    panel: pd.DataFrame, until: int | None = None, since: int | None = None
) -> pd.DataFrame:
    """Count one-month moves between states, within accounts, over consecutive periods only.

    Parameters
    ----------
    panel : DataFrame
        ``account_id, period, state`` as returned by :func:`~sim.calibration.panel.load_panel`
        (any row order).
    until : int, optional
        Last period a move may end in: only pairs with ``t + 1 <= until`` count (a training
        window that ends at ``until``).
    since : int, optional
        First period a move may start from: only pairs with ``t >= since`` count.

    Returns
    -------
    DataFrame of int64, shape (7, 7)
        Index ``from`` and columns ``to``, both the lab's states in order.
    """
    _, cells = account_moves(panel, until=until, since=since)
    counts = np.bincount(cells, minlength=N_STATES * N_STATES).reshape(N_STATES, N_STATES)
    return _square_frame(counts.astype(np.int64))


def account_moves(
    panel: pd.DataFrame, until: int | None = None, since: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The one-month moves of a panel: the account code and the cell ``from * 7 + to`` of each
    (consecutive periods of one account only; ``until`` and ``since`` as in
    :func:`transition_counts`)."""
    accounts, periods, states = _panel_arrays(panel)
    order = np.lexsort((periods, accounts))
    accounts, periods, states = accounts[order], periods[order], states[order]

    pair = (accounts[1:] == accounts[:-1]) & (periods[1:] == periods[:-1] + 1)
    if since is not None:
        pair &= periods[:-1] >= since
    if until is not None:
        pair &= periods[1:] <= until
    cells = states[:-1][pair] * N_STATES + states[1:][pair]
    return accounts[:-1][pair], cells


def panel_transition_matrix(
    panel: pd.DataFrame,
    until: int | None = None,
    since: int | None = None,
    resamples: int = bootstrap.RESAMPLES,
    seed: int = bootstrap.SEED,
) -> TransitionEstimate:
    """The transition matrix of a panel's moves with account-clustered standard errors.

    As :func:`transition_matrix` of :func:`transition_counts`, plus
    ``clustered_standard_errors`` from a bootstrap over accounts (``resamples`` resamples,
    fixed ``seed``: the same panel gives the same errors).
    """
    accounts, cells = account_moves(panel, until=until, since=since)
    counts = np.bincount(cells, minlength=N_STATES * N_STATES).reshape(N_STATES, N_STATES)
    clustered = bootstrap.clustered_transition_se(accounts, cells, N_STATES, resamples, seed)
    return transition_matrix(counts, clustered)


def transition_matrix(
    counts: pd.DataFrame | np.ndarray, clustered_se: np.ndarray | None = None
) -> TransitionEstimate:
    """Estimate probabilities and standard errors from a 7 x 7 table of counts.

    Parameters
    ----------
    counts : DataFrame or array-like, shape (7, 7)
        Output of :func:`transition_counts`, or non-negative integers in the lab's state order.
        A frame is aligned on its labels, so it may list the states in any order.
    clustered_se : ndarray, shape (7, 7), optional
        Account-clustered standard errors to carry (see :func:`panel_transition_matrix`).

    Returns
    -------
    TransitionEstimate
        Rows with no observation are NaN in ``probabilities`` and ``standard_errors``.
    """
    if isinstance(counts, pd.DataFrame):
        unknown = (set(counts.index) | set(counts.columns)) - set(STATES)
        if unknown:
            raise ValueError(f"unknown state label(s) {sorted(map(str, unknown))}; use {STATES}")
        counts = counts.reindex(index=list(STATES), columns=list(STATES), fill_value=0)
    table = np.asarray(counts)
    if table.shape != (N_STATES, N_STATES):
        raise ValueError(f"counts must be {N_STATES} x {N_STATES}, got shape {table.shape}")
    if not np.all(np.isfinite(table)) or np.any(table < 0) or np.any(table != np.round(table)):
        raise ValueError("counts must be non-negative integers")
    table = table.astype(np.int64)

    totals = table.sum(axis=1)
    n = np.where(totals > 0, totals, np.nan)[:, None]  # NaN rows instead of 0/0 warnings
    p = table / n
    se = np.sqrt(p * (1.0 - p) / n)
    return TransitionEstimate(
        states=STATES,
        counts=_frozen(table),
        row_totals=_frozen(totals),
        probabilities=_frozen(p),
        standard_errors=_frozen(se),
        clustered_standard_errors=None if clustered_se is None else _frozen(clustered_se),
    )


def shares_by_period(panel: pd.DataFrame) -> pd.DataFrame:
    """Share of the accounts observed in each period that are in each state.

    Parameters
    ----------
    panel : DataFrame
        ``account_id, period, state``.

    Returns
    -------
    DataFrame
        Index ``period`` (the periods present, ascending), columns the seven states; each row
        sums to 1. ``attrs["accounts"]`` holds the number of accounts per period.
    """
    _, periods, states = _panel_arrays(panel)
    labels, period_idx = np.unique(periods, return_inverse=True)
    counts = np.zeros((len(labels), N_STATES), dtype=np.int64)
    np.add.at(counts, (period_idx, states), 1)
    totals = counts.sum(axis=1)
    shares = pd.DataFrame(
        counts / totals[:, None],
        index=pd.Index(labels, name="period"),
        columns=pd.Index(STATES, name="state"),
    )
    shares.attrs["accounts"] = dict(zip(labels.tolist(), totals.tolist(), strict=True))
    return shares


def naive_forecast(
    panel: pd.DataFrame, train_until: int, horizon: int | None = None, window: int = 1
) -> pd.DataFrame:
    """Forecast the state shares after ``train_until`` with the last training matrix, held fixed.

    The baseline of a back-test: start from the observed shares in period ``train_until`` and
    apply, month after month, the matrix estimated on the moves of the last ``window`` training
    months (moves ending in ``train_until - window + 1 .. train_until``). A calibrated simulator
    is worth its keep only where it beats this.

    Parameters
    ----------
    panel : DataFrame
        ``account_id, period, state``.
    train_until : int
        Last period of the training data; must be a period present in the panel.
    horizon : int, optional
        Number of months to forecast; default: up to the last period in the panel.
    window : int
        Number of most recent training months whose moves estimate the matrix (1 = the last
        observed month-to-month matrix).

    Returns
    -------
    DataFrame
        Index ``period`` (``train_until + 1 ..``), columns the seven states, rows summing to 1:
        directly comparable with :func:`shares_by_period`.

    Notes
    -----
    The forecast is of the state mix of the accounts present at ``train_until``: accounts that
    enter later or leave the panel (``none`` months) are not modelled. A state with no observed
    move in the window keeps its share (an identity row), which is right for absorbing states.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 month, got {window}")
    shares = shares_by_period(panel)
    if train_until not in shares.index:
        raise ValueError(
            f"train_until={train_until} is not a period of the panel "
            f"(periods {shares.index.min()}..{shares.index.max()})"
        )
    if horizon is None:
        horizon = int(shares.index.max()) - train_until
    if horizon < 1:
        raise ValueError(f"nothing to forecast after period {train_until} (horizon {horizon})")

    counts = transition_counts(panel, since=train_until - window, until=train_until)
    p = transition_matrix(counts).probabilities
    empty = np.isnan(p).any(axis=1)
    p = np.where(empty[:, None], np.eye(N_STATES), p)

    current = shares.loc[train_until].to_numpy()
    rows = []
    for _ in range(horizon):  # a handful of 7-vector products: a loop is clearest here
        current = current @ p
        rows.append(current)
    return pd.DataFrame(
        np.vstack(rows),
        index=pd.Index(np.arange(train_until + 1, train_until + horizon + 1), name="period"),
        columns=pd.Index(STATES, name="state"),
    )


# --- helpers ---------------------------------------------------------------------------------


def _panel_arrays(panel: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return integer account codes, int64 periods and state indices (0..6) of a panel."""
    missing = {"account_id", "period", "state"} - set(panel.columns)
    if missing:
        raise ValueError(f"panel lacks column(s) {sorted(missing)}; see load_panel")
    state = panel["state"]
    if not (isinstance(state.dtype, pd.CategoricalDtype) and state.dtype == STATE_DTYPE):
        state = pd.Series(pd.Categorical(state, dtype=STATE_DTYPE), index=panel.index)
    codes = state.cat.codes.to_numpy()
    if (codes < 0).any():
        bad = panel["state"][codes < 0].iloc[0]
        raise ValueError(f"panel state {bad!r} is not one of {STATES}")
    accounts, _ = pd.factorize(panel["account_id"])
    return accounts, panel["period"].to_numpy(dtype=np.int64), codes.astype(np.int64)


def _square_frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        values,
        index=pd.Index(STATES, name="from"),
        columns=pd.Index(STATES, name="to"),
    )


def _frozen(values: np.ndarray) -> np.ndarray:
    values = np.array(values)  # own copy, then read-only: the dataclass is meant to be immutable
    values.setflags(write=False)
    return values


def _nan_to_none(values: np.ndarray) -> list[list[float | None]]:
    return [[None if np.isnan(v) else float(v) for v in row] for row in values]
