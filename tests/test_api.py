"""The Python API as a notebook uses it: Python strategies, dotted overrides, one name for the
default strategy, and results that behave as plain DataFrames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from postloan import api
from sim.actions import ActionRequests
from sim.channels import Channel
from strategies import registry
from strategies.base import Strategy

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"
TINY = {"accounts": 600, "days": 60}


class CallBigArrears(Strategy):
    """The Python strategy of docs/strategies.md."""

    name = "call_big_arrears"

    def decide(self, view):
        pick = (view.dpd > 0) & (view.arrears > 1000) & (view.days_since_contact(Channel.CALL) >= 2)
        acc = view.account[pick]
        return ActionRequests(
            acc,
            np.full(acc.size, Channel.CALL, np.int8),
            priority=view.arrears[pick],
            value=view.arrears[pick],
        )


def test_default_and_standard_are_one_strategy_with_one_name():
    by_alias = api.run_scenario(SMALL, "default", **TINY)
    by_name = api.run_scenario(SMALL, "standard", **TINY)
    assert by_alias.strategy.item() == "standard" == by_alias.attrs["strategy"]
    pd.testing.assert_frame_equal(
        by_alias.drop(columns=["wall_seconds", "account_days_per_second"], errors="ignore"),
        by_name.drop(columns=["wall_seconds", "account_days_per_second"], errors="ignore"),
    )


def test_python_strategy_runs_through_run_scenario_and_compare(tmp_path):
    one = api.run_scenario(SMALL, CallBigArrears(), **TINY)
    assert one.strategy.item() == "call_big_arrears"
    assert one.contacts_call.item() > 0
    assert one.contacts_sms.item() == 0  # it only calls
    comp = api.compare(
        SMALL, ["default", CallBigArrears(), "none"], replications=2, out=tmp_path, **TINY
    )
    assert comp.attrs["champion"] == "standard"
    assert list(dict.fromkeys(comp.strategy)) == ["standard", "call_big_arrears", "none"]
    cells = api.load_cells(comp.attrs["folder"])
    calls = cells.groupby("strategy")["contacts_call"].mean()
    assert calls["call_big_arrears"] > 0 and calls["none"] == 0
    # the object was named for the call only
    assert "call_big_arrears" not in registry.names()


def test_a_python_strategy_may_not_take_a_built_in_name():
    class Impostor(CallBigArrears):
        name = "standard"

    with pytest.raises(ValueError, match="'standard' is already taken"):
        api.compare(SMALL, ["none", Impostor()], replications=1, **TINY)
    assert registry.resolve("standard").name == "standard"


def test_dotted_overrides():
    base = api.run_scenario(SMALL, "standard", **TINY)
    never = api.run_scenario(
        SMALL,
        "standard",
        overrides={"behaviour.promise_keep": 0.0, "behaviour.promise_keep_hardship": 0.0},
        **TINY,
    )
    assert base.promises_kept.item() > 0
    assert never.promises_made.item() > 0 and never.promises_kept.item() == 0
    sc = api.scenario_with(SMALL, {"accounts": 500, "channels.sms.cost_per_attempt": 0.5})
    assert sc.accounts == 500 and sc.channels["sms"].cost_per_attempt == 0.5
    with pytest.raises(ValueError, match="'promise_kep' is not a field of behaviour"):
        api.scenario_with(SMALL, {"behaviour.promise_kep": 0.5})


def test_results_are_plain_frames_that_pandas_handles(tmp_path):
    comp = api.compare(SMALL, ["standard", "none"], replications=2, out=tmp_path, **TINY)
    one = api.run_scenario(SMALL, "light_touch", out=tmp_path, **TINY)
    for df in (comp, one):
        json.dumps(df.attrs)  # only JSON scalars: no frames to compare or copy
        assert all(isinstance(v, str | int | float) for v in df.attrs.values())
    assert Path(one.attrs["folder"]).is_dir()
    cells = api.load_cells(comp.attrs["folder"])
    desc = cells.groupby(["strategy"])["net_recovery"].describe()
    assert desc.loc["none", "count"] == 2
    both = pd.concat([one, api.run_scenario(SMALL, "none", **TINY)], ignore_index=True)
    assert list(both.strategy) == ["light_touch", "none"]
    comp.to_parquet(tmp_path / "comp.parquet")
    back = api.load_comparison(comp.attrs["folder"])
    pd.testing.assert_series_equal(
        back["mean"].reset_index(drop=True), comp["mean"].reset_index(drop=True)
    )
