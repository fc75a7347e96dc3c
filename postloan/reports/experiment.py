"""The comparison (experiment) report: a decision first, the evidence below.

The first screen answers the manager's question, per variant: which policy wins on the priced
objective (:func:`sim.outcomes.objective`), by how much (paired 95 % interval, in the
scenario's currency), how often it won (replications; response draws or uncertainty samples
where the cells have them, else "simulation noise only"), what it costs in collection cost,
churn and complaints, and under which multiple-comparison adjustment (Holm over the
challengers): one overall verdict per challenger (:mod:`postloan.experiments.decision`).

Below it: the per-KPI details, adjusted over every comparison of the variant; the KPI levels
per strategy; labelled charts (paired differences with their better direction, delinquency over
time, roll rates from/to, cost by channel); the definitions of every KPI shown, from the
outcome registry; and what was run. The page prints to a few A4 pages. Written atomically into
the folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from postloan.experiments.comparison import compare_cells
from postloan.experiments.decision import ChallengerVerdict, Decision, Effect, decide, money
from postloan.formatting import format_diff, format_value
from postloan.reports.banner import calibration_banner, folder_calibration
from postloan.reports.comparison_charts import (
    cost_by_channel,
    delinquency_lines,
    figure_html,
    paired_difference_chart,
    roll_rate_heatmap,
    unit_suffix,
    variants_lines,
)
from postloan.reports.html import (
    CHANNELS,
    ReportError,
    esc,
    meta_table,
    page,
    table,
    write_page,
)
from postloan.reports.layout import REPORT_CSS, better_text, definitions, header
from postloan.reports.response_section import interval_coverage, response_draws_section
from postloan.storage.experiments import ExperimentStore
from postloan.storage.manifest import read_manifest
from sim.currency import DEFAULT_CURRENCY
from sim.outcomes import (
    HEADLINE_KPIS,
    TRADE_OFF_KPIS,
    definition,
    direction,
    label,
    objective,
)


# ---------------------------------------------------------------------------- cells
def _interval(kpi: str, e: Effect, currency: str, with_unit: bool = False) -> str:
    """``+18,622`` over ``+5,313 to +31,932`` (with the unit, ``USD``, when asked)."""
    cur = currency if with_unit else ""

    def show(x: float, scale: float) -> str:
        return esc(money(kpi, x, cur, scale) if with_unit else format_diff(kpi, x, scale))

    if not math.isfinite(e.low):
        return show(e.diff, abs(e.diff))
    scale = max(abs(e.diff), abs(e.low), abs(e.high))
    return (
        f"{show(e.diff, scale)}<br><span class='note'>{show(e.low, scale)} to "
        f"{show(e.high, scale)}</span>"
    )


_WORDS = {
    "better": "better",
    "worse": "worse",
    "not significant after adjustment": "not significant after Holm",
}


def _effect_cell(e: Effect, currency: str, with_unit: bool = False) -> str:
    word = _WORDS.get(e.word, "not significant")
    return (
        f"<span class='{_cls(e.word)}'>{_interval(e.kpi, e, currency, with_unit)}<br>"
        f"{esc(word)}</span>"
    )


def _kpi_cell(kpi: str, suffix: str) -> str:
    """A KPI's readable name and unit; its definition on hover."""
    return f"<span title='{esc(definition(kpi))}'>{esc(label(kpi))}{esc(suffix)}</span>"


def _cls(word: str) -> str:
    return {"better": "sig", "worse": "worse"}.get(word, "ns")


def _won(v: ChallengerVerdict) -> str:
    e = v.objective
    if not math.isfinite(e.win_rate):
        return "n/a"
    text = f"{round(e.win_rate * e.n)} of {e.n} replications ({e.win_rate:.0%})"
    if v.draws is not None:
        d = v.draws
        text += (
            f"<br><span class='note'>{d.won} of {d.count} {esc(d.what)}; mean difference "
            f"{esc(money(e.kpi, d.low, ''))} to {esc(money(e.kpi, d.high, ''))}</span>"
        )
    return text


_OUTCOME_CLS = {"wins": "sig", "loses": "worse"}


def _compact(html_table: str) -> str:
    return html_table.replace("<table>", "<table class='compact'>", 1)


