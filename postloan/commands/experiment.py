"""``postloan experiment FILE`` and ``postloan compare SCENARIO --strategies A,B``: many runs,
saved cell by cell, compared with paired statistics."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from postloan.commands.errors import check_seed, command, fail
from sim.shipped import DEFAULT_SCENARIO

if TYPE_CHECKING:
    from postloan.experiments.spec import Experiment

EXPERIMENT_INTERRUPTED = (
    "interrupted: finished cells are saved; run the same command with --resume to continue"
)

#: Options shared by ``experiment`` and ``compare``.
JobsOpt = typer.Option(1, "-j", "--jobs", help="Local worker processes")
JsonOpt = typer.Option(False, "--json", help="Print the comparison as JSON")
SegmentsOpt = typer.Option(
    False,
    "--segments",
    help="Keep segment, risk and alert tables per cell (segments.parquet, risk.parquet, "
    "risk_matrix.parquet, alerts.parquet; alert counts in comparison.json); off by default: "
    "it makes every cell slower (docs/monitoring.md)",
)
AllowMixedOpt = typer.Option(
    False,
    "--allow-mixed-versions",
    help="With --resume: reuse cells computed by another model version",
)


def _check_jobs(jobs: int) -> None:
    if jobs < 1:
        raise fail("-j: must be at least 1")


def _run(
    exp: Experiment,
    out: Path,
    jobs: int,
    scheduler: str | None,
    resume: bool,
    as_json: bool,
    allow_mixed: bool,
    report: bool,
    kpis: list[str] | None,
    segments: bool = False,
) -> None:
    """Run (or resume) ``exp`` under ``out``, write its report if asked, print the outcome."""
    from postloan.commands.display import print_calibration_note, print_outcome, run_experiment

    outcome = run_experiment(
        exp, out, jobs, scheduler, resume, as_json, allow_mixed, segments=segments
    )
    if report:
        from postloan.reports.experiment import write_experiment_report

        write_experiment_report(outcome.folder)
    print_outcome(outcome, kpis, as_json)
    print_calibration_note(exp.base)


def register(app: typer.Typer) -> None:
    """Add ``experiment`` and ``compare``."""

    @command(app, interrupt_hint=EXPERIMENT_INTERRUPTED, simulates=True)
    def experiment(
        file: Path = typer.Argument(..., help="Experiment YAML file"),
        jobs: int = JobsOpt,
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
        as_json: bool = JsonOpt,
        allow_mixed: bool = AllowMixedOpt,
        segments: bool = SegmentsOpt,
    ) -> None:
        """Run an experiment: every variant x strategy x replication, saved cell by cell."""
        from postloan.experiments.spec import load_experiment
        from postloan.storage.paths import check_out_dir

        _check_jobs(jobs)
        check_out_dir(out)
        exp = load_experiment(file)
        _run(
            exp, out, jobs, scheduler, resume, as_json, allow_mixed, report, exp.spec.kpis, segments
        )

    @command(app, interrupt_hint=EXPERIMENT_INTERRUPTED, simulates=True)
    def compare(
        scenario: Path = typer.Argument(
            Path(DEFAULT_SCENARIO),
            help="Scenario: a YAML file or a shipped scenario's name (default: default)",
        ),
        strategies: str = typer.Option(
            ..., "--strategies", help="Comma-separated built-in names or rule-table files"
        ),
        replications: int = typer.Option(5, "--replications", help="Seeds per strategy"),
        champion: str | None = typer.Option(
            None, "--champion", help="Strategy the others are compared with (default: first)"
        ),
        jobs: int = JobsOpt,
        scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler"),
        seed: int | None = typer.Option(None, "--seed", help="Experiment seed, 0 to 2**63-1"),
        compliance: str | None = typer.Option(
            None, "--compliance", help="Compliance profile: us_reg_f, cn, none, or a YAML file"
        ),
        accounts: int | None = typer.Option(None, "--accounts", help="Override the account count"),
        days: int | None = typer.Option(None, "--days", help="Override the horizon in days"),
        out: Path = typer.Option(Path("results"), "--out", help="Folder for the result folder"),
        resume: bool = typer.Option(False, "--resume", help="Continue an interrupted compare"),
        report: bool = typer.Option(
            True,
            "--report/--no-report",
            help="Write report.html: which strategy wins, and the evidence",
        ),
        as_json: bool = JsonOpt,
        allow_mixed: bool = AllowMixedOpt,
        segments: bool = SegmentsOpt,
        response_draws: int | None = typer.Option(
            None,
            "--response-draws",
            help="Repeat the comparison over N Latin-hypercube draws of the response parameters "
            "(sim/response_ranges.yaml), each kept only if every trial of the library stays "
            "inside its published interval; reports the share of kept draws each challenger "
            "wins and the range of the difference",
        ),
        response_ranges: Path | None = typer.Option(
            None, "--response-ranges", help="Range table (default: sim/response_ranges.yaml)"
        ),
        trials: Path = typer.Option(
            Path("trials"), "--trials", help="Trial file or folder the draws are checked on"
        ),
        trial_scale: float = typer.Option(
            0.25, "--trial-scale", help="Each trial's book as a share of its own size, (0, 1]"
        ),
        objective: str = typer.Option(
            "net_value",
            "--objective",
            help="KPI a challenger's win over a draw is judged on (default: the priced objective)",
        ),
    ) -> None:
        """Compare strategies on one scenario: intervals and paired differences."""
        from postloan.experiments.spec import experiment_from_scenario
        from postloan.storage.paths import check_out_dir
        from sim.scenario import load_scenario

        _check_jobs(jobs)
        names = [s.strip() for s in strategies.split(",") if s.strip()]
        if len(names) < 1:
            raise fail("--strategies: name at least one strategy")
        if replications < 1:
            raise fail("--replications: must be at least 1")
        if champion is not None and champion not in names:
            raise fail(f"--champion: {champion!r} is not one of --strategies")
        check_seed(seed)
        draws = None
        if response_draws is not None:
            if response_draws < 1:
                raise fail(f"--response-draws: must be at least 1, not {response_draws}")
            if not 0 < trial_scale <= 1:
                raise fail(f"--trial-scale: must be in (0, 1], not {trial_scale:g}")
            draws = {
                "draws": response_draws,
                "ranges": None if response_ranges is None else str(response_ranges),
                "trials": str(trials),
                "trial_scale": trial_scale,
                "objective": objective,
            }
        check_out_dir(out)
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
            response_draws=draws,
        )
        _run(exp, out, jobs, scheduler, resume, as_json, allow_mixed, report, None, segments)
