"""Issue 18: churn with consequences, value tiers, payment shock and the priced objective.

* A churned customer leaves: once current it prepays and closes, the interest margin its loan
  would have earned is booked as lost, closures after a cure are counted; both engines alike.
* ``net_value`` = net recovery - lifetime value lost - interest margin lost - complaint cost -
  lever cost, in the daily table and the summary; churning performing accounts never raises it.
* Customer value tiers are on the book and rule tables match them (``value_tier``).
* The payment shock: the miss odds scale with ``(instalment / capacity) ** miss_payment_shock``,
  so books of different repayment methods differ in delinquency in the direction of their
  payment shock.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.abm import run_abm
from sim.borrower.params import behaviour_record
from sim.borrower.payment_shock import shock_factor, shocked_miss
from sim.churn import CURRENT_BEFORE_LEAVING, Departures
from sim.day_loop import Observer
from sim.engine import simulate
from sim.kpis import DailyRecorder
from sim.loans import Method
from sim.population import generate
from sim.portfolio import Status
from sim.scenario import load_scenario
from sim.value import complaint_price, customer_value, remaining_interest, remaining_margin
from strategies.registry import StrategyError, load_strategy_file, resolve
from strategies.rules import Rule, RuleTable

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"


def _behaviour(sc, **changes):
    return sc.model_copy(update={"behaviour": sc.behaviour.model_copy(update=changes)})


# --------------------------------------------------------------------------- churn
class _Moves(Observer):
    """Each account's bucket moves (day, from, to) and the day it churned."""

    def __init__(self) -> None:
        self.moves: dict[int, list[tuple[int, int, int]]] = {}
        self.churn_day: dict[int, int] = {}

    def on_bucket_change(self, day, accounts, before, after) -> None:
        for i, b, a in zip(accounts.tolist(), before.tolist(), after.tolist(), strict=True):
            self.moves.setdefault(i, []).append((day, b, a))

    def on_churn(self, day, accounts) -> None:
        self.churn_day.update(dict.fromkeys(accounts.tolist(), day))


def _departure_sources(obs: _Moves) -> tuple[int, int]:
    """The buckets churners closed from: (current, any other); a churner may also prepay of
    its own accord (``prepayment_monthly``), always from current."""
    current = other = 0
    for i, churned in obs.churn_day.items():
        left = [m for m in obs.moves.get(i, []) if m[0] >= churned and m[2] == 6]  # paid off
        if left:
            current += left[0][1] == 0
            other += left[0][1] != 0
    return current, other


def test_churned_customers_leave_once_current_in_both_engines():
    """A current churner leaves at once; one in arrears a month after its cure (never a
    delinquent -> paid_off move); both engines alike."""
    sc = load_scenario(SMALL, accounts=1500, days=120)
    # prepayment generous enough that no cured churner waits for the allowance
    sc = _behaviour(sc, churn_rate=0.3, prepayment_monthly=0.3)
    obs, abm_obs = _Moves(), _Moves()
    vec = simulate(sc, resolve("aggressive"), 7, keep_portfolio=True, observers=[obs])
    abm = run_abm(sc, resolve("aggressive"), 7, keep_portfolio=True, observers=[abm_obs])
    s = vec.summary
    assert obs.moves == abm_obs.moves and obs.churn_day == abm_obs.churn_day
    from_current, from_arrears = _departure_sources(obs)
    assert from_arrears == 0  # a cure is a cure: never delinquent -> paid_off
    assert from_current >= s["churn_departures"]
    assert s["churned"] > 50
    assert 0 < s["churn_departures"] <= s["churned"]
    assert 0 < s["closures_after_cure"] <= s["churn_departures"]
    assert s["interest_margin_lost"] > 0 and s["prepaid_on_churn"] > 0
    for key in ("churn_departures", "closures_after_cure", "churned"):
        assert abm.summary[key] == s[key]
    for key in ("interest_margin_lost", "prepaid_on_churn", "net_value"):
        assert np.isclose(abm.summary[key], s[key], rtol=1e-9, atol=0)


