"""Comparisons with honest statistics: intervals per strategy, paired differences vs a champion.

For every variant, strategy and KPI:

* the mean over replications and its 95 % t-interval (``mean +- t * sd / sqrt(n)``);
* the *paired* difference against the champion: ``d_r = x_strategy,r - x_champion,r`` for the
  replications ``r`` both share (same seed, so the same borrowers and the same luck: common
  random numbers), its mean and t-interval, and the win rate (share of replications where the
  strategy did better, in the KPI's good direction);
* for contrast, the *unpaired* (Welch) interval for the same difference, which is what one
  would get if the strategies had been run on independent books;
* a verdict in plain words: "not significant" whenever the paired interval contains 0.

Replications are the units: with uncertainty samples, a unit is ``(sample, replication)``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from postloan.results_store import META_COLUMNS

#: KPIs shown first (CLI, report) when the experiment names none.
HEADLINE_KPIS = (
    "net_recovery",
    "collected",
    "cost",
    "cure_rate",
    "delinquency_rate_30p",
    "npl_ratio_90p",
    "net_credit_loss",
    "churned",
    "lifetime_value_lost",
    "complaints",
    "compliance_breaches",
    "promises_kept",
)

_HIGHER = ("collected", "net_recovery", "cure_rate", "promises_kept", "restructures")
_LOWER = (
    "cost",
    "delinquency_rate",
    "npl_ratio",
    "charge_off",
    "net_credit_loss",
    "churned",
    "lifetime_value_lost",
    "complaints",
    "compliance_breaches",
    "new_delinquent",
    "promises_broken",
    "unserved",
    "monthly_new_delinquency_rate",
)
#: Columns that are not KPIs (inputs, timing).
NOT_KPIS = frozenset(
    {*META_COLUMNS, "accounts", "days", "shards", "wall_seconds", "account_days_per_second"}
)


def direction(kpi: str) -> str:
    """``higher`` or ``lower`` is better, or ``neutral``."""
    if kpi.startswith(_LOWER):
        return "lower"
    if kpi.startswith(_HIGHER):
        return "higher"
    return "neutral"


def kpi_columns(cells: pd.DataFrame) -> list[str]:
    """Every numeric KPI column of a cells table."""
    return [
        c
        for c in cells.columns
        if c not in NOT_KPIS
        and not c.startswith("param_")
        and pd.api.types.is_numeric_dtype(cells[c])
        and not pd.api.types.is_bool_dtype(cells[c])
    ]


def t_interval(x: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, sd and the t-interval of ``x`` (NaN interval when fewer than 2 values)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    m = float(x.mean())
    if n < 2:
        return m, math.nan, math.nan, math.nan
    sd = float(x.std(ddof=1))
    h = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return m, sd, m - h, m + h


def welch_interval(
    a: np.ndarray, b: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """Difference of means ``mean(a) - mean(b)`` and its Welch t-interval (independent samples)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return float(a.mean() - b.mean()) if a.size and b.size else math.nan, math.nan, math.nan
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    d = float(a.mean() - b.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return d, d, d
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    h = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return d, d - h, d + h


def _is_rate(kpi: str) -> bool:
    return "rate" in kpi or "ratio" in kpi or kpi.endswith("share")


def _fmt(kpi: str, x: float, scale: float) -> str:
    """A signed difference, with precision chosen from ``scale`` (the largest magnitude shown
    alongside), rates in percentage points."""
    if not math.isfinite(x):
        return "n/a"
    if _is_rate(kpi):
        return f"{100 * x:+.2f} pp"
    if scale >= 100:
        return f"{x:+,.0f}"
    if scale >= 1:
        return f"{x:+,.2f}"
    return f"{x:+.3g}"


def verdict(
    strategy: str,
    champion: str,
    kpi: str,
    diff: float,
    lo: float,
    hi: float,
    n: int,
    confidence: float = 0.95,
) -> tuple[bool | None, str]:
    """Whether the paired difference is significant, and what it means in words."""
    pct = f"{confidence:.0%}"
    if strategy == champion:
        return None, "champion"
    if n < 2 or not math.isfinite(lo):
        return None, f"{n} paired replication(s): too few for an interval"
    if diff == 0 and lo == 0 and hi == 0:
        return False, "no difference: identical in every replication"
    scale = max(abs(diff), abs(lo), abs(hi))
    interval = f"{pct} interval {_fmt(kpi, lo, scale)} to {_fmt(kpi, hi, scale)}"
    if lo <= 0 <= hi:
        return False, (
            f"not significant: {strategy} vs {champion} differs by "
            f"{_fmt(kpi, diff, scale)} on {kpi}, but the {interval} contains 0"
        )
    d = direction(kpi)
    if d == "neutral":
        word = "higher" if diff > 0 else "lower"
    else:
        better = (diff > 0) == (d == "higher")
        word = "better" if better else "worse"
    return True, (
        f"{strategy} is {word} than {champion} on {kpi} by {_fmt(kpi, diff, scale)} ({interval})"
    )


def _column_stats(x: np.ndarray, confidence: float):
    """Per-column n, mean, sd and t-interval of a (units x KPIs) array, NaN-aware."""
    ok = np.isfinite(x)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(np.where(ok, x, np.nan), axis=0)
        sd = np.nanstd(np.where(ok, x, np.nan), axis=0, ddof=1)
        sd = np.where(n >= 2, sd, np.nan)
        t = stats.t.ppf(0.5 + confidence / 2, np.maximum(n - 1, 1))
        half = np.where(n >= 2, t * sd / np.sqrt(np.maximum(n, 1)), np.nan)
    return n, mean, sd, mean - half, mean + half


def _welch_columns(a: np.ndarray, b: np.ndarray, confidence: float):
    """Per-column Welch interval of ``mean(a) - mean(b)`` (independent samples)."""
    na, ma, sa, _, _ = _column_stats(a, confidence)
    nb, mb, sb, _, _ = _column_stats(b, confidence)
    with np.errstate(invalid="ignore", divide="ignore"):
        va, vb = sa**2 / na, sb**2 / nb
        se = np.sqrt(va + vb)
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
        df = np.where(np.isfinite(df) & (df > 0), df, 1.0)
        half = stats.t.ppf(0.5 + confidence / 2, df) * se
        half = np.where(se == 0, 0.0, half)
    d = ma - mb
    return d - half, d + half


def compare_cells(
    cells: pd.DataFrame,
    champion: str | None = None,
    kpis: list[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """The comparison table of an experiment's cells.

    Parameters
    ----------
    cells : DataFrame
        One row per cell (``cells.parquet``).
    champion : str, optional
        Strategy the others are compared with (default: the first strategy).
    kpis : list of str, optional
        KPI columns (default: every numeric KPI).

    Returns
    -------
    DataFrame
        One row per (variant, strategy, KPI): ``n, mean, sd, ci_low, ci_high``; against the
        champion ``diff, diff_ci_low, diff_ci_high, win_rate, unpaired_ci_low,
        unpaired_ci_high, width_ratio`` (unpaired width / paired width), ``significant`` and
        ``verdict``.
    """
    if cells.empty:
        return pd.DataFrame()
    order = (
        cells.sort_values("strategy_index")["strategy"].drop_duplicates().tolist()
        if "strategy_index" in cells
        else list(dict.fromkeys(cells["strategy"]))
    )
    champion = champion or order[0]
    if champion not in order:
        raise ValueError(f"champion {champion!r} is not among the strategies {order}")
    kpis = [k for k in (kpis or kpi_columns(cells)) if k in cells]
    unit = ["sample", "replication"] if "sample" in cells else ["replication"]
    lower = np.array([direction(k) == "lower" for k in kpis])
    rows = []
    for (vi, vlabel), vc in cells.groupby(["variant", "variant_label"], sort=True):
        mats = {
            s: vc[vc["strategy"] == s].set_index(unit)[kpis].astype(float)
            for s in order
            if (vc["strategy"] == s).any()
        }
        champ = mats.get(champion)
        for strat, m in mats.items():
            n, mean, sd, lo, hi = _column_stats(m.to_numpy(), confidence)
            paired = None
            if strat != champion and champ is not None:
                common = m.index.intersection(champ.index)
                if len(common):
                    d = m.loc[common].to_numpy() - champ.loc[common].to_numpy()
                    dn, dm, _dsd, dlo, dhi = _column_stats(d, confidence)
                    ulo, uhi = _welch_columns(m.to_numpy(), champ.to_numpy(), confidence)
                    with np.errstate(invalid="ignore"):
                        wins = np.where(lower, d < 0, d > 0) & np.isfinite(d)
                        win_rate = wins.sum(axis=0) / np.maximum(dn, 1)
                    paired = (dn, dm, dlo, dhi, ulo, uhi, np.where(dn > 0, win_rate, np.nan))
            for j, kpi in enumerate(kpis):
                row = {
                    "variant": int(vi),
                    "variant_label": vlabel,
                    "strategy": strat,
                    "champion": champion,
                    "kpi": kpi,
                    "direction": direction(kpi),
                    "n": int(n[j]),
                    "mean": float(mean[j]),
                    "sd": float(sd[j]),
                    "ci_low": float(lo[j]),
                    "ci_high": float(hi[j]),
                }
                if paired is not None:
                    dn, dm, dlo, dhi, ulo, uhi, wr = (float(a[j]) for a in paired)
                    pw, uw = dhi - dlo, uhi - ulo
                    sig, text = verdict(strat, champion, kpi, dm, dlo, dhi, int(dn), confidence)
                    row.update(
                        diff=dm,
                        diff_ci_low=dlo,
                        diff_ci_high=dhi,
                        win_rate=wr,
                        unpaired_ci_low=ulo,
                        unpaired_ci_high=uhi,
                        width_ratio=(uw / pw) if pw > 0 else math.nan,
                        significant=sig,
                        verdict=text,
                    )
                else:
                    row.update(
                        diff=0.0 if strat == champion else math.nan,
                        diff_ci_low=math.nan,
                        diff_ci_high=math.nan,
                        win_rate=math.nan,
                        unpaired_ci_low=math.nan,
                        unpaired_ci_high=math.nan,
                        width_ratio=math.nan,
                        significant=None,
                        verdict="champion" if strat == champion else "no paired replications",
                    )
                rows.append(row)
    return pd.DataFrame(rows)


def headline(table: pd.DataFrame, kpis: list[str] | None = None) -> pd.DataFrame:
    """The rows of the headline KPIs, in headline order."""
    kpis = list(kpis or HEADLINE_KPIS)
    sub = table[table["kpi"].isin(kpis)].copy()
    sub["_k"] = sub["kpi"].map({k: i for i, k in enumerate(kpis)})
    return sub.sort_values(["variant", "_k"], kind="stable").drop(columns="_k")


def format_value(kpi: str, x: float) -> str:
    """A KPI value for people: rates as percentages, money and counts with separators."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if _is_rate(kpi):
        return f"{x:.2%}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.3g}"
