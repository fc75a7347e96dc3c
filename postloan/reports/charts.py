"""The charts of the reports.

The run report's charts (:func:`bucket_area`, :func:`flows`, :func:`roll_heatmap`,
:func:`monthly_roll_heatmap`, :func:`cost_bars`, :func:`churn_lines`) are plain figure dicts
in plotly's JSON schema (``{"data": [...], "layout": {...}}``), drawn by
:func:`postloan.reports.html.div` without ``plotly.graph_objects``: building and validating
graph objects cost about half a second of every ``postloan run``. ``plotly.graph_objects.
Figure(fig)`` turns one into a validated figure (``tests/test_report.py`` checks that every
one is valid). The experiment report's charts are still graph objects (plotly is imported
inside each function).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from postloan.reports.html import BUCKETS, CHANNELS, COLS, PALETTE, nan_to_none


# ---------------------------------------------------------------------------- figure dicts
def _series(values) -> list:
    """A column or array as a JSON-ready list (NaN as None: a gap in the chart)."""
    return nan_to_none(np.asarray(values).tolist())


def _title(text: str) -> dict:
    return {"text": text}


def _layout(title: str, height: int, x: str | None = None, y: str | None = None, **more) -> dict:
    """A layout: the chart's title, its height in pixels, the axis titles and ``more``."""
    layout: dict = {"title": _title(title), "height": height}
    if x is not None:
        layout["xaxis"] = {"title": _title(x)}
    if y is not None:
        layout["yaxis"] = {"title": _title(y)}
    return {**layout, **more}


def _colorscale(name: str) -> list:
    """A plotly.py sequential colour scale as explicit stops (plotly.js knows fewer names),
    what ``plotly.colors.get_colorscale(name)`` gives without importing plotly's validators."""
    from plotly.colors import make_colorscale, sequential

    return make_colorscale(getattr(sequential, name))


def _roll_trace(z, digits: int, **kw) -> dict:
    """A heatmap of roll rates (0-1) from the first five buckets (rows) to every bucket
    (columns), each cell labelled in percent with ``digits`` decimals; ``kw`` go to plotly."""
    text = [[("" if math.isnan(v) else f"{v:.{digits}%}") for v in row] for row in z]
    return {
        "type": "heatmap",
        "z": [nan_to_none([float(v) for v in r]) for r in z],
        "x": list(BUCKETS),
        "y": list(BUCKETS[:5]),
        "text": text,
        "texttemplate": "%{text}",
        "colorscale": _colorscale("Blues"),
        "zmin": 0,
        "zmax": 1,
        "hovertemplate": "from %{y} to %{x}: %{z:.2%}<extra></extra>",
        **kw,
    }


def bucket_area(daily: pd.DataFrame, title: str) -> dict:
    """Accounts in each DPD bucket (1-30 to 91-120) over the days, stacked."""
    data = [
        {
            "type": "scatter",
            "x": _series(daily["day"]),
            "y": _series(daily[f"n_{c}"]),
            "name": f"{b} DPD",
            "stackgroup": "dpd",
            "mode": "lines",
            "line": {"width": 0.5, "color": color},
        }
        for b, c, color in zip(BUCKETS[1:5], COLS[1:5], PALETTE, strict=False)
        if f"n_{c}" in daily
    ]
    return {"data": data, "layout": _layout(title, 360, x="day", y="accounts")}


def flows(daily: pd.DataFrame, title: str) -> dict:
    """New delinquencies, cures and charge-offs, summed over the last 7 days."""
    data = [
        {
            "type": "scatter",
            "x": _series(daily["day"]),
            "y": _series(daily[col].rolling(7, min_periods=1).sum()),
            "name": name,
            "mode": "lines",
        }
        for col, name in (
            ("new_delinquent", "new delinquent (missed instalment)"),
            ("cures", "cures"),
            ("charge_offs", "charge-offs"),
        )
        if col in daily
    ]
    return {"data": data, "layout": _layout(title, 340, x="day", y="accounts, last 7 days")}


def roll_heatmap(matrix: np.ndarray, title: str) -> dict:
    """Pooled roll rates from the first five buckets (rows) to every bucket."""
    z = np.asarray(matrix, dtype=float)[:5]
    layout = _layout(title, 360, x="to (month end)", y="from")
    layout["yaxis"]["autorange"] = "reversed"
    return {"data": [_roll_trace(z, digits=1)], "layout": layout}


