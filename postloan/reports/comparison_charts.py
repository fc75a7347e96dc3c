"""The charts of the comparison report, as plain plotly figure dicts.

Every chart says what it shows: a title, axis titles with units (the scenario's currency for
money), the better direction where there is one, readable KPI names from the outcome registry
(:mod:`sim.outcomes`). Figures are plain dicts rendered with ``plotly.io.to_html(...,
validate=False)``, so ``plotly.graph_objects`` is never imported for a report.
"""

from __future__ import annotations

import math

import pandas as pd

from postloan.reports.html import BUCKETS, CHANNELS, COLS, PALETTE, nan_to_none
from postloan.reports.layout import better_text
from sim.outcomes import direction, label, unit

#: Shared layout: white background, room for axis titles, no plotly logo.
_LAYOUT = {
    "template": {"layout": {"paper_bgcolor": "white", "plot_bgcolor": "white"}},
    "margin": {"l": 70, "r": 20, "t": 60, "b": 60},
    "font": {"size": 12},
}
#: Titles on the left, clear of the tool bar on the right.
_TITLE = {"x": 0.01, "xanchor": "left", "font": {"size": 14}}
_AXIS = {"gridcolor": "#e5e5e5", "zerolinecolor": "#999", "automargin": True}


def figure_html(fig: dict) -> str:
    """One figure as an HTML fragment (plotly.js is inlined once by the page)."""
    import plotly.io as pio

    layout = {**_LAYOUT, **fig.get("layout", {})}
    for k, v in list(layout.items()):
        if k.startswith(("xaxis", "yaxis")):
            layout[k] = {**_AXIS, **v}
    return pio.to_html(
        {"data": fig.get("data", []), "layout": layout},
        full_html=False,
        include_plotlyjs=False,
        config={"displaylogo": False, "responsive": True},
        validate=False,
    )


def unit_suffix(kpi: str, currency: str, diff: bool = False) -> str:
    """`` (USD)``, `` (pp)`` for a difference of shares, `` (%)``, `` (accounts)``..."""
    u = unit(kpi, currency)
    if u == "%" and diff:
        u = "pp"
    return f" ({u})" if u else ""


def _scaled(kpi: str, xs) -> list:
    """Shares as percentage points (x 100), everything else as it is."""
    f = 100.0 if unit(kpi) == "%" else 1.0
    return nan_to_none([float(x) * f for x in xs])


def error_bars(centre: list, top: list, bottom: list) -> dict:
    """Asymmetric plotly error bars from interval bounds (None where a value is missing)."""

    def gap(a, b):
        return None if a is None or b is None else a - b

    return {
        "type": "data",
        "symmetric": False,
        "array": [gap(t, c) for t, c in zip(top, centre, strict=True)],
        "arrayminus": [gap(c, b) for b, c in zip(bottom, centre, strict=True)],
    }


def paired_difference_chart(comp: pd.DataFrame, kpi: str, champion: str, currency: str) -> dict:
    """One KPI: every challenger's paired difference from the champion with its 95 % interval
    (blue), the unpaired interval for contrast (grey), the zero line, the better direction."""
    sub = comp[(comp["kpi"] == kpi) & (comp["strategy"] != champion)]
    x = list(sub["strategy"])
    diff = _scaled(kpi, sub["diff"])
    hi, lo = _scaled(kpi, sub["diff_ci_high"]), _scaled(kpi, sub["diff_ci_low"])
    uhi, ulo = _scaled(kpi, sub["unpaired_ci_high"]), _scaled(kpi, sub["unpaired_ci_low"])

    u = unit_suffix(kpi, currency, diff=True)
    arrow = {"higher": "↑ better", "lower": "↓ better"}.get(direction(kpi), "")
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": x,
                "y": diff,
                "name": "unpaired interval (for contrast)",
                "marker": {"color": "#bbbbbb", "size": 1},
                "error_y": {
                    **error_bars(diff, uhi, ulo),
                    "color": "#bbbbbb",
                    "thickness": 6,
                    "width": 0,
                },
                "hoverinfo": "skip",
            },
            {
                "type": "scatter",
                "mode": "markers",
                "x": x,
                "y": diff,
                "name": "paired difference, 95 % interval",
                "marker": {"color": PALETTE[0], "size": 10},
                "error_y": {**error_bars(diff, hi, lo), "color": PALETTE[0], "thickness": 2},
            },
        ],
        "layout": {
            "title": {**_TITLE, "text": f"{label(kpi)}{u}: {better_text(kpi)}"},
            "height": 300,
            "showlegend": False,
            "xaxis": {"title": {"text": "challenger"}},
            "yaxis": {"title": {"text": f"difference vs {champion}{u}"}},
            "shapes": [
                {
                    "type": "line",
                    "xref": "paper",
                    "x0": 0,
                    "x1": 1,
                    "y0": 0,
                    "y1": 0,
                    "line": {"color": "#444", "width": 1, "dash": "dash"},
                }
            ],
            "annotations": [
                {
                    "text": arrow,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 1,
                    "y": 1.02,
                    "xanchor": "right",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"color": "#0a6b2d", "size": 12},
                }
            ]
            if arrow
            else [],
        },
    }


