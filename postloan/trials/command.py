"""What ``postloan trial FILE_OR_FOLDER ...`` does: run published field trials on a simulated book.

The command is registered in :mod:`postloan.commands.trial`, whose error wrapper turns a
:class:`~postloan.trials.spec.TrialError` into one line on stderr and exit code 2, and Ctrl-C
into exit code 130.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from postloan.storage.manifest import dumps
from postloan.storage.paths import check_out_dir
from postloan.trials import report
from postloan.trials.arms import build_arms
from postloan.trials.runner import TrialResult, run_trial, trial_scenario
from postloan.trials.spec import load_trial, trial_files


def trial(
    paths: list[Path],
    replications: int | None,
    seed: int | None,
    as_json: bool,
    out: Path | None,
) -> None:
    """Validate every trial file, run them all, print the table (or JSON) and save it.

    Parameters
    ----------
    paths : list of Path
        Trial files or folders of them.
    replications : int, optional
        Replications per trial (default: each file's).
    seed : int, optional
        First seed; replication ``r`` uses ``seed + r`` (default: the scenario's).
    as_json : bool
        Print the results as JSON on stdout instead of the table.
    out : Path, optional
        Folder for ``trials.json`` and ``trials.csv`` (default ``results/trials/<time>``).

    Raises
    ------
    TrialError
        A file that cannot be used, raised before anything runs.
    OutputError
        ``out`` cannot be written (a file, a read-only folder), raised before anything runs.
    """
    started = dt.datetime.now(dt.UTC)
    folder = out or Path("results") / "trials" / started.strftime("%Y%m%dT%H%M%SZ")
    check_out_dir(folder)  # before anything runs, as every command does
    files = trial_files(list(paths))
    for f in files:  # validate everything before running anything
        spec = load_trial(f)
        trial_scenario(spec, f)
        build_arms(spec, f)
    specs = [load_trial(f) for f in files]
    total = sum(replications or s.replications for s in specs)
    console = Console(stderr=True)
    results: list[TrialResult] = []
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
            results.append(run_trial(f, replications, seed, lambda k: bar.advance(task, k)))
    meta = {
        "command": "postloan trial",
        "files": [str(f) for f in files],
        "replications": replications,
        "seed": seed,
        "started_utc": started.isoformat(timespec="seconds"),
        "wall_seconds": sum(r.wall_seconds for r in results),
    }
    written = report.save(results, folder, meta)
    if as_json:
        sys.stdout.write(dumps(report.json_document(results, meta)))
        return
    Console(width=80).print(report.table(results, title=f"Trials ({len(results)})"))
    counted = [r for r in results if r.counts]
    inside = sum(r.within for r in counted)
    typer.echo(
        f"{len(counted)} of {len(results)} transportable; {inside} of those inside the "
        f"published interval.\nSaved {written[0]} and {written[1].name}"
    )
