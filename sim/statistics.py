"""Statistics of replications, once: intervals, paired differences, winning, Holm's adjustment.

Replications are the units. With common random numbers (the same seed gives every strategy the
same borrowers and the same luck) two strategies are compared *paired*: on the differences
``d_r = x_r - y_r`` of the replications they share, whose spread is far smaller than the spread
of either, so the interval is narrower (the Welch interval, which ignores the pairing, is kept
for contrast).

* :func:`mean_interval`, :func:`column_intervals`: a mean and its Student t-interval
  (``mean +- t(1 - a/2, n - 1) sd / sqrt(n)``).
* :func:`paired_difference`, :func:`paired_columns`: the paired difference, its t-interval,
  the two-sided p-value of "no difference" and the share of replications won.
* :func:`welch_interval`, :func:`welch_columns`: the unpaired (Welch) interval.
* :func:`holm`: Holm's step-down adjustment of p-values for several comparisons at once
  (every challenger against the champion), which controls the family-wise error rate without
  assuming independence.
* :func:`verdict`: what a paired difference and its interval mean in words (better, worse,
  not significant), the one place every verdict of the lab (comparison tables, reports, the
  optimiser's verification) is decided.

Used by ``postloan`` (comparison tables, verdicts, reports) and by the optimiser's verification;
it lives in ``sim`` so that both can use it with dependencies pointing one way. scipy is
imported inside the functions that need its t distribution, so importing this module is cheap.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def t_quantile(q: float | np.ndarray, df: float | np.ndarray) -> np.ndarray:
    """Quantile ``q`` of Student's t with ``df`` degrees of freedom (scipy's)."""
    from scipy import stats

    return stats.t.ppf(q, df)


def _t_sf(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.t.sf(t, df)


@dataclass(frozen=True)
class Interval:
    """A mean with its t-interval (NaN bounds with fewer than 2 finite values)."""

    n: int
    mean: float
    sd: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedDifference:
    """``mean(x - y)`` over shared replications, its interval, p-value and share won."""

    n: int
    diff: float
    low: float
    high: float
    p_value: float
    win_rate: float


def column_intervals(x: np.ndarray, confidence: float = 0.95):
    """Per column of a (units x columns) array: ``n, mean, sd, low, high``, NaNs skipped.

    Returns
    -------
    tuple of ndarray
        ``n`` (finite values), ``mean``, ``sd`` (ddof 1), and the t-interval bounds; ``sd`` and
        the bounds are NaN where ``n < 2``.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    ok = np.isfinite(x)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        xx = np.where(ok, x, np.nan)
        mean = np.nanmean(xx, axis=0)
        sd = np.where(n >= 2, np.nanstd(xx, axis=0, ddof=1), np.nan)
        t = t_quantile(0.5 + confidence / 2, np.maximum(n - 1, 1))
        half = np.where(n >= 2, t * sd / np.sqrt(np.maximum(n, 1)), np.nan)
    return n, mean, sd, mean - half, mean + half


def mean_interval(x, confidence: float = 0.95) -> Interval:
    """Mean, sd and t-interval of the finite values of ``x``."""
    n, m, sd, lo, hi = column_intervals(np.asarray(x, dtype=float).ravel(), confidence)
    return Interval(int(n[0]), float(m[0]), float(sd[0]), float(lo[0]), float(hi[0]))


