"""Self-contained HTML reports for a run folder and an experiment folder.

The page holds its charts' code (plotly.js, inlined once) and data, so it opens offline, from
an e-mail attachment or a file share, with no network. It is written atomically.

Run report: headline KPIs; DPD buckets and flows over time (``daily.parquet``); roll-rate
heatmaps, pooled (``summary.json``) and month by month (``monthly.parquet``); cost by channel;
churn and complaints over time.

Experiment report: for every variant the KPI table with 95 % intervals per strategy, and the
paired differences against the champion (interval, unpaired interval for contrast, win rate,
verdict); a paired-difference chart; net recovery across variants; and for the first variant,
the representative path (replication 0) of every strategy: DPD buckets over time, mean roll
rates, cost by channel, churn and complaints.
"""

from __future__ import annotations

import html
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from postloan.compare import HEADLINE_KPIS, compare_cells, format_value
from postloan.results_store import ExperimentStore, atomic_write_text, read_manifest

BUCKETS = ("current", "1-30", "31-60", "61-90", "91-120", "charged_off", "paid_off")
_COLS = ("current", "1_30", "31_60", "61_90", "91_120", "charged_off", "paid_off")
CHANNELS = (
    "sms",
    "email",
    "ivr",
    "letter",
    "call",
    "visit",
    "legal_notice",
    "restructure_offer",
    "recovery",
)
_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
max-width:1200px;padding:1.5em;color:#222}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.meta td{text-align:left}.sig{color:#0a6b2d;font-weight:600}.ns{color:#777}
.worse{color:#a31515;font-weight:600}.note{color:#555;font-size:.9em}
"""


class ReportError(ValueError):
    """A folder that is neither a run nor an experiment."""


# ---------------------------------------------------------------------------- helpers
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _div(fig) -> str:
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        config={"displaylogo": False, "responsive": True},
    )


def _esc(x) -> str:
    return html.escape(str(x))


def _page(title: str, body: list[str]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(title)}</title><style>{_CSS}</style>"
        f"<script>{_plotly_js()}</script></head><body>"
        + "\n".join(body)
        + f"<p class='note'>Generated {stamp} by PostLoan Lab. The page works offline.</p>"
        "</body></html>\n"
    )


def _meta_table(items: dict) -> str:
    rows = "".join(
        f"<tr><th class='l'>{_esc(k)}</th><td>{_esc(v)}</td></tr>"
        for k, v in items.items()
        if v is not None
    )
    return f"<table class='meta'>{rows}</table>"


def _table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    th = "".join(
        f"<th class='{'l' if i < left else ''}'>{_esc(h)}</th>" for i, h in enumerate(header)
    )
    body = []
    for r in rows:
        tds = "".join(f"<td class='{'l' if i < left else ''}'>{c}</td>" for i, c in enumerate(r))
        body.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _nan_to_none(a):
    return [None if (x is None or (isinstance(x, float) and math.isnan(x))) else x for x in a]


# ---------------------------------------------------------------------------- figures
def _bucket_area(daily: pd.DataFrame, title: str):
    import plotly.graph_objects as go

    fig = go.Figure()
    for b, c, color in zip(BUCKETS[1:5], _COLS[1:5], _PALETTE, strict=False):
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


def _flows(daily: pd.DataFrame, title: str):
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


def _roll_heatmap(matrix: np.ndarray, title: str):
    import plotly.graph_objects as go

    z = np.asarray(matrix, dtype=float)[:5]
    text = [[("" if math.isnan(v) else f"{v:.1%}") for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=[_nan_to_none(list(r)) for r in z],
            x=list(BUCKETS),
            y=list(BUCKETS[:5]),
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate="from %{y} to %{x}: %{z:.2%}<extra></extra>",
        )
    )
    fig.update_layout(title=title, xaxis_title="to (month end)", yaxis_title="from", height=360)
    fig.update_yaxes(autorange="reversed")
    return fig


def _monthly_roll_heatmap(monthly: pd.DataFrame, title: str):
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
            z.append(_nan_to_none([float(v) for v in monthly[col]]))
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


def _cost_bars(costs: dict[str, dict[str, float]], title: str):
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


def _churn_lines(daily: pd.DataFrame, title: str):
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


# ---------------------------------------------------------------------------- run report
def _roll_matrix_from_summary(rr: dict) -> np.ndarray:
    return np.array(
        [[np.nan if rr.get(a, {}).get(b) is None else rr[a][b] for b in BUCKETS] for a in BUCKETS]
    )


def _run_kpi_rows(summary: dict) -> list[list[str]]:
    rows = [
        [_esc(k), _esc(format_value(k, summary[k]))]
        for k in HEADLINE_KPIS
        if isinstance(summary.get(k), int | float)
    ]
    if "contacts" in summary:
        used = ", ".join(f"{c} {n:,}" for c, n in summary["contacts"].items() if n)
        rows.append(["contacts", _esc(used or "none")])
    return rows


def build_run_report(folder: Path) -> str:
    """The HTML of a run folder's report."""
    folder = Path(folder)
    man = read_manifest(folder) or {}
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"{folder}: not a run folder (no readable summary.json)") from exc
    daily = pd.read_parquet(folder / "daily.parquet")
    monthly_path = folder / "monthly.parquet"
    monthly = pd.read_parquet(monthly_path) if monthly_path.exists() else None
    title = f"{man.get('scenario', 'run')} x {man.get('strategy', '?')}"
    body = [
        f"<h1>Run report: {_esc(title)}</h1>",
        _meta_table(
            {
                "run": man.get("run_id", folder.name),
                "scenario": man.get("scenario"),
                "strategy": man.get("strategy"),
                "seed": man.get("seed"),
                "accounts": f"{summary.get('accounts', 0):,}",
                "days": summary.get("days"),
                "created": man.get("created"),
                "code commit": man.get("code_commit"),
                "wall time": f"{float(man.get('wall_seconds') or 0):.1f} s",
            }
        ),
        "<h2>Key figures</h2>",
        _table(["KPI", "value"], _run_kpi_rows(summary)),
        "<h2>DPD buckets and flows over time</h2>",
        _div(_bucket_area(daily, "Accounts in each DPD bucket")),
        _div(_flows(daily, "Flows between states (7-day sums)")),
        "<h2>Roll rates</h2>",
    ]
    if "roll_rates" in summary:
        body.append(
            _div(
                _roll_heatmap(
                    _roll_matrix_from_summary(summary["roll_rates"]),
                    "Monthly roll rates, pooled over the run (month end to month end)",
                )
            )
        )
    if monthly is not None:
        fig = _monthly_roll_heatmap(monthly, "Key roll rates, month by month")
        if fig is not None:
            body.append(_div(fig))
    body.append("<h2>Cost by channel</h2>")
    body.append(
        _div(
            _cost_bars(
                {man.get("strategy", "run"): summary.get("cost_by_channel", {})}, "Cost by channel"
            )
        )
    )
    body.append("<h2>Churn and complaints</h2>")
    body.append(_div(_churn_lines(daily, "Churn, complaints and lifetime value lost")))
    return _page(f"PostLoan run {folder.name}", body)