def test_a_churner_in_arrears_leaves_a_month_after_its_cure():
    """Departures, day by day on a drawn book: a current churner leaves the same evening; one in
    arrears not on the day it cures nor while it is current for less than
    CURRENT_BEFORE_LEAVING days, but on that day; back in arrears, the wait starts again."""
    sc = load_scenario(SMALL, accounts=200, days=60)
    p = generate(sc, 1)
    p.missed[:] = 0
    dep = Departures(0.03, 1.0)  # a prepayment allowance that never binds
    rec = DailyRecorder(200)
    p.missed[[10, 11]] = 1
    dep.add(p, np.array([11, 10, 3]))  # 3 is current
    assert dep.leave(p, rec, 0)[0].tolist() == [3]
    p.missed[[10, 11]] = 0  # both cure on day 1
    for day in range(1, 1 + CURRENT_BEFORE_LEAVING):
        if day == 20:
            p.missed[11] = 1  # 11 falls back on day 20, cures on day 25
        if day == 25:
            p.missed[11] = 0
        assert dep.leave(p, rec, day)[0].size == 0, day
    assert dep.leave(p, rec, 1 + CURRENT_BEFORE_LEAVING)[0].tolist() == [10]
    assert dep.leave(p, rec, 24 + CURRENT_BEFORE_LEAVING)[0].size == 0
    assert dep.leave(p, rec, 25 + CURRENT_BEFORE_LEAVING)[0].tolist() == [11]
    assert p.status[[3, 10, 11]].tolist() == [Status.PAID_OFF] * 3
    assert rec.flows["closures_after_cure"].sum() == 2


def test_net_value_is_net_recovery_less_the_priced_losses():
    sc = load_scenario(SMALL, accounts=1500, days=120)
    res = simulate(sc, resolve("aggressive"), 3)
    s = res.summary
    assert s["complaints"] > 0 and s["churned"] > 0
    assert s["complaint_cost"] == pytest.approx(s["complaints"] * complaint_price(sc.economics))
    priced = s["lifetime_value_lost"] + s["interest_margin_lost"] + s["complaint_cost"]
    assert s["net_value"] == pytest.approx(s["net_recovery"] - priced - s["lever_cost"])
    assert res.daily["net_value"].sum() == pytest.approx(s["net_value"])
    assert s["lever_cost"] == 0.0  # no relationship lever exists yet


def _performing_book(churn_rate: float, prepay: float = 0.3):
    """A book whose current accounts never miss, contacted only by pre-due reminders that
    irritate: every churner is a performing (current) account. (The book's initial delinquent
    accounts are never contacted; they keep the contact step running.)"""
    sc = load_scenario(SMALL, accounts=1500, days=120)
    channels = dict(sc.channels)
    channels["sms"] = channels["sms"].model_copy(update={"irritation": 6.0})
    sc = sc.model_copy(update={"channels": channels})
    return _behaviour(sc, miss_intercept=-40.0, churn_rate=churn_rate, prepayment_monthly=prepay)


def test_churning_a_performing_account_never_raises_net_value():
    reminders = RuleTable("reminders", [Rule("sms", -3, -1, every_days=1)])
    for seed in (1, 2, 3):
        kept = simulate(_performing_book(0.0), reminders, seed).summary
        gone = simulate(_performing_book(0.5), reminders, seed).summary
        assert kept["new_delinquent"] == gone["new_delinquent"] == 0
        assert kept["churned"] == 0 and 20 < gone["churn_departures"] <= gone["churned"]
        assert gone["closures_after_cure"] == 0  # all were current when they churned
        # prepaid principal is not income: it is in no term of net_value
        assert gone["prepaid_on_churn"] > 0 and gone["collected"] == kept["collected"]
        lost = gone["lifetime_value_lost"] + gone["interest_margin_lost"]
        saved = (kept["cost"] - gone["cost"]) + (kept["complaint_cost"] - gone["complaint_cost"])
        assert saved >= 0  # a customer who left is no longer reminded
        assert gone["net_value"] == pytest.approx(kept["net_value"] - lost + saved)
        assert gone["net_value"] < kept["net_value"]


@pytest.mark.parametrize("prepay", [0.0, 0.02, 0.1])
def test_departures_are_part_of_the_prepayment_not_on_top(prepay):
    """Issue 18 point 8: churned customers leave within ``prepayment_monthly`` of the open
    current accounts a month (an allowance accrued daily, at most a month's worth), so churn
    never takes the book's prepayment above what the scenario (or its fit) allows; with no
    prepayment (the Taiwan card panel) no churner leaves, and its lifetime value is still lost.
    Churned customers leave first: at a low prepayment the allowance binds."""
    sc = _performing_book(0.5, prepay)
    reminders = RuleTable("reminders", [Rule("sms", -3, -1, every_days=1)])
    s = simulate(sc, reminders, 4).summary
    assert s["churned"] > 1000 and s["lifetime_value_lost"] > 0
    bound = prepay * sc.accounts * sc.days / 30  # every account open and current throughout
    assert s["churn_departures"] <= bound
    if prepay == 0.0:
        assert s["churn_departures"] == 0 and s["interest_margin_lost"] == 0.0
    else:  # the churners outnumber the allowance: it is used (a departure a day at least)
        assert s["churn_departures"] >= 0.9 * bound * (1 - s["churned"] / sc.accounts) - sc.days