def monthly_roll_heatmap(monthly: pd.DataFrame, title: str) -> dict | None:
    """The key roll rates month by month (None when ``monthly`` has none of them)."""
    pairs = [
        ("current", "1-30"),
        ("1-30", "current"),
        ("1-30", "31-60"),
        ("31-60", "61-90"),
        ("61-90", "91-120"),
        ("91-120", "charged_off"),
    ]
    ys, z = [], []
    for a, b in pairs:
        col = f"roll_{a}_to_{b}"
        if col in monthly:
            ys.append(f"{a} → {b}")
            z.append(nan_to_none([float(v) for v in monthly[col]]))
    if not z:
        return None
    text = [[("" if v is None else f"{v:.1%}") for v in row] for row in z]
    trace = {
        "type": "heatmap",
        "z": z,
        "x": [f"month {int(m) + 1}" for m in monthly["month"]],
        "y": ys,
        "text": text,
        "texttemplate": "%{text}",
        "colorscale": _colorscale("Oranges"),
        "zmin": 0,
        "zmax": 1,
        "hovertemplate": "%{y}, %{x}: %{z:.2%}<extra></extra>",
    }
    return {"data": [trace], "layout": _layout(title, 340, yaxis={"autorange": "reversed"})}


def cost_bars(costs: dict[str, dict[str, float]], title: str) -> dict:
    """``costs[series][channel]`` -> grouped bars (the channels no series used left out)."""
    used = [c for c in CHANNELS if any(abs(s.get(c, 0.0)) > 0 for s in costs.values())]
    data = [
        {"type": "bar", "x": used, "y": [float(s.get(c, 0.0)) for c in used], "name": name}
        for name, s in costs.items()
    ]
    return {
        "data": data,
        "layout": _layout(title, 360, x="channel", y="cost", barmode="group"),
    }


def churn_lines(daily: pd.DataFrame, title: str) -> dict:
    """Cumulative churn and complaints (left axis) and lifetime value lost (right axis)."""
    data = [
        {
            "type": "scatter",
            "x": _series(daily["day"]),
            "y": _series(daily[col].cumsum()),
            "name": name,
            "mode": "lines",
            "xaxis": "x",
            "yaxis": "y",
        }
        for col, name in (("churned", "churned customers"), ("complaints", "complaints"))
        if col in daily
    ]
    if "lifetime_value_lost" in daily:
        data.append(
            {
                "type": "scatter",
                "x": _series(daily["day"]),
                "y": _series(daily["lifetime_value_lost"].cumsum()),
                "name": "lifetime value lost",
                "mode": "lines",
                "line": {"dash": "dot"},
                "xaxis": "x",
                "yaxis": "y2",
            }
        )
    # the axes plotly.subplots.make_subplots(specs=[[{"secondary_y": True}]]) lays out
    layout = _layout(
        title,
        340,
        xaxis={"anchor": "y", "domain": [0.0, 0.94], "title": _title("day")},
        yaxis={"anchor": "x", "domain": [0.0, 1.0], "title": _title("count (cumulative)")},
        yaxis2={
            "anchor": "x",
            "overlaying": "y",
            "side": "right",
            "title": _title("lifetime value lost"),
        },
    )
    return {"data": data, "layout": layout}


