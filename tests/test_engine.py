"""The vectorised engine: reproducibility, accounting invariants, compliance, capacity, and the
absorbing-Markov-chain reference (simulated loss probabilities equal the fundamental matrix)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import ledger
from sim.actions import ActionRequests
from sim.capacity import allocate
from sim.channels import N_CHANNELS, Channel
from sim.compliance import DEFAULT_PROFILE, ComplianceProfile, call_channel_mask
from sim.engine import simulate
from sim.kpis import TIMING_FIELDS, bimodality
from sim.portfolio import N_BUCKETS, Status
from sim.scenario import Scenario, load_scenario
from strategies.base import NoContact, Strategy
from strategies.default import default_strategy

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"
RECESSION = ROOT / "scenarios" / "recession.yaml"

ACCOUNTS, DAYS = 2000, 90


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario(SMALL, accounts=ACCOUNTS, days=DAYS)


@pytest.fixture(scope="module")
def run_default(small):
    return simulate(small, default_strategy(), keep_portfolio=True)


@pytest.fixture(scope="module")
def run_none(small):
    return simulate(small, NoContact(), keep_portfolio=True)


# ----------------------------------------------------------------------------- reproducibility
def test_same_seed_is_bit_identical(small, run_default):
    again = simulate(small, default_strategy())
    assert again.summary == run_default.summary  # no timing in the summary: all of it equal
    assert json.dumps(again.summary) == json.dumps(run_default.summary)  # summary.json bytes
    pd.testing.assert_frame_equal(again.daily, run_default.daily, check_exact=True)
    pd.testing.assert_frame_equal(again.monthly, run_default.monthly, check_exact=True)
    np.testing.assert_array_equal(again.roll_counts, run_default.roll_counts)
    np.testing.assert_array_equal(again.recovery_rates, run_default.recovery_rates)
    assert not set(TIMING_FIELDS) & set(run_default.summary)
    assert set(run_default.timing) == set(TIMING_FIELDS)
    assert run_default.timing["wall_seconds"] > 0
    assert run_default.timing["account_days_per_second"] == pytest.approx(
        ACCOUNTS * DAYS / run_default.timing["wall_seconds"]
    )


def test_different_seed_differs(small, run_default):
    other = simulate(small, default_strategy(), seed=small.seed + 1)
    assert other.seed == small.seed + 1
    assert other.summary["collected"] != run_default.summary["collected"]
    assert not other.daily["collected"].equals(run_default.daily["collected"])


# ----------------------------------------------------------------------------- invariants
@pytest.mark.parametrize("which", ["run_default", "run_none"])
def test_invariants_hold(which, request, small):
    result = request.getfixturevalue(which)
    p = result.portfolio
    assert p is not None and p.n == small.accounts
    ledger.check_invariants(p, small.days - 1)
    # every account is somewhere, every day
    n_cols = [c for c in result.daily.columns if c.startswith("n_")]
    assert len(n_cols) == N_BUCKETS
    np.testing.assert_array_equal(result.daily[n_cols].sum(axis=1), small.accounts)
    # roll-rate counts cover the whole book each month
    np.testing.assert_array_equal(result.roll_counts.sum(axis=(1, 2)), small.accounts)
    # the daily stocks agree with the final book
    last = result.daily.iloc[-1]
    assert last["n_charged_off"] == (p.status == Status.CHARGED_OFF).sum()
    assert last["n_paid_off"] == (p.status == Status.PAID_OFF).sum()
    assert last["outstanding"] == pytest.approx(p.outstanding().sum(), rel=1e-9)


def test_invariants_hold_in_a_recession():
    sc = load_scenario(RECESSION, accounts=3000, days=120)
    res = simulate(sc, default_strategy(), keep_portfolio=True)
    ledger.check_invariants(res.portfolio, sc.days - 1)
    _assert_money_conserved(res.portfolio)
    # the shock is on the path: unemployment rises above the reference
    assert res.daily["unemployment"].max() > sc.macro.reference + 0.02


def test_invariant_checker_catches_a_broken_book(run_none, small):
    p = run_none.portfolio.take(np.arange(run_none.portfolio.n))  # a copy
    p.principal_repaid[3] += 1.0
    with pytest.raises(ledger.InvariantError, match="money not conserved"):
        ledger.check_invariants(p, small.days - 1)


def _assert_money_conserved(p) -> None:
    opening = p.opening_principal.sum()
    closing = p.outstanding().sum() + p.principal_repaid.sum() + p.principal_charged_off.sum()
    assert closing == pytest.approx(opening, rel=1e-9)


@pytest.mark.parametrize("which", ["run_default", "run_none"])
def test_money_conserved_at_book_level(which, request):
    result = request.getfixturevalue(which)
    p = result.portfolio
    _assert_money_conserved(p)
    # principal charged off in the book is what the KPIs report
    assert p.principal_charged_off.sum() == pytest.approx(
        result.summary["charge_off_amount"], rel=1e-9
    )
    closed = p.status != Status.OPEN
    assert (p.outstanding()[closed] == 0).all()


# ----------------------------------------------------------------------------- strategies
def test_no_contact_makes_no_contacts(run_none):
    s = run_none.summary
    assert all(v == 0 for v in s["contacts"].values())
    assert all(v == 0 for v in s["right_party_contacts"].values())
    assert all(v == 0 for k, v in s["cost_by_channel"].items() if k != "recovery")
    assert run_none.daily["cost_contact"].sum() == 0
    assert s["promises_made"] == 0 and s["complaints"] == 0 and s["churned"] == 0
    assert s["compliance_breaches"] == 0
    assert s["cure_rate"] > 0 and s["self_cure_share"] == 1.0  # nobody was reached


def test_no_contact_equals_no_strategy_before_charge_off(small, run_none):
    bare = simulate(small, None)
    # common random numbers: the same borrowers pay the same on the same days
    np.testing.assert_array_equal(
        bare.daily["collected_delinquent"], run_none.daily["collected_delinquent"]
    )
    np.testing.assert_array_equal(bare.daily["charge_offs"], run_none.daily["charge_offs"])


def test_default_collects_more_than_no_contact_paired(small):
    """Paired over seeds with common random numbers: the strategy's incremental cash."""
    diffs = []
    for seed in (11, 12, 13):
        a = simulate(small, default_strategy(), seed=seed).summary
        b = simulate(small, NoContact(), seed=seed).summary
        assert a["contacts"]["call"] > 0
        assert a["cost"] - a["cost_by_channel"]["recovery"] > 0
        assert b["cost"] == b["cost_by_channel"]["recovery"]
        diffs.append(a["collected_delinquent"] - b["collected_delinquent"])
    d = np.array(diffs)
    assert (d > 0).all()
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert d.mean() > 3 * se


