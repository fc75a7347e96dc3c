"""The acceptance criterion of a calibration, stated once: which transition cells the data can
judge, whether a simulated rate is within what the data allow, and when a fit passes.

Used by ``calibrate`` (the fit's cells and the fresh-seed check), ``backtest`` (the training
fit), the tests and the docs (docs/calibration.md, "Acceptance").

*Scale.* A cell is judged on the log-odds scale: ``error = logit(p_sim) - logit(p_obs)``. Monthly
transition rates run from 0.01 % to 95 %; an absolute band (the former ``max(2 pp, 3 SE)``) is
almost the whole rate for a 2 % cell and a sliver for a 50 % one, while the standard error of a
log-odds is about ``1 / sqrt(events)``, so one rule holds rare and common moves to the same
relative precision of their data. Proportions enter the logit with half a count added
(``(k + 0.5) / (n + 1)``, the empirical logit), which keeps a cell with no move finite.

*Standard errors.* Observed: the account-clustered standard error of the proportion (bootstrap
over accounts, :mod:`sim.calibration.bootstrap`) as a design effect ``deff = (se_clustered /
se_binomial)**2`` on the empirical-logit variance ``1 / (k + 0.5) + 1 / (n - k + 0.5)``; where
no clustered error is known (bare counts) or the cell is 0 or 1, ``deff = 1``. Simulated: the
standard error a simulation of ``n_sim`` moves would have *if the model were right*, i.e. at the
observed rate, ``sqrt(deff_sim / (n_sim p_obs (1 - p_obs)))``, with the simulated book's own
design effect where its accounts were kept (the fresh-seed check) and the observed one
otherwise. Computed at the observed rate, a simulation cannot widen its own tolerance by
emptying a row or by putting a cell at 0 (a zero-count logit's own error is huge).

*Within.* ``|error| <= Z * sqrt(se_obs**2 + se_sim**2)`` (:data:`Z` = 3).

*Assessable.* Only cells the data can falsify count: a cell is assessable when its row has at
least ``min_row_count`` moves and the criterion, with the simulated error at its ceiling
(``se_sim = se_obs``: the check book is sized so, :func:`needed_accounts`), rejects both half
and double the observed rate. In log-odds half and double are ``log((2 - p) / (1 - p))`` and
``log(2 (1 - p) / (1 - 2 p))`` away (double is impossible above 50 %): a cell needs about 40
clustered-effective events. Every other cell is "not assessable", never "within".

*Pass.* A simulation passes when at least :data:`PASS_SHARE` (90 %) of the assessable cells are
within and every assessable cell of the ``1-30`` row is (:func:`verdict`); a fit passes when
each of its fresh seeds does (:func:`passes`). No slack anywhere else (tests included).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.calibration.states import STATES
from sim.calibration.transitions import TransitionEstimate

N = len(STATES)
#: Standard errors of the difference a cell may be off.
Z = 3.0
#: Share of the assessable cells that must be within on every seed.
PASS_SHARE = 0.9
#: The row every assessable cell of which must be within.
KEY_ROW = "1-30"
#: One line for reports and scenario headers.
DESCRIPTION = (
    f"log-odds error within {Z:g} account-clustered SE of the difference; a cell counts only "
    "where this rejects half and double its observed rate (assessable); pass: >= "
    f"{PASS_SHARE:.0%} of assessable cells within and every assessable cell of the {KEY_ROW} row"
)

STATUS_WITHIN = "within"
STATUS_OUTSIDE = "outside"
STATUS_NOT_ASSESSABLE = "not assessable"


def _logit(p):
    return np.log(p) - np.log1p(-p)


def _expit(x):
    return 1.0 / (1.0 + np.exp(-x))


def design_effects(estimate: TransitionEstimate) -> np.ndarray:
    """``(se_clustered / se_binomial)**2`` per cell; 1 where either is unknown or zero."""
    out = np.ones((N, N))
    c = estimate.clustered_standard_errors
    if c is None:
        return out
    b = estimate.standard_errors
    ok = np.isfinite(c) & np.isfinite(b) & (b > 0)
    out[ok] = (c[ok] / b[ok]) ** 2
    return out


def observed_logit_se(estimate: TransitionEstimate) -> np.ndarray:
    """Standard error of each cell's empirical logit, design effect included (NaN: empty row)."""
    k = estimate.counts.astype(float)
    n = estimate.row_totals.astype(float)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        var = 1.0 / (k + 0.5) + 1.0 / (n - k + 0.5)
    var = np.where(n > 0, var, np.nan)
    return np.sqrt(design_effects(estimate) * var)


