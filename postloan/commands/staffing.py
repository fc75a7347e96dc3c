"""``postloan staffing``: size an inbound line with Erlang-C/Erlang-A, checked by the SimPy model.

The main CLI mounts :data:`staffing_app` as ``postloan staffing``::

    postloan staffing --calls-per-hour 1000 --aht 120 --agents 40
    postloan staffing --calls-per-hour 1000 --aht 120 --agents 40 --patience 180 --json
    postloan staffing plan --calls-per-hour 1000 --aht 120 --target-sl 0.8 --target-seconds 20

The first form compares the DES (mean and standard error over replications) with the analytic
figures; ``plan`` finds the fewest agents meeting a service-level target and checks the answer
in the DES.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from postloan.commands.errors import check_seed, command, guarded
from sim.shipped import DEFAULT_SCENARIO

if TYPE_CHECKING:  # the operations model is imported when a command runs (fast start-up)
    from sim.operations.erlang import QueueMetrics
    from sim.operations.results import OperationsResult

#: Figures compared between the DES and the formulas, with their labels.
FIGURES = {
    "p_wait": "P(wait)",
    "mean_wait_s": "mean wait (s)",
    "service_level": "service level",
    "abandon_rate": "abandonment",
    "occupancy": "occupancy",
}
#: Standard errors within which the DES is taken to agree with a target.
AGREEMENT_SE = 3.0

staffing_app = typer.Typer(
    help="Staff an inbound line: Erlang-C/Erlang-A figures side by side with the SimPy model.",
    add_completion=False,
)

CallsOption = typer.Option(None, "--calls-per-hour", help="Arrival rate of calls (> 0).")
AhtOption = typer.Option(None, "--aht", help="Average handle time in seconds (> 0).")
PatienceOption = typer.Option(
    None, "--patience", help="Mean patience in seconds (> 0): Erlang-A. Omit for Erlang-C."
)
HoursOption = typer.Option(8.0, "--hours", help="Measured hours per DES replication (> 0).")
ReplicationsOption = typer.Option(
    10, "--replications", help="Independent DES replications (2-1000)."
)
TargetSecondsOption = typer.Option(
    20.0, "--target-seconds", help="Service-level threshold in seconds (>= 0)."
)
SeedOption = typer.Option(0, "--seed", help="Root seed of the DES (>= 0).")
JsonOption = typer.Option(False, "--json", help="Print JSON only.")


@dataclass(frozen=True)
class Line:
    """A validated inbound line and how to simulate it."""

    calls_per_hour: float
    aht_s: float
    patience_s: float | None
    hours: float
    replications: int
    target_s: float
    seed: int

    def analytic(self, agents: int) -> QueueMetrics:
        """Erlang-C, or Erlang-A with a patience."""
        from sim.operations.erlang import queue_metrics

        try:
            return queue_metrics(
                self.calls_per_hour, self.aht_s, agents, self.target_s, self.patience_s
            )
        except ValueError as error:  # an overloaded line with near-endless patience
            _bad("--patience", self.patience_s, f"a shorter mean patience ({error})")

    def simulate(self, agents: int) -> OperationsResult:
        """The DES of the same line (exactly M/M/n or M/M/n+M)."""
        from sim.operations.des import simulate
        from sim.operations.model import pure_inbound

        config = pure_inbound(
            self.calls_per_hour,
            self.aht_s,
            agents,
            self.patience_s,
            hours=self.hours,
            target_s=self.target_s,
        )
        return simulate(config, seed=self.seed, replications=self.replications)


def compare(
    ctx: typer.Context,
    calls_per_hour: float | None = CallsOption,
    aht: float | None = AhtOption,
    agents: int | None = typer.Option(None, "--agents", help="Agents answering (>= 1)."),
    patience: float | None = PatienceOption,
    hours: float = HoursOption,
    replications: int = ReplicationsOption,
    target_seconds: float = TargetSecondsOption,
    seed: int = SeedOption,
    as_json: bool = JsonOption,
) -> None:
    """Compare the DES with Erlang-C (or Erlang-A with --patience) for one staffing level."""
    if ctx.invoked_subcommand is not None:
        return
    if calls_per_hour is None and aht is None and agents is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    line = _line(calls_per_hour, aht, patience, hours, replications, target_seconds, seed)
    agents = _positive_int(agents, "--agents", "the number of agents answering, >= 1")
    _check_stable(line, agents)
    analytic, des = line.analytic(agents), line.simulate(agents)
    if as_json:
        typer.echo(json.dumps(_comparison(analytic, des), indent=2))
        return
    _print_comparison(line, agents, analytic, des)


@command(staffing_app, "plan")
def plan(
    calls_per_hour: float | None = CallsOption,
    aht: float | None = AhtOption,
    target_sl: float = typer.Option(
        0.8, "--target-sl", help="Share of calls to answer within --target-seconds, in (0, 1)."
    ),
    target_seconds: float = TargetSecondsOption,
    patience: float | None = PatienceOption,
    hours: float = HoursOption,
    replications: int = ReplicationsOption,
    seed: int = SeedOption,
    as_json: bool = JsonOption,
) -> None:
    """Fewest agents meeting a service-level target (analytic), confirmed in the DES."""
    from sim.operations.erlang import agents_for_service_level

    line = _line(calls_per_hour, aht, patience, hours, replications, target_seconds, seed)
    if not 0.0 < target_sl < 1.0:
        _bad("--target-sl", target_sl, "a share strictly between 0 and 1")
    try:
        agents = agents_for_service_level(
            line.calls_per_hour, line.aht_s, target_sl, line.target_s, line.patience_s
        )
    except ValueError as error:
        _bad("--patience", line.patience_s, f"a shorter mean patience ({error})")
    report = _plan_report(line, agents, target_sl)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _print_plan(report)


def _line(
    calls_per_hour: float | None,
    aht: float | None,
    patience: float | None,
    hours: float,
    replications: int,
    target_seconds: float,
    seed: int,
) -> Line:
    """Validate the options shared by both commands; bad input exits with code 2."""
    calls_per_hour = _positive(calls_per_hour, "--calls-per-hour", "calls per hour, > 0")
    aht = _positive(aht, "--aht", "the average handle time in seconds, > 0")
    if patience is not None:
        _positive(patience, "--patience", "the mean patience in seconds, > 0")
    _positive(hours, "--hours", "measured hours per replication, > 0")
    if not 2 <= replications <= 1000:
        _bad("--replications", replications, "between 2 and 1000 (standard errors need 2)")
    if not (math.isfinite(target_seconds) and target_seconds >= 0):
        _bad("--target-seconds", target_seconds, "seconds, >= 0")
    if seed < 0:
        _bad("--seed", seed, "an integer >= 0")
    return Line(calls_per_hour, aht, patience, hours, replications, target_seconds, seed)


def _positive(value: float | None, option: str, allowed: str) -> float:
    if value is None:
        _bad(option, "missing", allowed)
    if not (math.isfinite(value) and value > 0):
        _bad(option, value, allowed)
    return value


def _positive_int(value: int | None, option: str, allowed: str) -> int:
    if value is None or value < 1:
        _bad(option, "missing" if value is None else value, allowed)
    return value


def _check_stable(line: Line, agents: int) -> None:
    """Without abandonment the queue grows for ever unless agents exceed the offered load."""
    from sim.operations.erlang import offered_load

    load = offered_load(line.calls_per_hour, line.aht_s)
    if line.patience_s is None and load >= agents:
        _bad(
            "--agents",
            agents,
            f"more than the offered load of {load:.2f} Erlangs (calls per hour x AHT / 3600): "
            "without --patience the queue is unstable",
        )


def _bad(option: str, value: object, allowed: str) -> NoReturn:
    """Stop with one clear message naming the option and what it accepts (exit code 2)."""
    shown = value if value == "missing" else f"{value} is not allowed"
    raise typer.BadParameter(f"{shown}: use {allowed}.", param_hint=option)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _comparison(
    analytic: QueueMetrics, des: OperationsResult
) -> dict[str, dict[str, float | None]]:
    return {
        name: {
            "des": _finite(des.mean[name]),
            "des_se": _finite(des.se[name]),
            "analytic": _finite(getattr(analytic, name)),
        }
        for name in FIGURES
    }


def _print_comparison(
    line: Line, agents: int, analytic: QueueMetrics, des: OperationsResult
) -> None:
    model = "Erlang-C" if line.patience_s is None else "Erlang-A"
    table = Table(
        title=f"{line.calls_per_hour:g} calls/h, AHT {line.aht_s:g} s, {agents} agents "
        f"(load {analytic.offered_load:.2f} Erlangs)",
        caption=f"DES: {line.replications} replications x {line.hours:g} h, seed {line.seed}; "
        f"service level within {line.target_s:g} s",
    )
    table.add_column("figure")
    table.add_column("DES", justify="right")
    table.add_column("± SE", justify="right")
    table.add_column(model, justify="right")
    table.add_column("(DES - analytic) / SE", justify="right")
    for name, label in FIGURES.items():
        mean, se, exact = des.mean[name], des.se[name], getattr(analytic, name)
        z = f"{(mean - exact) / se:+.2f}" if se > 0 else "-"  # no spread: e.g. no abandonment
        table.add_row(label, f"{mean:.4f}", f"{se:.4f}", f"{exact:.4f}", z)
    Console().print(table)


def _plan_report(line: Line, agents: int, target_sl: float) -> dict[str, object]:
    """DES service level at the analytic answer and one agent fewer, and whether they agree."""
    from sim.operations.erlang import offered_load

    def level(n: int) -> dict[str, float | int | None]:
        des = line.simulate(n)
        return {
            "agents": n,
            "analytic_service_level": line.analytic(n).service_level,
            "des_service_level": _finite(des.mean["service_level"]),
            "des_se": _finite(des.se["service_level"]),
        }

    chosen = level(agents)
    meets = chosen["des_service_level"] + AGREEMENT_SE * chosen["des_se"] >= target_sl
    fewer = None
    load = offered_load(line.calls_per_hour, line.aht_s)
    # One agent fewer is checked too (it should fall short), unless it is an unstable queue.
    if agents > 1 and (line.patience_s is not None or agents - 1 > load):
        fewer = level(agents - 1)
        short = fewer["des_service_level"] - AGREEMENT_SE * fewer["des_se"] < target_sl
    else:
        short = True
    return {
        "target_sl": target_sl,
        "target_seconds": line.target_s,
        "offered_load": load,
        "agents": agents,
        "chosen": chosen,
        "one_fewer": fewer,
        "des_agrees": bool(meets and short),
    }


def _print_plan(report: dict[str, object]) -> None:
    table = Table(
        title=f"Fewest agents for {report['target_sl']:.0%} answered within "
        f"{report['target_seconds']:g} s (load {report['offered_load']:.2f} Erlangs)",
    )
    for column in ("agents", "analytic SL", "DES SL", "± SE"):
        table.add_column(column, justify="right")
    for row in (report["chosen"], report["one_fewer"]):
        if row is not None:
            table.add_row(
                str(row["agents"]),
                f"{row['analytic_service_level']:.4f}",
                f"{row['des_service_level']:.4f}",
                f"{row['des_se']:.4f}",
            )
    console = Console()
    console.print(table)
    verdict = "agrees" if report["des_agrees"] else "does NOT agree"
    console.print(
        f"Analytic answer: {report['agents']} agents. The DES {verdict} "
        f"(within {AGREEMENT_SE:g} standard errors)."
    )


@command(staffing_app, "sweep", simulates=True)
def sweep(
    scenario: str = typer.Argument(
        DEFAULT_SCENARIO,
        help="Scenario: a YAML file or a shipped scenario's name (default: default)",
    ),
    agents: str = typer.Option(
        "5,10,15,20,25,30,35,40", "--agents", help="Comma-separated total head counts"
    ),
    strategy: str = typer.Option("standard", "--strategy", help="Strategy name or YAML file"),
    seed: int | None = typer.Option(None, "--seed", help="Seed (default: the scenario's)"),
    replications: int = typer.Option(
        3, "--replications", help="Seeds per level, shared by all levels (>= 2)"
    ),
    marginal: bool = typer.Option(
        True, "--marginal/--no-marginal", help="Also try one more agent per team at the best"
    ),
    accounts: int | None = typer.Option(None, "--accounts", help="Override the account count"),
    days: int | None = typer.Option(None, "--days", help="Override the horizon in days"),
    out: str | None = typer.Option(
        None, "--out", help="Write sweep.csv, sweep_marginal.csv, sweep_runs.csv, sweep.html"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run a book at several staffing levels on shared seeds: collected cash, cost and net value
    with 95 % intervals, service level and utilisation by head count, the marginal value of one
    more agent per team, and a warning when the best level is at the edge of the grid (the team
    mix of the scenario's plan, or the default plan sized to the book, scaled)."""
    import json
    from pathlib import Path

    from postloan.experiments.staffing_sweep import staffing_sweep, sweep_chart
    from sim.atomic import write_text
    from sim.scenario import load_scenario
    from strategies.registry import resolve

    try:
        totals = sorted({int(a) for a in agents.split(",") if a.strip()})
    except ValueError:
        _bad("--agents", agents, "comma-separated whole numbers, e.g. 5,10,20")
    if not totals or totals[0] < 1 or totals[-1] > 5000:
        _bad("--agents", agents, "head counts between 1 and 5000")
    if not 2 <= replications <= 100:
        _bad("--replications", str(replications), "a whole number from 2 to 100")
    check_seed(seed)
    if out is not None:
        from postloan.storage.paths import check_out_dir

        check_out_dir(out)  # before the sweep, not after it
    sc = load_scenario(scenario, accounts=accounts, days=days)
    strat = resolve(strategy)
    total_runs = replications * (len(totals) + (4 if marginal else 0))
    with Console(stderr=True).status("sweeping") as status:
        res = staffing_sweep(
            sc,
            strat,
            totals,
            seed,
            lambda n: status.update(f"run {n}/{total_runs}"),
            replications=replications,
            marginal=marginal,
        )
    df = res.levels
    if out is not None:
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        write_text(folder / "sweep.csv", df.to_csv(index=False))
        write_text(folder / "sweep_marginal.csv", res.marginal.to_csv(index=False))
        write_text(folder / "sweep_runs.csv", res.runs.to_csv(index=False))
        sweep_chart(res, folder / "sweep.html", f"{sc.name}: staffing sweep ({strat.name})")
    if as_json:
        doc = {
            "levels": json.loads(df.to_json(orient="records")),
            "marginal": json.loads(res.marginal.to_json(orient="records")),
            "best_agents": res.best_agents,
            "warning": res.warning,
            "seeds": res.seeds,
        }
        typer.echo(json.dumps(doc))
        return
    title = f"{sc.name} x {strat.name}: staffing sweep, {replications} shared seeds (95% CI)"
    t = Table(title=title)
    cols = ("agents", "calls/day", "util.", "service lvl", "staff cost", "collected [95% CI]")
    for c in (*cols, "net value [95% CI]", "+net value/agent"):
        t.add_column(c, justify="right")
    for r in df.itertuples():
        t.add_row(
            str(r.agents),
            f"{r.call_attempts_per_day:,.0f}",
            f"{r.utilisation:.0%}",
            f"{r.inbound_service_level:.0%}",
            f"{r.staff_cost:,.0f}",
            f"{r.collected:,.0f} [{r.collected_low:,.0f}, {r.collected_high:,.0f}]",
            f"{r.net_value:,.0f} [{r.net_value_low:,.0f}, {r.net_value_high:,.0f}]",
            _marginal_cell(r),
        )
    console = Console()
    console = Console(width=max(console.width, 150))  # intervals need the room
    console.print(t)
    console.print(f"best net value: {res.best_agents} agents")
    if not res.marginal.empty:
        m = Table(title=f"one more agent per team at {res.best_agents} agents (paired, 95% CI)")
        for c in ("team", "agents", "net value per agent", "collected per agent"):
            m.add_column(c, justify="right")
        for r in res.marginal.itertuples():
            m.add_row(
                r.team,
                str(r.agents_in_team),
                _ci(r.net_value_per_agent, r.net_value_low, r.net_value_high),
                _ci(r.collected_per_agent, r.collected_low, r.collected_high),
            )
        console.print(m)
    if res.warning:
        Console(stderr=True).print(f"[yellow]warning:[/yellow] {res.warning}")


def _ci(value: float, low: float, high: float) -> str:
    return f"{value:+,.0f} [{low:+,.0f}, {high:+,.0f}]"


def _marginal_cell(r) -> str:
    """Net value per added agent from the previous level, with its paired interval."""
    v = r.marginal_net_value_per_agent
    if v != v:  # NaN: the first level
        return ""
    lo, hi = r.marginal_net_value_per_agent_low, r.marginal_net_value_per_agent_high
    return f"{v:+,.0f} [{lo:+,.0f}, {hi:+,.0f}]"


# the group's own form (``postloan staffing --calls-per-hour ...``) is its callback
staffing_app.callback(invoke_without_command=True)(guarded(compare))


def register(app: typer.Typer) -> None:
    """Add the ``staffing`` group."""
    app.add_typer(staffing_app, name="staffing")