# ----------------------------------------------------------------------------- compliance
class CallEveryone(Strategy):
    """Asks for an agent call AND an IVR call every day for every delinquent account."""

    name = "call_everyone"

    def __init__(self):
        self.today = -1

    def decide(self, view):
        self.today = view.day
        acc = view.account[view.dpd > 0]
        n = acc.size
        return ActionRequests(
            np.concatenate([acc, acc]),
            np.concatenate([np.full(n, Channel.CALL, np.int8), np.full(n, Channel.IVR, np.int8)]),
            np.full(2 * n, 100.0),
        )


def _run_logged(sc, profile):
    """Run CallEveryone and count, from the engine's contact log (every attempt made), the call
    attempts per account and day and in every 7-day window."""
    res = simulate(sc, CallEveryone(), compliance=profile, contact_log=True)
    log = res.contact_log
    is_call = call_channel_mask(sc.channels)
    made = log[is_call[log["channel"].to_numpy()]]
    calls = np.zeros((sc.accounts, sc.days), np.int64)
    np.add.at(calls, (made["account"].to_numpy(), made["day"].to_numpy()), 1)
    c = np.concatenate([np.zeros((sc.accounts, 1), np.int64), np.cumsum(calls, axis=1)], axis=1)
    window = c[:, 1:] - c[:, np.maximum(np.arange(sc.days) - 6, 0)]  # attempts in day-6..day
    return res, calls, window


@pytest.fixture(scope="module")
def compliance_scenario() -> Scenario:
    return load_scenario(SMALL, accounts=ACCOUNTS, days=40)


#: Reg F's 7-in-7 cap alone (no quiet period), so the cap binds on this strategy.
CAP_ONLY = ComplianceProfile(name="cap7", quiet_days_after_conversation=None)


def test_call_cap_enforced(compliance_scenario):
    res, calls, window = _run_logged(compliance_scenario, CAP_ONLY)
    s = res.summary
    assert calls.sum() == s["contacts"]["call"] + s["contacts"]["ivr"]
    assert window.max() <= 7
    assert window.max() == 7  # the cap binds
    assert s["compliance_breaches"] == 0
    assert s["compliance"]["dropped_call_cap_7d"] > 0


