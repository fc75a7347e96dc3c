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

from postloan import calibration_cli, experiments_cli
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
experiments_cli.register(app)

from postloan import optimize_cli  # noqa: E402

optimize_cli.register(app)

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


def _kpi_table(summary: dict, title: str, timing: dict | None = None) -> Table:
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
    if timing:
        t.add_row("account-days / s", f"{timing['account_days_per_second']:,.0f}")
    return t


@app.command()
@user_errors
def run(
    scenario: Path = typer.Argument(..., help="Scenario YAML file, e.g. scenarios/baseline.yaml"),
    strategy: str = typer.Option("standard", "--strategy", help="Strategy name or YAML file"),
    compliance: str = typer.Option(
        "us_reg_f", "--compliance", help="Compliance profile: us_reg_f, cn, none, or a YAML file"
    ),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default: the scenario's)"),
    accounts: int | None = typer.Option(None, "--accounts", help="Override the account count"),
    days: int | None = typer.Option(None, "--days", help="Override the horizon in days"),
    out: Path = typer.Option(Path("results"), "--out", help="Folder to write the run folder into"),
    as_json: bool = typer.Option(False, "--json", help="Print the summary JSON only"),
    engine: str = typer.Option(
        "vector",
        "--engine",
        help="vector (the fast engine) or abm (the Mesa agent model, books up to 200,000 accounts)",
    ),
) -> None:
    """Run a scenario under a strategy and save the results."""
    from postloan.store import save_run
    from sim.compliance import load_profile
    from sim.engine import simulate
    from sim.scenario import load_scenario
    from strategies.registry import resolve

    if seed is not None and seed < 0:
        raise fail("--seed: must be a non-negative integer")
    if engine not in ("vector", "abm"):
        raise fail(f"--engine: must be vector or abm, not {engine!r}")
    sc = load_scenario(scenario, accounts=accounts, days=days)
    if engine == "abm":
        from sim.abm import MAX_ACCOUNTS, run_abm

        if sc.accounts > MAX_ACCOUNTS:
            raise fail(
                f"--engine abm: the agent-based engine handles books up to {MAX_ACCOUNTS:,} "
                f"accounts (this one has {sc.accounts:,}); use --engine vector or --accounts"
            )
        simulate = run_abm  # same signature and RunResult
    strat = resolve(strategy)
    profile = load_profile(compliance)
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
        result = simulate(
            sc,
            strat,
            seed,
            compliance=profile,
            progress=lambda d: bar.update(task, completed=d),
        )
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
            result.timing,
        )
    )
    if "arms" in result.summary:
        t = Table(title="per arm (collected: cash from accounts in arrears; cost: contacts)")
        for c in ("arm", "accounts", "collected", "cost", "net_recovery", "churned", "30+ DPD"):
            t.add_column(c, justify="right")
        for arm, k in result.summary["arms"].items():
            t.add_row(
                arm,
                f"{k['accounts']:,}",
                f"{k['collected']:,.0f}",
                f"{k['cost']:,.0f}",
                f"{k['net_recovery']:,.0f}",
                f"{k['churned']:,}",
                f"{k['delinquency_rate_30p']:.2%}",
            )
        console.print(t)
    dropped = {k.removeprefix("dropped_"): v for k, v in result.summary["compliance"].items() if v}
    if dropped:
        console.print(
            f"Compliance ({profile.name}): dropped "
            + ", ".join(f"{k} {v:,}" for k, v in dropped.items())
        )
    console.print(f"Results: [bold]{folder}[/bold]")


@app.command()
@user_errors
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
    from sim.loans import check_terms
    from sim.loans import schedule as build

    options = {"principal": "--principal", "annual_rate": "--annual-rate", "term": "--term"}
    check_terms(principal, annual_rate, term, method.value, source="", names=options)
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
    """List the strategies known by name: the library (YAML) and the Python ones."""
    from strategies.registry import names, resolve

    t = Table(show_header=True)
    t.add_column("name")
    t.add_column("kind")
    t.add_column("description")
    for name in names():
        s = resolve(name)
        desc = getattr(s, "description", "") or (type(s).__doc__ or "").strip().splitlines()[0]
        alias = " (alias of standard)" if name == "default" else ""
        t.add_row(name, type(s).__name__, " ".join(desc.split())[:110] + alias)
    Console().print(t)