def assessable(estimate: TransitionEstimate, min_row_count: int, z: float = Z) -> np.ndarray:
    """``(7, 7)`` bool: the cells the data can falsify (module docstring)."""
    n = estimate.row_totals.astype(float)[:, None]
    p = estimate.probabilities
    tol = z * np.sqrt(2.0) * observed_logit_se(estimate)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.log((2.0 - p) / (1.0 - p))
        double = np.where(p < 0.5, np.log(2.0 * (1.0 - p) / (1.0 - 2.0 * p)), np.inf)
        out = (n >= min_row_count) & (p > 0) & (p < 1) & (half > tol) & (double > tol)
    return np.asarray(out, dtype=bool)


def judge(
    empirical: TransitionEstimate,
    simulated: TransitionEstimate,
    min_row_count: int,
    z: float = Z,
) -> list[dict]:
    """Every cell of every observed row, judged (module docstring).

    Each dict: ``from``, ``to``, counts and proportions of both sides, ``error`` (simulated
    minus observed proportion), ``logit_error``, ``se_observed`` and ``se_simulated`` (log-odds),
    ``se_ratio`` (simulated over observed), ``tolerance`` (log-odds), ``band`` (the observed
    rate's acceptance band on the probability scale), ``assessed`` (assessable), ``within``
    (assessable and within) and ``status`` (``within``, ``outside``, ``not assessable``).
    """
    e, s = empirical, simulated
    ko, no = e.counts.astype(float), e.row_totals.astype(float)[:, None]
    ks, ns = s.counts.astype(float), s.row_totals.astype(float)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        po_adj = (ko + 0.5) / (no + 1.0)
        ps_adj = (ks + 0.5) / (ns + 1.0)
        lo, ls = _logit(po_adj), _logit(ps_adj)
        se_o = observed_logit_se(e)
        deff_s = np.where(s.clustered_standard_errors is None, design_effects(e), design_effects(s))
        se_s = np.sqrt(deff_s / (ns * po_adj * (1.0 - po_adj)))
    se = np.hypot(se_o, se_s)
    tol = z * se
    ok = assessable(e, min_row_count, z)
    out = []
    for i, a in enumerate(STATES):
        if e.row_totals[i] == 0:
            continue
        for j, b in enumerate(STATES):
            visited = s.row_totals[i] > 0
            err = float(s.probabilities[i, j] - e.probabilities[i, j]) if visited else np.nan
            lerr = float(ls[i, j] - lo[i, j]) if visited else np.nan
            inside = bool(visited and abs(lerr) <= tol[i, j])
            status = (
                STATUS_NOT_ASSESSABLE
                if not ok[i, j]
                else (STATUS_WITHIN if inside else STATUS_OUTSIDE)
            )
            out.append(
                {
                    "from": a,
                    "to": b,
                    "row_count": int(e.row_totals[i]),
                    "count": int(e.counts[i, j]),
                    "simulated_row_count": int(s.row_totals[i]),
                    "empirical": float(e.probabilities[i, j]),
                    "simulated": float(s.probabilities[i, j]) if visited else np.nan,
                    "error": err,
                    "logit_error": lerr,
                    "se_observed": float(se_o[i, j]),
                    "se_simulated": float(se_s[i, j]) if visited else np.nan,
                    "se_ratio": float(se_s[i, j] / se_o[i, j]) if visited else np.nan,
                    "tolerance": float(tol[i, j]) if visited else np.nan,
                    "band": [
                        float(_expit(lo[i, j] - tol[i, j])) if visited else np.nan,
                        float(_expit(lo[i, j] + tol[i, j])) if visited else np.nan,
                    ],
                    "assessed": bool(ok[i, j]),
                    "within": bool(ok[i, j] and inside),
                    "status": status,
                }
            )
    return out


def cell_name(cell: dict) -> str:
    return f"{cell['from']}->{cell['to']}"


def verdict(cells: Sequence[dict]) -> dict:
    """Assessable cells, how many are within, the failing ones by name, the worst cell (its
    log-odds error as a multiple of its tolerance) and whether the simulation passes."""
    assessed = [c for c in cells if c["assessed"]]

    def ratio(c):
        return abs(c["logit_error"]) / c["tolerance"] if np.isfinite(c["logit_error"]) else np.inf

    worst = max(assessed, key=ratio, default=None)
    within = sum(c["within"] for c in assessed)
    failing = [cell_name(c) for c in assessed if not c["within"]]
    key_row = all(c["within"] for c in assessed if c["from"] == KEY_ROW)
    share = within / len(assessed) if assessed else 0.0
    return {
        "assessed_cells": len(assessed),
        "not_assessable_cells": len(cells) - len(assessed),
        "cells_within_tolerance": int(within),
        "share_within": float(share),
        "all_within_tolerance": bool(assessed) and within == len(assessed),
        "key_row_within": bool(key_row),
        "passed": bool(assessed) and share >= PASS_SHARE and key_row,
        "failing_cells": failing,
        "max_error_over_tolerance": 0.0 if worst is None else float(ratio(worst)),
        "worst_cell": None
        if worst is None
        else (
            f"{cell_name(worst)} ({worst['simulated']:.4f} vs {worst['empirical']:.4f}, "
            f"{ratio(worst):.2f} x tolerance)"
        ),
        "max_se_ratio": float(max((c["se_ratio"] for c in assessed), default=np.nan)),
    }


