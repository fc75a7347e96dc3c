"""Comparisons with honest statistics: intervals per strategy, paired differences vs a champion.

For every variant, strategy and KPI:

* the mean over replications and its 95 % t-interval (``mean +- t * sd / sqrt(n)``);
* the *paired* difference against the champion: ``d_r = x_strategy,r - x_champion,r`` for the
  replications ``r`` both share (same seed, so the same borrowers and the same luck: common
  random numbers), its mean and t-interval, and the win rate (share of replications where the
  strategy did better, in the KPI's good direction);
* for contrast, the *unpaired* (Welch) interval for the same difference, which is what one
  would get if the strategies had been run on independent books;
* the two-sided p-value of "no paired difference" and its Holm adjustment over the
  challengers of a variant (``p_holm``), so that with several challengers the chance of
  calling any of them different by luck stays at 5 %;
* a verdict in plain words: "not significant" whenever the paired interval contains 0, and a
  warning when a difference does not survive Holm's adjustment.

The statistics are :mod:`sim.statistics`; which way is better is the outcome registry's
(:mod:`sim.outcomes`).

Replications are the units: with uncertainty samples, a unit is ``(sample, replication)``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from postloan.formatting import format_diff
from postloan.storage.experiments import META_COLUMNS
from sim.outcomes import HEADLINE_KPIS, NOT_OUTCOMES, direction, objective
from sim.statistics import column_intervals, holm, paired_columns, welch_columns
from sim.statistics import verdict as judge

__all__ = ["HEADLINE_KPIS", "compare_cells", "direction", "headline", "kpi_columns", "verdict"]

#: Columns that are not KPIs (inputs, timing).
NOT_KPIS = frozenset({*META_COLUMNS, *NOT_OUTCOMES})


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
    """Whether the paired difference is significant, and what it means in words
    (:func:`sim.statistics.verdict`, with the KPI's direction and number format)."""
    if strategy == champion:
        return None, "champion"
    scale = max(abs(diff), abs(lo), abs(hi)) if math.isfinite(lo) else abs(diff)
    v = judge(
        strategy,
        champion,
        kpi,
        diff,
        lo,
        hi,
        n,
        direction(kpi),
        confidence,
        lambda x: format_diff(kpi, x, scale),
    )
    return v.significant, v.text


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
        unpaired_ci_high, width_ratio`` (unpaired width / paired width), ``p_value`` (paired
        t-test), ``p_holm`` (Holm-adjusted over the challengers), ``p_holm_all`` (over every
        challenger and KPI of the variant), ``p_adjusted`` (``p_holm`` on the priced
        objective, ``p_holm_all`` elsewhere), ``n_challengers``, ``significant`` (the paired
        interval excludes 0), ``significant_adjusted`` (and survives the adjustment) and
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
    higher = np.array([direction(k) != "lower" for k in kpis])
    rows = []
    for (vi, vlabel), vc in cells.groupby(["variant", "variant_label"], sort=True):
        mats = {
            s: vc[vc["strategy"] == s].set_index(unit)[kpis].astype(float)
            for s in order
            if (vc["strategy"] == s).any()
        }
        champ = mats.get(champion)
        for strat, m in mats.items():
            n, mean, sd, lo, hi = column_intervals(m.to_numpy(), confidence)
            paired = None
            if strat != champion and champ is not None:
                common = m.index.intersection(champ.index)
                if len(common):
                    x, y = m.loc[common].to_numpy(), champ.loc[common].to_numpy()
                    dn, dm, dlo, dhi, p, wr = paired_columns(x, y, higher, confidence)
                    _, ulo, uhi = welch_columns(m.to_numpy(), champ.to_numpy(), confidence)
                    paired = (dn, dm, dlo, dhi, ulo, uhi, wr, p)
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
                    dn, dm, dlo, dhi, ulo, uhi, wr, p = (float(a[j]) for a in paired)
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
                        p_value=p,
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
                        p_value=math.nan,
                        significant=None,
                        verdict="champion" if strat == champion else "no paired replications",
                    )
                rows.append(row)
    table = pd.DataFrame(rows)
    table["n_challengers"] = table.groupby(["variant", "kpi"])["p_value"].transform("count")
    return _with_holm(table, confidence)


def _with_holm(table: pd.DataFrame, confidence: float) -> pd.DataFrame:
    """Holm-adjusted p-values, two families per variant, and a note in the verdicts they change.

    * ``p_holm``: over the challengers, KPI by KPI (the family of comparisons against one
      champion on one KPI); it decides the priced objective (:func:`sim.outcomes.objective`).
    * ``p_holm_all``: over every challenger and KPI of the variant (the family of the per-KPI
      details; with six strategies and 130 KPIs that is 650 tests, each otherwise at 5 %).

    ``p_adjusted`` is ``p_holm`` on the objective and ``p_holm_all`` elsewhere;
    ``significant_adjusted`` is ``significant`` and ``p_adjusted <= 1 - confidence``.
    """
    if table.empty:
        return table

    def adjust(p: pd.Series) -> pd.Series:
        return pd.Series(holm(p.to_numpy(dtype=float)), index=p.index)

    table["p_holm"] = table.groupby(["variant", "kpi"], sort=False)["p_value"].transform(adjust)
    table["p_holm_all"] = table.groupby("variant", sort=False)["p_value"].transform(adjust)
    objective_row = table["kpi"] == objective()
    table["p_adjusted"] = table["p_holm"].where(objective_row, table["p_holm_all"])
    alpha = 1 - confidence
    sig = table["significant"] == True  # noqa: E712 (None, True or False)
    table["significant_adjusted"] = (sig & (table["p_adjusted"] <= alpha)).astype(object)
    table.loc[table["significant"].isna(), "significant_adjusted"] = None
    tests = table.groupby("variant")["p_value"].transform(lambda p: int(p.notna().sum()))
    lost = sig & (table["p_adjusted"] > alpha)
    if lost.any():
        notes = []
        for i in table.index[lost]:
            family = (
                f"{int(table.at[i, 'n_challengers'])} challengers"
                if objective_row[i]
                else f"{int(tests[i])} comparisons"
            )
            notes.append(
                f"{table.at[i, 'verdict']}; not significant after Holm's adjustment over "
                f"{family} (adjusted p {table.at[i, 'p_adjusted']:.3f})"
            )
        table.loc[lost, "verdict"] = notes
    return table


def headline(table: pd.DataFrame, kpis: list[str] | None = None) -> pd.DataFrame:
    """The rows of the headline KPIs, in headline order."""
    kpis = list(kpis or HEADLINE_KPIS)
    sub = table[table["kpi"].isin(kpis)].copy()
    sub["_k"] = sub["kpi"].map({k: i for i, k in enumerate(kpis)})
    return sub.sort_values(["variant", "_k"], kind="stable").drop(columns="_k")