def _show_rules(s) -> None:
    t = Table(title=f"{s.name}: {' '.join(getattr(s, 'description', '').split())}")
    cols = ("channel", "dpd", "every", "per day", "hours", "priority", "fallback", "when")
    for c in cols:
        t.add_column(c)
    for r in s.rules:
        when = []
        for label, v in (
            ("purpose", r.purposes),
            ("credit", r.credits),
            ("capacity", r.capacities),
        ):
            if v:
                when.append(f"{label} {'/'.join(v)}")
        if r.uses_score:
            when.append(f"score [{r.score_min or 0:g}, {r.score_max or 1000:g})")
        if r.flags:
            when.append("flags " + "/".join(r.flags))
        if r.promise != "any":
            when.append(f"promise {r.promise}")
        if r.balance_min is not None or r.balance_max is not None:
            when.append(f"balance [{r.balance_min or 0:g}, {r.balance_max or 'inf'})")
        t.add_row(
            r.channel,
            f"{r.dpd_min}..{r.dpd_max}",
            "once" if r.once else f"{r.every_days} d",
            str(r.attempts_per_day),
            f"{r.hours[0]}-{r.hours[1]}" if r.hours else "any",
            f"{r.priority:g}",
            r.fallback or "",
            ", ".join(when),
        )
    Console().print(t)
    if getattr(s, "recovery", ()):
        rt = Table(title="after charge-off (first match wins; otherwise agency)")
        for c in ("path", "balance", "segment"):
            rt.add_column(c)
        for r in s.recovery:
            seg = " ".join("/".join(v) for v in (r.purposes, r.credits, r.capacities) if v)
            bal = (
                ""
                if r.balance_min is None and r.balance_max is None
                else f"[{r.balance_min or 0:g}, {r.balance_max or 'inf'})"
            )
            rt.add_row(r.path, bal, seg)
        Console().print(rt)


@strategies_app.command("show")
@user_errors
def strategies_show(name: str = typer.Argument(..., help="Strategy name or YAML file")) -> None:
    """Show a strategy's rules (or a split's arms)."""
    from strategies.registry import resolve

    s = resolve(name)
    if hasattr(s, "arms"):
        t = Table(title=f"{s.name}: champion/challenger split")
        t.add_column("arm")
        t.add_column("share", justify="right")
        for arm, share in zip(s.arms, s.shares, strict=True):
            t.add_row(arm, f"{share:.0%}")
        Console().print(t)
    elif hasattr(s, "rules"):
        _show_rules(s)
    else:
        desc = getattr(s, "description", "") or (type(s).__doc__ or "").strip()
        Console().print(f"{s.name}: a Python strategy. {desc}")


@strategies_app.command("validate")
@user_errors
def strategies_validate(
    path: Path = typer.Argument(..., help="Strategy YAML file"),
    scenario: Path | None = typer.Option(
        None, "--scenario", help="Check DPD ranges against this scenario's charge-off"
    ),
) -> None:
    """Check a strategy file: every problem at once (exit code 2), then warnings about rules
    that never fire or that shadow each other."""
    from sim.scenario import load_scenario
    from strategies.registry import check_strategy_file

    sc = load_scenario(scenario) if scenario is not None else None
    check = check_strategy_file(path, sc)
    s = check.strategy
    what = f"{len(s.rules)} rules" if hasattr(s, "rules") else f"{len(s.arms)} arms"
    for w in check.warnings:
        print(f"warning: {w}")
    n = len(check.warnings)
    tail = f", {n} warning{'' if n == 1 else 's'}" if n else ""
    print(f"{path}: ok ({s.name}, {what}{tail})")


def main() -> None:
    """Entry point of the ``postloan`` script."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
