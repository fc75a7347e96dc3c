"""``postloan query SQL``: read-only SQL over every saved run and experiment cell."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from postloan.commands.errors import command, fail


def register(app: typer.Typer) -> None:
    """Add ``query``."""

    @command(app)
    def query(
        sql: str = typer.Argument(
            ..., help="SQL over the views 'runs', 'segments', 'alerts' and 'cells'"
        ),
        results: Path = typer.Option(Path("results"), "--results", help="Results folder"),
        fmt: str = typer.Option("table", "--format", help="table, csv or json"),
        allow_mixed: bool = typer.Option(
            False,
            "--allow-mixed-versions",
            help="Pool results of different model versions (see the model_version column)",
        ),
    ) -> None:
        """Read-only SQL over every saved run (views 'runs', 'segments', 'alerts') and
        experiment cell (view 'cells')."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        from postloan.formatting import format_number
        from postloan.storage.query import query as run_query

        if fmt not in ("table", "csv", "json"):
            raise fail("--format: one of table, csv, json")
        df = run_query(sql, results, allow_mixed_versions=allow_mixed)
        if fmt == "csv":
            sys.stdout.write(df.to_csv(index=False))
        elif fmt == "json":
            sys.stdout.write(df.to_json(orient="records", indent=2) + "\n")
        else:
            t = Table(header_style="bold")
            for c in df.columns:
                numeric = df[c].dtype.kind in "iuf"
                t.add_column(
                    escape(str(c)), justify="right" if numeric else "left", overflow="fold"
                )
            for row in df.head(200).itertuples(index=False):
                t.add_row(*(escape(format_number(_plain(v))) for v in row))
            Console().print(t)
            if len(df) > 200:
                Console().print(f"({len(df)} rows; first 200 shown, use --format csv for all)")


def _plain(v: object) -> object:
    """numpy scalars as Python numbers (so 1565234.5 prints as 1,565,234.5, not 1.56523e+06)."""
    return v.item() if hasattr(v, "item") and not isinstance(v, str) else v
