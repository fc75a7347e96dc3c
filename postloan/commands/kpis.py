"""``postloan kpis``: the outcome registry: every KPI's name, label, unit, better direction and
definition (the names experiment files, ``compare`` and ``query`` use)."""

from __future__ import annotations

import typer

from postloan.commands.errors import command


def register(app: typer.Typer) -> None:
    """Add ``kpis``."""

    @command(app)
    def kpis(
        as_json: bool = typer.Option(False, "--json", help="Print JSON"),
    ) -> None:
        """List the KPIs: name, label, unit, which way is better, and what is counted."""
        import json
        import sys

        from rich.console import Console
        from rich.table import Table

        from sim.outcomes import OUTCOMES

        rows = [
            {
                "name": f"{o.name}_<part>" if o.family else o.name,
                "label": o.label,
                "unit": o.unit,
                "better": o.direction,
                "definition": o.definition,
            }
            for o in OUTCOMES.values()
        ]
        if as_json:
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
            return
        t = Table(header_style="bold")
        t.add_column("name", overflow="fold")
        t.add_column("unit")
        t.add_column("better")
        t.add_column("definition", ratio=1)
        for r in rows:
            t.add_row(r["name"], r["unit"], r["better"], r["definition"])
        Console().print(t)
