"""``postloan optimize``: Pareto search or treatment allocation over a decision space."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.console import Console

from postloan.errors import fail, user_errors

err = Console(stderr=True)


class Method(StrEnum):
    search = "search"
    allocation = "allocation"


def _chart(front: pd.DataFrame, levers: list[str], path: Path, title: str) -> Path | None:
    """Pareto scatter (cost vs net recovery, colour churn) and parallel coordinates, one HTML."""
    try:
        import plotly.graph_objects as go
    except ImportError:  # pragma: no cover
        return None
    hover = [
        "<br>".join(f"{c}: {row[c]}" for c in [*levers, "net_recovery", "cost", "churned"])
        for _, row in front.iterrows()
    ]
    scatter = go.Figure(
        go.Scatter(
            x=front["cost"],
            y=front["net_recovery"],
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
        title=f"{title}: Pareto front", xaxis_title="cost (USD)", yaxis_title="net recovery (USD)"
    )
    dims = [
        {"label": c, "values": pd.to_numeric(front[c], errors="coerce")}
        for c in [*levers, "net_recovery", "cost", "churned"]
        if pd.api.types.is_numeric_dtype(front[c])
    ]
    par = go.Figure(
        go.Parcoords(
            line={"color": front["net_recovery"], "colorscale": "Viridis"}, dimensions=dims
        )
    )
    par.update_layout(title="decisions behind every point (drag an axis to filter)")
    html = (
        "<html><head><meta charset='utf-8'><title>"
        + title
        + "</title></head><body>"
        + scatter.to_html(include_plotlyjs="inline", full_html=False)
        + par.to_html(include_plotlyjs=False, full_html=False)
        + "</body></html>"
    )
    path.write_text(html, encoding="utf-8")
    return path


def _paired(scenario, a, b, seeds, executor) -> dict:
    """Paired (same seeds) difference a - b in net recovery and cost."""
    from optimizer.search import EvalTask, evaluate_task
    from postloan.compare import t_interval

    tasks = [EvalTask(scenario, s, seed) for seed in seeds for s in (a, b)]
    res: dict[int, dict] = dict(executor.imap_unordered(evaluate_task, tasks))
    out = {}
    for k in ("net_recovery", "cost"):
        d = np.array([res[2 * i][k] - res[2 * i + 1][k] for i in range(len(seeds))])
        base = np.array([res[2 * i + 1][k] for i in range(len(seeds))])
        m, _, lo, hi = t_interval(d)
        out[k] = {"mean_diff": m, "lo": lo, "hi": hi, "relative": m / abs(base.mean())}
    return out


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def optimize(
        scenario: Path = typer.Argument(..., help="Scenario YAML file"),
        space: Path = typer.Option(..., "--space", help="Decision space YAML"),
        method: Method = typer.Option(Method.search, "--method", help="search or allocation"),
        budget: float | None = typer.Option(None, "--budget", help="Cost cap over the horizon"),
        churn_cap: float | None = typer.Option(None, "--churn-cap", help="Churned accounts cap"),
        generations: int = typer.Option(8, "--generations", help="NSGA-II generations"),
        population: int = typer.Option(16, "--population", help="NSGA-II population size"),
        jobs: int = typer.Option(1, "-j", "--jobs", help="Worker processes"),
        resume: bool = typer.Option(False, "--resume", help="Continue from the checkpoint"),
        out: Path = typer.Option(Path("results/optimize"), "--out", help="Output folder"),
        accounts: int | None = typer.Option(None, "--accounts", help="Override accounts"),
        days: int | None = typer.Option(None, "--days", help="Override the horizon"),
        check_seeds: int = typer.Option(
            5, "--check-seeds", help="Seeds for the paired check against 'standard' (0: skip)"
        ),
    ) -> None:
        """Find the policies that trade net recovery against cost and churn best.

        Writes pareto.csv, pareto.html (Pareto chart and parallel coordinates),
        best_compromise.yaml (a strategy file for `postloan run --strategy`) and, when the
        space sizes teams, best_compromise_scenario.yaml (the scenario with that staffing).
        """
        from optimizer.search import replication_seeds
        from optimizer.space import load_space, space_from_dict
        from postloan.executors import make_executor
        from sim.scenario import load_scenario
        from strategies.registry import resolve

        if generations < 1 or population < 4:
            raise fail("--generations must be >= 1 and --population >= 4")
        sc = load_scenario(scenario, accounts=accounts, days=days)
        sp = load_space(space)
        if budget is not None or churn_cap is not None:
            data = sp.spec.model_dump()
            if budget is not None:
                data["constraints"]["budget"] = budget
            if churn_cap is not None:
                data["constraints"]["churn_cap"] = churn_cap
            sp = space_from_dict(data, str(space))
        out.mkdir(parents=True, exist_ok=True)
        console = Console()
        with make_executor(jobs) as ex:
            if method is Method.search:
                best_strategy, best_sc = _run_search(
                    sp, sc, out, ex, generations, population, resume, console
                )
            else:
                best_strategy, best_sc = _run_allocation(sp, sc, out, budget, churn_cap, console)
            if check_seeds > 0:
                seeds = [s + 104729 for s in replication_seeds(sc, check_seeds)]
                std = resolve("standard")
                pd_ = _paired(best_sc, best_strategy, std, seeds, ex)
                pd.DataFrame(pd_).T.to_csv(out / "vs_standard.csv")
                n = pd_["net_recovery"]
                c = pd_["cost"]
                console.print(
                    f"best compromise vs standard on {check_seeds} fresh seeds (paired): "
                    f"net recovery {n['mean_diff']:+,.0f} ({n['relative']:+.1%}), 95% CI "
                    f"[{n['lo']:+,.0f}, {n['hi']:+,.0f}]; cost {c['mean_diff']:+,.0f} "
                    f"[{c['lo']:+,.0f}, {c['hi']:+,.0f}]"
                )
        console.print(f"wrote {out}/pareto.csv, pareto.html, best_compromise.yaml")


def _run_search(sp, sc, out, ex, generations, population, resume, console):
    from optimizer.search import EvalTask, best_compromise, evaluate_task, replication_seeds, search
    from optimizer.space import strategy_yaml
    from strategies.registry import resolve

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
    cols = [*sp.names, "net_recovery", "cost", "churned"]
    extra = [c for c in res.front.columns if c not in cols and c != "feasible"]
    res.front[cols + extra].to_csv(out / "pareto.csv", index=False)
    res.evaluated.to_csv(out / "evaluated.csv", index=False)
    res.history.to_csv(out / "convergence.csv", index=False)
    _chart(res.front, sp.names, out / "pareto.html", f"{sc.name} x {sp.spec.name}")
    # the compromise: the best net recovery at no more than the standard strategy's cost
    seeds = replication_seeds(sc, sp.spec.replications)
    std_cost = np.mean([evaluate_task(EvalTask(sc, resolve("standard"), s))["cost"] for s in seeds])
    best = best_compromise(res.front, max_cost=std_cost)
    x = np.array([best[n] for n in sp.names], float)
    strat = sp.strategy(x, name="best_compromise")
    staffing = sp.staffing(sc, x)
    header = "# best compromise of `postloan optimize` (search)\n"
    header += f"# levers: {sp.as_dict(x)}\n"
    header += (
        f"# predicted: net_recovery {best['net_recovery']:,.0f}, cost {best['cost']:,.0f},"
        f" churned {best['churned']:.1f} (standard's cost {std_cost:,.0f})\n"
    )
    best_sc = sp.scenario(sc, x)
    if staffing is not None and sp.has_staffing:
        header += f"# staffing: {staffing.model_dump()}\n"
        header += (
            "# run with: postloan run best_compromise_scenario.yaml"
            " --strategy best_compromise.yaml\n"
        )
        (out / "best_compromise_scenario.yaml").write_text(best_sc.to_yaml(), encoding="utf-8")
    (out / "best_compromise.yaml").write_text(strategy_yaml(strat, header), encoding="utf-8")
    console.print(res.front[cols].to_string(index=False, float_format=lambda v: f"{v:,.1f}"))
    return strat, best_sc


def _run_allocation(sp, sc, out, budget, churn_cap, console):
    from optimizer.allocation import AllocationModel, response_table, rounded_plan
    from optimizer.closed_loop import SegmentPlan, closed_loop, plan_strategy
    from optimizer.search import replication_seeds
    from optimizer.space import strategy_yaml
    from strategies.registry import resolve

    names = sp.spec.allocation.treatments
    treatments = {n: resolve(n) for n in names}
    seeds = replication_seeds(sc, sp.spec.replications)
    err.print(f"response table: {len(names)} treatments x {len(seeds)} seeds ...")
    table = response_table(sc, treatments, seeds)
    table.to_csv(out / "response_table.csv", index=False)
    budget = budget if budget is not None else sp.spec.constraints.budget
    churn_cap = churn_cap if churn_cap is not None else sp.spec.constraints.churn_cap
    model = AllocationModel(table, budget=budget, churn_cap=churn_cap)
    lo = float(table.assign(c=table.accounts * table.cost).groupby("segment")["c"].min().sum())
    hi = float(table.assign(c=table.accounts * table.cost).groupby("segment")["c"].max().sum())
    frontier = model.sweep("budget", np.linspace(lo, hi, 12))
    plan_rows = []
    for b in frontier["budget"]:
        r = model.solve(budget=b)
        if r["status"] == "optimal":
            plan = rounded_plan(table, r["shares"])
            plan_rows.append(
                {
                    **plan,
                    "budget": b,
                    "net_recovery": r["net_recovery"],
                    "cost": r["cost"],
                    "churned": r["churned"],
                }
            )
    pareto = pd.DataFrame(plan_rows)
    pareto.to_csv(out / "pareto.csv", index=False)
    segs = [c for c in pareto.columns if "/" in c]
    coded = pareto.copy()
    for c in segs:  # treatments as numbers for the parallel coordinates
        coded[c] = coded[c].map({n: i for i, n in enumerate(names)})
    _chart(coded, ["budget", *segs[:12]], out / "pareto.html", f"{sc.name} allocation")
    r = model.solve(budget=budget, churn_cap=churn_cap)
    if r["status"] != "optimal":
        raise fail(f"the allocation model is {r['status']}: loosen the budget or churn cap")
    plan = rounded_plan(table, r["shares"])
    check = closed_loop(sc, table, plan, treatments, seeds)
    check.to_csv(out / "predicted_vs_simulated.csv", index=False)
    console.print(check.to_string(index=False))
    strat = plan_strategy(plan, treatments, name="best_compromise")
    header = (
        "# allocation plan of `postloan optimize --method allocation`\n"
        f"# predicted net recovery {r['net_recovery']:,.0f}, cost {r['cost']:,.0f}; "
        f"solved in {r['seconds']:.3f} s\n"
    )
    (out / "best_compromise.yaml").write_text(strategy_yaml(strat, header), encoding="utf-8")
    return SegmentPlan(plan, treatments, name="best_compromise"), sc
