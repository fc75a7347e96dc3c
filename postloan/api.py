"""The Python API: what the CLI does, as functions that return pandas DataFrames.

Example (a notebook)::

    from postloan import api

    one = api.run_scenario("scenarios/small.yaml", "default", accounts=2000, days=90)
    comp = api.compare("scenarios/small.yaml", ["default", "none"], replications=5,
                       accounts=2000, days=90, jobs=2)
    comp[comp.kpi == "net_recovery"][["strategy", "mean", "diff", "diff_ci_low",
                                     "diff_ci_high", "verdict"]]
    cells = api.run_experiment("scenarios/experiments/example.yaml", jobs=2)
    api.query("SELECT strategy, avg(net_recovery) FROM cells GROUP BY strategy")
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from postloan.experiments.comparison import compare_cells
from postloan.experiments.runner import Outcome, execute_experiment
from postloan.experiments.spec import Experiment, experiment_from_scenario, load_experiment
from postloan.storage.experiments import ExperimentStore, flatten
from postloan.storage.query import query as _query
from sim.scenario import Scenario, load_scenario

__all__ = [
    "compare",
    "compare_cells",
    "load_cells",
    "load_comparison",
    "query",
    "run_experiment",
    "run_scenario",
]


def run_scenario(
    scenario: str | Path | Scenario,
    strategy: str = "default",
    *,
    seed: int | None = None,
    accounts: int | None = None,
    days: int | None = None,
    out: str | Path | None = None,
    daily: bool = False,
    compliance: str | None = None,
) -> pd.DataFrame:
    """Run one scenario under one strategy.

    Returns
    -------
    DataFrame
        One row: every summary KPI (nested ones flattened, as in ``cells.parquet``); with
        ``daily=True`` the daily KPI table instead. ``df.attrs["summary"]`` holds the summary
        dict and, with ``out``, ``df.attrs["folder"]`` the saved run folder.
    """
    from sim.engine import simulate
    from strategies.registry import resolve

    if isinstance(scenario, Scenario):
        changes = {k: v for k, v in {"accounts": accounts, "days": days}.items() if v}
        sc = scenario.with_overrides(**changes) if changes else scenario
    else:
        sc = load_scenario(scenario, accounts=accounts, days=days)
    extra = {}
    if compliance is not None:
        from sim.compliance import load_profile

        extra["compliance"] = load_profile(compliance)
    result = simulate(sc, resolve(strategy), seed, **extra)
    df = result.daily.copy() if daily else pd.DataFrame([flatten(result.summary)])
    if not daily:
        df.insert(0, "strategy", result.strategy)
        df.insert(0, "scenario", sc.name)
    df.attrs["summary"] = result.summary
    if out is not None:
        from postloan.storage.runs import save_run

        df.attrs["folder"] = str(save_run(result, out))
    return df


def _outcome(
    exp: Experiment,
    out: str | Path | None,
    jobs: int,
    scheduler: str | None,
    resume: bool,
) -> Outcome:
    if out is None:
        import tempfile

        out = tempfile.mkdtemp(prefix="postloan-")
    return execute_experiment(exp, out, jobs=jobs, scheduler=scheduler, resume=resume)


def compare(
    scenario: str | Path | Scenario,
    strategies: list[str],
    *,
    replications: int = 5,
    champion: str | None = None,
    seed: int | None = None,
    accounts: int | None = None,
    days: int | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    out: str | Path | None = None,
    compliance: str | None = None,
) -> pd.DataFrame:
    """Compare strategies on one scenario with common random numbers.

    Returns
    -------
    DataFrame
        The comparison (see :func:`postloan.experiments.comparison.compare_cells`);
        ``attrs["cells"]`` holds the cells and ``attrs["folder"]`` the experiment folder (a
        temporary one without ``out``).
    """
    exp = experiment_from_scenario(
        scenario,
        list(strategies),
        replications=replications,
        champion=champion,
        seed=seed,
        accounts=accounts,
        days=days,
        compliance=compliance,
    )
    o = _outcome(exp, out, jobs, scheduler, False)
    comp = o.comparison.copy()
    comp.attrs["cells"] = o.cells
    comp.attrs["folder"] = str(o.folder)
    return comp


def run_experiment(
    spec: str | Path | Experiment,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    out: str | Path | None = "results",
    report: bool = False,
) -> pd.DataFrame:
    """Run an experiment file (or a loaded :class:`Experiment`).

    Returns
    -------
    DataFrame
        The cells (one row per variant x sample x strategy x replication);
        ``attrs["comparison"]`` holds the comparison and ``attrs["folder"]`` the folder.
    """
    exp = spec if isinstance(spec, Experiment) else load_experiment(spec)
    o = _outcome(exp, out, jobs, scheduler, resume)
    if report:
        from postloan.reports.experiment import write_experiment_report

        write_experiment_report(o.folder)
    cells = o.cells.copy()
    cells.attrs["comparison"] = o.comparison
    cells.attrs["folder"] = str(o.folder)
    return cells


def load_cells(folder: str | Path) -> pd.DataFrame:
    """The cells of an experiment folder (finished cells only while it is still running)."""
    return ExperimentStore(Path(folder)).load_cells()


def load_comparison(folder: str | Path) -> pd.DataFrame:
    """The comparison table of a finished experiment folder, at full precision
    (``comparison.json``; ``comparison.csv`` is rounded for people)."""
    import json

    rows = json.loads((Path(folder) / "comparison.json").read_text())["rows"]
    return pd.DataFrame(rows)


def query(
    sql: str, results: str | Path = "results", allow_mixed_versions: bool = False
) -> pd.DataFrame:
    """Read-only SQL over the views ``runs`` and ``cells`` of every saved result (DuckDB);
    results of several model versions only with ``allow_mixed_versions``."""
    return _query(sql, results, allow_mixed_versions=allow_mixed_versions)
