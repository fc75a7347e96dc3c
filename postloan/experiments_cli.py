"""CLI commands for experiments, comparisons, the results store, queries and reports.

``register(app)`` adds to the ``postloan`` app::

    postloan experiment FILE [-j N] [--scheduler ADDRESS] [--resume] [--out DIR]
    postloan compare SCENARIO --strategies A,B,C [--replications R] [--champion A] [-j N] ...
    postloan runs list | postloan runs show ID
    postloan query "SQL"
    postloan report FOLDER

User errors (a broken experiment file, an unknown strategy, a bad query) print one message
and exit with code 2, without a traceback and without leaving a half-written folder.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import typer
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

from postloan.errors import USER_ERRORS, fail

err = Console(stderr=True)


def _user_errors(fn: Callable) -> Callable:
    """Experiment, scenario, strategy, query and report errors -> one message, exit 2."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        from postloan.experiment import ExperimentError
        from postloan.query import QueryError
        from postloan.report import ReportError
        from postloan.results_store import ResultNotFound

        try:
            return fn(*args, **kwargs)
        except (*USER_ERRORS, ExperimentError, QueryError, ReportError, ResultNotFound) as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            print(
                "interrupted: finished cells are saved; run the same command with --resume "
                "to continue",
                file=sys.stderr,
            )
            raise typer.Exit(code=130) from None

    return wrapper


def _progress(disable: bool = False) -> Progress:
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


def _check_jobs(jobs: int) -> None:
    if jobs < 1:
        raise fail("-j: must be at least 1")


def _run(exp, out: Path, jobs: int, scheduler: str | None, resume: bool, quiet: bool):
    from postloan.runner import execute_experiment

    with _progress(disable=quiet) as bar:
        task = bar.add_task(exp.name, total=len(exp.cells()))

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            return execute_experiment(
                exp, out, jobs=jobs, scheduler=scheduler, resume=resume, progress=progress
            )
        except OSError as exc:
            if scheduler and "connect" in str(exc).lower():
                raise fail(f"--scheduler: cannot reach {scheduler}: {exc}") from None
            raise


def _comparison_table(comp, kpis: list[str], champion: str, title: str) -> list[Table]:
    from postloan.compare import format_value, headline

    tables = []
    sub = headline(comp, kpis)
    for (_vi, vlabel), vc in sub.groupby(["variant", "variant_label"], sort=True):
        strategies = list(dict.fromkeys(vc["strategy"]))
        t = Table(
            title=escape(f"{title}: {vlabel}" if vlabel != "base" else title),
            header_style="bold",
        )
        t.add_column("KPI")
        for s in strategies:
            t.add_column(escape(f"{s}{' (champion)' if s == champion else ''}"), justify="right")
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


def _print_outcome(outcome, kpis: list[str] | None, as_json: bool) -> None:
    from postloan.compare import HEADLINE_KPIS, headline

    comp = outcome.comparison
    man = outcome.store.manifest
    if as_json:
        records = comp.astype(object).where(comp.notna(), None).to_dict(orient="records")
        from postloan.results_store import dumps

        sys.stdout.write(
            dumps(
                {
                    "experiment_id": man["experiment_id"],
                    "folder": str(outcome.folder),
                    "champion": man["champion"],
                    "cells_computed": outcome.computed,
                    "cells_reused": outcome.reused,
                    "rows": records,
                }
            )
        )
        return
    console = Console()
    kpis = kpis or list(HEADLINE_KPIS)
    for t in _comparison_table(comp, kpis, man["champion"], man["name"]):
        console.print(t)
    chal = headline(comp, ["net_recovery", "cost", "churned", "complaints"])
    chal = chal[chal["strategy"] != chal["champion"]]
    for _, r in chal.iterrows():
        label = f"[{r['variant_label']}] " if r["variant_label"] != "base" else ""
        console.print(escape(f"{label}{r['verdict']}"), highlight=False)
    if outcome.reused:
        console.print(f"Resumed: {outcome.reused} cells were already done, {outcome.computed} run.")
    console.print(f"Results: [bold]{outcome.folder}[/bold]")


