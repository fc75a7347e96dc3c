"""Optimiser: decision spaces, NSGA-II search vs an exhaustive grid, Pyomo allocation (solve
time, honest prediction), closed loop on fresh seeds, verification against a reference, CLI."""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from optimizer.allocation import (
    AllocationModel,
    Responses,
    TeamEconomics,
    choose_plan,
    estimate_responses,
    predict,
    synthetic_table,
)
from optimizer.closed_loop import closed_loop
from optimizer.search import (
    CandidateEvaluator,
    CheckpointError,
    hypervolume,
    objective_matrix,
    pareto_front,
    reference_point,
    replication_seeds,
    search,
)
from optimizer.space import SpaceError, load_space, space_from_dict
from optimizer.verify import KPIS, verification_seeds, verify
from postloan.experiments.executors import make_executor
from sim.scenario import load_scenario
from sim.statistics import holm
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
    # resume: one more generation continues from the checkpoint (the same seed: replayed)
    more = search(sp, tiny, generations=5, population=10, out=tmp_path / "s", resume=True, seed=3)
    assert list(more.history["generation"]) == [1, 2, 3, 4, 5]
    pd.testing.assert_frame_equal(more.history.iloc[:4], res.history)
    pd.testing.assert_frame_equal(more.evaluated.iloc[: len(res.evaluated)], res.evaluated)
    assert len(more.evaluated) >= len(res.evaluated)


class _NoSimulation:
    """An executor that fails if asked to simulate anything."""

    def imap_unordered(self, fn, items):
        raise AssertionError("a simulation ran")


@pytest.fixture(scope="module")
def micro():
    return load_scenario(ROOT / "scenarios" / "small.yaml", accounts=300, days=30)


def test_resumed_search_equals_uninterrupted(micro, tmp_path):
    sp = space_from_dict(TWO_LEVERS)
    kw = {"population": 6, "seed": 3}
    full = search(sp, micro, generations=4, **kw)
    out = tmp_path / "s"
    search(sp, micro, generations=2, out=out, **kw)
    # the checkpoint is plain JSON (no pickle anywhere)
    doc = json.loads((out / "checkpoint.json").read_text(encoding="utf-8"))
    assert doc["generation"] == 2 and len(doc["asked"]) == 2 and len(doc["history"]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.json"]
    # replaying the stored generations simulates nothing
    again = search(sp, micro, generations=2, out=out, resume=True, executor=_NoSimulation(), **kw)
    assert again.simulations == doc["simulations"] and len(again.history) == 2
    # interrupted after 2 generations and resumed to 4 = 4 uninterrupted generations
    resumed = search(sp, micro, generations=4, out=out, resume=True, **kw)
    pd.testing.assert_frame_equal(resumed.evaluated, full.evaluated)
    pd.testing.assert_frame_equal(resumed.front, full.front)
    pd.testing.assert_frame_equal(resumed.history, full.history)
    assert resumed.simulations == full.simulations


def test_malformed_or_mismatched_checkpoint_is_a_clear_error(micro, tmp_path):
    sp = space_from_dict(TWO_LEVERS)
    out = tmp_path / "s"
    search(sp, micro, generations=2, population=4, seed=3, out=out)
    path = out / "checkpoint.json"
    good = json.loads(path.read_text(encoding="utf-8"))

    def resume(doc=None, space=sp, population=4):
        if doc is not None:
            path.write_text(json.dumps(doc), encoding="utf-8")
        # checks come before any simulation: the executor fails if one runs
        ex = _NoSimulation()
        search(
            space,
            micro,
            generations=3,
            population=population,
            seed=3,
            out=out,
            resume=True,
            executor=ex,
        )

    def tampered(edit):
        doc = json.loads(json.dumps(good))
        edit(doc)
        return doc

    with pytest.raises(
        CheckpointError,
        match=r"checkpoint\.json: field 'settings\.population': "
        r"the checkpoint has 4, this search has 6",
    ):
        resume(population=6)
    budget = space_from_dict({**TWO_LEVERS, "constraints": {"budget": 1e6}})
    with pytest.raises(CheckpointError, match=r"field 'settings\.constraints\.budget'"):
        resume(space=budget)
    cases = [
        (
            lambda d: d["evaluations"][0]["kpis"].update(cost="lots"),
            r"field 'evaluations\[0\]\.kpis\.cost': must be a number",
        ),
        (lambda d: d.pop("history"), r"field 'history': Field required"),
        (lambda d: d.update(format="something else"), r"field 'format'"),
        (lambda d: d.update(generation=3), r"field 'asked': 2 generations, expected 3"),
        (
            lambda d: d["evaluations"][0].update(x=[99.0, 1.0]),
            r"field 'evaluations\[0\]\.x': not a point of the space",
        ),
        (lambda d: d["asked"][1].reverse(), r"field 'asked\[1\]': replaying the search"),
    ]
    for edit, message in cases:
        with pytest.raises(CheckpointError, match=r"checkpoint\.json: " + message):
            resume(tampered(edit))
    path.write_bytes(pickle.dumps(good))
    with pytest.raises(CheckpointError, match=r"checkpoint\.json: not valid JSON"):
        resume()
    # an old pickle checkpoint is never loaded (unpickling this one would make a folder)
    path.unlink()
    marker = tmp_path / "unpickled"

    class Payload:
        def __reduce__(self):
            import os

            return os.mkdir, (str(marker),)

    (out / "checkpoint.pkl").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError, match=r"checkpoint\.pkl: pickle checkpoints"):
        resume()
    assert not marker.exists()


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


