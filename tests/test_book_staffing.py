"""Default staffing follows the book; call-backs after SMS and letters load the early team."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optimizer.space import space_from_dict
from sim.book_staffing import book_staffing, team_sizes, with_book_staffing
from sim.channels import Channel
from sim.dispatch import ChannelTable, attempts_per_callback
from sim.engine import simulate
from sim.scenario import Scenario, StaffingSpec, load_scenario
from strategies.registry import resolve

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"


@pytest.mark.parametrize(
    ("accounts", "teams", "calls_per_hour"),
    [
        (4_000, {"early_stage": 1, "late_stage": 1, "field": 1, "legal": 0}, 1.2),
        (100_000, {"early_stage": 12, "late_stage": 8, "field": 6, "legal": 2}, 30.0),
        (250_000, {"early_stage": 30, "late_stage": 20, "field": 15, "legal": 5}, 75.0),
    ],
)
def test_default_plan_and_inbound_follow_the_book(accounts, teams, calls_per_hour):
    sc = load_scenario(BASELINE, accounts=accounts)
    plan = book_staffing(sc)
    assert {t: getattr(plan, t) for t in teams} == teams
    assert plan.inbound_calls_per_hour == pytest.approx(calls_per_hour)


def test_delinquency_scales_the_teams_and_a_named_plan_is_kept():
    # twice the arrears: twice the teams (the reference book's 3.6 % -> 7.2 %)
    assert team_sizes(100_000, 0.072) == {"early_stage": 24, "late_stage": 16, "field": 12,
                                          "legal": 4}  # fmt: skip
    sc = load_scenario(BASELINE, accounts=4_000)
    named = Scenario.model_validate(
        {**sc.model_dump(), "staffing": StaffingSpec(early_stage=5).model_dump()}
    )
    plan = book_staffing(named)
    assert plan.early_stage == 5 and plan.late_stage == 8  # as written
    assert plan.inbound_calls_per_hour == pytest.approx(1.2)  # left open: from the book


def test_callbacks_take_outbound_capacity():
    sc = with_book_staffing(load_scenario(BASELINE, accounts=4_000))
    ch = ChannelTable(sc)
    full = float(ch.capacity[Channel.CALL])
    assert np.isfinite(full) and full > 0
    calls = ch.answer_callbacks(100.0)  # 100 SMS and letters reached borrowers today
    assert calls == pytest.approx(4.0)  # default rate 0.04
    per = attempts_per_callback(sc.staffing)
    assert 1.5 < per < 3.0  # a 4-minute inbound call against a ~100 s outbound attempt
    assert ch.capacity[Channel.CALL] == pytest.approx(full - 4.0 * per)
    ch.answer_callbacks(0.0)  # the next day without call-backs: capacity restored
    assert ch.capacity[Channel.CALL] == pytest.approx(full)
    plain = ChannelTable(load_scenario(BASELINE, accounts=4_000))
    assert plain.answer_callbacks(100.0) == 0.0  # per-attempt costing: no team to load


def test_engine_counts_callbacks_from_reached_sms_and_letters():
    sc = with_book_staffing(load_scenario(BASELINE, accounts=2_000, days=40))
    s = simulate(sc, resolve("standard"), 7, check=False).summary
    reached = s["right_party_contacts"]["sms"] + s["right_party_contacts"]["letter"]
    assert reached > 0
    assert s["staffing"]["inbound_callbacks"] == pytest.approx(0.04 * reached)


def test_space_sizes_unlevered_teams_to_the_book_and_costs_the_reference_alike():
    sc = load_scenario(BASELINE, accounts=4_000, days=30)
    sp = space_from_dict(
        {
            "name": "t",
            "base_strategy": "standard",
            "levers": [
                {"name": "early", "kind": "staffing", "team": "early_stage", "low": 1, "high": 6}
            ],
        },
        "t.yaml",
    )
    plan = sp.staffing(sc, np.array([3.0]))
    assert (plan.early_stage, plan.late_stage, plan.field, plan.legal) == (3, 1, 1, 0)
    ref_sc = sp.reference_scenario(sc)
    assert ref_sc.staffing is not None and ref_sc.staffing.early_stage == 1
    s = simulate(ref_sc, resolve("standard"), 1, check=False).summary
    # the reference pays its agents by the day, as the candidates do: no per-attempt call cost
    assert s["cost_by_channel"]["call"] == 0.0
    assert s["cost_by_channel"]["staff"] == pytest.approx(30 * 3 * 8 * 60 * 0.25)


def test_callbacks_cut_the_calls_made_when_capacity_binds():
    """More call-backs per SMS and letter: the early-stage team dials less (capacity binds on a
    20,000-account book with the 4,000-account plan)."""
    sc = load_scenario(BASELINE, accounts=20_000, days=45)
    small = book_staffing(load_scenario(BASELINE, accounts=4_000))
    made = {}
    for rate in (0.0, 0.5):
        plan = small.model_copy(update={"callback_rate": rate})
        run = Scenario.model_validate({**sc.model_dump(), "staffing": plan.model_dump()})
        s = simulate(run, resolve("standard"), 5, check=False).summary
        assert s["unserved"]["call"] > 0  # capacity binds
        made[rate] = s["contacts"]["call"]
    assert made[0.5] < 0.97 * made[0.0]
