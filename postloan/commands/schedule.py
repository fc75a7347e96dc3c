"""``postloan schedule``: a loan's repayment schedule."""

from __future__ import annotations

import sys
from enum import StrEnum

import typer

from postloan.commands.errors import command


class ScheduleMethod(StrEnum):
    annuity = "annuity"
    equal_principal = "equal_principal"
    interest_only = "interest_only"


class OutputFormat(StrEnum):
    csv = "csv"
    json = "json"
    table = "table"


def register(app: typer.Typer) -> None:
    """Add ``schedule``."""

    @command(app)
    def schedule(
        principal: float = typer.Option(..., "--principal", help="Amount lent (> 0)"),
        annual_rate: float = typer.Option(
            ..., "--annual-rate", help="Nominal annual rate, 0.12 = 12 %"
        ),
        term: int = typer.Option(..., "--term", help="Number of monthly instalments"),
        method: ScheduleMethod = typer.Option(ScheduleMethod.annuity, "--method"),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="csv, json or table"),
    ) -> None:
        """Print a loan's repayment schedule: period, payment, interest, principal, balance."""
        from rich.console import Console
        from rich.table import Table

        from sim.loans import check_terms
        from sim.loans import schedule as build

        check_terms(
            principal,
            annual_rate,
            term,
            method.value,
            source="",
            names={"principal": "--principal", "annual_rate": "--annual-rate", "term": "--term"},
        )
        df = build(principal, annual_rate, term, method.value)
        if fmt is OutputFormat.csv:
            sys.stdout.write(df.to_csv(index=False, float_format="%.2f"))
        elif fmt is OutputFormat.json:
            sys.stdout.write(df.round(2).to_json(orient="records") + "\n")
        else:
            t = Table(
                title=f"{method.value}: {principal:,.2f} at {annual_rate:.2%} over {term} months"
            )
            for c in df.columns:
                t.add_column(c, justify="right")
            for row in df.itertuples(index=False):
                t.add_row(str(row.period), *(f"{v:,.2f}" for v in row[1:]))
            Console().print(t)
