"""The run report: headline KPIs; DPD buckets and flows over time (``daily.parquet``);
roll-rate heatmaps, pooled (``summary.json``) and month by month (``monthly.parquet``); cost by
channel; churn and complaints over time. Written atomically into the run folder."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from postloan.formatting import format_value
from postloan.reports.banner import calibration_banner, folder_calibration
from postloan.reports.charts import (
    bucket_area,
    churn_lines,
    cost_bars,
    flows,
    monthly_roll_heatmap,
    roll_heatmap,
)
from postloan.reports.html import (
    BUCKETS,
    ReportError,
    div,
    esc,
    meta_table,
    page_bytes,
    table,
    write_page,
)
from postloan.reports.layout import REPORT_CSS, better_text, definitions, header
from postloan.storage.manifest import read_manifest
from sim.currency import DEFAULT_CURRENCY
from sim.outcomes import HEADLINE_KPIS, definition, label, unit


# ---------------------------------------------------------------------------- run report
def _roll_matrix_from_summary(rr: dict) -> np.ndarray:
    return np.array(
        [[np.nan if rr.get(a, {}).get(b) is None else rr[a][b] for b in BUCKETS] for a in BUCKETS]
    )


def _run_kpis(summary: dict) -> list[str]:
    """The headline KPIs a run has (numbers in its summary)."""
    return [k for k in HEADLINE_KPIS if isinstance(summary.get(k), int | float)]


def _run_kpi_rows(summary: dict, currency: str) -> list[list[str]]:
    """One row per headline KPI: readable name and unit (definition on hover), value, better
    direction."""
    rows = [
        [
            f"<span title='{esc(definition(k))}'>{esc(label(k))}"
            f"{esc(' (' + unit(k, currency) + ')' if unit(k, currency) else '')}</span>",
            esc(format_value(k, summary[k])),
            esc(better_text(k)),
        ]
        for k in _run_kpis(summary)
    ]
    if "contacts" in summary:
        used = ", ".join(f"{c} {n:,}" for c, n in summary["contacts"].items() if n)
        rows.append(["contact attempts (count)", esc(used or "none"), "no better direction"])
    return rows


#: A legend under the plot, where a half-width chart has no room beside it.
LEGEND_BELOW = {"orientation": "h", "y": -0.3, "x": 0}


def _axes(fig, legend: dict | None = None, **titles: str):
    """Set axis titles (``xaxis="day of the run"``, ``yaxis2=...``) and optionally the legend
    on a chart, whether a plotly figure dict or a graph-objects figure; returns it."""
    if fig is None:
        return None
    update = {axis: {"title": {"text": text}} for axis, text in titles.items()}
    if legend is not None:
        update["legend"] = legend
    if isinstance(fig, dict):
        layout = fig.setdefault("layout", {})
        for key, value in update.items():
            layout[key] = {**layout.get(key, {}), **value}
    else:
        fig.update_layout(update)
    return fig


def _wall_seconds(man: dict, summary: dict) -> float:
    """The run's wall time: the manifest's timing (older folders: the summary's)."""
    t = (man.get("timing") or {}).get("wall_seconds", man.get("wall_seconds"))
    return float(t if t is not None else summary.get("wall_seconds", 0.0))


def _pct(x: float) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{x:.2%}"


def _monitoring_section(
    folder: Path, summary: dict, currency: str, tables: Mapping[str, pd.DataFrame]
) -> list[str]:
    """Alerts and risk by credit standing, for a run watched by the management views
    (``summary["monitoring"]``, ``risk.parquet``); nothing for a run without them."""
    block = summary.get("monitoring")
    if not isinstance(block, dict):
        return []
    out = [f"<h2>Monitoring ({esc(block.get('monitoring', ''))}) and risk by segment</h2>"]
    alerts = block.get("alerts", [])
    if alerts:
        rows = [
            [
                esc(a["day"]),
                esc(a["kpi"]),
                esc(a["rule"]),
                esc(f"{a['value']:.4g}"),
                esc(f"{'<' if a['direction'] == 'below' else '>'} {a['threshold']:.4g}"),
                esc(a["severity"]),
            ]
            for a in alerts
        ]
        out.append(table(["day", "KPI", "rule", "value", "threshold", "severity"], rows, left=3))
    else:
        out.append("<p>No alert fired.</p>")
    for b in block.get("concentration_breaches", []):
        where = b["segment_kind"] + (f":{b['segment']}" if b["segment"] is not None else "")
        out.append(
            f"<p>Concentration limit breached: {esc(b['measure'])} of {esc(where)} "
            f"{b['value']:.4g} &gt; {b['limit']:.4g}</p>"
        )
    risk = _table(folder, "risk", tables)
    if risk is not None:
        risk = risk[risk["segment_kind"].isin(["book", "credit"])]
        rows = [
            [
                esc(f"{r.segment_kind}: {r.segment}"),
                f"{r.accounts:,.0f}",
                _pct(r.pd_horizon),
                _pct(r.lgd),
                f"{r.exposure_start:,.0f}",
                f"{r.expected_loss:,.0f}",
            ]
            for r in risk.itertuples()
        ]
        out.append(
            table(
                [
                    "segment",
                    "accounts",
                    "PD (horizon)",
                    "LGD",
                    f"exposure ({currency})",
                    f"expected loss ({currency})",
                ],
                rows,
            )
        )
        out.append(
            "<p>PD: 91+ DPD or charge-off among accounts performing at the start; LGD: "
            "discounted workout loss, recoveries beyond the horizon included; expected loss = "
            "PD x LGD x exposure at the start. Every segment: risk.parquet, risk_matrix.parquet, "
            "segments.parquet.</p>"
        )
    return out


def _table(folder: Path, name: str, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame | None:
    """``tables[name]`` if given, else ``folder/<name>.parquet`` read (None if neither)."""
    if name in tables:
        return tables[name]
    path = folder / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() else None


def build_run_report(folder: Path, tables: Mapping[str, pd.DataFrame] | None = None) -> bytes:
    """The HTML of a run folder's report, UTF-8 encoded (plotly.js inlined: 4.8 MB, copied
    as bytes).

    Parameters
    ----------
    folder : Path
        The run folder: ``manifest.json``, ``summary.json`` and the tables.
    tables : mapping, optional
        Tables of the folder already in memory, by name (``daily``, ``monthly``, ``risk``),
        equal to what their ``<name>.parquet`` holds: read from the folder when not given.
        :func:`postloan.storage.runs.save_run` passes the run's own, which saves reading back
        what it has just written.
    """
    folder = Path(folder)
    tables = tables or {}
    man = read_manifest(folder) or {}
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"{folder}: not a run folder (no readable summary.json)") from exc
    daily = _table(folder, "daily", tables)
    if daily is None:
        raise ReportError(f"{folder}: not a run folder (no daily.parquet)")
    monthly = _table(folder, "monthly", tables)
    title = f"{man.get('scenario', 'run')} x {man.get('strategy', '?')}"
    cur = man.get("currency") or DEFAULT_CURRENCY
    day = "day of the run"
    sub = (
        f"strategy {man.get('strategy')} on {man.get('scenario')} "
        f"({summary.get('accounts', 0):,} accounts x {summary.get('days')} days), seed "
        f"{man.get('seed')}; amounts in {cur}"
    )
    body = [
        header(
            f"Run report: {esc(title)}",
            esc(sub),
            calibration_banner(str(man.get("scenario", "run")), folder_calibration(folder)),
        ),
        "<h2>Key figures</h2>",
        table(["KPI (unit)", "value", "better"], _run_kpi_rows(summary, cur)).replace(
            "<table>", "<table class='compact'>", 1
        ),
        "<h2>DPD buckets and flows over time</h2>",
        "<div class='grid2'>",
        div(
            _axes(
                bucket_area(daily, "Accounts in each DPD bucket (stacked): fewer is better"),
                xaxis=day,
                yaxis="accounts",
            )
        ),
        div(
            _axes(
                flows(daily, "Flows between states, 7-day sums"),
                xaxis=day,
                yaxis="accounts in the last 7 days",
                legend=LEGEND_BELOW,
            )
        ),
        "</div>",
        "<h2>Roll rates</h2>",
        "<div class='grid2'>",
    ]
    if "roll_rates" in summary:
        body.append(
            div(
                _axes(
                    roll_heatmap(
                        _roll_matrix_from_summary(summary["roll_rates"]),
                        "Monthly roll rates, pooled over the run (% of accounts)",
                    ),
                    xaxis="to: bucket at the next month end",
                    yaxis="from: bucket at month end",
                )
            )
        )
    if monthly is not None:
        fig = _axes(
            monthly_roll_heatmap(monthly, "Key roll rates, month by month (% of accounts)"),
            xaxis="month of the run",
            yaxis="roll: from bucket → to bucket",
        )
        if fig is not None:
            body.append(div(fig))
    body.append("</div>")
    body.append("<h2>Cost, churn and complaints</h2>")
    body.append("<div class='grid2'>")
    body.append(
        div(
            _axes(
                cost_bars(
                    {man.get("strategy", "run"): summary.get("cost_by_channel", {})},
                    f"Cost by channel ({cur}): lower is better",
                ),
                xaxis="channel",
                yaxis=f"cost ({cur})",
            )
        )
    )
    body.append(
        div(
            _axes(
                churn_lines(daily, "Churn, complaints, lifetime value lost: lower is better"),
                xaxis=day,
                yaxis="customers or complaints (cumulative)",
                yaxis2=f"lifetime value lost ({cur}, cumulative)",
                legend=LEGEND_BELOW,
            )
        )
    )
    body.append("</div>")
    body.extend(_monitoring_section(folder, summary, cur, tables))
    body += definitions(_run_kpis(summary), cur)
    body += [
        "<h2>What was run</h2>",
        meta_table(
            {
                "run": man.get("run_id", folder.name),
                "scenario": man.get("scenario"),
                "strategy": man.get("strategy"),
                "seed": man.get("seed"),
                "accounts": f"{summary.get('accounts', 0):,}",
                "days": summary.get("days"),
                "money in": cur,
                "created": man.get("created"),
                "code commit": man.get("code_commit"),
                "wall time": f"{_wall_seconds(man, summary):.1f} s",
            }
        ),
    ]
    return page_bytes(f"PostLoan run {man.get('run_id', folder.name)}", body, extra_css=REPORT_CSS)


def write_run_report(run_folder: Path) -> Path:
    """Write ``report.html`` into a run folder (atomically); returns its path."""
    return write_page(run_folder, build_run_report)
