"""What experiment commands print: the progress bar, comparison tables, verdicts."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from postloan.commands.errors import fail

err = Console(stderr=True)


def progress_bar(disable: bool = False) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("cells"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=disable,
    )


def run_experiment(
    exp,
    out: Path,
    jobs: int,
    scheduler: str | None,
    resume: bool,
    quiet: bool,
    allow_mixed_versions: bool = False,
    segments: bool = False,
):
    """Run ``exp`` with a progress bar on stderr; returns the runner's outcome."""
    from postloan.experiments.runner import execute_experiment

    with progress_bar(disable=quiet) as bar:
        task = bar.add_task(exp.name, total=len(exp.cells()))

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            return execute_experiment(
                exp,
                out,
                jobs=jobs,
                scheduler=scheduler,
                resume=resume,
                progress=progress,
                allow_mixed_versions=allow_mixed_versions,
                segments=segments,
            )
        except OSError as exc:
            if scheduler and "connect" in str(exc).lower():
                raise fail(f"--scheduler: cannot reach {scheduler}: {exc}") from None
            raise


def comparison_tables(comp, kpis: list[str], champion: str, title: str) -> list[Table]:
    from postloan.experiments.comparison import headline
    from postloan.formatting import format_value

    tables = []
    sub = headline(comp, kpis)
    for (_vi, vlabel), vc in sub.groupby(["variant", "variant_label"], sort=True):
        strategies = list(dict.fromkeys(vc["strategy"]))
        t = Table(
            title=escape(f"{title}: {vlabel}" if vlabel != "base" else title),
            header_style="bold",
        )
        t.add_column("KPI", overflow="fold")  # long names fold at 80 columns, never cut
        for s in strategies:
            t.add_column(
                escape(f"{s}{' (champion)' if s == champion else ''}"),
                justify="right",
                overflow="fold",
            )
        for k in dict.fromkeys(vc["kpi"]):
            cells = []
            for s in strategies:
                r = vc[(vc["kpi"] == k) & (vc["strategy"] == s)].iloc[0]
                text = format_value(k, r["mean"])
                if r["ci_low"] == r["ci_low"]:  # not NaN
                    text += (
                        f"\n[dim]{format_value(k, r['ci_low'])} to "
                        f"{format_value(k, r['ci_high'])}[/dim]"
                    )
                cells.append(text)
            t.add_row(k, *cells)
        tables.append(t)
    return tables


def decision_lines(comp, cells, currency: str) -> list[str]:
    """The decision of a comparison in a few lines (:func:`postloan.experiments.decision.decide`):
    per variant the headline, then one verdict per challenger with its trade-offs."""
    from postloan.experiments.decision import decide, money
    from sim.outcomes import label

    lines = []
    for d in decide(comp, cells, currency=currency):
        where = f"[{d.variant_label}] " if d.variant_label != "base" else ""
        win = d.winner if d.winner != d.champion else f"none, keep {d.champion}"
        lines.append(f"{where}Winner on {label(d.objective)}: {win}. {d.headline}.")
        for v in d.challengers:
            e = v.objective
            trade = "; ".join(
                f"{label(t.kpi)} {money(t.kpi, t.diff, currency)} ({t.word})" for t in v.trade_offs
            )
            won = f"won {round(e.win_rate * e.n)} of {e.n}" if e.win_rate == e.win_rate else ""
            lines.append(
                f"{where}  {v.strategy}: {v.outcome} ({money(e.kpi, e.diff, currency)}, 95 % "
                f"interval {money(e.kpi, e.low, currency)} to {money(e.kpi, e.high, currency)}, "
                f"{won}); {trade}"
            )
        lines.append(f"{where}({d.adjustment}; {d.uncertainty})")
    return lines


def print_outcome(outcome, kpis: list[str] | None, as_json: bool) -> None:
    from sim.outcomes import HEADLINE_KPIS

    comp = outcome.comparison
    man = outcome.store.manifest
    from postloan.experiments.response_draws import response_draws_of

    block = response_draws_of(outcome.folder)
    if as_json:
        records = comp.astype(object).where(comp.notna(), None).to_dict(orient="records")
        from postloan.storage.manifest import dumps

        sys.stdout.write(
            dumps(
                {
                    "experiment_id": man["experiment_id"],
                    "folder": str(outcome.folder),
                    "champion": man["champion"],
                    "cells_computed": outcome.computed,
                    "cells_reused": outcome.reused,
                    "rows": records,
                    **({"response_draws": block} if block else {}),
                }
            )
        )
        return
    console = Console()
    kpis = kpis or list(HEADLINE_KPIS)
    for t in comparison_tables(comp, kpis, man["champion"], man["name"]):
        console.print(t)
    for line in decision_lines(comp, outcome.cells, man.get("currency", "USD")):
        console.print(escape(line), highlight=False)
    if block:
        console.print(response_draws_table(block))
        outside = [f"{k} {v}" for k, v in block["draws_with_trial_outside"].items() if v]
        console.print(
            escape(
                f"Draws with a trial outside its interval (of {block['draws']}): "
                + (", ".join(outside) or "none")
                + f" (per draw: {block['checks_file']})"
            ),
            highlight=False,
        )
        for line in block["covers"].values():
            console.print(escape(f"- {line}"), highlight=False)
    if outcome.reused:
        console.print(f"Resumed: {outcome.reused} cells were already done, {outcome.computed} run.")
    console.print(f"Results: [bold]{outcome.folder}[/bold]")


def print_calibration_note(scenario) -> None:
    """What ``scenario`` rests on, on stderr (stdout may be JSON): "illustrative, not
    calibrated" for a book fitted to nothing (:mod:`postloan.reports.banner`)."""
    from postloan.reports.banner import calibration_note

    note = calibration_note(scenario.name, scenario.calibration.model_dump())
    if note is not None:
        Console(stderr=True).print(
            f"[bold yellow]Note:[/bold yellow] {escape(note)}", highlight=False
        )


def response_draws_table(block: dict) -> Table:
    """Per challenger: the difference at the scenario's own response (noise only) and over the
    response draws kept by the trial library (and all draws): share of wins and range."""
    from postloan.formatting import format_diff

    kpi = block["objective"]
    t = Table(
        title=f"{kpi} against the champion over {block['draws']} response draws "
        f"({block['kept']} kept by {block['trials']} trials)",
        show_header=True,
        header_style="bold",
    )
    for col in ("challenger", "own response [95% CI]", "kept: wins", "kept: range", "all: wins"):
        t.add_column(col, justify="left" if col == "challenger" else "right", overflow="fold")

    def share(d: dict) -> str:
        return "-" if d["share_better"] is None else f"{d['share_better']:.0%} of {d['draws']}"

    for row in block["summary"]:
        own, kept = row["own_response"], row["kept_draws"]
        shown = [own["difference"], own["low"], own["high"], kept["low"], kept["high"]]
        scale = max((abs(v) for v in shown if v is not None), default=1.0)

        def fd(x: float, scale: float = scale) -> str:
            return format_diff(kpi, x, scale)

        ci = "-"
        if own["low"] is not None:
            ci = f"{fd(own['difference'])} [{fd(own['low'])}, {fd(own['high'])}]"
        span = "no draw kept" if kept["low"] is None else f"{fd(kept['low'])} to {fd(kept['high'])}"
        t.add_row(row["strategy"], ci, share(kept), span, share(row["all_draws"]))
    return t
