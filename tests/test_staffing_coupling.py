"""Staffing plans drive the engine's capacity and staff cost."""

from __future__ import annotations

from pathlib import Path

import pytest

from postloan.experiments.staffing_sweep import plan_for, staffing_sweep
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
    df = staffing_sweep(book, resolve("standard"), [3, 12])
    assert list(df["agents"]) == [3, 12]
    assert df["staff_cost"].iloc[1] > df["staff_cost"].iloc[0]


def test_bad_staffing_is_a_scenario_error(tmp_path):
    text = SMALL.read_text() + "staffing: {early_stage: -1}\n"
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ScenarioError, match=r"staffing\.early_stage"):
        load_scenario(f)
    assert StaffingSpec().early_stage == 12
