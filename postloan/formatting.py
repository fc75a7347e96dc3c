"""Numbers for people: KPI values and differences as tables and CSV files show them.

Rates are percentages (differences in percentage points), money and counts carry thousands
separators. Files meant for machines (JSON, Parquet) keep full precision; files meant for
people (``comparison.csv``) are rounded with :func:`round_for_people`.
"""

from __future__ import annotations

import math

import pandas as pd

from sim.outcomes import is_rate


def format_value(kpi: str, x: float | None) -> str:
    """A KPI value for people: rates as percentages, money and counts with separators."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if is_rate(kpi):
        return f"{x:.2%}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.3g}"


def format_diff(kpi: str, x: float, scale: float) -> str:
    """A signed difference, with precision chosen from ``scale`` (the largest magnitude shown
    alongside), rates in percentage points."""
    if not math.isfinite(x):
        return "n/a"
    if is_rate(kpi):
        return f"{100 * x:+.2f} pp"
    if scale >= 100:
        return f"{x:+,.0f}"
    if scale >= 1:
        return f"{x:+,.2f}"
    return f"{x:+.3g}"


def format_number(x: object) -> str:
    """A table cell: integers with separators, floats without scientific notation (two
    decimals at most from 1 up, six significant digits below 1), everything else as text."""
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return str(x)
        if x == int(x) and abs(x) < 1e15:
            return f"{int(x):,}"
        if abs(x) >= 1:
            text = f"{x:,.2f}"
        else:
            text = f"{x:.6g}" if abs(x) >= 1e-4 else f"{x:.{6 - math.floor(math.log10(abs(x)))}f}"
            if "e" in text:  # pragma: no cover - guarded above
                text = f"{x:.12f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return str(x)


def _round_column(kpis: pd.Series, values: pd.Series) -> pd.Series:
    """Rates to 6 decimals (0.0001 pp), other KPIs to 2 decimals (cents)."""
    rate = kpis.map(is_rate).astype(bool)
    return values.where(~rate, values.round(6)).where(rate, values.round(2))


#: Columns of a comparison table that hold KPI values or differences.
VALUE_COLUMNS = (
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "diff",
    "diff_ci_low",
    "diff_ci_high",
    "unpaired_ci_low",
    "unpaired_ci_high",
)


def round_for_people(table: pd.DataFrame) -> pd.DataFrame:
    """A comparison table rounded for a CSV file meant for people: KPI values to cents (rates
    to 6 decimals), probabilities and ratios to 4 decimals."""
    if table.empty or "kpi" not in table:
        return table
    out = table.copy()
    for c in VALUE_COLUMNS:
        if c in out:
            out[c] = _round_column(out["kpi"], out[c].astype(float))
    for c in ("win_rate", "width_ratio", "p_value", "p_holm", "p_holm_all", "p_adjusted"):
        if c in out:
            out[c] = out[c].astype(float).round(4)
    return out