# ---------------------------------------------------------------------------- sections
def _header(man: dict, strategies: list[str], currency: str, notices: str = "") -> str:
    samples = len(man.get("samples") or [{}])
    sub = (
        f"{len(strategies)} strategies on {man.get('scenario')} "
        f"({man.get('accounts', 0):,} accounts x {man.get('days')} days), "
        f"{man.get('replications')} replications"
        + (f" x {samples} uncertainty samples" if samples > 1 else "")
        + f", champion {man.get('champion')}; amounts in {currency}"
    )
    return header(f"Which policy wins? {esc(man.get('name'))}", esc(sub), notices)


def _decision_section(d: Decision, many_variants: bool) -> str:
    obj, cur = d.objective, d.currency
    where = f" (variant {d.variant}: {esc(d.variant_label)})" if many_variants else ""
    if d.winner != d.champion:
        winner = f"Winner on {esc(label(obj))}{where}: <b>{esc(d.winner)}</b>"
    else:
        winner = f"Keep <b>{esc(d.champion)}</b>{where}: no challenger beats it on {label(obj)}"
    head = [
        "challenger",
        "overall verdict",
        f"{label(obj)} vs {d.champion} (95 % interval)",
        "won",
        *[f"{label(k)}{unit_suffix(k, cur, diff=True)}" for k in TRADE_OFF_KPIS],
    ]
    rows = []
    for v in d.challengers:
        trade = {e.kpi: e for e in v.trade_offs}
        rows.append(
            [
                f"<b>{esc(v.strategy)}</b>",
                f"<span class='{_OUTCOME_CLS.get(v.outcome, 'ns')}'>{esc(v.outcome)}</span>",
                _effect_cell(v.objective, cur, with_unit=True),
                _won(v),
                *[_effect_cell(trade[k], cur) if k in trade else "n/a" for k in TRADE_OFF_KPIS],
            ]
        )
    notes = [
        f"Verdicts on {esc(label(obj))} ({esc(definition(obj))}; {better_text(obj)}), the "
        f"priced objective; {esc(d.adjustment)}. Uncertainty: {esc(d.uncertainty)}.",
        *(esc(n) + "." for n in d.notes),
    ]
    if d.runner_up is not None:
        notes.append(f"Best against second best, paired: {esc(d.runner_up.text)}.")
    slug = f"-{d.variant}" if many_variants else ""
    return (
        f"<section class='decision' id='decision{slug}'>"
        f"<p class='winner' id='winner{slug}'>{winner}</p>"
        f"<p class='headline' id='headline{slug}'>{esc(d.headline)}.</p>"
        f"<div id='trade-offs{slug}'>{_compact(table(head, rows, left=2))}</div>"
        f"<p class='note'>{' '.join(notes)}</p></section>"
    )


def _details(vc: pd.DataFrame, kpis: list[str], champion: str, currency: str) -> list[str]:
    """The per-KPI differences, significance after Holm over every comparison of the variant."""
    chal = vc[vc["strategy"] != champion]
    strategies = list(dict.fromkeys(chal["strategy"]))
    if not strategies:
        return []
    obj = objective()
    rows = []
    for k in kpis:
        cells = [_kpi_cell(k, unit_suffix(k, currency, diff=True))]
        for s in strategies:
            x = chal[(chal["strategy"] == s) & (chal["kpi"] == k)]
            if x.empty or not math.isfinite(float(x["diff_ci_low"].iloc[0])):
                cells.append("n/a")
                continue
            r = x.iloc[0]
            e = Effect(k, *(float(r[c]) for c in ("diff", "diff_ci_low", "diff_ci_high")),
                       float(r["win_rate"]), int(r["n"]), float(r["p_value"]),
                       float(r.get("p_adjusted", math.nan)), "", "")  # fmt: skip
            adj = r.get("significant_adjusted")
            good = direction_word(k, e.diff) if adj is True or str(adj) == "True" else "ns"
            cells.append(f"<span class='{_cls(good)}'>{_interval(k, e, currency)}</span>")
        rows.append(cells)
    n_tests = int(chal["p_value"].notna().sum())
    raw = int((chal["significant"].astype(str) == "True").sum())
    adj = int((chal["significant_adjusted"].astype(str) == "True").sum())
    return [
        f"<h3>Per-KPI differences against {esc(champion)} (adjusted)</h3>",
        _compact(table(["KPI (unit)", *strategies], rows)),
        f"<p class='note'>Paired mean difference and 95 % interval. Coloured only when it "
        f"survives Holm's adjustment: over the challengers for {esc(label(obj))}, over all "
        f"{n_tests} comparisons of this variant (every challenger x every KPI in "
        f"comparison.csv) for the others: {raw} of them differ at 95 % each on its own, "
        f"{adj} after the adjustment. Green: better, red: worse, in the KPI's own direction. "
        f"Hover a KPI for its definition (listed at the end).</p>",
    ]