def test_allocation_200x12_prediction_is_honest_despite_the_winners_curse():
    """Choosing each segment's treatment by its highest *noisy* estimate and predicting with
    the same estimates overstates the plan (the winner's curse); predicting from a second,
    independent estimate (:attr:`Responses.predict`) does not."""
    true = synthetic_table(200, 12, seed=4)
    rng = np.random.default_rng(1)

    def estimate():  # per-account CV of 3 on half the accounts of each segment
        t = true.copy()
        t["collected"] += rng.normal(0, 3 * t["collected"] / np.sqrt(t["accounts"] / 2))
        t["net"] = t["collected"] - t["cost"]
        return t

    sel, held_out = estimate(), estimate()
    budget = float((true.accounts * true.cost).sum() / 12 * 0.5)
    t0 = time.perf_counter()
    chosen = choose_plan(Responses(sel, sel, held_out, []), budget=budget)
    elapsed = time.perf_counter() - t0
    truth = predict(true, chosen["plan"])["net_recovery"]
    optimism = chosen["in_sample"]["net_recovery"] / truth - 1
    honest = chosen["predicted"]["net_recovery"] / truth - 1
    print(f"200 x 12: in-sample {optimism:+.2%}, held-out {honest:+.2%}, {elapsed:.2f} s")
    assert elapsed < 5
    assert optimism > 0.04  # the curse is real at this segment size ...
    assert abs(honest) < 0.02  # ... and the held-out prediction is free of it


def test_allocation_closed_loop_on_fresh_seeds_within_5_percent():
    """The baseline book (100,000 accounts, 120 days), two treatments, a budget that forces a
    mix: the plan is chosen on half the accounts of the response-table runs, predicted from
    the other half, and simulated on three fresh seeds (none used by the table)."""
    sc = load_scenario(ROOT / "scenarios" / "baseline.yaml", days=120)
    treatments = {n: resolve(n) for n in ("light_touch", "standard")}
    table_seeds = replication_seeds(sc, 2)
    fresh = verification_seeds(sc, 3)
    assert not set(table_seeds) & set(fresh)
    with make_executor(2) as ex:
        resp = estimate_responses(sc, treatments, table_seeds, ex, contacts=False)
        t = resp.select
        cost = (t.accounts * t.cost).groupby(t.segment)
        chosen = choose_plan(resp, budget=float(cost.min().sum() + cost.max().sum()) / 2)
        assert set(chosen["plan"].values()) == set(treatments)  # a mix
        check = closed_loop(
            sc, resp.predict, chosen["plan"], treatments, fresh, executor=ex, contacts=False
        ).set_index("kpi")
    net = check.loc["net_recovery"]
    print(
        f"closed loop on fresh seeds: predicted {net['predicted']:,.0f}, simulated "
        f"{net['simulated']:,.0f}, gap {net['gap']:+.2%} [{net['gap_low']:+.2%}, "
        f"{net['gap_high']:+.2%}], prediction SE {net['pred_se']:.2%}; in-sample prediction "
        f"{chosen['in_sample']['net_recovery']:,.0f}; cost gap {check.loc['cost', 'gap']:+.2%}"
    )
    assert abs(net["gap"]) < 0.05


