"""The SimPy operations model: Erlang validation, the collections centre, and daily capacity.

The validation runs the pure-inbound line (exactly M/M/n, or M/M/n+M with exponential
patience) and requires every DES figure to lie within 3 standard errors (over replications,
fixed seeds) of the exact Erlang-C / Erlang-A value.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from sim.operations.capacity import (
    DailyCapacity,
    StaffingPlan,
    capacity_table,
    daily_capacity,
)
from sim.operations.des import simulate
from sim.operations.erlang import queue_metrics
from sim.operations.model import (
    INBOUND,
    OUTBOUND,
    CentreConfig,
    InboundDemand,
    Team,
    collections_centre,
    floor_blocks,
    pure_inbound,
)

FIGURES = ("p_wait", "mean_wait_s", "service_level", "abandon_rate", "occupancy")
SEED = 20240611
REPLICATIONS = 30

# (calls per hour, AHT s, agents, mean patience s or None)
VALIDATION_LINES = [
    pytest.param(1000.0, 120.0, 40, None, id="erlang_c-1000ph-120s-40"),
    pytest.param(1000.0, 120.0, 40, 180.0, id="erlang_a-1000ph-120s-40-p180"),
    pytest.param(100.0, 180.0, 7, None, id="erlang_c-small-rho0.71"),
    pytest.param(150.0, 180.0, 6, 120.0, id="erlang_a-overloaded-a7.5-n6"),
]


@pytest.mark.parametrize(("calls_per_hour", "aht", "agents", "patience"), VALIDATION_LINES)
def test_des_reproduces_erlang(
    calls_per_hour: float, aht: float, agents: int, patience: float | None
) -> None:
    config = pure_inbound(calls_per_hour, aht, agents, patience, hours=8.0, warmup_hours=1.0)
    result = simulate(config, seed=SEED, replications=REPLICATIONS)
    exact = queue_metrics(calls_per_hour, aht, agents, config.target_s, patience)
    for name in FIGURES:
        mean, se, value = result.mean[name], result.se[name], getattr(exact, name)
        if patience is None and name == "abandon_rate":
            assert mean == 0.0
            continue
        assert se > 0, name
        assert abs(mean - value) <= 3 * se, f"{name}: DES {mean:.5f} ± {se:.5f}, exact {value:.5f}"


def test_replications_are_reproducible_and_independent() -> None:
    config = pure_inbound(300.0, 120.0, 12, 120.0, hours=2.0)
    first = simulate(config, seed=7, replications=3)
    again = simulate(config, seed=7, replications=3)
    other = simulate(config, seed=8, replications=3)
    assert {k: v for k, v in first.values.items() if k != "wall_s"} == {
        k: v for k, v in again.values.items() if k != "wall_s"
    }
    assert first.values["offered_calls"] != other.values["offered_calls"]
    assert len(set(first.values["offered_calls"])) == 3  # replications differ
    assert first.replications == 3 and first.events > 0


def test_warm_up_is_discarded() -> None:
    config = pure_inbound(600.0, 60.0, 12, hours=2.0, warmup_hours=3.0)
    result = simulate(config, seed=3, replications=10)
    # Only arrivals in the 2-hour window count: Poisson(1200) per replication.
    assert result.mean["offered_calls"] == pytest.approx(1200, abs=4 * math.sqrt(1200 / 10))


def test_streams_are_per_distribution() -> None:
    """Changing the outbound teams leaves the inbound line's random numbers untouched."""
    small = simulate(collections_centre(late_stage=2), seed=5, replications=2)
    large = simulate(collections_centre(late_stage=9), seed=5, replications=2)
    assert small.values["offered_calls"] == large.values["offered_calls"]
    assert small.values["field.visits_per_day"] == large.values["field.visits_per_day"]


@pytest.fixture(scope="module")
def centre() -> dict[str, float]:
    result = simulate(collections_centre(), seed=11, replications=4)
    return dict(result.mean)


def test_collections_centre_matches_design_ranges(centre: dict[str, float]) -> None:
    rpc_share = centre["right_party_contacts_per_day"] / centre["call_attempts_per_day"]
    assert rpc_share == pytest.approx(0.25, abs=0.02)  # design: 20-30 % per attempt
    # Late stage: 8-10 right-party contacts per collector-hour on the floor.
    floor_hours = 8 * 8.0 * (1 - 0.30)
    assert 7.5 <= centre["late_stage.right_party_contacts_per_day"] / floor_hours <= 10.5
    assert 5 <= centre["field.visits_per_day"] / 6 <= 12  # visits per field agent-day
    assert centre["staff_cost_per_day"] == pytest.approx((12 + 8 + 6 + 2) * 8 * 60 * 0.25)
    assert 0 < centre["utilisation"] <= 0.70 + 0.05  # at most the floor share, plus overrun
    assert centre["service_level"] > 0.8 and centre["abandon_rate"] < 0.1


