"""The charts of the reports (plotly figures; plotly is imported inside each function)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from postloan.reports.html import BUCKETS, CHANNELS, COLS, PALETTE, nan_to_none


# ---------------------------------------------------------------------------- figures
def _roll_trace(z, digits: int, **kw):
    """A heatmap of roll rates (0-1) from the first five buckets (rows) to every bucket
    (columns), each cell labelled in percent with ``digits`` decimals; ``kw`` go to plotly."""
    import plotly.graph_objects as go

    text = [[("" if math.isnan(v) else f"{v:.{digits}%}") for v in row] for row in z]
    return go.Heatmap(
        z=[nan_to_none(list(r)) for r in z],
        x=list(BUCKETS),
        y=list(BUCKETS[:5]),
        text=text,
        texttemplate="%{text}",
        colorscale="Blues",
        zmin=0,
        zmax=1,
        hovertemplate="from %{y} to %{x}: %{z:.2%}<extra></extra>",
        **kw,
    )


def bucket_area(daily: pd.DataFrame, title: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    for b, c, color in zip(BUCKETS[1:5], COLS[1:5], PALETTE, strict=False):
        col = f"n_{c}"
        if col in daily:
            fig.add_trace(
                go.Scatter(
                    x=daily["day"],
                    y=daily[col],
                    name=f"{b} DPD",
                    stackgroup="dpd",
                    mode="lines",
                    line={"width": 0.5, "color": color},
                )
            )
    fig.update_layout(title=title, xaxis_title="day", yaxis_title="accounts", height=360)
    return fig


def flows(daily: pd.DataFrame, title: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    for col, name in (
        ("new_delinquent", "new delinquent (missed instalment)"),
        ("cures", "cures"),
        ("charge_offs", "charge-offs"),
    ):
        if col in daily:
            fig.add_trace(
                go.Scatter(
                    x=daily["day"],
                    y=daily[col].rolling(7, min_periods=1).sum(),
                    name=name,
                    mode="lines",
                )
            )
    fig.update_layout(
        title=title, xaxis_title="day", yaxis_title="accounts, last 7 days", height=340
    )
    return fig


def roll_heatmap(matrix: np.ndarray, title: str):
    import plotly.graph_objects as go

    z = np.asarray(matrix, dtype=float)[:5]
    fig = go.Figure(_roll_trace(z, digits=1))
    fig.update_layout(title=title, xaxis_title="to (month end)", yaxis_title="from", height=360)
    fig.update_yaxes(autorange="reversed")
    return fig


def monthly_roll_heatmap(monthly: pd.DataFrame, title: str):
    import plotly.graph_objects as go

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
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"month {int(m) + 1}" for m in monthly["month"]],
            y=ys,
            text=text,
            texttemplate="%{text}",
            colorscale="Oranges",
            zmin=0,
            zmax=1,
            hovertemplate="%{y}, %{x}: %{z:.2%}<extra></extra>",
        )
    )
    fig.update_layout(title=title, height=340)
    fig.update_yaxes(autorange="reversed")
    return fig


def cost_bars(costs: dict[str, dict[str, float]], title: str):
    """``costs[series][channel]`` -> grouped bars."""
    import plotly.graph_objects as go

    used = [c for c in CHANNELS if any(abs(s.get(c, 0.0)) > 0 for s in costs.values())]
    fig = go.Figure()
    for name, s in costs.items():
        fig.add_trace(go.Bar(x=used, y=[s.get(c, 0.0) for c in used], name=name))
    fig.update_layout(
        title=title, barmode="group", yaxis_title="cost", xaxis_title="channel", height=360
    )
    return fig


def churn_lines(daily: pd.DataFrame, title: str):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for col, name in (("churned", "churned customers"), ("complaints", "complaints")):
        if col in daily:
            fig.add_trace(
                go.Scatter(x=daily["day"], y=daily[col].cumsum(), name=name, mode="lines"),
                secondary_y=False,
            )
    if "lifetime_value_lost" in daily:
        fig.add_trace(
            go.Scatter(
                x=daily["day"],
                y=daily["lifetime_value_lost"].cumsum(),
                name="lifetime value lost",
                mode="lines",
                line={"dash": "dot"},
            ),
            secondary_y=True,
        )
    fig.update_layout(title=title, xaxis_title="day", height=340)
    fig.update_yaxes(title_text="count (cumulative)", secondary_y=False)
    fig.update_yaxes(title_text="lifetime value lost", secondary_y=True)
    return fig


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
