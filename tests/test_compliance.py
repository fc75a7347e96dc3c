"""Compliance profiles hold whatever the strategy asks: checked from the contact log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.channels import CHANNEL_NAMES, Channel
from sim.compliance import PROFILES, ComplianceError, call_channel_mask, load_profile
from sim.engine import simulate
from sim.scenario import load_scenario
from strategies.rules import Rule, RuleTable

SMALL = Path(__file__).resolve().parents[1] / "scenarios" / "small.yaml"
SC = load_scenario(SMALL, accounts=1500, days=35)
IS_CALL = call_channel_mask()

rules = st.builds(
    Rule,
    channel=st.sampled_from(["call", "ivr", "sms", "visit"]),
    dpd_min=st.integers(-3, 40),
    dpd_max=st.integers(40, 119),
    every_days=st.integers(1, 3),
    attempts_per_day=st.integers(1, 5),
    priority=st.floats(0, 10),
    hours=st.one_of(st.none(), st.tuples(st.integers(0, 12), st.integers(13, 24))),
    fallback=st.one_of(st.none(), st.just("email")),
)


def _log_checks(result, profile):
    """Independent checks of a run's contact log against a profile."""
    log = result.contact_log
    calls = log[IS_CALL[log["channel"].to_numpy()]]
    per_day = calls.groupby(["account", "day"])
    if not len(calls):
        return
    if profile.max_connected_calls_per_day is not None:
        assert per_day["rpc"].sum().max() <= profile.max_connected_calls_per_day
    if profile.max_unanswered_calls_per_day is not None:
        unanswered = per_day["rpc"].apply(lambda r: int((~r).sum()))
        assert unanswered.max() <= profile.max_unanswered_calls_per_day
    if profile.max_call_attempts_7d is not None:
        n = result.scenario.days
        counts = np.zeros((result.scenario.accounts, n), np.int64)
        np.add.at(counts, (calls["account"].to_numpy(), calls["day"].to_numpy()), 1)
        c = np.concatenate([np.zeros((counts.shape[0], 1), np.int64), counts.cumsum(1)], axis=1)
        window = c[:, 1:] - c[:, np.maximum(np.arange(n) - 6, 0)]
        assert window.max() <= profile.max_call_attempts_7d


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=st.lists(rules, min_size=1, max_size=6), profile=st.sampled_from(["us_reg_f", "cn"]))
def test_no_breach_under_an_enforced_profile_for_any_strategy(table, profile):
    prof = PROFILES[profile]
    result = simulate(SC, RuleTable("random", table), compliance=prof, contact_log=True)
    assert result.summary["compliance_breaches"] == 0
    _log_checks(result, prof)


class Hammer(RuleTable):
    """Calls every delinquent account five times a day plus IVR three times."""

    def __init__(self):
        super().__init__(
            "hammer",
            [
                Rule("call", 1, 119, attempts_per_day=5, priority=3),
                Rule("ivr", 1, 119, attempts_per_day=3, priority=2),
            ],
        )


def test_cn_caps_bind_and_hold():
    prof = PROFILES["cn"]
    result = simulate(SC, Hammer(), compliance=prof, contact_log=True)
    s = result.summary
    assert s["compliance_breaches"] == 0
    assert s["compliance"]["dropped_daily_connected_cap"] > 0
    assert s["compliance"]["dropped_daily_unanswered_cap"] > 0
    _log_checks(result, prof)
    # the caps bind exactly: some account-day reaches 6 unanswered attempts
    log = result.contact_log
    calls = log[IS_CALL[log["channel"].to_numpy()]]
    unanswered = calls.assign(miss=~calls["rpc"]).groupby(["account", "day"])["miss"].sum()
    assert unanswered.max() == 6


