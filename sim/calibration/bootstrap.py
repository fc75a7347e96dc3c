"""The bootstrap over accounts: resampling whole account histories, vectorised.

An account contributes many monthly moves, and its moves are alike (an account that misses once
tends to miss again), so moves are not independent draws and the binomial standard error
``sqrt(p (1 - p) / n)`` understates the sampling error of a transition rate. Resampling
accounts (with replacement, each with all of its moves) keeps that dependence. Every statistic
here is a sum over accounts, so a resample is a weight vector over accounts and the statistics
of ``B`` resamples are one sparse matrix product: no Python loop over accounts.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Resamples and seed of every account bootstrap of the calibration (fixed: reproducible).
RESAMPLES = 300
SEED = 17
#: Resamples drawn at once (memory: CHUNK x accounts integers).
CHUNK = 50


def account_weights(accounts: int, resamples: int = RESAMPLES, seed: int = SEED):
    """Yield ``(chunk, accounts)`` arrays of bootstrap weights: how often each account is drawn
    in each resample (``accounts`` draws with replacement), ``resamples`` rows in all."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < resamples:
        b = min(CHUNK, resamples - done)
        draws = rng.integers(0, accounts, size=(b, accounts))
        offsets = (np.arange(b, dtype=np.int64) * accounts)[:, None]
        yield np.bincount((draws + offsets).ravel(), minlength=b * accounts).reshape(b, accounts)
        done += b


def per_account(accounts: np.ndarray, columns: np.ndarray, n_columns: int) -> sp.csr_matrix:
    """Sparse ``(n_accounts, n_columns)`` counts: how often account ``a`` scores column ``c``.

    ``accounts`` are integer codes ``0 .. n_accounts - 1`` (one per event), ``columns`` the
    column of each event (e.g. a transition cell ``from * 7 + to``).
    """
    n_accounts = int(accounts.max()) + 1 if accounts.size else 0
    data = np.ones(accounts.size, dtype=np.float64)
    return sp.csr_matrix((data, (accounts, columns)), shape=(n_accounts, n_columns))


def resampled_sums(
    design: sp.csr_matrix, resamples: int = RESAMPLES, seed: int = SEED
) -> np.ndarray:
    """``(resamples, n_columns)``: the column sums of ``design`` in each bootstrap resample of
    its rows (accounts)."""
    out = []
    design_t = design.T.tocsr()
    for w in account_weights(design.shape[0], resamples, seed):
        out.append(np.asarray(design_t @ w.T.astype(np.float64)).T)
    return np.vstack(out) if out else np.zeros((0, design.shape[1]))


def clustered_transition_se(
    accounts: np.ndarray,
    cells: np.ndarray,
    n_states: int,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> np.ndarray:
    """Account-clustered standard errors of every transition probability.

    Parameters
    ----------
    accounts : ndarray of int
        Account code of each move.
    cells : ndarray of int
        ``from * n_states + to`` of each move.

    Returns
    -------
    ndarray, shape (n_states, n_states)
        The standard deviation over resamples of ``counts[i, j] / row_total[i]`` (resamples in
        which row ``i`` is empty left out); NaN on rows with no move.
    """
    if cells.size == 0:
        return np.full((n_states, n_states), np.nan)
    sums = resampled_sums(per_account(accounts, cells, n_states * n_states), resamples, seed)
    sums = sums.reshape(-1, n_states, n_states)
    totals = sums.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(totals > 0, sums / np.where(totals > 0, totals, 1.0), np.nan)
    se = np.full((n_states, n_states), np.nan)
    seen = np.isfinite(p).sum(axis=0) > 1
    se[seen] = np.nanstd(p[:, seen], axis=0, ddof=1)
    return se
