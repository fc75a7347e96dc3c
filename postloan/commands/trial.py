"""``postloan trial``: randomised trials inside the lab (docs/trials.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from postloan.commands.errors import command


def register(app: typer.Typer) -> None:
    """Add ``trial``."""

    @command(app, simulates=True)
    def trial(
        paths: list[Path] = typer.Argument(..., help="Trial YAML files or folders (e.g. trials/)"),
        replications: int | None = typer.Option(
            None, "--replications", "-r", min=1, help="Replications per trial (default: the file's)"
        ),
        seed: int | None = typer.Option(
            None,
            "--seed",
            min=0,
            help="First seed; replication r uses seed + r (default: the scenario's)",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON on stdout"),
        out: Path | None = typer.Option(
            None,
            "--out",
            help="Folder for trials.json and trials.csv (default results/trials/<time>)",
        ),
    ) -> None:
        """Run randomised trials inside the lab and set each simulated effect beside the
        published one: study, published effect and interval, simulated effect and 95 %
        confidence interval, whether it falls inside the published interval, and whether the
        control arm transports (see docs/trials.md)."""
        from postloan.commands.errors import check_seed
        from postloan.trials.command import trial as run_trials

        run_trials(paths, replications, check_seed(seed), as_json, out)