def register(app: typer.Typer) -> None:
    """Add the experiment, compare, runs, query and report commands to ``app``."""

    @app.command()
    @_user_errors
    def experiment(
        file: Path = typer.Argument(..., help="Experiment YAML file"),
        jobs: int = typer.Option(1, "-j", "--jobs", help="Local worker processes"),
        scheduler: str | None = typer.Option(
            None,
            "--scheduler",
            help="Dask scheduler address (tcp://host:8786), or 'local' for a local Dask "
            "cluster of -j workers",
        ),
        resume: bool = typer.Option(
            False, "--resume", help="Continue the newest folder of this experiment"
        ),
        out: Path = typer.Option(Path("results"), "--out", help="Folder for experiment folders"),
        report: bool = typer.Option(True, "--report/--no-report", help="Write report.html"),
        as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON"),
    ) -> None:
        """Run an experiment: every variant x strategy x replication, saved cell by cell."""
        from postloan.experiment import load_experiment

        _check_jobs(jobs)
        exp = load_experiment(file)
        outcome = _run(exp, out, jobs, scheduler, resume, as_json)
        if report:
            from postloan.report import write_experiment_report

            write_experiment_report(outcome.folder)
        _print_outcome(outcome, exp.spec.kpis, as_json)

    @app.command()
    @_user_errors
    def compare(
        scenario: Path = typer.Argument(..., help="Scenario YAML file"),
        strategies: str = typer.Option(
            ..., "--strategies", help="Comma-separated built-in names or rule-table files"
        ),
        replications: int = typer.Option(5, "--replications", help="Seeds per strategy"),
        champion: str | None = typer.Option(
            None, "--champion", help="Strategy the others are compared with (default: first)"
        ),
        jobs: int = typer.Option(1, "-j", "--jobs", help="Local worker processes"),
        scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler"),
        seed: int | None = typer.Option(None, "--seed", help="Experiment seed"),
        compliance: str | None = typer.Option(
            None, "--compliance", help="Compliance profile: us_reg_f, cn, none, or a YAML file"
        ),
        accounts: int | None = typer.Option(None, "--accounts", help="Override the account count"),
        days: int | None = typer.Option(None, "--days", help="Override the horizon in days"),
        out: Path = typer.Option(Path("results"), "--out", help="Folder for the result folder"),
        resume: bool = typer.Option(False, "--resume", help="Continue an interrupted compare"),
        report: bool = typer.Option(False, "--report", help="Also write report.html"),
        as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON"),
    ) -> None:
        """Compare strategies on one scenario: intervals and paired differences."""
        from postloan.experiment import experiment_from_scenario
        from sim.scenario import load_scenario

        _check_jobs(jobs)
        names = [s.strip() for s in strategies.split(",") if s.strip()]
        if len(names) < 1:
            raise fail("--strategies: name at least one strategy")
        if replications < 1:
            raise fail("--replications: must be at least 1")
        if champion is not None and champion not in names:
            raise fail(f"--champion: {champion!r} is not one of --strategies")
        if seed is not None and seed < 0:
            raise fail("--seed: must be a non-negative integer")
        load_scenario(scenario, accounts=accounts, days=days)  # validate overrides first
        exp = experiment_from_scenario(
            scenario,
            names,
            replications=replications,
            champion=champion,
            seed=seed,
            accounts=accounts,
            days=days,
            compliance=compliance,
        )
        outcome = _run(exp, out, jobs, scheduler, resume, as_json)
        if report:
            from postloan.report import write_experiment_report

            write_experiment_report(outcome.folder)
        _print_outcome(outcome, None, as_json)

    runs_app = typer.Typer(help="List and show saved runs and experiments.", no_args_is_help=True)
    app.add_typer(runs_app, name="runs")

    @runs_app.command("list")
    @_user_errors
    def runs_list(
        results: Path = typer.Option(Path("results"), "--results", help="Results folder"),
        as_json: bool = typer.Option(False, "--json", help="Print JSON"),
    ) -> None:
        """Every run and experiment folder, newest first."""
        from postloan.results_store import list_results

        df = list_results(results)
        if as_json:
            sys.stdout.write(df.to_json(orient="records", indent=2) + "\n")
            return
        if df.empty:
            Console().print(f"No runs or experiments under {results}.")
            return
        t = Table(header_style="bold")
        t.add_column("id", no_wrap=True)
        t.add_column("kind")
        t.add_column("scenario")
        t.add_column("strategy")
        t.add_column("book", justify="right")
        t.add_column("status")
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

    @runs_app.command("show")
    @_user_errors
    def runs_show(
        ident: str = typer.Argument(..., metavar="ID", help="Folder name (or a unique part)"),
        results: Path = typer.Option(Path("results"), "--results", help="Results folder"),
        as_json: bool = typer.Option(False, "--json", help="Print JSON"),
    ) -> None:
        """A run's manifest and summary, or an experiment's manifest and comparison."""
        from postloan.compare import HEADLINE_KPIS, format_value
        from postloan.results_store import find_result, read_manifest

        folder = find_result(results, ident)
        man = read_manifest(folder) or {}
        if man.get("kind") == "experiment":
            comp_path = folder / "comparison.json"
            comp = json.loads(comp_path.read_text()) if comp_path.exists() else None
            if as_json:
                sys.stdout.write(json.dumps({"manifest": man, "comparison": comp}, indent=2))
                sys.stdout.write("\n")
                return
            console = Console()
            console.print(
                f"[bold]{folder.name}[/bold] ({man.get('status')}, "
                f"{man.get('cells_done')}/{man.get('cells_total')} cells)"
            )
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
                    for t in _comparison_table(df, list(HEADLINE_KPIS), man["champion"], "KPIs"):
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

    @app.command()
    @_user_errors
    def query(
        sql: str = typer.Argument(..., help="SQL over the views 'runs' and 'cells'"),
        results: Path = typer.Option(Path("results"), "--results", help="Results folder"),
        fmt: str = typer.Option("table", "--format", help="table, csv or json"),
    ) -> None:
        """SQL over every saved run (view 'runs') and experiment cell (view 'cells')."""
        from postloan.query import query as run_query

        if fmt not in ("table", "csv", "json"):
            raise fail("--format: one of table, csv, json")
        df = run_query(sql, results)
        if fmt == "csv":
            sys.stdout.write(df.to_csv(index=False))
        elif fmt == "json":
            sys.stdout.write(df.to_json(orient="records", indent=2) + "\n")
        else:
            t = Table(header_style="bold")
            for c in df.columns:
                t.add_column(str(c))
            for row in df.head(200).itertuples(index=False):
                t.add_row(*(f"{v:,.6g}" if isinstance(v, float) else str(v) for v in row))
            Console().print(t)
            if len(df) > 200:
                Console().print(f"({len(df)} rows; first 200 shown, use --format csv for all)")

    @app.command()
    @_user_errors
    def report(
        folder: Path = typer.Argument(..., help="A run folder or an experiment folder"),
    ) -> None:
        """Write a self-contained HTML report (report.html) into a run or experiment folder."""
        from postloan.report import write_report

        path = write_report(folder)
        Console().print(f"Report: [bold]{path}[/bold]")


def main() -> None:  # pragma: no cover - for running this module alone
    """``python -m postloan.experiments_cli``: these commands without the rest of the CLI."""
    app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
    register(app)
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
