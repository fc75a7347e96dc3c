"""``postloan trial FILE_OR_FOLDER ...``: run published field trials on a simulated book.

Register it on the CLI with :func:`register` (``register(app)``).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from postloan.trials import report
from postloan.trials.arms import build_arms
from postloan.trials.runner import TrialResult, run_trial, trial_scenario
from postloan.trials.spec import TrialError, load_trial, trial_files


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code=2)


def trial(
    paths: list[Path] = typer.Argument(..., help="Trial YAML files or folders (e.g. trials/)"),
    replications: int | None = typer.Option(
        None, "--replications", "-r", min=1, help="Replications per trial (default: the file's)"
    ),
    seed: int | None = typer.Option(
        None, "--seed", min=0, help="First seed; replication r uses seed + r (default: scenario's)"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout"),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for trials.json and trials.csv (default results/trials/<time>)"
    ),
) -> None:
    """Run randomised trials inside the lab and set each simulated effect beside the published
    one: study, published effect and interval, simulated effect and 95 % confidence interval,
    whether it falls inside the published interval, and whether the control arm transports
    (see docs/trials.md)."""
    try:
        files = trial_files(list(paths))
        for f in files:  # validate everything before running anything
            spec = load_trial(f)
            trial_scenario(spec, f)
            build_arms(spec, f)
    except TrialError as exc:
        raise _fail(str(exc)) from None
    specs = [load_trial(f) for f in files]
    total = sum(replications or s.replications for s in specs)
    console = Console(stderr=True)
    results: list[TrialResult] = []
    started = dt.datetime.now(dt.UTC)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("trials", total=total)
        for f, spec in zip(files, specs, strict=True):
            bar.update(task, description=spec.name[:28])
            try:
                results.append(run_trial(f, replications, seed, lambda k: bar.advance(task, k)))
            except TrialError as exc:
                raise _fail(str(exc)) from None
    meta = {
        "command": "postloan trial",
        "files": [str(f) for f in files],
        "replications": replications,
        "seed": seed,
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_seconds": sum(r.wall_seconds for r in results),
    }
    folder = out or Path("results") / "trials" / started.strftime("%Y%m%dT%H%M%SZ")
    written = report.save(results, folder, meta)
    if as_json:
        sys.stdout.write(report.dumps(report.json_document(results, meta)))
        return
    Console(width=80).print(report.table(results, title=f"Trials ({len(results)})"))
    counted = [r for r in results if r.counts]
    inside = sum(r.within for r in counted)
    typer.echo(
        f"{len(counted)} of {len(results)} transportable; {inside} of those inside the "
        f"published interval.\nSaved {written[0]} and {written[1].name}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``trial`` command to a Typer app."""
    app.command("trial")(trial)