@pytest.mark.parametrize("method", list(Method))
def test_a_departure_never_books_a_gain(method):
    """The margin lost is never negative and never above the interest still scheduled, for
    any contract (random balances, rates, terms) and cost of funds."""
    rng = np.random.default_rng(int(method))
    n = 2000
    balance = rng.uniform(0, 50_000, n)
    rate_m = rng.uniform(0, 0.03, n)
    remaining = rng.integers(0, 120, n)
    level_payment = balance * rate_m / (1 - (1 + rate_m) ** -np.maximum(remaining, 1))
    level_principal = balance / np.maximum(remaining, 1)
    m = np.full(n, int(method), np.int8)
    interest = remaining_interest(m, balance, rate_m, remaining, level_payment, level_principal)
    assert (interest >= 0).all()

    class Book:
        pass

    book = Book()
    book.method, book.sched_balance, book.rate_m = m, balance, rate_m
    book.remaining, book.level_payment, book.level_principal = (
        remaining,
        level_payment,
        level_principal,
    )
    every = np.arange(n)
    for funding in (0.0, 0.04, 0.5):
        margin = remaining_margin(book, every, funding)
        assert (margin >= 0).all() and (margin <= interest + 1e-9).all()


def test_remaining_interest_matches_the_schedule():
    """Against the engine's own schedule (sim.loans.schedule) of one loan per method."""
    from sim.loans import schedule

    for name, code in (("annuity", 0), ("equal_principal", 1), ("interest_only", 2)):
        sched = schedule(12_000.0, 0.12, 24, name)
        left = sched.iloc[6:]  # six instalments paid: 18 left
        balance = float(sched["balance"].iloc[5])
        level_payment = float(sched["payment"].iloc[0]) if code == 0 else 0.0
        level_principal = 12_000.0 / 24 if code == 1 else 0.0
        got = remaining_interest(
            np.array([code]),
            np.array([balance]),
            np.array([0.01]),
            np.array([18]),
            np.array([level_payment]),
            np.array([level_principal]),
        )[0]
        assert got == pytest.approx(float(left["interest"].sum()), rel=1e-9, abs=0.01)


# --------------------------------------------------------------------------- value tiers
def test_value_tiers_split_the_book_by_customer_value():
    sc = load_scenario(SMALL, accounts=4000)
    p = generate(sc, 5)
    shares = np.bincount(p.value_tier, minlength=3) / p.n
    np.testing.assert_allclose(shares, [0.5, 0.4, 0.1], atol=0.002)
    value = customer_value(p, sc.economics.funding_rate_annual)
    assert value[p.value_tier == 0].max() <= value[p.value_tier == 1].min()
    assert value[p.value_tier == 1].max() <= value[p.value_tier == 2].min()
    np.testing.assert_array_equal(generate(sc, 5).value_tier, p.value_tier)


def test_a_value_tier_rule_contacts_only_that_tier():
    sc = load_scenario(SMALL, accounts=1500, days=60)
    high = RuleTable("high", [Rule("sms", 1, 60, every_days=2, value_tiers=("high",))])
    res = simulate(sc, high, 4, contact_log=True, keep_portfolio=True)
    log = res.contact_log
    assert len(log) > 20
    assert (res.portfolio.value_tier[log["account"].to_numpy()] == 2).all()
    rest = RuleTable("rest", [Rule("sms", 1, 60, every_days=2, value_tiers=("low", "medium"))])
    other = simulate(sc, rest, 4, contact_log=True, keep_portfolio=True).contact_log
    assert (res.portfolio.value_tier[other["account"].to_numpy()] < 2).all()
    assert len(other) > len(log)


def test_a_rule_file_with_an_unknown_value_tier_is_refused(tmp_path):
    path = tmp_path / "tiers.yaml"
    path.write_text("name: tiers\nrules:\n  - {channel: sms, dpd: [1, 30], value_tier: [gold]}\n")
    with pytest.raises(StrategyError) as err:
        load_strategy_file(path)
    assert "tiers.yaml" in str(err.value) and "value tier" in str(err.value)
    path.write_text("name: tiers\nrules:\n  - {channel: sms, dpd: [1, 30], value_tier: [high]}\n")
    assert load_strategy_file(path).rules[0].value_tiers == ("high",)


