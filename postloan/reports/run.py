"""The run report: headline KPIs; DPD buckets and flows over time (``daily.parquet``);
roll-rate heatmaps, pooled (``summary.json``) and month by month (``monthly.parquet``); cost by
channel; churn and complaints over time. Written atomically into the run folder."""

from __future__ import annotations

import json
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
    page,
    table,
    write_page,
)
from postloan.storage.manifest import read_manifest
from sim.outcomes import HEADLINE_KPIS


# ---------------------------------------------------------------------------- run report
def _roll_matrix_from_summary(rr: dict) -> np.ndarray:
    return np.array(
        [[np.nan if rr.get(a, {}).get(b) is None else rr[a][b] for b in BUCKETS] for a in BUCKETS]
    )


def _run_kpi_rows(summary: dict) -> list[list[str]]:
    rows = [
        [esc(k), esc(format_value(k, summary[k]))]
        for k in HEADLINE_KPIS
        if isinstance(summary.get(k), int | float)
    ]
    if "contacts" in summary:
        used = ", ".join(f"{c} {n:,}" for c, n in summary["contacts"].items() if n)
        rows.append(["contacts", esc(used or "none")])
    return rows


def _wall_seconds(man: dict, summary: dict) -> float:
    """The run's wall time: the manifest's timing (older folders: the summary's)."""
    t = (man.get("timing") or {}).get("wall_seconds", man.get("wall_seconds"))
    return float(t if t is not None else summary.get("wall_seconds", 0.0))


def _pct(x: float) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{x:.2%}"


def _monitoring_section(folder: Path, summary: dict, currency: str) -> list[str]:
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
    risk_path = folder / "risk.parquet"
    if risk_path.exists():
        risk = pd.read_parquet(risk_path)
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
        f"<h1>Run report: {esc(title)}</h1>",
        calibration_banner(str(man.get("scenario", "run")), folder_calibration(folder)),
        meta_table(
            {
                "run": man.get("run_id", folder.name),
                "scenario": man.get("scenario"),
                "strategy": man.get("strategy"),
                "seed": man.get("seed"),
                "accounts": f"{summary.get('accounts', 0):,}",
                "days": summary.get("days"),
                "money in": man.get("currency", "USD"),
                "created": man.get("created"),
                "code commit": man.get("code_commit"),
                "wall time": f"{_wall_seconds(man, summary):.1f} s",
            }
        ),
        "<h2>Key figures</h2>",
        table(["KPI", "value"], _run_kpi_rows(summary)),
        "<h2>DPD buckets and flows over time</h2>",
        div(bucket_area(daily, "Accounts in each DPD bucket")),
        div(flows(daily, "Flows between states (7-day sums)")),
        "<h2>Roll rates</h2>",
    ]
    if "roll_rates" in summary:
        body.append(
            div(
                roll_heatmap(
                    _roll_matrix_from_summary(summary["roll_rates"]),
                    "Monthly roll rates, pooled over the run (month end to month end)",
                )
            )
        )
    if monthly is not None:
        fig = monthly_roll_heatmap(monthly, "Key roll rates, month by month")
        if fig is not None:
            body.append(div(fig))
    body.append("<h2>Cost by channel</h2>")
    body.append(
        div(
            cost_bars(
                {man.get("strategy", "run"): summary.get("cost_by_channel", {})}, "Cost by channel"
            )
        )
    )
    body.append("<h2>Churn and complaints</h2>")
    body.append(div(churn_lines(daily, "Churn, complaints and lifetime value lost")))
    body.extend(_monitoring_section(folder, summary, man.get("currency", "USD")))
    return page(f"PostLoan run {folder.name}", body)


def write_run_report(run_folder: Path) -> Path:
    """Write ``report.html`` into a run folder (atomically); returns its path."""
    return write_page(run_folder, build_run_report)
