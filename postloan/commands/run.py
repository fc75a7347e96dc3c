"""``postloan run``: one scenario under one strategy, saved as a run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from postloan.commands.errors import check_seed, command, fail
from sim.shipped import DEFAULT_SCENARIO

RUN_INTERRUPTED = "interrupted: no run folder was written"

#: ``--monitoring`` values that switch the management views off.
MONITORING_OFF = "none"


def _views(monitoring: str | None):
    """The management views for ``--monitoring`` (None: the shipped default set; ``none``:
    off), the file loaded and checked before anything runs."""
    from sim.management import ManagementViews
    from sim.monitoring import load_monitoring

    if monitoring == MONITORING_OFF:
        return None
    return ManagementViews(None if monitoring is None else load_monitoring(monitoring))


def _kpi_table(summary: dict, title: str, currency: str, timing: dict):
    from rich.table import Table

    t = Table(title=title, show_header=True, header_style="bold")
    t.add_column("KPI")
    t.add_column("value", justify="right")
    money = (
        "net_value",
        "collected",
        "cost",
        "net_recovery",
        "charge_off_amount",
        "lifetime_value_lost",
        "interest_margin_lost",
        "complaint_cost",
    )
    for k in money:
        t.add_row(f"{k} ({currency})", f"{summary[k]:,.0f}")
    t.add_row("cure_rate", f"{summary['cure_rate']:.1%}")
    t.add_row("self_cure_share", f"{summary['self_cure_share']:.1%}")
    t.add_row("monthly current -> 1-30", f"{summary['roll_rates']['current']['1-30'] or 0:.2%}")
    t.add_row("delinquency_rate_30p", f"{summary['delinquency_rate_30p']:.2%}")
    t.add_row("npl_ratio_90p", f"{summary['npl_ratio_90p']:.2%}")
    for k in ("charge_offs", "churned", "complaints", "compliance_breaches", "promises_made"):
        t.add_row(k, f"{summary[k]:,}")
    contacts = ", ".join(f"{c} {n:,}" for c, n in summary["contacts"].items() if n)
    t.add_row("contacts", contacts or "none")
    if "account_days_per_second" in timing:
        t.add_row("account-days / s", f"{timing['account_days_per_second']:,.0f}")
    return t


def _alerts_table(alerts: list[dict]):
    """The alerts in the order they fired, narrow enough for 80 columns."""
    from rich.table import Table

    t = Table(title=f"Monitoring alerts ({len(alerts)})", show_header=True, header_style="bold")
    t.add_column("day", justify="right")
    t.add_column("KPI", overflow="fold")
    t.add_column("value", justify="right")
    t.add_column("threshold", justify="right")
    t.add_column("severity")
    for a in alerts:
        rel = "<" if a["direction"] == "below" else ">"
        change = {"change": "change ", "relative_change": "rel. change "}.get(a["measure"], "")
        t.add_row(
            str(a["day"]),
            a["kpi"],
            f"{a['value']:.4g}",
            f"{change}{rel} {a['threshold']:.4g}",
            a["severity"],
        )
    return t


def _arms_table(arms: dict):
    from rich.table import Table

    t = Table(title="per arm (collected: cash from accounts in arrears; cost: contacts)")
    for c in ("arm", "accounts", "collected", "cost", "net_recovery", "churned", "30+ DPD"):
        t.add_column(c, justify="right")
    for arm, k in arms.items():
        t.add_row(
            arm,
            f"{k['accounts']:,}",
            f"{k['collected']:,.0f}",
            f"{k['cost']:,.0f}",
            f"{k['net_recovery']:,.0f}",
            f"{k['churned']:,}",
            f"{k['delinquency_rate_30p']:.2%}",
        )
    return t


def register(app: typer.Typer) -> None:
    """Add ``run``."""

    @command(app, interrupt_hint=RUN_INTERRUPTED, simulates=True)
    def run(
        scenario: Path = typer.Argument(
            Path(DEFAULT_SCENARIO),
            help="Scenario: a YAML file or a shipped scenario's name (default: default)",
        ),
        strategy: str = typer.Option("standard", "--strategy", help="Strategy name or YAML file"),
        compliance: str = typer.Option(
            "us_reg_f",
            "--compliance",
            help="Compliance profile: us_reg_f, cn, none, or a YAML file",
        ),
        seed: int | None = typer.Option(
            None, "--seed", help="Random seed, 0 to 2**63-1 (default: the scenario's)"
        ),
        accounts: int | None = typer.Option(None, "--accounts", help="Override the account count"),
        days: int | None = typer.Option(None, "--days", help="Override the horizon in days"),
        out: Path = typer.Option(
            Path("results"), "--out", help="Folder to write the run folder into"
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the summary JSON only"),
        engine: str = typer.Option(
            "vector",
            "--engine",
            help="vector (the fast engine) or abm (the Mesa agent model, up to 200,000 accounts)",
        ),
        monitoring: str | None = typer.Option(
            None,
            "--monitoring",
            help="Monitoring file (YAML, docs/monitoring.md) for the segment, risk and alert "
            "tables; default: the shipped set (sim/monitoring/default.yaml); 'none': no "
            "management views (about 2.7x faster)",
        ),
    ) -> None:
        """Run a scenario under a strategy and save the results."""
        import json
        import sys

        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from postloan.storage.paths import check_out_dir, folder_part
        from postloan.storage.runs import save_run, timing
        from sim.compliance import load_profile
        from sim.scenario import load_scenario
        from strategies.registry import resolve

        check_seed(seed)
        if engine not in ("vector", "abm"):
            raise fail(f"--engine: must be vector or abm, not {engine!r}")
        check_out_dir(out)  # before the simulation, not after it
        sc = load_scenario(scenario, accounts=accounts, days=days)
        folder_part(sc.name, f"{scenario}: field 'name':")
        if engine == "abm":
            from sim.abm import MAX_ACCOUNTS, run_abm

            if sc.accounts > MAX_ACCOUNTS:
                raise fail(
                    f"--engine abm: the agent-based engine handles books up to {MAX_ACCOUNTS:,} "
                    f"accounts (this one has {sc.accounts:,}); use --engine vector or --accounts"
                )
            simulate = run_abm  # same signature and RunResult
        else:
            from sim.engine import simulate
        strat = resolve(strategy)
        folder_part(str(strat.name), f"--strategy {strategy}: its name")
        profile = load_profile(compliance)
        views = _views(monitoring)
        err = Console(stderr=True)
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
                observers=views.observers if views is not None else (),
            )
        folder = save_run(result, out, views=views)
        from postloan.commands.display import print_calibration_note

        print_calibration_note(sc)
        # what was saved, monitoring block included (views.summary is computed once)
        summary = json.loads((folder / "summary.json").read_text())
        if as_json:
            sys.stdout.write(json.dumps(summary, indent=2) + "\n")
            return
        console = Console()
        currency = getattr(sc, "currency", "USD")
        console.print(
            _kpi_table(
                summary,
                f"{sc.name}: {sc.accounts:,} accounts x {sc.days} days, "
                f"strategy {strat.name}, seed {result.seed}",
                currency,
                timing(result),
            )
        )
        alerts = summary.get("monitoring", {}).get("alerts")
        if alerts:
            console.print(_alerts_table(alerts))
        elif "monitoring" in summary:
            console.print(f"Monitoring ({summary['monitoring']['monitoring']}): no alert")
        for b in summary.get("monitoring", {}).get("concentration_breaches", []):
            where = b["segment_kind"] + (f":{b['segment']}" if b["segment"] is not None else "")
            console.print(
                f"Concentration limit breached: {b['measure']} of {where} "
                f"{b['value']:.4g} > {b['limit']:.4g}"
            )
        if "arms" in summary:
            console.print(_arms_table(summary["arms"]))
        dropped = {k.removeprefix("dropped_"): v for k, v in summary["compliance"].items() if v}
        if dropped:
            console.print(
                f"Compliance ({profile.name}): dropped "
                + ", ".join(f"{k} {v:,}" for k, v in dropped.items())
            )
        console.print(f"Results: [bold]{folder}[/bold]")