# --------------------------------------------------------------------------- payment shock
def test_the_shock_multiplies_the_miss_odds():
    sc = load_scenario(SMALL)
    off = behaviour_record(sc)
    on = behaviour_record(_behaviour(sc, miss_payment_shock=1.0))
    assert shock_factor(off, 200.0, 100.0) == 1.0  # off by default
    assert shocked_miss(off, 0.1, 200.0, 100.0) == 0.1
    assert shock_factor(on, 100.0, 100.0) == 1.0  # no shock at capacity
    p = shocked_miss(on, 0.1, 200.0, 100.0)  # twice the capacity: odds x2
    assert p / (1 - p) == pytest.approx(2 * 0.1 / 0.9)
    cut = shocked_miss(on, 0.1, 50.0, 100.0)  # a restructuring that halves the payment
    assert cut / (1 - cut) == pytest.approx(0.5 * 0.1 / 0.9)


def _one_method(sc, method: str, shock: float):
    purposes = {
        k: v.model_copy(update={"method_mix": {method: 1.0}}) for k, v in sc.purposes.items()
    }
    sc = sc.model_copy(update={"purposes": purposes, "seasoning_max_share": 0.0})
    return _behaviour(sc, miss_payment_shock=shock)


class _NewDelinquent(Observer):
    """The accounts that missed an instalment during the run."""

    def __init__(self) -> None:
        self.accounts: set[int] = set()

    def on_new_delinquent(self, day, accounts) -> None:
        self.accounts.update(accounts.tolist())


def test_repayment_methods_differ_in_delinquency_in_the_direction_of_their_shock():
    """New loans (no seasoning), 4,000 accounts x 120 days, seed 5: equal principal's first
    instalments are above the annuity payment (by 7-20 %), interest only's far below it. With
    the shock on, equal principal misses more than annuity and interest only fewer. The books
    share their borrowers and draws, so the noise of a difference is McNemar's: the square root
    of the accounts that missed in one book only; each difference must exceed three times it.
    With the shock off the three books miss alike (the same draws, the same miss chances)."""
    sc = load_scenario(SMALL)
    who = {}
    for shock in (0.0, 1.0):
        for method in ("annuity", "equal_principal", "interest_only"):
            obs = _NewDelinquent()
            simulate(_one_method(sc, method, shock), resolve("standard"), 5, observers=[obs])
            who[shock, method] = obs.accounts
    assert who[0.0, "annuity"] == who[0.0, "equal_principal"] == who[0.0, "interest_only"]
    a, ep, io = (who[1.0, m] for m in ("annuity", "equal_principal", "interest_only"))
    assert len(ep) - len(a) > 3 * np.sqrt(len(ep ^ a))
    assert len(a) - len(io) > 3 * np.sqrt(len(a ^ io))


def test_both_engines_run_the_payment_shock_identically():
    sc = _one_method(load_scenario(SMALL, accounts=800, days=90), "equal_principal", 1.0)
    vec = simulate(sc, resolve("standard"), 4)
    abm = run_abm(sc, resolve("standard"), 4)
    np.testing.assert_array_equal(vec.roll_counts, abm.roll_counts)
    for key, value in vec.summary.items():
        if isinstance(value, int):
            assert abm.summary[key] == value, key
    assert np.isclose(abm.summary["net_value"], vec.summary["net_value"], rtol=1e-9, atol=0)


def test_a_restructuring_that_cuts_the_payment_lowers_the_shock():
    """Restructured loans are re-amortised over a longer term: their instalment falls below
    what the borrower was underwritten for, so the shock factor on their miss odds is below 1."""
    sc = load_scenario(SMALL, accounts=1500, days=120)
    sc = sc.model_copy(
        update={"restructuring": sc.restructuring.model_copy(update={"take_up": 0.95})}
    )
    sc = _behaviour(sc, miss_payment_shock=1.0)
    res = simulate(sc, resolve("early_warning"), 4, keep_portfolio=True)
    p = res.portfolio
    done = np.flatnonzero(p.restructured & (p.status == Status.OPEN))
    assert done.size > 10
    prm = behaviour_record(sc)
    factors = np.array([shock_factor(prm, p.level_payment[i], p.capacity_payment[i]) for i in done])
    assert (factors < 1).mean() > 0.9