def test_verify_pairs_fresh_seeds_and_decomposes_net_recovery(tiny):
    seeds = verification_seeds(tiny, 3)
    assert not set(seeds) & set(replication_seeds(tiny, 50))
    v = verify(tiny, resolve("aggressive"), resolve("standard"), seeds)
    t = v.table
    assert list(t.index) == list(KPIS)
    assert len(v.runs) == 9 and set(v.runs.arm) == {"candidate", "reference", "no_contact"}
    # net recovery = before + after charge-off, for every run
    r = v.runs
    assert np.allclose(r.net_recovery, r.net_before_charge_off + r.net_after_charge_off)
    assert np.allclose(r.cost, r.cost_contact_and_staff + r.cost_recovery)
    # the paired difference is the mean of per-seed differences, inside its interval
    c = r[r.arm == "candidate"].set_index("seed").net_recovery
    b = r[r.arm == "reference"].set_index("seed").net_recovery
    assert np.isclose(t.loc["net_recovery", "diff"], (c - b).mean())
    assert t.loc["net_recovery", "ci_low"] <= t.loc["net_recovery", "diff"]
    assert t.loc["net_recovery", "diff"] <= t.loc["net_recovery", "ci_high"]
    # aggressive costs more than standard on every seed: the verdict says so
    assert t.loc["cost", "ci_low"] > 0 and not v.no_higher_cost
    assert "does NOT beat" in v.verdict()
    # the verdict's three claims are Holm-adjusted together: never below the raw p-values
    fam = ["net_value", "cost", "churned"]
    assert np.allclose(t.loc[fam, "p_holm"], holm(t.loc[fam, "p_value"].to_numpy()))
    assert (t.loc[fam, "p_holm"] >= t.loc[fam, "p_value"] - 1e-12).all()
    assert v.summary()["replications"] == 3
    with pytest.raises(ValueError, match="at least 2 seeds"):
        verify(tiny, resolve("aggressive"), resolve("standard"), seeds[:1])


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
        "2",
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    front = pd.read_csv(out / "pareto.csv")
    assert {"call_every", "call_start", "net_recovery", "cost", "churned"} <= set(front.columns)
    html = (out / "pareto.html").read_text()
    assert "parcoords" in html and "<script" in html and "Verification on 2 fresh seeds" in html
    # the verification against standard on fresh seeds: table, runs, verdict
    ver = pd.read_csv(out / "verification.csv", index_col="kpi")
    assert {"candidate", "reference", "diff", "ci_low", "ci_high", "uplift"} <= set(ver.columns)
    summary = json.loads((out / "verification.json").read_text())
    assert summary["reference"] == "standard" and summary["replications"] == 2
    search_seeds = set(replication_seeds(load_scenario(ROOT / "scenarios" / "small.yaml"), 1))
    assert not set(summary["seeds"]) & search_seeds
    assert "verdict:" in r.output
    r = runner.invoke(app, [*args[:-2], "--check-seeds", "0", "--resume", "--generations", "3"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "checkpoint.json").read_text())["generation"] == 3
    # a resume with other settings: one message naming the file and the field, exit code 2
    r = runner.invoke(app, [*args[:-2], "--check-seeds", "0", "--resume", "--population", "6"])
    assert r.exit_code == 2, r.output
    assert "checkpoint.json: field 'settings.population'" in r.output
    assert "Traceback" not in r.output
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