def passes(verdicts: Sequence[dict]) -> bool | None:
    """A fit passes when every fresh seed's :func:`verdict` does (None: no check was run)."""
    return None if not verdicts else all(v["passed"] for v in verdicts)


def needed_accounts(
    empirical: TransitionEstimate,
    simulated: TransitionEstimate,
    accounts: int,
    min_row_count: int,
    z: float = Z,
) -> int:
    """Accounts a check book needs so that the simulated standard error is no larger than the
    observed one in every assessable cell.

    ``simulated`` is a simulation of the same book design with ``accounts`` accounts (its row
    totals scale with the accounts). With the observed design effect for the simulation (the
    conservative case: a calibration book follows an account 4 months, a panel up to 61),
    ``se_sim <= se_obs`` needs ``n_sim >= 1 / (p (1 - p) var_obs)`` moves in each assessable
    cell's row, where ``var_obs`` is the observed empirical-logit variance without its design
    effect.
    """
    ok = assessable(empirical, min_row_count, z)
    if not ok.any():
        return int(accounts)
    k = empirical.counts.astype(float)
    n = empirical.row_totals.astype(float)[:, None]
    p = (k + 0.5) / (n + 1.0)
    var = 1.0 / (k + 0.5) + 1.0 / (n - k + 0.5)
    need_moves = 1.0 / (p * (1.0 - p) * var)  # per cell, moves of its row
    per_account = simulated.row_totals.astype(float)[:, None] / float(accounts)
    with np.errstate(divide="ignore"):
        need = np.where(ok, need_moves / per_account, 0.0)
    if not np.all(np.isfinite(need)):
        raise ValueError("the simulated book never visits an assessable row")
    return int(max(accounts, np.ceil(need.max())))


class CalibrationError(ValueError):
    """A calibration the data cannot support (nothing assessable where the fit needs it); the
    message says what is missing. A ``ValueError`` so that callers that catch input errors
    keep working; the CLI maps it to exit code 1 (see docs/calibration.md)."""


def check_identifiable(empirical: TransitionEstimate, min_row_count: int, z: float = Z) -> None:
    """Refuse a fit the data cannot identify.

    The delinquent behaviour (cures, stays, rolls) is read off the ``1-30`` row: without an
    assessable cell there the fitted repayment parameters would be set by the prior alone and
    a verdict over the other rows would say nothing about them.

    Raises
    ------
    CalibrationError
        No assessable cell at all, or none in the ``1-30`` row; the message gives the row's
        moves and what an assessable cell needs.
    """
    ok = assessable(empirical, min_row_count, z)
    rows = {s: int(empirical.row_totals[i]) for i, s in enumerate(STATES)}
    key = STATES.index(KEY_ROW)
    if ok.any() and ok[key].any():
        return
    what = "no transition cell" if not ok.any() else f"no cell of the {KEY_ROW} row"
    leaving = rows[KEY_ROW] - int(empirical.counts[key, key])
    raise CalibrationError(
        f"the panel cannot identify the borrower behaviour: {what} is assessable (row "
        f"{KEY_ROW}: {rows[KEY_ROW]:,} moves, {leaving:,} leaving it; a cell needs a row of "
        f">= {min_row_count} moves and about 40 moves of its own for the data to reject half "
        "and double its rate). Moves per row: " + ", ".join(f"{s} {n:,}" for s, n in rows.items())
    )


def at_bounds(values: dict[str, float], params, tol: float = 1e-3) -> list[str]:
    """The fitted parameters within ``tol`` (on the unit cube) of a bound, as ``path (lower
    bound v)`` / ``path (upper bound v)``: the data pushed them as far as allowed."""
    out = []
    for p in params:
        u = p.to_unit(values[p.path])
        if u <= tol:
            out.append(f"{p.path} (lower bound {p.lower:g})")
        elif u >= 1.0 - tol:
            out.append(f"{p.path} (upper bound {p.upper:g})")
    return out
