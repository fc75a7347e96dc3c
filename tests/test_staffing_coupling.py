"""Staffing plans drive the engine's capacity and staff cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from postloan.experiments.staffing_sweep import plan_for, staffing_sweep
from sim.book_staffing import resolved_inbound
from sim.engine import simulate
from sim.scenario import Scenario, ScenarioError, StaffingSpec, load_scenario
from strategies.registry import resolve

SMALL = Path(__file__).resolve().parents[1] / "scenarios" / "small.yaml"


@pytest.fixture(scope="module")
def book() -> Scenario:
    return load_scenario(SMALL, accounts=20000, days=60)


def _with_staff(sc: Scenario, agents: int) -> Scenario:
    return Scenario.model_validate(
        {**sc.model_dump(), "staffing": plan_for(sc, agents).model_dump()}
    )


def test_fewer_agents_fewer_calls_less_collected(book):
    strategy = resolve("standard")
    few = simulate(_with_staff(book, 1), strategy).summary
    many = simulate(_with_staff(book, 30), strategy).summary
    assert few["staffing"]["call_attempts_per_day"] < many["staffing"]["call_attempts_per_day"]
    assert few["contacts"]["call"] < many["contacts"]["call"]
    assert few["unserved"]["call"] > many["unserved"]["call"]
    assert few["collected"] < many["collected"]
    # agent labour is a daily staff cost, not a per-attempt cost, once a plan is given
    assert many["cost_by_channel"]["call"] == 0.0
    days = book.days
    assert many["cost_by_channel"]["staff"] == pytest.approx(
        days * many["staffing"]["staff_cost_per_day"]
    )
    assert 0 < many["staffing"]["utilisation"] <= 1


def test_sweep_rows_and_plan_scaling(book):
    spec = plan_for(book, 10)
    assert spec.early_stage + spec.late_stage + spec.field + spec.legal == 10
    res = staffing_sweep(book, resolve("standard"), [3, 12], replications=2, marginal=False)
    df = res.levels
    assert list(df["agents"]) == [3, 12]
    assert df["staff_cost"].iloc[1] > df["staff_cost"].iloc[0]
    # every KPI has its interval around the mean, and both levels ran on the same two seeds
    for k in ("collected", "net_value", "cost"):
        assert (df[f"{k}_low"] <= df[k]).all() and (df[k] <= df[f"{k}_high"]).all()
    assert res.runs.groupby("agents")["seed"].apply(list).tolist() == [res.seeds, res.seeds]
    assert df[["utilisation", "inbound_service_level"]].notna().all().all()
    # the service level is measured with the call-backs the runs provoked on top of the book's
    # demand (sim.book_staffing): more calls, a service level no better
    base = plan_for(book, 3)
    book_rate = resolved_inbound(base, book).inbound_calls_per_hour
    assert (df["inbound_calls_per_hour"] > book_rate).all()
    slack = 3 * df["inbound_service_level_se"] + 0.02
    assert (
        df["inbound_service_level"] <= df["inbound_service_level_without_callbacks"] + slack
    ).all()


def test_sweep_capacity_binds_then_stops(book):
    """Collected cash and the service level rise with agents while capacity binds (on every
    shared seed); once it no longer binds, more agents only cost (interval below 0); one more
    agent per team is measured at the best level."""
    res = staffing_sweep(book, resolve("standard"), [2, 6, 40], replications=2)
    df = res.levels.set_index("agents")
    # 2 agents leave calls unserved; 6 and 40 serve everything
    assert df.loc[2, "unserved_calls"] > 0 and df.loc[6, "unserved_calls"] == 0
    assert df.loc[40, "unserved_calls"] == 0
    collected = res.runs[res.runs.team == ""].pivot(index="seed", columns="agents",
                                                    values="collected")  # fmt: skip
    assert (collected[6] > collected[2]).all()  # on each seed, not only on average
    assert df.loc[6, "inbound_service_level"] > df.loc[2, "inbound_service_level"]
    assert df.loc[40, "inbound_service_level"] > df.loc[6, "inbound_service_level"]
    # 34 more agents cost more than they bring once capacity no longer binds
    assert df.loc[40, "marginal_net_value_per_agent_high"] < 0
    assert res.best_agents == 6 and res.warning is None
    m = res.marginal.set_index("team")
    assert list(m.index) == ["early_stage", "late_stage", "field", "legal"]
    assert (m["net_value_low"] <= m["net_value_per_agent"]).all()
    assert (m["net_value_per_agent"] <= m["net_value_high"]).all()
    # an unneeded legal agent costs its pay and brings nothing back: value per agent < 0
    assert m.loc["legal", "net_value_per_agent"] < 0


def test_edge_warning_names_the_largest_level(book):
    res = staffing_sweep(book, resolve("standard"), [1, 2], replications=2, marginal=False)
    assert res.best_agents == 2
    assert res.warning is not None and "largest" in res.warning and "1-2" in res.warning
    assert res.marginal.empty
    with pytest.raises(ValueError, match="at least 2"):
        staffing_sweep(book, resolve("standard"), [1, 2], replications=1)


def test_bad_staffing_is_a_scenario_error(tmp_path):
    text = SMALL.read_text() + "staffing: {early_stage: -1}\n"
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ScenarioError, match=r"staffing\.early_stage"):
        load_scenario(f)
    assert StaffingSpec().early_stage == 12
