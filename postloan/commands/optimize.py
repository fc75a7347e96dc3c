"""``postloan optimize``: Pareto search or treatment allocation over a decision space."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from postloan.commands.errors import command, fail
from sim.atomic import write_text
from sim.shipped import DEFAULT_SCENARIO

if TYPE_CHECKING:
    import pandas as pd

err = Console(stderr=True)


class Method(StrEnum):
    search = "search"
    allocation = "allocation"


class Compromise(StrEnum):
    cost = "cost"
    cost_and_churn = "cost-and-churn"


def _chart(
    front: pd.DataFrame, levers: list[str], path: Path, title: str, extra: str = ""
) -> Path | None:
    """Pareto scatter (cost vs net value, colour churn) and parallel coordinates, one HTML
    (``extra``: more HTML appended, e.g. the verification table). A front without net value
    (the allocation's budget sweep) plots net recovery."""
    import pandas as pd

    value = "net_value" if "net_value" in front else "net_recovery"
    kpis = [k for k in ("net_value", "net_recovery", "cost", "churned") if k in front]

    try:
        import plotly.graph_objects as go
    except ImportError:  # pragma: no cover
        return None
    hover = ["<br>".join(f"{c}: {row[c]}" for c in [*levers, *kpis]) for _, row in front.iterrows()]
    scatter = go.Figure(
        go.Scatter(
            x=front["cost"],
            y=front[value],
            mode="markers",
            marker={
                "color": front["churned"],
                "colorscale": "Viridis",
                "size": 10,
                "colorbar": {"title": "churned"},
            },
            text=hover,
            hoverinfo="text",
        )
    )
    scatter.update_layout(
        title=f"{title}: Pareto front",
        xaxis_title="cost (USD)",
        yaxis_title=f"{value.replace('_', ' ')} (USD)",
    )
    dims = [
        {"label": c, "values": pd.to_numeric(front[c], errors="coerce")}
        for c in [*levers, *kpis]
        if pd.api.types.is_numeric_dtype(front[c])
    ]
    par = go.Figure(
        go.Parcoords(line={"color": front[value], "colorscale": "Viridis"}, dimensions=dims)
    )
    par.update_layout(title="decisions behind every point (drag an axis to filter)")
    html = (
        "<html><head><meta charset='utf-8'><title>"
        + title
        + "</title></head><body>"
        + scatter.to_html(include_plotlyjs="inline", full_html=False)
        + par.to_html(include_plotlyjs=False, full_html=False)
        + extra
        + "</body></html>"
    )
    write_text(path, html)
    return path


def _verification_html(v) -> str:
    """The verification table as an HTML section."""
    import html

    cols = ("candidate", "reference", "no_contact", "diff", "ci_low", "ci_high")
    cols = [c for c in cols if c in v.table]
    head = "".join(f"<th>{c}</th>" for c in ["kpi", *cols, "uplift"])
    body = ""
    for k, row in v.table.iterrows():
        cells = "".join(f"<td style='text-align:right'>{row[c]:,.0f}</td>" for c in cols)
        body += (
            f"<tr><td>{k}</td>{cells}<td style='text-align:right'>{row['uplift']:+.2%}</td></tr>"
        )
    verdict = html.escape(v.verdict()).replace("\n", "<br>")
    return (
        f"<h2>Verification on {len(v.seeds)} fresh seeds (paired, common random numbers)</h2>"
        f"<p>{verdict}</p><table border='1' cellspacing='0' cellpadding='3'>"
        f"<tr>{head}</tr>{body}</table>"
    )


def _print_verification(console: Console, v) -> None:
    import numpy as np
    from rich.table import Table

    t = Table(title=f"verification: {v.candidate} vs {v.reference}, {len(v.seeds)} fresh seeds")
    for c in ("kpi", "candidate", "reference", "diff", "95% CI", "uplift"):
        t.add_column(c, justify="left" if c == "kpi" else "right")
    for k, row in v.table.iterrows():
        t.add_row(
            k,
            f"{row['candidate']:,.0f}",
            f"{row['reference']:,.0f}",
            f"{row['diff']:+,.0f}",
            f"[{row['ci_low']:+,.0f}, {row['ci_high']:+,.0f}]",
            f"{row['uplift']:+.2%}" if np.isfinite(row["uplift"]) else "",
        )
    Console(file=console.file, width=max(console.width, 112)).print(t)
    console.print(v.verdict())


def _verify(out: Path, console: Console, sc, best_sc, best_strategy, reference, seeds, ex):
    """Paired check of the chosen policy against the reference on fresh seeds; files in out."""
    import json

    from optimizer.verify import verify

    err.print(f"verification: {len(seeds)} fresh seeds x 3 runs (candidate, reference, none) ...")
    v = verify(sc, best_strategy, reference, seeds, ex, candidate_scenario=best_sc)
    write_text(out / "verification.csv", v.table.to_csv())
    write_text(out / "verification_runs.csv", v.runs.to_csv(index=False))
    write_text(out / "verification.json", json.dumps(v.summary(), indent=2))
    _print_verification(console, v)
    return v


def register(app: typer.Typer) -> None:
    """Add ``optimize``."""

    @command(app, simulates=True)
    def optimize(
        scenario: Path = typer.Argument(
            Path(DEFAULT_SCENARIO),
            help="Scenario: a YAML file or a shipped scenario's name (default: default)",
        ),
        space: Path = typer.Option(..., "--space", help="Decision space YAML"),
        method: Method = typer.Option(Method.search, "--method", help="search or allocation"),
        budget: float | None = typer.Option(None, "--budget", help="Cost cap over the horizon"),
        churn_cap: float | None = typer.Option(None, "--churn-cap", help="Churned accounts cap"),
        generations: int = typer.Option(8, "--generations", help="NSGA-II generations"),
        population: int = typer.Option(16, "--population", help="NSGA-II population size"),
        jobs: int = typer.Option(1, "-j", "--jobs", help="Worker processes"),
        resume: bool = typer.Option(
            False,
            "--resume",
            help="Search: continue from checkpoint.json in --out (same settings required)",
        ),
        out: Path = typer.Option(Path("results/optimize"), "--out", help="Output folder"),
        accounts: int | None = typer.Option(None, "--accounts", help="Override accounts"),
        days: int | None = typer.Option(None, "--days", help="Override the horizon"),
        check_seeds: int = typer.Option(
            10,
            "--check-seeds",
            help="Fresh seeds (not searched on) for the paired verification against the "
            "reference and the allocation's closed loop (0: skip; otherwise at least 2)",
        ),
        reference: str = typer.Option(
            "standard", "--reference", help="Strategy the chosen policy is verified against"
        ),
        compromise: Compromise = typer.Option(
            Compromise.cost,
            "--compromise",
            help="Search: pick the best net recovery at no more than the reference's cost "
            "('cost') or its cost and churn ('cost-and-churn'), on the search seeds",
        ),
    ) -> None:
        """Find the policies that trade net recovery against cost and churn best.

        Writes pareto.csv, pareto.html (Pareto chart and parallel coordinates),
        best_compromise.yaml (a strategy file for `postloan run --strategy`) and, when the
        space sizes teams, best_compromise_scenario.yaml (the scenario with that staffing).
        Then re-runs the chosen policy and the reference strategy on fresh seeds (paired) and
        writes verification.csv / .json (net recovery and cost differences with 95 %
        intervals); the allocation method also writes predicted_vs_simulated.csv.
        """
        from optimizer.space import load_space, space_from_dict
        from optimizer.verify import verification_seeds
        from postloan.experiments.executors import make_executor
        from postloan.storage.paths import check_out_dir
        from sim.scenario import load_scenario
        from strategies.registry import resolve

        if generations < 1 or population < 4:
            raise fail("--generations must be >= 1 and --population >= 4")
        if check_seeds == 1 or check_seeds < 0:
            raise fail("--check-seeds must be 0 (skip) or at least 2")
        check_out_dir(out)  # before the search, not after it
        sc = load_scenario(scenario, accounts=accounts, days=days)
        sp = load_space(space)
        ref = resolve(reference)
        if budget is not None or churn_cap is not None:
            data = sp.spec.model_dump()
            if budget is not None:
                data["constraints"]["budget"] = budget
            if churn_cap is not None:
                data["constraints"]["churn_cap"] = churn_cap
            sp = space_from_dict(data, str(space))
        out.mkdir(parents=True, exist_ok=True)
        console = Console()
        seeds = verification_seeds(sc, check_seeds)
        extra = ""
        with make_executor(jobs) as ex:
            if method is Method.search:
                best_strategy, best_sc, front = _run_search(
                    sp, sc, out, ex, generations, population, resume, console, ref, compromise
                )
            else:
                best_strategy, best_sc, front = _run_allocation(sp, sc, out, ex, seeds, console)
            if check_seeds:
                ref_sc = sp.reference_scenario(sc)  # one cost basis (docs/optimiser.md)
                v = _verify(out, console, ref_sc, best_sc, best_strategy, ref, seeds, ex)
                extra = _verification_html(v)
        front_df, levers, title = front
        _chart(front_df, levers, out / "pareto.html", title, extra)
        console.print(f"wrote {out}/pareto.csv, pareto.html, best_compromise.yaml")


def _run_search(sp, sc, out, ex, generations, population, resume, console, ref, compromise):
    import numpy as np

    from optimizer.search import EvalTask, best_compromise, evaluate_task, replication_seeds, search
    from optimizer.space import strategy_yaml

    def report(rec):
        err.print(
            f"generation {rec['generation']}/{generations}: {rec['evaluated']} candidates, "
            f"front {rec['front_size']}, hypervolume {rec['hypervolume']:.4g}"
        )

    res = search(
        sp,
        sc,
        generations=generations,
        population=population,
        executor=ex,
        out=out,
        resume=resume,
        on_generation=report,
    )
    if res.front.empty:
        raise fail("no feasible candidate: loosen the budget or the churn cap")
    cols = [*sp.names, "net_value", "net_recovery", "cost", "churned"]
    extra = [c for c in res.front.columns if c not in cols and c != "feasible"]
    write_text(out / "pareto.csv", res.front[cols + extra].to_csv(index=False))
    write_text(out / "evaluated.csv", res.evaluated.to_csv(index=False))
    write_text(out / "convergence.csv", res.history.to_csv(index=False))
    # the compromise: the best net recovery at no more than the reference's cost (and churn)
    # on the search seeds
    seeds = replication_seeds(sc, sp.spec.replications)
    tasks = [EvalTask(sp.reference_scenario(sc), ref, s) for s in seeds]
    runs = [r for _, r in ex.imap_unordered(evaluate_task, tasks)]
    ref_cost = float(np.mean([r["cost"] for r in runs]))
    ref_churn = float(np.mean([r["churned"] for r in runs]))
    max_churn = ref_churn if compromise is Compromise.cost_and_churn else None
    best = best_compromise(res.front, max_cost=ref_cost, max_churn=max_churn)
    limit = f"at no more than {ref.name}'s cost {ref_cost:,.0f}" + (
        f" and churn {ref_churn:,.1f}" if max_churn is not None else ""
    )
    rule = f"best net recovery {limit}"
    if best["cost"] > ref_cost or (max_churn is not None and best["churned"] > max_churn):
        rule = f"nearest the ideal; no front point is {limit}"
    x = np.array([best[n] for n in sp.names], float)
    strat = sp.strategy(x, name="best_compromise")
    staffing = sp.staffing(sc, x)
    header = "# best compromise of `postloan optimize` (search)\n"
    header += f"# levers: {sp.as_dict(x)}\n"
    header += (
        f"# on the search seeds: net_value {best['net_value']:,.0f}, "
        f"net_recovery {best['net_recovery']:,.0f}, cost "
        f"{best['cost']:,.0f}, churned {best['churned']:.1f} ({ref.name}'s cost {ref_cost:,.0f})"
        "\n# fresh-seed check against the reference: verification.csv\n"
    )
    best_sc = sp.scenario(sc, x)
    if staffing is not None and sp.has_staffing:
        header += f"# staffing: {staffing.model_dump()}\n"
        header += (
            "# run with: postloan run best_compromise_scenario.yaml"
            " --strategy best_compromise.yaml\n"
        )
        write_text(out / "best_compromise_scenario.yaml", best_sc.to_yaml())
    write_text(out / "best_compromise.yaml", strategy_yaml(strat, header))
    console.print(res.front[cols].to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    console.print(f"chosen compromise ({rule}, search seeds): {sp.as_dict(x)}")
    return strat, best_sc, (res.front, sp.names, f"{sc.name} x {sp.spec.name}")


def _run_allocation(sp, sc, out, ex, check, console):
    import numpy as np
    import pandas as pd

    from optimizer.allocation import (
        choose_plan,
        estimate_responses,
        rounded_plan,
        with_recovery,
    )
    from optimizer.closed_loop import SegmentPlan, closed_loop, plan_strategy
    from optimizer.search import replication_seeds
    from optimizer.space import strategy_yaml
    from optimizer.team_economics import chosen_staffing, response_scenario, team_economics
    from strategies.registry import resolve

    names = sp.spec.allocation.treatments
    treatments = {n: resolve(n) for n in names}
    if sp.spec.allocation.recovery == "base":  # one recovery policy: see with_recovery
        treatments = with_recovery(treatments, sp.base)
    seeds = replication_seeds(sc, sp.spec.replications)
    alloc = sp.spec.allocation
    teams, resp_sc = None, sc
    if alloc.teams:  # team economics of this book (optimizer.team_economics)
        teams = team_economics(sc, alloc.max_agents)
        resp_sc = response_scenario(sc, alloc.max_agents)
        err.print(
            f"teams: {teams.calls_per_agent:,.0f} calls or {teams.visits_per_agent:,.0f} visits "
            f"and {teams.cost_per_agent:,.0f} pay per agent over {sc.days} days, "
            f"at most {teams.max_agents} agents"
        )
    err.print(f"response table: {len(names)} treatments x {len(seeds)} seeds ...")
    resp = estimate_responses(resp_sc, treatments, seeds, ex, contacts=teams is not None)
    write_text(out / "response_table.csv", resp.table.to_csv(index=False))
    budget = sp.spec.constraints.budget
    churn_cap = sp.spec.constraints.churn_cap
    chosen = choose_plan(resp, budget=budget, churn_cap=churn_cap, teams=teams)
    if chosen["status"] != "optimal":
        raise fail(f"the allocation model is {chosen['status']}: loosen the budget or churn cap")
    best_sc, staffing = sc, None
    if teams is not None:
        r0 = chosen["solve"]
        staffing = chosen_staffing(sc, r0["call_agents"], r0["field_agents"])
        best_sc = sc.model_validate({**sc.model_dump(), "staffing": staffing.model_dump()})
        write_text(out / "best_compromise_scenario.yaml", best_sc.to_yaml())
        console.print(
            f"teams chosen: {r0['call_agents']} call agents, {r0['field_agents']} field agents "
            f"(staffing: {staffing.model_dump()})"
        )
    model, table = chosen["model"], resp.select
    cost = table.accounts * table.cost
    lo = float(cost.groupby(table.segment).min().sum())
    hi = float(cost.groupby(table.segment).max().sum())
    plan_rows = []
    for b in np.linspace(lo, hi, 12):  # epsilon-constraint sweep, persistent re-solves
        r = model.solve(budget=float(b))
        if r["status"] == "optimal":
            plan = rounded_plan(table, r["shares"])
            plan_rows.append(
                {
                    **plan,
                    "budget": float(b),
                    "net_recovery": r["net_recovery"],
                    "cost": r["cost"],
                    "churned": r["churned"],
                    "seconds": r["seconds"],
                }
            )
    pareto = pd.DataFrame(plan_rows)
    write_text(out / "pareto.csv", pareto.to_csv(index=False))
    segs = [c for c in pareto.columns if "/" in c]
    coded = pareto.copy()
    for c in segs:  # treatments as numbers for the parallel coordinates
        coded[c] = coded[c].map({n: i for i, n in enumerate(names)})
    plan, r = chosen["plan"], chosen["solve"]
    if check:
        loop = closed_loop(
            sc, resp.predict, plan, treatments, check, staffing, executor=ex, contacts=False
        )
        loop.insert(2, "in_sample", [chosen["in_sample"][k] for k in loop["kpi"]])
        write_text(out / "predicted_vs_simulated.csv", loop.to_csv(index=False))
        console.print(
            f"closed loop on {len(check)} fresh seeds (prediction from held-out accounts; "
            "net recovery before charge-off: delinquent cash less contact cost):"
        )
        Console(file=console.file, width=max(console.width, 112)).print(
            loop.to_string(index=False, float_format=lambda v: f"{v:,.4g}")
        )
        console.print(
            "the run summary's net recovery (with post-charge-off recoveries and all costs), "
            f"simulated: {loop.attrs['summary_net_recovery']:,.0f}"
        )
    strat = plan_strategy(plan, treatments, name="best_compromise")
    header = (
        "# allocation plan of `postloan optimize --method allocation`\n"
        f"# predicted (held-out accounts) net recovery {chosen['predicted']['net_recovery']:,.0f},"
        f" cost {chosen['predicted']['cost']:,.0f}; solved in {r['seconds']:.3f} s\n"
    )
    write_text(out / "best_compromise.yaml", strategy_yaml(strat, header))
    return (
        SegmentPlan(plan, treatments, name="best_compromise"),
        best_sc,
        (coded, ["budget", *segs[:12]], f"{sc.name} allocation"),
    )