def delinquency_lines(dailies: dict[str, pd.DataFrame]) -> dict:
    """Accounts 1-120 days past due over time, one line per strategy (replication 0)."""
    data = []
    cols = [f"n_{c}" for c in COLS[1:5]]
    for i, (name, d) in enumerate(dailies.items()):
        have = [c for c in cols if c in d]
        if not have:
            continue
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": list(d["day"]),
                "y": [float(v) for v in d[have].sum(axis=1)],
                "name": name,
                "line": {"color": PALETTE[i % len(PALETTE)], "width": 2},
            }
        )
    return {
        "data": data,
        "layout": {
            "title": {
                **_TITLE,
                "text": "Delinquent accounts (1-120 DPD), replication 0: lower is better",
            },
            "height": 340,
            "xaxis": {"title": {"text": "day of the run"}},
            "yaxis": {"title": {"text": "accounts 1-120 days past due"}},
            "legend": {"orientation": "h", "y": -0.25},
        },
    }


def roll_rate_heatmap(cells: pd.DataFrame, strategy: str) -> dict:
    """Mean monthly roll rates of one strategy: from the bucket at one month end (rows) to the
    bucket at the next (columns), in percent."""
    s = cells[cells["strategy"] == strategy]
    z, text = [], []
    for a in COLS[:5]:
        row = []
        for b in COLS:
            col = f"roll_rates_{a}_{b}"
            v = float(s[col].mean()) if col in s and s[col].notna().any() else math.nan
            row.append(None if math.isnan(v) else 100 * v)
        z.append(row)
        text.append(["" if v is None else f"{v:.0f}%" for v in row])
    return {
        "data": [
            {
                "type": "heatmap",
                "z": z,
                "x": list(BUCKETS),
                "y": list(BUCKETS[:5]),
                "text": text,
                "texttemplate": "%{text}",
                "colorscale": [[0, "#f7fbff"], [0.3, "#9ecae1"], [1, "#08306b"]],
                "zmin": 0,
                "zmax": 100,
                "colorbar": {"title": {"text": "% of accounts"}},
                "hovertemplate": "from %{y} to %{x}: %{z:.1f}%<extra></extra>",
            }
        ],
        "layout": {
            "title": {**_TITLE, "text": f"Monthly roll rates, {strategy} (mean over replications)"},
            "height": 360,
            "xaxis": {"title": {"text": "to: bucket at the next month end"}},
            "yaxis": {"title": {"text": "from: bucket at month end"}, "autorange": "reversed"},
        },
    }


def cost_by_channel(costs: dict[str, dict[str, float]], currency: str) -> dict:
    """Mean cost per channel and strategy (grouped bars): lower is better."""
    used = [c for c in CHANNELS if any(abs(s.get(c, 0.0)) > 0 for s in costs.values())]
    data = [
        {
            "type": "bar",
            "x": used,
            "y": [float(s.get(c, 0.0)) for c in used],
            "name": name,
            "marker": {"color": PALETTE[i % len(PALETTE)]},
        }
        for i, (name, s) in enumerate(costs.items())
    ]
    return {
        "data": data,
        "layout": {
            "title": {**_TITLE, "text": f"Cost by channel ({currency}, mean over replications)"},
            "barmode": "group",
            "height": 340,
            "xaxis": {"title": {"text": "channel"}},
            "yaxis": {"title": {"text": f"cost ({currency})"}},
            "legend": {"orientation": "h", "y": -0.3},
        },
    }


def kpi_bars(comp: pd.DataFrame, kpi: str, currency: str) -> dict:
    """One KPI's mean per strategy with its 95 % interval."""
    s = comp[comp["kpi"] == kpi]
    y = _scaled(kpi, s["mean"])
    hi, lo = _scaled(kpi, s["ci_high"]), _scaled(kpi, s["ci_low"])
    u = unit_suffix(kpi, currency)
    return {
        "data": [
            {
                "type": "bar",
                "x": list(s["strategy"]),
                "y": y,
                "marker": {"color": PALETTE[1]},
                "error_y": error_bars(y, hi, lo),
            }
        ],
        "layout": {
            "title": {**_TITLE, "text": f"{label(kpi)}{u}: {better_text(kpi)}"},
            "height": 300,
            "showlegend": False,
            "xaxis": {"title": {"text": "strategy"}},
            "yaxis": {"title": {"text": f"{label(kpi)}{u}, mean and 95 % interval"}},
        },
    }


def variants_lines(comp: pd.DataFrame, kpi: str, currency: str) -> dict | None:
    """A KPI's mean and interval per variant and strategy; None with one variant."""
    sub = comp[comp["kpi"] == kpi]
    if sub["variant"].nunique() < 2:
        return None
    data = []
    for i, (strat, s) in enumerate(sub.groupby("strategy", sort=False)):
        y = _scaled(kpi, s["mean"])
        hi, lo = _scaled(kpi, s["ci_high"]), _scaled(kpi, s["ci_low"])
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "x": list(s["variant_label"]),
                "y": y,
                "name": strat,
                "line": {"color": PALETTE[i % len(PALETTE)]},
                "error_y": error_bars(y, hi, lo),
            }
        )
    u = unit_suffix(kpi, currency)
    return {
        "data": data,
        "layout": {
            "title": {**_TITLE, "text": f"{label(kpi)}{u} by variant: {better_text(kpi)}"},
            "height": 360,
            "xaxis": {"title": {"text": "variant"}},
            "yaxis": {"title": {"text": f"{label(kpi)}{u}, mean and 95 % interval"}},
        },
    }