def test_reg_f_profile_holds_on_the_contact_log(compliance_scenario):
    res, _, window = _run_logged(compliance_scenario, DEFAULT_PROFILE)
    assert window.max() <= 7
    assert res.summary["compliance_breaches"] == 0
    assert res.summary["compliance"]["dropped_quiet_after_conversation"] > 0
    # no call attempt within 7 days after a conversation (a call that reached the borrower)
    log = res.contact_log
    talk = log[(log["channel"] == Channel.CALL) & log["rpc"]]
    calls_log = log[call_channel_mask()[log["channel"].to_numpy()]]
    last_talk = talk.groupby("account")["day"].apply(np.array).to_dict()
    for acc, days in calls_log.groupby("account")["day"].apply(np.array).items():
        for t in last_talk.get(acc, ()):
            later = days[(days > t) & (days <= t + 7)]
            assert later.size == 0, (acc, t, later)


def test_tighter_cap_enforced_and_counted_when_off(compliance_scenario):
    on = ComplianceProfile(
        name="strict", max_call_attempts_7d=3, quiet_days_after_conversation=None
    )
    res, _, window = _run_logged(compliance_scenario, on)
    assert window.max() == 3
    assert res.summary["compliance_breaches"] == 0
    assert res.summary["compliance"]["dropped_call_cap_7d"] > 0

    off = replace(on, enforce=False)
    res, calls, window = _run_logged(compliance_scenario, off)
    assert res.summary["compliance"]["dropped_call_cap_7d"] == 0
    assert window.max() > 3
    # the ledger counts exactly the (account, day) pairs over the cap after a call that day
    independent = int(((calls > 0) & (window > 3)).sum())
    assert independent > 0
    assert res.summary["compliance_breaches"] == independent


def test_unenforced_default_cap_lets_calls_through_and_counts_breaches(compliance_scenario):
    off = replace(CAP_ONLY, enforce=False)
    res, calls, window = _run_logged(compliance_scenario, off)
    assert res.summary["compliance"]["dropped_call_cap_7d"] == 0
    assert window.max() == 14  # two call attempts a day, every day
    independent = int(((calls > 0) & (window > 7)).sum())
    assert independent > 0
    assert res.summary["compliance_breaches"] == independent


# ----------------------------------------------------------------------------- capacity
def test_capacity_limits_daily_calls(small):
    data = small.model_dump()
    data["days"] = 60
    data["staff"]["call_attempts_per_day"] = 5
    sc = Scenario.model_validate(data)
    res = simulate(sc, default_strategy())
    daily = res.daily
    assert daily["attempts_call"].max() <= 5
    short = daily["unserved_call"] > 0
    assert short.any()
    # when calls run short the capacity is used in full
    assert (daily.loc[short, "attempts_call"] == 5).all()
    assert res.summary["unserved"]["call"] == daily["unserved_call"].sum() > 0
    # SMS is not staff-limited
    assert res.summary["unserved"]["sms"] == 0


def test_allocate_serves_by_priority_then_value():
    req = ActionRequests(
        account=np.array([0, 1, 2, 3, 4, 5], np.int64),
        channel=np.array([Channel.CALL] * 5 + [Channel.SMS], np.int8),
        priority=np.array([1.0, 3.0, 2.0, 3.0, 1.0, 0.0]),
        value=np.array([50.0, 1.0, 9.0, 2.0, 99.0, 0.0]),
    )
    cap = np.full(N_CHANNELS, np.inf)
    cap[Channel.CALL] = 3
    served, unserved = allocate(req, cap)
    assert sorted(served.account.tolist()) == [1, 2, 3, 5]
    assert unserved[Channel.CALL] == 2 and unserved.sum() == 2


# ----------------------------------------------------------------------------- Markov chain
STATES = ("current", "1-30", "31-60", "61-90", "91-120", "charged_off", "paid_off")
ROLL = np.array(
    [
        [0.89, 0.05, 0.00, 0.00, 0.00, 0.00, 0.06],
        [0.50, 0.20, 0.25, 0.00, 0.00, 0.00, 0.05],
        [0.30, 0.10, 0.20, 0.35, 0.00, 0.00, 0.05],
        [0.15, 0.05, 0.10, 0.20, 0.45, 0.00, 0.05],
        [0.05, 0.00, 0.05, 0.10, 0.20, 0.55, 0.05],
        [0.00, 0.00, 0.00, 0.00, 0.00, 1.00, 0.00],
        [0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.00],
    ]
)
MARKOV_ACCOUNTS = 30_000
MARKOV_MONTHS = 120  # 3,600 days: every account sees exactly 120 due dates
CO, PO = 5, 6


def _absorption(m: np.ndarray, steps: int):
    q, r = m[:5, :5], m[:5, 5:]
    fundamental = np.linalg.inv(np.eye(5) - q)
    b = fundamental @ r  # eventual absorption probabilities
    finite = np.zeros_like(r)  # absorbed within `steps` transitions
    qk = np.eye(5)
    for _ in range(steps):
        finite += qk @ r
        qk = qk @ m[:5, :5]
    return b, finite, qk.sum(axis=1)  # leftover transient mass