def p_values(mean: np.ndarray, sd: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Two-sided one-sample t-test p-values of "the true mean is 0".

    Zero spread gives 1 for a zero mean and 0 otherwise; fewer than 2 values give NaN.
    """
    mean, sd, n = (np.asarray(a, dtype=float) for a in (mean, sd, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        se = sd / np.sqrt(np.maximum(n, 1))
        t = np.abs(mean) / se
        p = 2 * _t_sf(np.where(np.isfinite(t), t, 0.0), np.maximum(n - 1, 1))
    p = np.where(se == 0, np.where(mean == 0, 1.0, 0.0), p)
    return np.where((n >= 2) & np.isfinite(mean), p, np.nan)


def paired_columns(
    x: np.ndarray, y: np.ndarray, higher_is_better: np.ndarray | bool, confidence: float = 0.95
):
    """Paired differences ``x - y`` per column of two aligned (units x columns) arrays.

    Returns
    -------
    tuple of ndarray
        ``n, diff, low, high, p_value, win_rate``; ``win_rate`` is the share of units where
        ``x`` did strictly better than ``y`` in the column's good direction (a tie is not a
        win); NaN where no unit is shared.
    """
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    if d.ndim == 1:
        d = d[:, None]
    n, m, sd, lo, hi = column_intervals(d, confidence)
    p = p_values(m, sd, n)
    higher = np.broadcast_to(np.asarray(higher_is_better, dtype=bool), (d.shape[1],))
    with np.errstate(invalid="ignore"):
        wins = np.where(higher, d > 0, d < 0) & np.isfinite(d)
    win_rate = np.where(n > 0, wins.sum(axis=0) / np.maximum(n, 1), np.nan)
    return n, m, lo, hi, p, win_rate


def paired_difference(
    x, y, higher_is_better: bool = True, confidence: float = 0.95
) -> PairedDifference:
    """The paired difference of two aligned 1-D samples (see :func:`paired_columns`)."""
    n, m, lo, hi, p, w = paired_columns(
        np.asarray(x, float).ravel(), np.asarray(y, float).ravel(), higher_is_better, confidence
    )
    return PairedDifference(int(n[0]), float(m[0]), float(lo[0]), float(hi[0]), float(p[0]),
                            float(w[0]))  # fmt: skip


def welch_columns(x: np.ndarray, y: np.ndarray, confidence: float = 0.95):
    """Per column, the Welch t-interval of ``mean(x) - mean(y)`` (independent samples).

    Returns
    -------
    tuple of ndarray
        ``diff, low, high``.
    """
    nx, mx, sx, _, _ = column_intervals(x, confidence)
    ny, my, sy, _, _ = column_intervals(y, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        vx, vy = sx**2 / nx, sy**2 / ny
        se = np.sqrt(vx + vy)
        df = (vx + vy) ** 2 / (vx**2 / (nx - 1) + vy**2 / (ny - 1))
        df = np.where(np.isfinite(df) & (df > 0), df, 1.0)
        half = t_quantile(0.5 + confidence / 2, df) * se
        half = np.where(se == 0, 0.0, half)
    d = mx - my
    return d, d - half, d + half


def welch_interval(x, y, confidence: float = 0.95) -> tuple[float, float, float]:
    """``mean(x) - mean(y)`` and its Welch t-interval (NaN bounds with < 2 values a side)."""
    d, lo, hi = welch_columns(np.asarray(x, float).ravel(), np.asarray(y, float).ravel(),
                              confidence)  # fmt: skip
    return float(d[0]), float(lo[0]), float(hi[0])


def holm(p: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaNs stay NaN and do not count as tests).

    Sorted ascending, ``p_(i)`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))`` for the
    ``m`` finite p-values; rejecting where the adjusted value is at most ``alpha`` controls the
    family-wise error rate at ``alpha`` (Holm 1979).
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return out
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(p[idx], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def relative(diff: float, reference: float) -> float:
    """``diff / |reference|`` (NaN for a zero reference)."""
    return diff / abs(reference) if reference else math.nan


@dataclass(frozen=True)
class Verdict:
    """What a paired difference means.

    Attributes
    ----------
    significant : bool or None
        The interval excludes 0 (None: no interval, or the champion itself).
    word : str
        ``better`` or ``worse`` (a KPI with a better direction), ``higher`` or ``lower`` (one
        without), ``not significant`` (the interval contains 0), ``no difference`` (identical
        in every replication) or ``too few`` (fewer than 2 paired replications).
    text : str
        The verdict in one sentence.
    """

    significant: bool | None
    word: str
    text: str


def _signed(x: float) -> str:
    return f"{x:+,.4g}"


def verdict(
    subject: str,
    reference: str,
    what: str,
    diff: float,
    low: float,
    high: float,
    n: int,
    direction: str = "neutral",
    confidence: float = 0.95,
    fmt: Callable[[float], str] | None = None,
) -> Verdict:
    """The verdict on ``subject - reference`` in ``what``: its sign, its interval, in words.

    Parameters
    ----------
    subject, reference : str
        The two things compared (``risk_based`` against ``standard``).
    what : str
        The KPI's name as the sentence should show it.
    diff, low, high : float
        Mean paired difference and its interval.
    n : int
        Paired replications.
    direction : str
        ``higher`` or ``lower`` is better, or ``neutral``.
    fmt : callable, optional
        Formats a signed difference (with its unit); default: 4 significant digits.

    Returns
    -------
    Verdict
        Significant exactly when the interval lies wholly above or wholly below 0, whatever the
        direction: an interval below 0 is a significant difference (worse where higher is
        better), never "includes 0".
    """
    fmt = fmt or _signed
    pct = f"{confidence:.0%}"
    if n < 2 or not (math.isfinite(low) and math.isfinite(high)):
        return Verdict(None, "too few", f"{n} paired replication(s): too few for an interval")
    if diff == 0 and low == 0 and high == 0:
        return Verdict(False, "no difference", "no difference: identical in every replication")
    interval = f"{pct} interval {fmt(low)} to {fmt(high)}"
    if low <= 0 <= high:
        return Verdict(
            False,
            "not significant",
            f"not significant: {subject} vs {reference} differs by {fmt(diff)} on {what}, "
            f"but the {interval} contains 0",
        )
    if direction in ("higher", "lower"):
        word = "better" if (diff > 0) == (direction == "higher") else "worse"
    else:
        word = "higher" if diff > 0 else "lower"
    return Verdict(
        True, word, f"{subject} is {word} than {reference} on {what} by {fmt(diff)} ({interval})"
    )