def test_cli_allocation_writes_closed_loop_and_verification(tmp_path):
    from postloan.cli import app

    space = tmp_path / "space.yaml"
    space.write_text(
        yaml.safe_dump({**TWO_LEVERS, "allocation": {"treatments": ["none", "standard"]}})
    )
    out = tmp_path / "alloc"
    args = ["optimize", str(ROOT / "scenarios" / "small.yaml"), "--space", str(space)]
    args += ["--method", "allocation", "--accounts", "500", "--days", "40"]
    args += ["--check-seeds", "2", "--out", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    import pandas as pd

    loop = pd.read_csv(out / "predicted_vs_simulated.csv").set_index("kpi")
    assert {"predicted", "in_sample", "simulated", "gap", "gap_low", "gap_high"} <= set(
        loop.columns
    )
    assert (out / "verification.csv").exists() and (out / "response_table.csv").exists()
    assert load_strategy_file(out / "best_compromise.yaml").rules


def test_cli_allocation_sizes_teams_from_the_book(tmp_path):
    """allocation.teams: the model gets this book's team economics, sizes the teams within
    max_agents, and the plan runs (and is verified) with the teams it chose."""
    from postloan.cli import app

    alloc = {"treatments": ["none", "standard", "aggressive"], "teams": True, "max_agents": 6}
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({**TWO_LEVERS, "allocation": alloc}))
    out = tmp_path / "alloc"
    args = ["optimize", str(ROOT / "scenarios" / "small.yaml"), "--space", str(space)]
    args += ["--method", "allocation", "--accounts", "600", "--days", "40"]
    args += ["--check-seeds", "2", "--out", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "teams: " in r.output and "pay per agent over 40 days" in r.output
    chosen = load_scenario(out / "best_compromise_scenario.yaml").staffing
    assert chosen is not None and chosen.early_stage >= 1
    agents = chosen.early_stage + chosen.late_stage + chosen.legal + chosen.field
    assert agents <= 6 + 2  # the model's cap, plus at most an inbound and a dialling agent
    ver = pd.read_csv(out / "verification_runs.csv")
    assert set(ver.arm) == {"candidate", "reference", "no_contact"}


def test_team_economics_follow_the_book():
    from optimizer.team_economics import chosen_staffing, response_scenario, team_economics

    small = load_scenario(ROOT / "scenarios" / "baseline.yaml", accounts=4_000, days=30)
    big = load_scenario(ROOT / "scenarios" / "baseline.yaml", accounts=100_000, days=30)
    t_small, t_big = team_economics(small, 50), team_economics(big, 50)
    # a day's pay: 8 h x 60 min x 0.25 USD, times the horizon
    assert t_small.cost_per_agent == t_big.cost_per_agent == pytest.approx(30 * 120.0)
    assert t_small.max_agents == 50
    # an agent makes on the order of a hundred-odd attempts a day on either book
    assert 50 * 30 < t_big.calls_per_agent < 400 * 30
    ample = response_scenario(big, 200).staffing
    assert ample.early_stage + ample.late_stage + ample.field + ample.legal == 4 * 28
    plan = chosen_staffing(big, 10, 3)
    assert (plan.early_stage + plan.late_stage + plan.legal, plan.field) == (10, 3)
    one = chosen_staffing(small, 1, 0)
    assert (one.early_stage, one.late_stage) == (1, 1)  # someone answers, someone dials
    assert chosen_staffing(small, 0, 0).late_stage == 0


def test_best_compromise_within_cost_and_churn():
    import pandas as pd

    from optimizer.search import best_compromise

    # the compromise maximises net value (the priced objective), not net recovery
    front = pd.DataFrame(
        {
            "net_value": [10.0, 12.0, 15.0],
            "net_recovery": [30.0, 20.0, 10.0],
            "cost": [5.0, 6.0, 6.0],
            "churned": [1.0, 2.0, 4.0],
        }
    )
    assert best_compromise(front, max_cost=6)["net_value"] == 15
    assert best_compromise(front, max_cost=6, max_churn=2)["net_value"] == 12
    # nothing within the limits: the point nearest the ideal
    assert best_compromise(front, max_cost=1)["net_value"] in (10.0, 12.0, 15.0)