def test_unenforced_cn_counts_breaches():
    prof = PROFILES["cn"]
    from dataclasses import replace

    result = simulate(SC, Hammer(), compliance=replace(prof, enforce=False), contact_log=True)
    log = result.contact_log
    calls = log[IS_CALL[log["channel"].to_numpy()]]
    g = calls.groupby(["account", "day"])["rpc"]
    independent = int((g.sum() > 3).sum() + (g.apply(lambda r: int((~r).sum())) > 6).sum())
    assert independent > 0
    assert result.summary["compliance_breaches"] == independent


def test_contact_hours_drop_rules_outside_the_window():
    night = RuleTable("night", [Rule("sms", 1, 119, hours=(22, 24)), Rule("call", 1, 119)])
    us = simulate(SC, night, compliance=PROFILES["us_reg_f"]).summary  # 08:00-21:00
    cn = simulate(SC, night, compliance=PROFILES["cn"]).summary  # 08:00-22:00
    assert us["contacts"]["sms"] == 0 and us["compliance"]["dropped_contact_hours"] > 0
    assert cn["contacts"]["sms"] == 0  # [22, 24) does not meet [8, 22) either
    late = RuleTable("late", [Rule("sms", 1, 119, hours=(20, 23))])
    assert simulate(SC, late, compliance=PROFILES["us_reg_f"]).summary["contacts"]["sms"] > 0


def test_fallback_used_when_staff_run_out():
    data = SC.model_dump()
    data["staff"]["call_attempts_per_day"] = 3
    sc = type(SC).model_validate(data)
    table = RuleTable("fb", [Rule("call", 1, 119, fallback="ivr")])
    s = simulate(sc, table, compliance=PROFILES["none"]).summary
    assert s["contacts"]["call"] <= 3 * sc.days
    assert s["unserved"]["call"] > 0
    assert s["contacts"]["ivr"] == s["unserved"]["call"]  # every unserved call fell back


def test_user_defined_profile(tmp_path):
    f = tmp_path / "strict.yaml"
    f.write_text("max_call_attempts_7d: 2\nquiet_days_after_conversation: null\n")
    prof = load_profile(str(f))
    assert prof.name == "strict" and prof.max_call_attempts_7d == 2
    r = simulate(SC, Hammer(), compliance=prof, contact_log=True)
    assert r.summary["compliance_breaches"] == 0
    _log_checks(r, prof)
    f.write_text("max_calls: 2\n")
    with pytest.raises(ComplianceError, match="max_calls"):
        load_profile(str(f))
    with pytest.raises(ComplianceError, match="unknown compliance profile"):
        load_profile("mars")


def test_channel_names_cover_calls():
    assert IS_CALL[Channel.CALL] and IS_CALL[Channel.IVR]
    assert not IS_CALL[[CHANNEL_NAMES.index(c) for c in ("sms", "email", "letter")]].any()


def test_an_empty_rule_table_contacts_nobody():
    result = simulate(SC, RuleTable("empty", ()), contact_log=True)
    assert sum(result.summary["contacts"].values()) == 0
    assert result.contact_log is None or len(result.contact_log) == 0


class _Asks:
    """A strategy that asks for one given channel and account for every workable account."""

    pre_due_days = 0

    def __init__(self, channel: int, account_shift: int = 0):
        self.name, self.channel, self.shift = "asks", channel, account_shift

    def decide(self, view):
        from sim.actions import ActionRequests

        n = view.account.size
        channel = np.full(n, self.channel, np.int8)
        return ActionRequests(view.account + self.shift, channel, np.ones(n))

    def recovery_path(self, view):
        return np.zeros(view.account.size, np.int64)


def test_requests_for_an_unknown_channel_or_account_are_refused():
    with pytest.raises(ValueError, match="strategy 'asks' requested an unknown channel code"):
        simulate(SC, _Asks(len(CHANNEL_NAMES)))
    with pytest.raises(IndexError, match="strategy 'asks' named an account id outside the book"):
        simulate(SC, _Asks(int(Channel.SMS), account_shift=SC.accounts))
    assert simulate(SC, _Asks(int(Channel.SMS))).summary["contacts"]["sms"] > 0