def write_run_report(run_folder: Path) -> Path:
    """Write ``report.html`` into a run folder (atomically); returns its path."""
    run_folder = Path(run_folder)
    out = run_folder / "report.html"
    atomic_write_text(out, build_run_report(run_folder))
    return out


# ---------------------------------------------------------------------------- experiment
def _ci_cell(kpi: str, m: float, lo: float, hi: float) -> str:
    if not math.isfinite(lo):
        return _esc(format_value(kpi, m))
    return (
        f"{_esc(format_value(kpi, m))}<br><span class='note'>"
        f"{_esc(format_value(kpi, lo))} – {_esc(format_value(kpi, hi))}</span>"
    )


def _diff_text(kpi: str, x: float) -> str:
    s = format_value(kpi, x)
    return s if s.startswith("-") or s == "n/a" else "+" + s


def _paired_chart(comp: pd.DataFrame, kpis: list[str], title: str):
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
                    "array": _nan_to_none(list(sub["diff_ci_high"] - sub["diff"])),
                    "arrayminus": _nan_to_none(list(sub["diff"] - sub["diff_ci_low"])),
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
                    "array": _nan_to_none(list(sub["unpaired_ci_high"] - sub["diff"])),
                    "arrayminus": _nan_to_none(list(sub["diff"] - sub["unpaired_ci_low"])),
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


def _variants_chart(comp: pd.DataFrame, kpi: str):
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
                    "array": _nan_to_none(list(s["ci_high"] - s["mean"])),
                    "arrayminus": _nan_to_none(list(s["mean"] - s["ci_low"])),
                },
            )
        )
    fig.update_layout(
        title=f"{kpi} by variant (mean and 95 % interval)", xaxis_title="variant", height=380
    )
    return fig


def _strategy_bars(comp: pd.DataFrame, kpis: list[str], title: str):
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
                    "array": _nan_to_none(list(s["ci_high"] - s["mean"])),
                    "arrayminus": _nan_to_none(list(s["mean"] - s["ci_low"])),
                },
                marker_color=_PALETTE[i % len(_PALETTE)],
                showlegend=False,
            ),
            row=1,
            col=i + 1,
        )
    fig.update_layout(title=title, height=360)
    return fig


def _strategy_areas(dailies: dict[str, pd.DataFrame], title: str):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(dailies)[:6]
    fig = make_subplots(
        rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names, vertical_spacing=0.08
    )
    for r, name in enumerate(names, start=1):
        d = dailies[name]
        for b, c, color in zip(BUCKETS[1:5], _COLS[1:5], _PALETTE, strict=False):
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