@pytest.fixture(scope="module")
def markov_run():
    base = load_scenario(SMALL)
    data = copy.deepcopy(base.model_dump())
    for spec in data["purposes"].values():
        spec["terms"] = [480]  # nobody reaches maturity within the horizon
    data.update(
        accounts=MARKOV_ACCOUNTS,
        days=MARKOV_MONTHS * 30,
        seasoning_max_share=0.0,
        behaviour={"mode": "markov", "roll_matrix": ROLL.tolist()},
        # 0.12 each: the scenario caps the delinquent share at 0.5 in total
        initial_delinquency={
            "dpd_1_30": 0.12,
            "dpd_31_60": 0.12,
            "dpd_61_90": 0.12,
            "dpd_91_120": 0.12,
        },
    )
    sc = Scenario.model_validate(data)
    return sc, simulate(sc, None, keep_portfolio=True)


def test_markov_matrix_is_well_formed():
    assert np.allclose(ROLL.sum(axis=1), 1.0)
    for i in range(5):  # at most one bucket worse per month, or absorbed
        assert (ROLL[i, i + 2 : 5] == 0).all()


def test_markov_absorption_matches_fundamental_matrix(markov_run):
    sc, res = markov_run
    b, finite, leftover = _absorption(ROLL, MARKOV_MONTHS)
    # transient mass left after the horizon (at most this much is still to be absorbed)
    assert leftover.max() < 1e-3
    gap = b - finite
    assert (gap >= -1e-12).all() and (gap.sum(axis=1) <= leftover + 1e-12).all()
    status = res.portfolio.status
    start = res.initial_bucket
    assert set(np.unique(start)) == {0, 1, 2, 3, 4}
    rows = []
    for i in range(5):
        m = start == i
        n = int(m.sum())
        assert n >= 3000
        for dest, code in ((CO, Status.CHARGED_OFF), (PO, Status.PAID_OFF)):
            p_sim = float((status[m] == code).mean())
            p_ref = finite[i, dest - 5]
            se = np.sqrt(p_ref * (1 - p_ref) / n)
            rows.append((STATES[i], STATES[dest], n, b[i, dest - 5], p_ref, p_sim, se))
            # against the absorbed-by-the-horizon probability ...
            assert abs(p_sim - p_ref) <= 3 * se, rows[-1]
            # ... and against the fundamental-matrix answer, leftover included
            assert abs(p_sim - b[i, dest - 5]) <= 3 * se + gap[i, dest - 5], rows[-1]
        open_share = float((status[m] == Status.OPEN).mean())
        assert open_share <= leftover[i] + 4 * np.sqrt(leftover[i] / n) + 1e-9
    # the run's charge-off KPI counts exactly the absorbed accounts
    assert res.summary["charge_offs"] == int((status == Status.CHARGED_OFF).sum())
    # no transient account ever holds more than 4 missed instalments (so the 120-DPD rule,
    # which markov mode does not run, could not have fired either)
    p = res.portfolio
    assert p.missed[status == Status.OPEN].max() <= 4
    assert (p.dpd(sc.days - 1) < sc.charge_off_dpd).all()
    ledger.check_invariants(p, sc.days - 1)


def test_markov_mode_is_fast(markov_run):
    _, res = markov_run
    # only accounts on their due dates are touched: 30k accounts x 3,600 days run at tens of
    # millions of account-days a second on one core; demand a tenth of that on a busy machine
    assert res.timing["account_days_per_second"] > 2.5e6, res.timing["wall_seconds"]


# ----------------------------------------------------------------------------- recovery
def test_recovery_rates_are_bimodal(small):
    data = small.model_dump()
    data.update(
        accounts=3000,
        days=60,
        initial_delinquency={
            "dpd_1_30": 0.02,
            "dpd_31_60": 0.02,
            "dpd_61_90": 0.10,
            "dpd_91_120": 0.15,
        },
    )
    sc = Scenario.model_validate(data)
    res = simulate(sc, None)
    rr = res.summary["recovery_rates"]
    n = rr["n"]
    assert n == res.summary["charge_offs"] >= 300
    assert rr == bimodality(res.recovery_rates)
    rates = res.recovery_rates
    assert ((rates >= 0) & (rates <= 1)).all()
    assert rr["share_below_10pct"] >= 0.2
    assert rr["share_above_50pct"] >= 0.2
    assert rr["bimodality_coefficient"] > 5 / 9
    middle = float(((rates >= 0.1) & (rates <= 0.5)).mean())
    assert middle < 0.1
