"""The experiment report: for every variant the KPI table with 95 % intervals per strategy,
and the paired differences against the champion (interval, unpaired interval for contrast, win
rate, verdict); a paired-difference chart; net recovery across variants; and for the first
variant, the representative path (replication 0) of every strategy: DPD buckets over time, mean
roll rates, cost by channel, churn and complaints. Written atomically into the folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from postloan.experiments.comparison import compare_cells
from postloan.formatting import format_value
from postloan.reports.banner import calibration_banner, folder_calibration
from postloan.reports.charts import (
    cost_bars,
    mean_roll_heatmaps,
    paired_chart,
    strategy_areas,
    strategy_bars,
    variants_chart,
)
from postloan.reports.html import (
    CHANNELS,
    ReportError,
    div,
    esc,
    meta_table,
    page,
    table,
    write_page,
)
from postloan.reports.response_section import interval_coverage, response_draws_section
from postloan.storage.experiments import ExperimentStore
from postloan.storage.manifest import read_manifest
from sim.outcomes import HEADLINE_KPIS


# ---------------------------------------------------------------------------- experiment
def _ci_cell(kpi: str, m: float, lo: float, hi: float) -> str:
    if not math.isfinite(lo):
        return esc(format_value(kpi, m))
    return (
        f"{esc(format_value(kpi, m))}<br><span class='note'>"
        f"{esc(format_value(kpi, lo))} – {esc(format_value(kpi, hi))}</span>"
    )


def _diff_text(kpi: str, x: float) -> str:
    s = format_value(kpi, x)
    return s if s.startswith("-") or s == "n/a" else "+" + s


def _p_text(p: object, p_holm: object) -> str:
    """``0.012 (0.036)``: the paired t-test's p-value and its Holm adjustment over the
    challengers (tables written before the adjustment existed show ``n/a``)."""
    try:
        p, ph = float(p), float(p_holm)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "n/a"
    if not (math.isfinite(p) and math.isfinite(ph)):
        return "n/a"
    return f"{p:.3f} ({ph:.3f})"


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
        f"<h1>Experiment report: {esc(man.get('name'))}</h1>",
        calibration_banner(str(man.get("scenario")), folder_calibration(folder)),
        f"<p>{esc(man.get('description') or '')}</p>",
        meta_table(
            {
                "experiment": man.get("experiment_id", folder.name),
                "scenario": f"{man.get('scenario')} ({man.get('accounts', 0):,} accounts x "
                f"{man.get('days')} days)",
                "strategies": ", ".join(strategies),
                "champion": champion,
                "money in": man.get("currency", "USD"),
                "replications": f"{man.get('replications')} per strategy and variant, "
                f"{len(man.get('samples') or [{}])} uncertainty sample(s)",
                "variants": "; ".join(v["label"] for v in man.get("variants", [])),
                "cells": "{1} of {2} ({0})".format(*store.status()),
                "model version": man.get("model_version"),
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
        "unpaired (Welch) interval is shown for contrast. The p-value of the paired t-test "
        "is adjusted for the number of challengers (Holm); a difference whose adjusted p-value "
        "exceeds 0.05 is flagged in its verdict and not highlighted.</p>",
        f"<p class='note'>{esc(interval_coverage(folder, len(man.get('samples') or [{}])))}</p>",
        *response_draws_section(folder),
    ]
    for (vi, vlabel), vc in comp.groupby(["variant", "variant_label"], sort=True):
        body.append(f"<h2>Variant {int(vi)}: {esc(vlabel)}</h2>")
        rows = []
        for k in kpis:
            r = [f"<b>{esc(k)}</b>"]
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
            table(
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
                    holm_lost = "after Holm's adjustment" in text
                    if (sig is True or str(sig) == "True") and not holm_lost:
                        cls = "worse" if " worse " in text else "sig"
                    drows.append(
                        [
                            esc(s),
                            esc(k),
                            esc(_diff_text(k, float(x["diff"]))),
                            esc(
                                f"{_diff_text(k, float(x['diff_ci_low']))} to "
                                f"{_diff_text(k, float(x['diff_ci_high']))}"
                            ),
                            esc(
                                f"{_diff_text(k, float(x['unpaired_ci_low']))} to "
                                f"{_diff_text(k, float(x['unpaired_ci_high']))}"
                            ),
                            esc(
                                "n/a"
                                if not math.isfinite(float(x["win_rate"]))
                                else f"{float(x['win_rate']):.0%}"
                            ),
                            esc(_p_text(x.get("p_value"), x.get("p_holm"))),
                            f"<span class='{cls}'>{esc(text)}</span>",
                        ]
                    )
            body.append(f"<h3>Paired differences against the champion ({esc(champion)})</h3>")
            body.append(
                table(
                    [
                        "strategy",
                        "KPI",
                        "difference",
                        "paired 95 % interval",
                        "unpaired interval",
                        "win rate",
                        "p (Holm-adjusted)",
                        "verdict",
                    ],
                    drows,
                    left=2,
                )
            )
            fig = paired_chart(
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
                body.append(div(fig))
    fig = variants_chart(comp, "net_recovery")
    if fig is not None:
        body.append("<h2>Across variants</h2>")
        body.append(div(fig))
    # representative path and distributions, first variant
    v0 = int(cells["variant"].min())
    c0 = cells[cells["variant"] == v0]
    comp0 = comp[comp["variant"] == v0]
    label0 = c0["variant_label"].iloc[0]
    body.append(f"<h2>Inside the book: variant {v0} ({esc(label0)})</h2>")
    dailies = {}
    for s in strategies:
        rep = c0[(c0["strategy"] == s)].sort_values(["sample", "replication"])
        if rep.empty:
            continue
        d = store.daily(rep["cell"].iloc[0])
        if d is not None:
            dailies[s] = d
    if dailies:
        body.append(div(strategy_areas(dailies, "Accounts in each DPD bucket (replication 0)")))
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
        body.append(div(fig))
    body.append(div(mean_roll_heatmaps(c0, strategies)))
    costs = {
        s: {
            ch: float(c0.loc[c0["strategy"] == s, f"cost_by_channel_{ch}"].mean())
            for ch in CHANNELS
            if f"cost_by_channel_{ch}" in c0
        }
        for s in strategies
    }
    body.append("<h2>Cost by channel</h2>")
    body.append(div(cost_bars(costs, "Cost by channel, mean over replications")))
    body.append("<h2>Churn and complaints</h2>")
    fig = strategy_bars(
        comp0,
        ["churned", "complaints", "lifetime_value_lost"],
        "Churn, complaints and lifetime value lost (mean, 95 % interval)",
    )
    if fig is not None:
        body.append(div(fig))
    return page(f"PostLoan experiment {folder.name}", body)


def write_experiment_report(folder: Path) -> Path:
    """Write ``report.html`` into an experiment folder (atomically); returns its path."""
    return write_page(folder, build_experiment_report)
