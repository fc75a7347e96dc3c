"""``postloan runs list | show``: the saved runs and experiments."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from postloan.commands.errors import command


def register(app: typer.Typer) -> None:
    """Add the ``runs`` group."""
    runs_app = typer.Typer(help="List and show saved runs and experiments.", no_args_is_help=True)
    app.add_typer(runs_app, name="runs")

    @command(runs_app, "list")
    def runs_list(
        results: Path = typer.Option(Path("results"), "--results", help="Results folder"),
        as_json: bool = typer.Option(False, "--json", help="Print JSON"),
    ) -> None:
        """Every run and experiment folder, newest first."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from postloan.storage.catalog import list_results

        df = list_results(results)
        if as_json:
            sys.stdout.write(df.to_json(orient="records", indent=2) + "\n")
            return
        if df.empty:
            Console().print(f"No runs or experiments under {results}.")
            return
        # every column folds long names onto more lines instead of cutting them ("sce...")
        t = Table(header_style="bold")
        for name, justify in (
            ("id", "left"),
            ("kind", "left"),
            ("scenario", "left"),
            ("strategy", "left"),
            ("book", "right"),
            ("status", "left"),
        ):
            t.add_column(name, justify=justify, overflow="fold")
        for r in df.itertuples(index=False):
            book = f"{int(r.accounts):,} x {int(r.days)}" if r.accounts == r.accounts else ""
            t.add_row(
                escape(r.id),
                r.kind,
                escape(str(r.scenario)),
                escape(str(r.strategy)),
                book,
                escape(str(r.status)),
            )
        Console().print(t)

    @command(runs_app, "show")
    def runs_show(
        ident: str = typer.Argument(..., metavar="ID", help="Folder name (or a unique part)"),
        results: Path = typer.Option(Path("results"), "--results", help="Results folder"),
        as_json: bool = typer.Option(False, "--json", help="Print JSON"),
    ) -> None:
        """A run's manifest and summary, or an experiment's manifest and comparison."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from postloan.commands.display import comparison_tables
        from postloan.formatting import format_value
        from postloan.storage.catalog import find_result
        from postloan.storage.experiments import ExperimentStore
        from postloan.storage.manifest import read_manifest
        from sim.outcomes import HEADLINE_KPIS

        folder = find_result(results, ident)
        man = read_manifest(folder) or {}
        if man.get("kind") == "experiment":
            status, on_disk, total = ExperimentStore(folder).status()
            man = {**man, "status": status, "cells_done": on_disk}
            comp_path = folder / "comparison.json"
            comp = json.loads(comp_path.read_text()) if comp_path.exists() else None
            if as_json:
                sys.stdout.write(json.dumps({"manifest": man, "comparison": comp}, indent=2))
                sys.stdout.write("\n")
                return
            console = Console()
            console.print(f"[bold]{escape(folder.name)}[/bold] ({status}, {on_disk}/{total} cells)")
            for k in (
                "name",
                "scenario",
                "accounts",
                "days",
                "strategies",
                "champion",
                "replications",
                "seed",
                "code_commit",
                "created",
                "wall_seconds",
            ):
                console.print(f"  {k}: {man.get(k)}")
            if comp:
                import pandas as pd

                df = pd.DataFrame(comp["rows"])
                if not df.empty:
                    for t in comparison_tables(df, list(HEADLINE_KPIS), man["champion"], "KPIs"):
                        console.print(t)
            return
        summary_path = folder / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
        if as_json:
            sys.stdout.write(json.dumps({"manifest": man, "summary": summary}, indent=2) + "\n")
            return
        console = Console()
        console.print(f"[bold]{folder.name}[/bold]")
        for k in ("scenario", "strategy", "seed", "accounts", "days", "code_commit", "created"):
            console.print(f"  {k}: {man.get(k)}")
        t = Table(header_style="bold")
        t.add_column("KPI")
        t.add_column("value", justify="right")
        for k in HEADLINE_KPIS:
            if k in summary:
                t.add_row(k, format_value(k, summary[k]))
        console.print(t)