def test_inbound_takes_priority_over_outbound() -> None:
    """Blended agents that always have outbound work still answer every caller promptly."""
    team = Team("early_stage", 10, frozenset({INBOUND, OUTBOUND}), shrinkage=0.0, training=0.0)
    line = InboundDemand(calls_per_hour=20.0, aht_s=240.0, patience_s=None)
    result = simulate(CentreConfig(teams=(team,), inbound=line), seed=2, replications=4)
    assert result.mean["offered_calls"] > 100
    assert result.mean["call_attempts_per_day"] > 1000
    # A caller waits for the next agent to finish its current attempt (mean attempt < 2 min,
    # ten agents): well under a minute, never behind the outbound list.
    assert result.mean["mean_wait_s"] < 30.0
    assert result.mean["abandon_rate"] == 0.0


def test_training_raises_promises_and_shortens_handling() -> None:
    untrained = simulate(collections_centre(training=0.0), seed=4, replications=3).mean
    trained = simulate(collections_centre(training=1.0), seed=4, replications=3).mean
    rate = lambda m: m["promises_per_day"] / m["right_party_contacts_per_day"]  # noqa: E731
    assert rate(trained) > rate(untrained) + 0.08
    assert trained["call_attempts_per_day"] > 1.05 * untrained["call_attempts_per_day"]


def test_shrinkage_reduces_output_in_proportion() -> None:
    none = simulate(collections_centre(shrinkage=0.0), seed=6, replications=3).mean
    usual = simulate(collections_centre(shrinkage=0.3), seed=6, replications=3).mean
    ratio = usual["late_stage.call_attempts_per_day"] / none["late_stage.call_attempts_per_day"]
    assert ratio == pytest.approx(0.7, abs=0.04)
    assert usual["staff_cost_per_day"] == none["staff_cost_per_day"]  # breaks are paid


def test_floor_blocks_take_shrinkage_as_staggered_breaks() -> None:
    team = Team("late_stage", 4, frozenset({OUTBOUND}), shift_hours=8.0, shrinkage=0.25)
    per_agent = [floor_blocks(team, i, 86_400.0) for i in range(4)]
    for blocks in per_agent:
        assert len(blocks) == 4
        assert sum(b.off - b.on for b in blocks) == pytest.approx(6 * 3600)
        assert blocks[0].on == 8 * 3600 and blocks[-1].off == 16 * 3600
        assert [b.break_s for b in blocks] == [0.0] + [2 * 3600 / 3] * 3
    assert len({blocks[0].off for blocks in per_agent}) == 4  # first breaks at different times
    always = dataclasses.replace(team, shift_hours=24.0, shrinkage=0.0)
    assert floor_blocks(always, 0, 1e6) == [(0.0, math.inf, 0.0)]


def test_invalid_configurations_are_rejected() -> None:
    with pytest.raises(ValueError, match="shrinkage"):
        Team("field", 3, frozenset({"visit"}), shrinkage=1.2)
    with pytest.raises(ValueError, match="inbound"):
        CentreConfig(
            teams=(Team("late_stage", 3, frozenset({OUTBOUND})),),
            inbound=InboundDemand(10.0, 100.0),
        )
    with pytest.raises(ValueError, match=">= 0"):
        StaffingPlan(field=-1)


def test_daily_capacity_is_cached(tmp_path) -> None:
    plan = StaffingPlan(early_stage=3, late_stage=2, field=1, legal=1)
    first = daily_capacity(plan, seed=1, replications=2)
    assert daily_capacity(plan, seed=1, replications=2) is first  # in-memory cache
    assert isinstance(first, DailyCapacity) and first.call_attempts_per_day > 0
    on_disk = daily_capacity(plan, seed=1, replications=2, cache_dir=tmp_path)
    files = list(tmp_path.glob("capacity-*.json"))
    assert len(files) == 1
    reread = daily_capacity(plan, seed=1, replications=2, cache_dir=tmp_path)
    assert reread.as_row() == pytest.approx(on_disk.as_row(), nan_ok=True)
    assert reread.visits_per_day == first.visits_per_day


def test_capacity_table_by_head_count() -> None:
    table = capacity_table([6, 12, 24], replications=2, seed=3)
    assert list(table["agents"]) == [6, 12, 24]
    for column in ("call_attempts_per_day", "visits_per_day", "staff_cost_per_day"):
        assert column in table.columns
    assert list(table["staff_cost_per_day"]) == [a * 8 * 60 * 0.25 for a in (6, 12, 24)]
    assert table["call_attempts_per_day"].is_monotonic_increasing
    one_team = capacity_table([0, 4], team="field", replications=2)
    assert list(one_team["field"]) == [0, 4] and one_team["visits_per_day"].iloc[0] == 0


def test_plan_scaling_keeps_the_team_mix() -> None:
    plan = StaffingPlan().with_total_agents(54)
    assert plan.agents == 54
    assert (plan.early_stage, plan.late_stage, plan.field, plan.legal) == (23, 15, 12, 4)