def _mean_roll_heatmaps(cells: pd.DataFrame, strategies: list[str]):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = strategies[:4]
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.06)
    for i, name in enumerate(names, start=1):
        s = cells[cells["strategy"] == name]
        z = []
        for a in _COLS[:5]:
            row = []
            for b in _COLS:
                col = f"roll_rates_{a}_{b}"
                v = float(s[col].mean()) if col in s and s[col].notna().any() else math.nan
                row.append(v)
            z.append(row)
        text = [[("" if math.isnan(v) else f"{v:.0%}") for v in r] for r in z]
        fig.add_trace(
            go.Heatmap(
                z=[_nan_to_none(r) for r in z],
                x=list(BUCKETS),
                y=list(BUCKETS[:5]),
                text=text,
                texttemplate="%{text}",
                colorscale="Blues",
                zmin=0,
                zmax=1,
                showscale=i == len(names),
                hovertemplate="from %{y} to %{x}: %{z:.2%}<extra></extra>",
            ),
            row=1,
            col=i,
        )
        fig.update_yaxes(autorange="reversed", row=1, col=i)
    fig.update_layout(title="Monthly roll rates, pooled, mean over replications", height=380)
    return fig


def build_experiment_report(folder: Path) -> str:
    """The HTML of an experiment folder's report."""
    folder = Path(folder)
    man = read_manifest(folder)
    if not man or man.get("kind") != "experiment":
        raise ReportError(f"{folder}: not an experiment folder")
    store = ExperimentStore(folder)
    cells = store.load_cells()
    if cells.empty:
        raise ReportError(f"{folder}: no finished cells to report on yet")
    champion = man.get("champion")
    comp_path = folder / "comparison.csv"
    if man.get("status") == "complete" and comp_path.exists():
        comp = pd.read_csv(comp_path)
    else:
        comp = compare_cells(cells, champion)
    spec_kpis = None
    try:
        import yaml

        spec_kpis = (yaml.safe_load((folder / "experiment.yaml").read_text()) or {}).get("kpis")
    except (OSError, ValueError):
        pass
    kpis = [k for k in (spec_kpis or HEADLINE_KPIS) if k in set(comp["kpi"])]
    strategies = list(man.get("strategies") or dict.fromkeys(cells["strategy"]))
    body = [
        f"<h1>Experiment report: {_esc(man.get('name'))}</h1>",
        f"<p>{_esc(man.get('description') or '')}</p>",
        _meta_table(
            {
                "experiment": man.get("experiment_id", folder.name),
                "scenario": f"{man.get('scenario')} ({man.get('accounts', 0):,} accounts x "
                f"{man.get('days')} days)",
                "strategies": ", ".join(strategies),
                "champion": champion,
                "replications": f"{man.get('replications')} per strategy and variant, "
                f"{len(man.get('samples') or [{}])} uncertainty sample(s)",
                "variants": "; ".join(v["label"] for v in man.get("variants", [])),
                "cells": f"{man.get('cells_done')} of {man.get('cells_total')} "
                f"({man.get('status')})",
                "shards per book": man.get("shards"),
                "executor": json.dumps(man.get("executor")),
                "seed": man.get("seed"),
                "created": man.get("created"),
                "code commit": man.get("code_commit"),
                "wall time": f"{float(man.get('wall_seconds') or 0):.1f} s",
            }
        ),
        "<p class='note'>Every strategy of a replication ran with the same seed: the same "
        "borrowers and the same behavioural luck (common random numbers). Intervals are 95 % "
        "t-intervals over replications; differences are paired by replication, and the "
        "unpaired (Welch) interval is shown for contrast.</p>",
    ]
    for (vi, vlabel), vc in comp.groupby(["variant", "variant_label"], sort=True):
        body.append(f"<h2>Variant {int(vi)}: {_esc(vlabel)}</h2>")
        rows = []
        for k in kpis:
            r = [f"<b>{_esc(k)}</b>"]
            for s in strategies:
                x = vc[(vc["kpi"] == k) & (vc["strategy"] == s)]
                r.append(
                    _ci_cell(k, *x.iloc[0][["mean", "ci_low", "ci_high"]].astype(float))
                    if len(x)
                    else "n/a"
                )
            rows.append(r)
        body.append("<h3>KPIs per strategy (mean, 95 % interval)</h3>")
        body.append(
            _table(
                ["KPI", *[f"{s}{' (champion)' if s == champion else ''}" for s in strategies]], rows
            )
        )
        chal = vc[(vc["strategy"] != vc["champion"]) & vc["kpi"].isin(kpis)]
        if not chal.empty:
            drows = []
            for s in strategies:
                for k in kpis:
                    x = chal[(chal["strategy"] == s) & (chal["kpi"] == k)]
                    if x.empty:
                        continue
                    x = x.iloc[0]
                    sig = x["significant"]
                    text = str(x["verdict"])
                    cls = "ns"
                    if sig is True or str(sig) == "True":
                        cls = "worse" if " worse " in text else "sig"
                    drows.append(
                        [
                            _esc(s),
                            _esc(k),
                            _esc(_diff_text(k, float(x["diff"]))),
                            _esc(
                                f"{_diff_text(k, float(x['diff_ci_low']))} to "
                                f"{_diff_text(k, float(x['diff_ci_high']))}"
                            ),
                            _esc(
                                f"{_diff_text(k, float(x['unpaired_ci_low']))} to "
                                f"{_diff_text(k, float(x['unpaired_ci_high']))}"
                            ),
                            _esc(
                                "n/a"
                                if not math.isfinite(float(x["win_rate"]))
                                else f"{float(x['win_rate']):.0%}"
                            ),
                            f"<span class='{cls}'>{_esc(text)}</span>",
                        ]
                    )
            body.append(f"<h3>Paired differences against the champion ({_esc(champion)})</h3>")
            body.append(
                _table(
                    [
                        "strategy",
                        "KPI",
                        "difference",
                        "paired 95 % interval",
                        "unpaired interval",
                        "win rate",
                        "verdict",
                    ],
                    drows,
                    left=2,
                )
            )
            fig = _paired_chart(
                vc,
                [
                    k
                    for k in kpis
                    if k
                    in (
                        "net_recovery",
                        "collected",
                        "cost",
                        "churned",
                        "complaints",
                        "lifetime_value_lost",
                    )
                ]
                or kpis[:6],
                f"Paired difference vs {champion} (blue: paired 95 % interval; grey: unpaired)",
            )
            if fig is not None:
                body.append(_div(fig))
    fig = _variants_chart(comp, "net_recovery")
    if fig is not None:
        body.append("<h2>Across variants</h2>")
        body.append(_div(fig))
    # representative path and distributions, first variant
    v0 = int(cells["variant"].min())
    c0 = cells[cells["variant"] == v0]
    comp0 = comp[comp["variant"] == v0]
    label0 = c0["variant_label"].iloc[0]
    body.append(f"<h2>Inside the book: variant {v0} ({_esc(label0)})</h2>")
    dailies = {}
    for s in strategies:
        rep = c0[(c0["strategy"] == s)].sort_values(["sample", "replication"])
        if rep.empty:
            continue
        d = store.daily(rep["cell"].iloc[0])
        if d is not None:
            dailies[s] = d
    if dailies:
        body.append(_div(_strategy_areas(dailies, "Accounts in each DPD bucket (replication 0)")))
        import plotly.graph_objects as go

        fig = go.Figure()
        for s, d in dailies.items():
            for col, dash in (("cures", "solid"), ("charge_offs", "dot")):
                fig.add_trace(
                    go.Scatter(
                        x=d["day"],
                        y=d[col].rolling(7, min_periods=1).sum(),
                        name=f"{s}: {col.replace('_', '-')}",
                        mode="lines",
                        line={"dash": dash},
                    )
                )
        fig.update_layout(
            title="Cures and charge-offs, 7-day sums (replication 0)",
            xaxis_title="day",
            height=340,
        )
        body.append(_div(fig))
    body.append(_div(_mean_roll_heatmaps(c0, strategies)))
    costs = {
        s: {
            ch: float(c0.loc[c0["strategy"] == s, f"cost_by_channel_{ch}"].mean())
            for ch in CHANNELS
            if f"cost_by_channel_{ch}" in c0
        }
        for s in strategies
    }
    body.append("<h2>Cost by channel</h2>")
    body.append(_div(_cost_bars(costs, "Cost by channel, mean over replications")))
    body.append("<h2>Churn and complaints</h2>")
    fig = _strategy_bars(
        comp0,
        ["churned", "complaints", "lifetime_value_lost"],
        "Churn, complaints and lifetime value lost (mean, 95 % interval)",
    )
    if fig is not None:
        body.append(_div(fig))
    return _page(f"PostLoan experiment {folder.name}", body)


def write_experiment_report(folder: Path) -> Path:
    """Write ``report.html`` into an experiment folder (atomically); returns its path."""
    folder = Path(folder)
    out = folder / "report.html"
    atomic_write_text(out, build_experiment_report(folder))
    return out


def write_report(folder: Path) -> Path:
    """The right report for a run or an experiment folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such folder")
    man = read_manifest(folder) or {}
    if man.get("kind") == "experiment":
        return write_experiment_report(folder)
    if (folder / "summary.json").exists():
        return write_run_report(folder)
    raise ReportError(f"{folder}: neither a run folder nor an experiment folder")