# ---------------------------------------------------------------------------- graph objects
def paired_chart(comp: pd.DataFrame, kpis: list[str], title: str):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    chal = comp[comp["strategy"] != comp["champion"]]
    kpis = [k for k in kpis if k in set(chal["kpi"])]
    if chal.empty or not kpis:
        return None
    cols = min(3, len(kpis))
    rows = -(-len(kpis) // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=kpis)
    for i, k in enumerate(kpis):
        sub = chal[chal["kpi"] == k]
        r, c = i // cols + 1, i % cols + 1
        x = list(sub["strategy"])
        fig.add_trace(
            go.Scatter(
                x=x,
                y=list(sub["diff"]),
                mode="markers",
                marker={"size": 10, "color": "#1f77b4"},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": nan_to_none(list(sub["diff_ci_high"] - sub["diff"])),
                    "arrayminus": nan_to_none(list(sub["diff"] - sub["diff_ci_low"])),
                },
                name="paired 95 % interval",
                legendgroup="paired",
                showlegend=i == 0,
            ),
            row=r,
            col=c,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=list(sub["diff"]),
                mode="markers",
                marker={"size": 6, "color": "#aaaaaa", "symbol": "line-ew"},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": nan_to_none(list(sub["unpaired_ci_high"] - sub["diff"])),
                    "arrayminus": nan_to_none(list(sub["diff"] - sub["unpaired_ci_low"])),
                    "color": "#aaaaaa",
                    "thickness": 4,
                    "width": 0,
                },
                name="unpaired interval (for contrast)",
                legendgroup="unpaired",
                showlegend=i == 0,
            ),
            row=r,
            col=c,
        )
        fig.add_hline(y=0, line={"color": "#444", "width": 1, "dash": "dash"}, row=r, col=c)
    fig.update_layout(title=title, height=300 * rows + 60)
    return fig


def variants_chart(comp: pd.DataFrame, kpi: str):
    import plotly.graph_objects as go

    sub = comp[comp["kpi"] == kpi]
    if sub["variant"].nunique() < 2:
        return None
    fig = go.Figure()
    for strat, s in sub.groupby("strategy", sort=False):
        fig.add_trace(
            go.Scatter(
                x=list(s["variant_label"]),
                y=list(s["mean"]),
                name=strat,
                mode="lines+markers",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": nan_to_none(list(s["ci_high"] - s["mean"])),
                    "arrayminus": nan_to_none(list(s["mean"] - s["ci_low"])),
                },
            )
        )
    fig.update_layout(
        title=f"{kpi} by variant (mean and 95 % interval)", xaxis_title="variant", height=380
    )
    return fig


def strategy_bars(comp: pd.DataFrame, kpis: list[str], title: str):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    kpis = [k for k in kpis if k in set(comp["kpi"])]
    if not kpis:
        return None
    fig = make_subplots(rows=1, cols=len(kpis), subplot_titles=kpis)
    for i, k in enumerate(kpis):
        s = comp[comp["kpi"] == k]
        fig.add_trace(
            go.Bar(
                x=list(s["strategy"]),
                y=list(s["mean"]),
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": nan_to_none(list(s["ci_high"] - s["mean"])),
                    "arrayminus": nan_to_none(list(s["mean"] - s["ci_low"])),
                },
                marker_color=PALETTE[i % len(PALETTE)],
                showlegend=False,
            ),
            row=1,
            col=i + 1,
        )
    fig.update_layout(title=title, height=360)
    return fig


def strategy_areas(dailies: dict[str, pd.DataFrame], title: str):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(dailies)[:6]
    fig = make_subplots(
        rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names, vertical_spacing=0.08
    )
    for r, name in enumerate(names, start=1):
        d = dailies[name]
        for b, c, color in zip(BUCKETS[1:5], COLS[1:5], PALETTE, strict=False):
            fig.add_trace(
                go.Scatter(
                    x=d["day"],
                    y=d[f"n_{c}"],
                    name=f"{b} DPD",
                    stackgroup=f"s{r}",
                    mode="lines",
                    line={"width": 0.5, "color": color},
                    legendgroup=b,
                    showlegend=r == 1,
                ),
                row=r,
                col=1,
            )
    fig.update_layout(title=title, height=260 * len(names) + 80)
    fig.update_xaxes(title_text="day", row=len(names), col=1)
    return fig


def mean_roll_heatmaps(cells: pd.DataFrame, strategies: list[str]):
    from plotly.subplots import make_subplots

    names = strategies[:4]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.06)
    for i, name in enumerate(names, start=1):
        s = cells[cells["strategy"] == name]
        z = []
        for a in COLS[:5]:
            row = []
            for b in COLS:
                col = f"roll_rates_{a}_{b}"
                v = float(s[col].mean()) if col in s and s[col].notna().any() else math.nan
                row.append(v)
            z.append(row)
        fig.add_trace(_roll_trace(z, digits=0, showscale=i == len(names)), row=1, col=i)
        fig.update_yaxes(autorange="reversed", row=1, col=i)
    fig.update_layout(title="Monthly roll rates, pooled, mean over replications", height=380)
    return fig
