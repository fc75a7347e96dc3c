"""The ``postloan`` command line."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from postloan import calibration_cli
from postloan.errors import fail, user_errors

app = typer.Typer(
    help="PostLoan Lab: simulate a loan book after disbursement and try collections strategies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
strategies_app = typer.Typer(
    help="List, show and validate collections strategies.", no_args_is_help=True
)
app.add_typer(strategies_app, name="strategies")

calibration_cli.register(app)

try:  # the operations model mounts itself when present
    from postloan.staffing_cli import staffing_app

    app.add_typer(staffing_app, name="staffing")
except ImportError:  # pragma: no cover
    pass

err = Console(stderr=True)


class ScheduleMethod(StrEnum):
    annuity = "annuity"
    equal_principal = "equal_principal"
    interest_only = "interest_only"


class OutputFormat(StrEnum):
    csv = "csv"
    json = "json"
    table = "table"


def _kpi_table(summary: dict, title: str) -> Table:
    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("KPI")
    t.add_column("value", justify="right")
    money = ("collected", "cost", "net_recovery", "charge_off_amount", "lifetime_value_lost")
    for k in money:
        t.add_row(k, f"{summary[k]:,.0f}")
    t.add_row("cure_rate", f"{summary['cure_rate']:.1%}")
    t.add_row("self_cure_share", f"{summary['self_cure_share']:.1%}")
    t.add_row("monthly current -> 1-30", f"{summary['roll_rates']['current']['1-30'] or 0:.2%}")
    t.add_row("delinquency_rate_30p", f"{summary['delinquency_rate_30p']:.2%}")
    t.add_row("npl_ratio_90p", f"{summary['npl_ratio_90p']:.2%}")
    for k in ("charge_offs", "churned", "complaints", "compliance_breaches", "promises_made"):
        t.add_row(k, f"{summary[k]:,}")
    contacts = ", ".join(f"{c} {n:,}" for c, n in summary["contacts"].items() if n)
    t.add_row("contacts", contacts or "none")
    t.add_row("account-days / s", f"{summary['account_days_per_second']:,.0f}")
    return t


@app.command()
@user_errors
def run(
    scenario: Path = typer.Argument(..., help="Scenario YAML file, e.g. scenarios/baseline.yaml"),
    strategy: str = typer.Option("default", "--strategy", help="Built-in name or rule-table file"),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default: the scenario's)"),
    accounts: int | None = typer.Option(None, "--accounts", help="Override the account count"),
    days: int | None = typer.Option(None, "--days", help="Override the horizon in days"),
    out: Path = typer.Option(Path("results"), "--out", help="Folder to write the run folder into"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary JSON only"),
) -> None:
    """Run a scenario under a strategy and save the results."""
    from postloan.store import save_run
    from sim.engine import simulate
    from sim.scenario import load_scenario
    from strategies.registry import resolve

    if seed is not None and seed < 0:
        raise fail("--seed: must be a non-negative integer")
    sc = load_scenario(scenario, accounts=accounts, days=days)
    strat = resolve(strategy)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task(f"{sc.name} x {strat.name}", total=sc.days)
        result = simulate(sc, strat, seed, progress=lambda d: bar.update(task, completed=d))
    folder = save_run(result, out)
    if as_json:
        sys.stdout.write(json.dumps(result.summary, indent=2) + "\n")
        return
    console = Console()
    console.print(
        _kpi_table(
            result.summary,
            f"{sc.name}: {sc.accounts:,} accounts x {sc.days} days, "
            f"strategy {strat.name}, seed {result.seed}",
        )
    )
    console.print(f"Results: [bold]{folder}[/bold]")


@app.command()
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
    from sim.loans import schedule as build

    if not principal > 0:
        raise fail("--principal: must be greater than 0")
    if not 0 <= annual_rate <= 1:
        raise fail("--annual-rate: must be between 0 and 1 (0.12 means 12 %)")
    if not 1 <= term <= 480:
        raise fail("--term: must be between 1 and 480 months")
    df = build(principal, annual_rate, term, method.value)
    if fmt is OutputFormat.csv:
        sys.stdout.write(df.to_csv(index=False, float_format="%.2f"))
    elif fmt is OutputFormat.json:
        sys.stdout.write(df.round(2).to_json(orient="records") + "\n")
    else:
        t = Table(title=f"{method.value}: {principal:,.2f} at {annual_rate:.2%} over {term} months")
        for c in df.columns:
            t.add_column(c, justify="right")
        for row in df.itertuples(index=False):
            t.add_row(str(row.period), *(f"{v:,.2f}" for v in row[1:]))
        Console().print(t)


@strategies_app.command("list")
def strategies_list() -> None:
    """List the built-in strategies."""
    from strategies.registry import BUILT_IN

    t = Table(show_header=True)
    t.add_column("name")
    t.add_column("description")
    for name, make in BUILT_IN.items():
        s = make()
        t.add_row(name, getattr(s, "description", "") or (type(s).__doc__ or "").splitlines()[0])
    Console().print(t)


@strategies_app.command("show")
@user_errors
def strategies_show(
    name: str = typer.Argument(..., help="Built-in name or rule-table file"),
) -> None:
    """Show a strategy's rules."""
    from strategies.registry import resolve

    s = resolve(name)
    rules = getattr(s, "rules", ())
    t = Table(title=f"{s.name}: {getattr(s, 'description', '')}")
    for c in (
        "channel",
        "dpd_min",
        "dpd_max",
        "every_days",
        "priority",
        "once",
        "hardship_seen_only",
    ):
        t.add_column(c)
    for r in rules:
        t.add_row(
            r.channel,
            str(r.dpd_min),
            str(r.dpd_max),
            str(r.every_days),
            f"{r.priority:g}",
            str(r.once),
            str(r.hardship_seen_only),
        )
    Console().print(t if rules else f"{s.name}: contacts nobody")


@strategies_app.command("validate")
@user_errors
def strategies_validate(path: Path = typer.Argument(..., help="Rule-table YAML file")) -> None:
    """Check a rule-table file; exit code 2 with the problems when it is broken."""
    from strategies.registry import load_rule_table

    s = load_rule_table(path)
    Console().print(f"{path}: ok ({s.name}, {len(s.rules)} rules)")


def main() -> None:
    """Entry point of the ``postloan`` script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