def direction_word(kpi: str, diff: float) -> str:
    """``better`` or ``worse`` for a significant difference (``ns``, uncoloured, for a KPI
    without a better direction)."""
    d = direction(kpi)
    if d not in ("higher", "lower"):
        return "ns"
    return "better" if (diff > 0) == (d == "higher") else "worse"


def _levels(vc: pd.DataFrame, kpis: list[str], strategies: list[str], champion: str,
            currency: str) -> list[str]:  # fmt: skip
    rows = []
    for k in kpis:
        r = [_kpi_cell(k, unit_suffix(k, currency))]
        for s in strategies:
            x = vc[(vc["kpi"] == k) & (vc["strategy"] == s)]
            if x.empty:
                r.append("n/a")
                continue
            m, lo, hi = (float(x.iloc[0][c]) for c in ("mean", "ci_low", "ci_high"))
            text = esc(format_value(k, m))
            if math.isfinite(lo):
                text += (
                    f" <span class='note'>({esc(format_value(k, lo))} to "
                    f"{esc(format_value(k, hi))})</span>"
                )
            r.append(text)
        rows.append(r)
    head = ["KPI (unit)", *[f"{s}{' (champion)' if s == champion else ''}" for s in strategies]]
    return [
        "<h3>KPIs per strategy (mean, 95 % interval)</h3>",
        _compact(table(head, rows)),
    ]


def _charts(
    store: ExperimentStore,
    cells: pd.DataFrame,
    comp: pd.DataFrame,
    strategies: list[str],
    champion: str,
    winner: str,
    currency: str,
) -> list[str]:
    obj = objective()
    v0 = int(cells["variant"].min())
    c0, comp0 = cells[cells["variant"] == v0], comp[comp["variant"] == v0]
    out = []
    if (comp0["strategy"] != champion).any():
        panels = [
            figure_html(paired_difference_chart(comp0, k, champion, currency))
            for k in (obj, *TRADE_OFF_KPIS)
            if k in set(comp0["kpi"])
        ]
        out += [
            f"<h2>Paired differences against {esc(champion)}</h2>",
            "<p class='note'>Blue: paired mean difference and its 95 % interval (same seeds, "
            "so the same borrowers and luck); grey: the unpaired (Welch) interval, for "
            "contrast. Dashed: no difference.</p>",
            f"<div class='grid2'>{''.join(panels)}</div>",
        ]
    fig = variants_lines(comp, obj, currency)
    if fig is not None:
        out += ["<h2>Across variants</h2>", figure_html(fig)]
    label0 = c0["variant_label"].iloc[0]
    out.append(f"<h2>Inside the book: variant {v0} ({esc(label0)})</h2>")
    dailies = {}
    for s in strategies:
        rep = c0[c0["strategy"] == s].sort_values(["sample", "replication"])
        if not rep.empty:
            d = store.daily(rep["cell"].iloc[0])
            if d is not None:
                dailies[s] = d
    if dailies:
        out.append(figure_html(delinquency_lines(dailies)))
    pair = list(dict.fromkeys([champion, winner if winner != champion else strategies[-1]]))
    heat = [figure_html(roll_rate_heatmap(c0, s)) for s in pair if s in set(c0["strategy"])]
    out.append(f"<div class='grid2'>{''.join(heat)}</div>")
    costs = {
        s: {
            ch: float(c0.loc[c0["strategy"] == s, f"cost_by_channel_{ch}"].mean())
            for ch in CHANNELS
            if f"cost_by_channel_{ch}" in c0
        }
        for s in strategies
    }
    out.append(figure_html(cost_by_channel(costs, currency)))
    return out


