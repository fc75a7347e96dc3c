"""Optimiser: decision spaces, NSGA-II search vs an exhaustive grid, Pyomo allocation,
closed loop, CLI."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from optimizer.allocation import (
    AllocationModel,
    TeamEconomics,
    response_table,
    rounded_plan,
    synthetic_table,
)
from optimizer.closed_loop import closed_loop
from optimizer.search import (
    CandidateEvaluator,
    hypervolume,
    objective_matrix,
    pareto_front,
    reference_point,
    search,
)
from optimizer.space import SpaceError, load_space, space_from_dict
from sim.scenario import load_scenario
from strategies.registry import load_strategy_file, resolve

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "optimizer" / "spaces" / "example.yaml"


@pytest.fixture(scope="module")
def tiny():
    return load_scenario(ROOT / "scenarios" / "small.yaml", accounts=600, days=45)


TWO_LEVERS = {
    "name": "two",
    "replications": 1,
    "levers": [
        {
            "name": "call_every",
            "kind": "every_days",
            "channel": "call",
            "bucket": "1-30",
            "low": 1,
            "high": 6,
        },
        {
            "name": "call_start",
            "kind": "start_day",
            "channel": "call",
            "bucket": "1-30",
            "low": 1,
            "high": 7,
        },
    ],
}


def test_space_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "levers": [
                    {
                        "name": "a",
                        "kind": "every_days",
                        "channel": "call",
                        "bucket": "1-99",
                        "low": 1,
                        "high": 3,
                    }
                ],
            }
        )
    )
    with pytest.raises(SpaceError, match=r"bad\.yaml: lever 1, field '\(whole entry\)'.*bucket"):
        load_space(bad)
    bad.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "levers": [
                    {
                        "name": "a",
                        "kind": "every_days",
                        "channel": "call",
                        "bucket": "1-30",
                        "low": 1,
                        "high": 3,
                        "colour": 2,
                    }
                ],
            }
        )
    )
    with pytest.raises(SpaceError, match=r"bad\.yaml: lever 1, field 'colour': unknown key"):
        load_space(bad)
    bad.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "levers": [
                    {
                        "name": "a",
                        "kind": "every_days",
                        "channel": "email",
                        "bucket": "1-30",
                        "low": 1,
                        "high": 3,
                    }
                ],
            }
        )
    )
    with pytest.raises(SpaceError, match=r"bad\.yaml: lever 1 \('a'\), field 'channel'"):
        load_space(bad)
    with pytest.raises(SpaceError, match="no such space file"):
        load_space(tmp_path / "missing.yaml")


def test_lever_vector_maps_to_strategy_and_staffing(tiny, tmp_path):
    sp = load_space(EXAMPLE)
    strat = sp.strategy([3, 9, 2, 0.0])
    early_calls = [r for r in strat.rules if r.channel == "call" and r.dpd_max == 30]
    assert [(r.every_days, r.dpd_min) for r in early_calls] == [(3, 9)]
    assert next(r for r in strat.rules if r.channel == "call" and r.dpd_min == 31).every_days == 2
    # share 0 of sms: no sms rule in 1-30, ivr every round(7/3) = 2 days
    assert not [r for r in strat.rules if r.channel == "sms" and r.dpd_max == 30]
    assert [r.every_days for r in strat.rules if r.channel == "ivr" and r.dpd_max == 30] == [2]
    # staffing lever
    data = yaml.safe_load(EXAMPLE.read_text())
    data["levers"].append(
        {"name": "agents", "kind": "staffing", "team": "early_stage", "low": 1, "high": 30}
    )
    sp2 = space_from_dict(data)
    assert sp2.staffing(tiny, [3, 9, 2, 0.5, 17.4]).early_stage == 17
    assert sp2.scenario(tiny, [3, 9, 2, 0.5, 17]).staffing.early_stage == 17
    # the strategy written out loads back as the same rules
    from optimizer.space import strategy_yaml

    f = tmp_path / "s.yaml"
    f.write_text(strategy_yaml(strat))
    assert load_strategy_file(f).rules == strat.rules


def test_search_reaches_grid_hypervolume_and_resumes(tiny, tmp_path):
    sp = space_from_dict(TWO_LEVERS)
    grid_ev = CandidateEvaluator(sp, tiny)
    grid_ev.evaluate(sp.grid())
    grid = grid_ev.table()
    res = search(sp, tiny, generations=4, population=10, out=tmp_path / "s", seed=3)
    # the search may reuse nothing from the grid: its own evaluator, the same seeds
    Fg = objective_matrix(pareto_front(grid))
    Fs = objective_matrix(res.front)
    ref = reference_point(objective_matrix(grid), 0.1)
    ideal = objective_matrix(grid).min(axis=0)
    ratio = hypervolume(Fs, ref, ideal) / hypervolume(Fg, ref, ideal)
    print(f"hypervolume ratio search/grid: {ratio:.3f} ({len(res.evaluated)} of {len(grid)})")
    assert ratio >= 0.95
    assert list(res.history["generation"]) == [1, 2, 3, 4]
    assert (np.diff(res.history["hypervolume"]) >= -1e-12).all()
    # resume: two more generations continue from the checkpoint
    more = search(sp, tiny, generations=5, population=10, out=tmp_path / "s", resume=True)
    assert list(more.history["generation"]) == [1, 2, 3, 4, 5]
    assert len(more.evaluated) >= len(res.evaluated)


def test_allocation_200x12_solves_fast():
    table = synthetic_table(200, 12, seed=4)
    budget = float((table.accounts * table.cost).sum() / 12 * 0.5)
    t0 = time.perf_counter()
    model = AllocationModel(
        table, budget=budget, churn_cap=None, teams=TeamEconomics(2000, 60, 8000, 400)
    )
    r = model.solve()
    elapsed = time.perf_counter() - t0
    print(f"200 x 12 allocation: built and solved in {elapsed:.2f} s")
    assert r["status"] == "optimal" and elapsed < 5
    shares = r["shares"].groupby("segment")["share"].sum()
    assert np.allclose(shares, 1)
    assert r["cost"] <= budget * (1 + 1e-6)
    # epsilon-constraint sweep: persistent re-solves; net recovery rises with the budget
    sweep = model.sweep("budget", [budget * f for f in (0.5, 1.0, 2.0)])
    ok = sweep[sweep.status == "optimal"]
    assert len(ok) == 3 and ok["net_recovery"].is_monotonic_increasing


def test_allocation_closed_loop_within_5_percent(tiny):
    treatments = {n: resolve(n) for n in ("none", "light_touch", "standard")}
    table = response_table(tiny, treatments, [11])
    churn_cap = float((table.accounts * table.churn).groupby(table.segment).max().sum())
    r = AllocationModel(table, churn_cap=churn_cap).solve()
    plan = rounded_plan(table, r["shares"])
    check = closed_loop(tiny, table, plan, treatments, [11]).set_index("kpi")
    gap = check.loc["net_recovery", "gap"]
    print(f"closed loop predicted vs simulated net recovery gap: {gap:+.2%}")
    assert abs(gap) < 0.05


def test_cli_end_to_end_and_run_accepts_best_compromise(tmp_path):
    from postloan.cli import app

    runner = CliRunner()
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(TWO_LEVERS))
    out = tmp_path / "opt"
    args = [
        "optimize",
        str(ROOT / "scenarios" / "small.yaml"),
        "--space",
        str(space),
        "--accounts",
        "400",
        "--days",
        "40",
        "--generations",
        "2",
        "--population",
        "4",
        "--out",
        str(out),
        "--check-seeds",
        "0",
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    import pandas as pd

    front = pd.read_csv(out / "pareto.csv")
    assert {"call_every", "call_start", "net_recovery", "cost", "churned"} <= set(front.columns)
    html = (out / "pareto.html").read_text()
    assert "parcoords" in html and "<script" in html
    r = runner.invoke(app, [*args[:-2], "--check-seeds", "0", "--resume", "--generations", "3"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        app,
        [
            "run",
            str(ROOT / "scenarios" / "small.yaml"),
            "--strategy",
            str(out / "best_compromise.yaml"),
            "--accounts",
            "400",
            "--days",
            "40",
            "--out",
            str(tmp_path / "runs"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
