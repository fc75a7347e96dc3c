"""The Python API: what the CLI does, as functions that return pandas DataFrames.

Example (a notebook)::

    from postloan import api

    one = api.run_scenario("scenarios/small.yaml", "standard", accounts=2000, days=90,
                           overrides={"behaviour.promise_keep": 0.5})
    comp = api.compare("scenarios/small.yaml", ["standard", "none"], replications=5,
                       accounts=2000, days=90, jobs=2)
    comp[comp.kpi == "net_recovery"][["strategy", "mean", "diff", "diff_ci_low",
                                     "diff_ci_high", "verdict"]]
    cells = api.load_cells(comp.attrs["folder"])
    cells = api.run_experiment("scenarios/experiments/example.yaml", jobs=2)
    api.query("SELECT strategy, avg(net_recovery) FROM cells GROUP BY strategy")

Every result is a plain DataFrame. Its ``attrs`` hold only JSON scalars (the folder written,
the champion, the seed...), never other frames, so pandas operations (``groupby``, ``concat``,
``merge``, ``to_parquet``) work on it as on any frame; the other tables of a run or experiment
are read back from its folder (:func:`load_cells`, :func:`load_comparison`).

Strategies are given by name (``"standard"``; ``"default"`` is another name for it and results
say ``standard``), by the path of a YAML file, or as a :class:`strategies.base.Strategy`
object (a Python strategy, named in results by its ``name`` attribute).

When numba has to compile (a source changed since the install's warm-up, ``python -m
postloan.warm``), stale cached kernels are removed first and one line on stderr says why the
call pauses.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from postloan.experiments.comparison import compare_cells
from postloan.experiments.runner import Outcome, execute_experiment
from postloan.experiments.spec import Experiment, experiment_from_scenario, load_experiment
from postloan.storage.experiments import ExperimentStore, flatten
from postloan.storage.query import query as _query
from sim.scenario import Scenario, load_scenario
from strategies.base import Strategy

__all__ = [
    "DEFAULT_STRATEGY",
    "compare",
    "compare_cells",
    "load_cells",
    "load_comparison",
    "query",
    "run_experiment",
    "run_scenario",
    "scenario_with",
]

#: The strategy a run uses when none is named; ``"default"`` is accepted as another name for it.
DEFAULT_STRATEGY = "standard"

StrategyRef = str | Path | Strategy


def scenario_with(
    scenario: str | Path | Scenario,
    overrides: Mapping[str, Any] | None = None,
    *,
    accounts: int | None = None,
    days: int | None = None,
) -> Scenario:
    """A scenario (loaded from a file, or given) with fields changed.

    Parameters
    ----------
    scenario : str, Path or Scenario
    overrides : mapping, optional
        Field paths to values. Top-level fields (``accounts``, ``days``, ``seed``...) are set
        first, as :meth:`Scenario.with_overrides` does (a new ``accounts`` scales staff capacity
        when ``staff.scale_with_accounts`` is set); dotted paths into the scenario
        (``"behaviour.promise_keep"``, ``"channels.sms.cost_per_attempt"``,
        ``"staff.call_attempts_per_day"``) are then set as given, as in an experiment file.
    accounts, days : int, optional
        Shorthands for ``overrides={"accounts": ..., "days": ...}``.

    Raises
    ------
    ValueError
        Naming the path for a field the scenario does not have, or a value it does not allow.
    """
    changes = dict(overrides or {})
    for key, value in (("accounts", accounts), ("days", days)):
        if value is not None:
            changes[key] = value
    if isinstance(scenario, Scenario):
        sc = scenario
    else:
        top_size = {k: changes.pop(k) for k in ("accounts", "days") if k in changes}
        sc = load_scenario(scenario, **top_size)
    top = {k: v for k, v in changes.items() if "." not in k}
    dotted = {k: v for k, v in changes.items() if "." in k}
    if top:
        sc = sc.with_overrides(**top)
    if dotted:
        data = sc.model_dump()
        for path, value in dotted.items():
            _set_field(data, path, value)
        sc = Scenario.model_validate(data)
    return sc


def _set_field(data: dict, path: str, value: Any) -> None:
    node: Any = data
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            under = ".".join(parts[:i]) or "the scenario"
            known = f" (known: {', '.join(sorted(node))})" if isinstance(node, dict) else ""
            raise ValueError(f"overrides: {path!r}: {part!r} is not a field of {under}{known}")
        if i == len(parts) - 1:
            node[part] = value
        else:
            node = node[part]


def _canonical(ref: StrategyRef) -> StrategyRef:
    """One name for the default strategy: ``default`` is ``standard``."""
    return DEFAULT_STRATEGY if ref == "default" else ref


def _resolve(ref: StrategyRef) -> tuple[Strategy, str]:
    """The strategy object and the label results give it."""
    from strategies.registry import resolve

    ref = _canonical(ref)
    if isinstance(ref, Strategy):
        return ref, ref.name
    strat = resolve(str(ref))
    is_file = isinstance(ref, Path) or str(ref).endswith((".yaml", ".yml")) or "/" in str(ref)
    return strat, strat.name if is_file else str(ref)


@contextmanager
def _named(strategies: Sequence[StrategyRef]) -> Iterator[list[str]]:
    """Names the experiment layer can resolve, Python strategy objects included.

    Objects are registered under their ``name`` for the duration of the call (the cells carry
    the objects themselves to the workers, so nothing outside this process needs the name).
    """
    from strategies import registry

    refs: list[str] = []
    added: dict[str, Strategy] = {}
    for s in strategies:
        s = _canonical(s)
        if not isinstance(s, Strategy):
            refs.append(str(s))
            continue
        if s.name in registry.names() or s.name in added:
            raise ValueError(
                f"strategy {type(s).__name__}: its name {s.name!r} is already taken (give it a "
                "name that no built-in strategy and no other strategy of this call has)"
            )
        added[s.name] = s
        refs.append(s.name)
    for name, obj in added.items():
        registry.PYTHON_STRATEGIES[name] = lambda obj=obj: obj
    try:
        yield refs
    finally:
        for name in added:
            registry.PYTHON_STRATEGIES.pop(name, None)


def run_scenario(
    scenario: str | Path | Scenario,
    strategy: StrategyRef = DEFAULT_STRATEGY,
    *,
    seed: int | None = None,
    accounts: int | None = None,
    days: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    daily: bool = False,
    compliance: str | None = None,
) -> pd.DataFrame:
    """Run one scenario under one strategy.

    Parameters
    ----------
    scenario : str, Path or Scenario
    strategy : str, Path or Strategy
        A name, a YAML file, or a Python strategy object.
    seed : int, optional
        Default: the scenario's.
    accounts, days : int, optional
    overrides : mapping, optional
        Scenario fields to change, dotted paths allowed (see :func:`scenario_with`).
    out : str or Path, optional
        Save the run folder here (as ``postloan run --out``).
    daily : bool
        Return the daily KPI table instead of the one-row summary.
    compliance : str, optional
        ``us_reg_f`` (the engine's default), ``cn``, ``none`` or a YAML file.

    Returns
    -------
    DataFrame
        One row: ``scenario``, ``strategy`` and every summary KPI (nested ones flattened with
        ``_``, as in ``cells.parquet``); with ``daily=True`` the daily KPI table. ``attrs``:
        ``scenario``, ``strategy``, ``seed`` and, with ``out``, ``folder``.
    """
    from postloan.warm import prepare_kernels
    from sim.engine import simulate

    prepare_kernels()
    sc = scenario_with(scenario, overrides, accounts=accounts, days=days)
    strat, label = _resolve(strategy)
    extra = {}
    if compliance is not None:
        from sim.compliance import load_profile

        extra["compliance"] = load_profile(compliance)
    result = simulate(sc, strat, seed, **extra)
    df = result.daily.copy() if daily else pd.DataFrame([flatten(result.summary)])
    if not daily:
        df.insert(0, "strategy", label)
        df.insert(0, "scenario", sc.name)
    df.attrs.update(scenario=sc.name, strategy=label, seed=int(result.summary["seed"]))
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
    from postloan.warm import prepare_kernels

    prepare_kernels()  # forked workers inherit the announcement
    if out is None:
        import tempfile

        out = tempfile.mkdtemp(prefix="postloan-")
    return execute_experiment(exp, out, jobs=jobs, scheduler=scheduler, resume=resume)


def compare(
    scenario: str | Path | Scenario,
    strategies: Sequence[StrategyRef],
    *,
    replications: int = 5,
    champion: StrategyRef | None = None,
    seed: int | None = None,
    accounts: int | None = None,
    days: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    out: str | Path | None = None,
    compliance: str | None = None,
    response_draws: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Compare strategies on one scenario with common random numbers.

    Parameters
    ----------
    scenario : str, Path or Scenario
    strategies : sequence of str, Path or Strategy
        Names, YAML files or Python strategy objects; the first is the champion unless
        ``champion`` names another.
    replications : int
    champion : str or Strategy, optional
    seed : int, optional
    accounts, days : int, optional
    overrides : mapping, optional
        Scenario fields to change, dotted paths allowed (see :func:`scenario_with`).
    jobs : int
        Local worker processes.
    scheduler : str, optional
        A Dask scheduler address, or ``"local"``.
    out : str or Path, optional
        Folder for the experiment folder (default: a new temporary folder).
    compliance : str, optional
    response_draws : mapping, optional
        Repeat the comparison over draws of the response parameters, as the experiment field
        ``response_draws`` (``{"draws": 8}``, ``ranges``, ``trials``, ``trial_scale``, ...; see
        :mod:`postloan.experiments.response_draws`); the comparison is then the scenario's own
        response and ``attrs["response_draws"]`` the summary over the draws.

    Returns
    -------
    DataFrame
        The comparison, one row per strategy x KPI (see
        :func:`postloan.experiments.comparison.compare_cells`).
        ``attrs``: ``folder`` (the experiment folder: ``load_cells(folder)`` gives the cells),
        ``champion`` and, with ``response_draws``, ``response_draws``.
    """
    if overrides:
        scenario = scenario_with(scenario, overrides, accounts=accounts, days=days)
        accounts = days = None
    if isinstance(champion, Strategy):
        champion = champion.name
    with _named(list(strategies)) as refs:
        exp = experiment_from_scenario(
            scenario,
            refs,
            replications=replications,
            champion=None if champion is None else str(_canonical(champion)),
            seed=seed,
            accounts=accounts,
            days=days,
            compliance=compliance,
            response_draws=None if response_draws is None else dict(response_draws),
        )
        o = _outcome(exp, out, jobs, scheduler, False)
    comp = o.comparison.copy()
    comp.attrs.update(folder=str(o.folder), champion=exp.champion)
    if response_draws is not None:
        from postloan.experiments.response_draws import response_draws_of

        comp.attrs["response_draws"] = response_draws_of(o.folder)
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
        The cells (one row per variant x sample x strategy x replication). ``attrs``:
        ``folder`` (``load_comparison(folder)`` gives the comparison) and ``champion``.
    """
    exp = spec if isinstance(spec, Experiment) else load_experiment(spec)
    o = _outcome(exp, out, jobs, scheduler, resume)
    if report:
        from postloan.reports.experiment import write_experiment_report

        write_experiment_report(o.folder)
    cells = o.cells.copy()
    cells.attrs.update(folder=str(o.folder), champion=exp.champion)
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
