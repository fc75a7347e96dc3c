"""``postloan report FOLDER``: the HTML report of a run or an experiment folder."""

from __future__ import annotations

from pathlib import Path

import typer

from postloan.commands.errors import command


def register(app: typer.Typer) -> None:
    """Add ``report``."""

    @command(app)
    def report(
        folder: Path = typer.Argument(..., help="A run folder or an experiment folder"),
    ) -> None:
        """Write a self-contained HTML report (report.html) into a run or experiment folder."""
        from rich.console import Console

        from postloan.reports.write import write_report

        path = write_report(folder)
        Console().print(f"Report: [bold]{path}[/bold]")