def _about(man: dict, store: ExperimentStore, strategies: list[str], currency: str) -> list[str]:
    notes = []
    if man.get("compliance") == "cn" and currency == DEFAULT_CURRENCY:
        notes.append(
            "<p class='note'>The cn compliance profile is for lending in China; this "
            "scenario's amounts are in USD (its currency field). Set <code>currency: CNY</code> "
            "in a scenario whose amounts are yuan.</p>"
        )
    return [
        "<h2>What was run</h2>",
        "<p class='note'>Every strategy of a replication ran with the same seed: the same "
        "borrowers and the same behavioural luck (common random numbers). Intervals are 95 % "
        "t-intervals over replications; differences are paired by replication.</p>",
        *notes,
        meta_table(
            {
                "experiment": man.get("experiment_id"),
                "scenario": man.get("scenario"),
                "strategies": ", ".join(strategies),
                "champion": man.get("champion"),
                "currency": currency,
                "compliance profile": man.get("compliance") or "the scenario's default",
                "variants": "; ".join(v["label"] for v in man.get("variants", [])),
                "cells": "{1} of {2} ({0})".format(*store.status()),
                "seed": man.get("seed"),
                "model version": man.get("model_version"),
                "code commit": man.get("code_commit"),
                "executor": json.dumps(man.get("executor")),
                "created": man.get("created"),
                "wall time": f"{float(man.get('wall_seconds') or 0):.1f} s",
            }
        ).replace("<table class='meta'>", "<table class='meta compact'>", 1),
    ]


# ---------------------------------------------------------------------------- the page
def _response_block(folder: Path) -> dict | None:
    """The ``response_draws`` block of ``comparison.json`` (``compare --response-draws``)."""
    try:
        block = json.loads((folder / "comparison.json").read_text()).get("response_draws")
    except (OSError, ValueError, AttributeError):
        return None
    return block if isinstance(block, dict) else None


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
    comp = None
    if man.get("status") == "complete" and comp_path.exists():
        comp = pd.read_csv(comp_path)
    if comp is None or "p_adjusted" not in comp:  # unfinished, or written before adjustments
        comp = compare_cells(cells, champion)
    champion = champion or str(comp["champion"].iloc[0])
    currency = man.get("currency") or DEFAULT_CURRENCY
    spec_kpis = None
    try:
        import yaml

        spec_kpis = (yaml.safe_load((folder / "experiment.yaml").read_text()) or {}).get("kpis")
    except (OSError, ValueError):
        pass
    obj = objective()
    shown = list(dict.fromkeys([obj, *TRADE_OFF_KPIS, *(spec_kpis or HEADLINE_KPIS)]))
    kpis = [k for k in shown if k in set(comp["kpi"])]
    strategies = list(man.get("strategies") or dict.fromkeys(cells["strategy"]))
    decisions = decide(comp, cells, champion, currency, response=_response_block(folder))
    many = len(decisions) > 1
    banner = calibration_banner(str(man.get("scenario")), folder_calibration(folder))
    body = [_header(man, strategies, currency, banner)]
    body += [_decision_section(d, many) for d in decisions]
    samples = len(man.get("samples") or [{}])
    body.append(f"<p class='note'>{esc(interval_coverage(folder, samples))}</p>")
    body += response_draws_section(folder)
    for (vi, vlabel), vc in comp.groupby(["variant", "variant_label"], sort=True):
        body.append(f"<h2>Details{f': variant {int(vi)} ({esc(vlabel)})' if many else ''}</h2>")
        body += _details(vc, kpis, champion, currency)
        body += _levels(vc, kpis, strategies, champion, currency)
    winner = decisions[0].winner if decisions else champion
    body += _charts(store, cells, comp, strategies, champion, winner, currency)
    body += definitions(kpis, currency)
    body += _about(man, store, strategies, currency)
    return page(f"PostLoan comparison {folder.name}", body, extra_css=REPORT_CSS)


def write_experiment_report(folder: Path) -> Path:
    """Write ``report.html`` into an experiment folder (atomically); returns its path."""
    return write_page(folder, build_experiment_report)
