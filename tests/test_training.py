"""Training costs per agent-day, works over time with diminishing returns, and reaches the
engine's promises (sim/operations/training.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.book_staffing import with_book_staffing
from sim.engine import simulate
from sim.operations.training import TrainingProgramme
from sim.scenario import Scenario, load_scenario
from strategies.registry import resolve

BASELINE = Path(__file__).resolve().parents[1] / "scenarios" / "baseline.yaml"


def test_skill_has_diminishing_returns_and_takes_time():
    t = TrainingProgramme(level=1.0)
    assert t.skill(0.0) == 0.0 and t.skill(1.0) == pytest.approx(1.0)
    first_half, second_half = t.skill(0.5) - t.skill(0.0), t.skill(1.0) - t.skill(0.5)
    assert first_half == pytest.approx(0.778, abs=1e-3) and second_half < first_half / 3
    # a team starts at the standard level's skill: no change on day 0
    assert t.promise_factor(0) == pytest.approx(1.0)
    assert 1.0 < t.promise_factor(30) < t.promise_factor(365)
    assert t.promise_factor(365) == pytest.approx(0.50 / (0.35 + 0.15 * 0.7780), rel=1e-3)
    untrained = TrainingProgramme(level=0.0)
    assert untrained.promise_factor(365) == pytest.approx(0.35 / (0.35 + 0.15 * 0.7780), rel=1e-3)
    assert TrainingProgramme(0.5).promise_factor(365) == pytest.approx(1.0)
    # cost: the labour rate includes the standard programme; more costs, less saves
    assert t.extra_cost_per_agent_day() == pytest.approx(6.0)
    assert untrained.extra_cost_per_agent_day() == pytest.approx(-6.0)
    with pytest.raises(ValueError, match="training level"):
        TrainingProgramme(level=1.5)


def _trained(sc: Scenario, level: float) -> Scenario:
    plan = sc.staffing.model_copy(update={"training": level})
    return Scenario.model_validate({**sc.model_dump(), "staffing": plan.model_dump()})


def test_training_reaches_the_engine_and_is_paid_for():
    sc = with_book_staffing(load_scenario(BASELINE, accounts=6_000, days=120))
    runs = {lv: simulate(_trained(sc, lv), resolve("standard"), 3, check=False).summary
            for lv in (0.0, 0.5, 1.0)}  # fmt: skip
    made = {lv: s["promises_made"] for lv, s in runs.items()}
    rpc = {lv: s["right_party_contacts"]["call"] + s["right_party_contacts"]["visit"]
           for lv, s in runs.items()}  # fmt: skip
    # promises per agent conversation follow the training level (the engine's rates moved)
    per = {lv: made[lv] / rpc[lv] for lv in made}
    assert per[0.0] < per[0.5] < per[1.0]
    # and by about the documented size: untrained teams 0.75x, fully trained 1.07x at most
    assert per[0.0] / per[0.5] < 0.92
    assert 1.0 < per[1.0] / per[0.5] < 1.08
    plan = sc.staffing
    agents = plan.early_stage + plan.late_stage + plan.field + plan.legal
    assert agents == 3  # the 6,000-account book's plan: 1 / 1 / 1 / 0
    days = 120
    pay = {lv: s["cost_by_channel"]["staff"] for lv, s in runs.items()}
    assert pay[1.0] - pay[0.5] == pytest.approx(agents * days * 6.0)
    assert pay[0.5] - pay[0.0] == pytest.approx(agents * days * 6.0)


def test_training_is_a_lever_of_the_decision_space():
    from optimizer.space import SpaceError, space_from_dict

    sc = load_scenario(BASELINE, accounts=4_000, days=30)
    lever = {"name": "training", "kind": "training", "low": 0.0, "high": 1.0}
    sp = space_from_dict({"name": "t", "base_strategy": "standard", "levers": [lever]}, "t.yaml")
    assert sp.has_staffing and not sp.integer[0]
    plan = sp.staffing(sc, [0.8])
    assert plan.training == pytest.approx(0.8) and plan.early_stage == 1  # sized to the book
    assert sp.scenario(sc, [0.8]).staffing.training == pytest.approx(0.8)
    assert sp.reference_scenario(sc).staffing.training == pytest.approx(0.5)
    bad = {**lever, "high": 1.5}
    with pytest.raises(SpaceError, match=r"t.yaml: lever 1.*training bounds must lie in \[0, 1\]"):
        space_from_dict({"name": "t", "base_strategy": "standard", "levers": [bad]}, "t.yaml")
