"""The response model (issue 16, point 1): each rule of sim/borrower/response.py does what its
equation says, both engines run it (a rule switched off in the agents breaks exact parity),
and it moves the outcome it should, in the direction the evidence gives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.abm import Rules, run_abm
from sim.borrower import response
from sim.borrower import restructuring as restructuring_rules
from sim.borrower.params import behaviour_record, day_offsets, decay_tables
from sim.calibration.response import response_ranges
from sim.engine import simulate
from sim.scenario import load_scenario
from strategies.registry import resolve
from tests.test_borrower_parity import ROOT, _differences, _with, assert_same_run

KEY = np.uint64(12345)
N = 20_000


def _prm(**behaviour):
    sc = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=200, days=30)
    return behaviour_record(_with(sc, behaviour))


def _share_ok(k: int, n: int, p: float) -> bool:
    """``k / n`` within four binomial standard errors of ``p``."""
    return abs(k / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-12


# --------------------------------------------------------------------------- the rules
def test_a_reminder_prevents_only_a_forgetful_able_borrowers_misses():
    prm = _prm(forgetful_share=0.4, reminder_recall=0.75, reminder_window_days=7)
    off = day_offsets(KEY, 40)
    last = np.full(N, 36, np.int32)  # reached 4 days before the due date (day 40)
    # at the willingness centre the chance is the share; less willing borrowers forget more
    forgetful = [response.forgetful(prm, off, i, 1.5) for i in range(N)]
    assert _share_ok(sum(forgetful), N, 0.4)
    low_w = sum(response.forgetful(prm, off, i, 0.0) for i in range(N))
    assert _share_ok(low_w, N, 2 * 0.4 / (1 + math.exp(-1.5)))
    for i in range(50):
        p = response.reminded_miss_probability(prm, off, i, 0.2, False, 1.5, last, 40)
        assert p == pytest.approx(0.2 * 0.25 if forgetful[i] else 0.2)
        # in hardship (cannot pay): no effect, forgetful or not
        assert response.reminded_miss_probability(prm, off, i, 0.2, True, 1.5, last, 40) == 0.2
    # a reminder older than the window does nothing
    stale = np.full(N, 32, np.int32)
    assert all(
        response.reminded_miss_probability(prm, off, i, 0.2, False, 1.5, stale, 40) == 0.2
        for i in range(50)
    )
    # the trait is fixed per account and run: the same on another day
    off2 = day_offsets(KEY, 70)
    assert [response.forgetful(prm, off2, i, 1.5) for i in range(200)] == forgetful[:200]


def test_off_the_reminder_rule_returns_the_miss_chance_unchanged():
    prm = _prm()
    off = day_offsets(KEY, 40)
    last = np.full(10, 39, np.int32)
    assert all(
        response.reminded_miss_probability(prm, off, i, 0.3, False, 1.5, last, 40) == 0.3
        for i in range(10)
    )


def test_repeated_contact_has_diminishing_returns():
    prm = _prm(contact_saturation=0.05)
    tables = decay_tables(prm)
    first = response.contact_excite(prm, tables, 0.0, 10, 10, 0.1)
    second = response.contact_excite(prm, tables, first, 10, 10, 0.1)
    assert first == pytest.approx(0.1)
    assert second - first == pytest.approx(0.1 * 0.05 / (0.05 + 0.1))
    plain = _prm()
    assert response.contact_excite(plain, decay_tables(plain), 0.1, 10, 10, 0.1) == pytest.approx(
        0.2
    )


@pytest.mark.parametrize("dpd", [5, 60])
def test_promises_weaken_with_dpd(dpd):
    from sim.borrower.promises import keep_chance

    prm = _prm(promise_dpd_scale=40.0)
    off = day_offsets(KEY, 55)
    kept = sum(response.keeps_promise(prm, off, i, False, 1.5, dpd) for i in range(N))
    expected = keep_chance(prm, False, 1.5) * math.exp(-dpd / 40.0)
    assert _share_ok(kept, N, expected)


def test_a_pending_promise_displaces_the_borrowers_own_payments():
    prm = _prm(promise_displacement=0.6)
    off = day_offsets(KEY, 20)
    waits = sum(response.waits_for_promise(prm, off, i, 25, 20) for i in range(N))
    assert _share_ok(waits, N, 0.6)
    assert not any(response.waits_for_promise(prm, off, i, 20, 20) for i in range(100))
    assert not any(response.waits_for_promise(_prm(), off, i, 25, 20) for i in range(100))


def test_current_borrowers_take_up_a_plan_only_in_hardship():
    prm = _prm(take_up_current=0.3)
    off = day_offsets(KEY, 9)
    assert not any(restructuring_rules.takes_up(prm, off, i, False, 0) for i in range(200))
    yes = sum(restructuring_rules.takes_up(prm, off, i, True, 0) for i in range(N))
    assert _share_ok(yes, N, 0.3)
    assert not any(restructuring_rules.takes_up(_prm(), off, i, True, 0) for i in range(200))


def test_a_plan_relieves_hardships_term_of_the_miss_logit():
    prm = _prm(plan_relief=0.4)
    assert response.hardship_weight(prm, True, True) == pytest.approx(0.6)
    assert response.hardship_weight(prm, True, False) == 1.0
    assert response.hardship_weight(prm, False, True) == 0.0


@pytest.mark.parametrize("scenario", ["baseline", "recession"])
def test_the_ranges_table_names_schema_fields_and_holds_the_shipped_values(scenario):
    sc = load_scenario(ROOT / "scenarios" / f"{scenario}.yaml", accounts=100, days=10)
    data = sc.model_dump()
    for path, r in response_ranges().items():
        node = data
        for k in path.split("."):
            assert k in node, path
            node = node[k]
        assert r.low < r.high, path
        assert r.meaning and r.anchored_on, path
        assert r.low <= node <= r.high, f"{scenario}: {path} = {node} outside {r.low}-{r.high}"


# --------------------------------------------------------------------------- both engines
#: ABM rule flag -> (parameters that switch the rule on, strategy, book).
RESPONSE_RULES = {
    "reminders": (
        {"forgetful_share": 0.8, "reminder_recall": 0.9, "reminder_window_days": 14},
        "early_warning",
        {"accounts": 800, "days": 90},
    ),
    "diminishing_returns": ({"contact_saturation": 0.02}, "aggressive", {}),
    "promise_weakening": ({"promise_dpd_scale": 10.0}, "aggressive", {}),
    "promise_displacement": ({"promise_displacement": 0.9}, "aggressive", {}),
    "current_offers": ({"take_up_current": 0.9}, "early_warning", {"accounts": 800, "days": 90}),
}


@pytest.mark.parametrize("rule", sorted(RESPONSE_RULES))
def test_a_response_rule_missing_from_the_agents_breaks_parity(rule):
    """With the rule's parameter on, both engines agree exactly; with the rule switched off in
    the agents only, they do not (the mutation check of docs/extending.md)."""
    on, strategy, size = RESPONSE_RULES[rule]
    size = {"accounts": 300, "days": 60, **size}
    sc = _with(load_scenario(ROOT / "scenarios" / "small.yaml", **size), on)
    vec = simulate(sc, resolve(strategy), 4)
    assert_same_run(vec, run_abm(sc, resolve(strategy), 4))
    broken = run_abm(sc, resolve(strategy), 4, rules=Rules(**{rule: False}))
    moved = _differences(vec.summary, broken.summary) or not vec.daily.equals(broken.daily)
    assert moved, f"switching {rule} off in the agents changed nothing"


# --------------------------------------------------------------------------- directions
def _pre_due_reminders(tmp_path):
    path = tmp_path / "reminders.yaml"
    path.write_text(
        "name: reminders\nrules:\n  - {channel: sms, dpd: [-3, -3], priority: 1, hours: [9, 20]}\n",
        encoding="utf-8",
    )
    return resolve(path)


def test_pre_due_reminders_cut_new_delinquencies_only_with_forgetful_borrowers(tmp_path):
    sc = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=4000, days=120)
    on = _with(sc, {"forgetful_share": 0.5, "reminder_recall": 0.6})
    reminders = _pre_due_reminders(tmp_path)
    none_on = simulate(on, None, 8).summary["new_delinquent"]
    reminded_on = simulate(on, reminders, 8).summary["new_delinquent"]
    none_off = simulate(sc, None, 8).summary["new_delinquent"]
    reminded_off = simulate(sc, reminders, 8).summary["new_delinquent"]
    assert reminded_off == none_off  # no forgetful borrowers: reminders do nothing
    # common random numbers: reminders only turn misses into payments. Expected cut: reach
    # (0.85 x digital reachability) x forgetful 0.5 x recall 0.6 x the share of misses out of
    # hardship: roughly 5-25 % of the new delinquencies
    assert 0.05 * none_on <= none_on - reminded_on <= 0.25 * none_on


def test_early_warning_offers_restructure_current_accounts():
    sc = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=4000, days=120)
    before = simulate(sc, resolve("early_warning"), 3)
    after = simulate(_with(sc, {"take_up_current": 0.5}), resolve("early_warning"), 3)
    more = after.summary["restructures"] - before.summary["restructures"]
    assert more > 0
    # a current account's plan is no cure
    assert after.daily["cures"].sum() - before.daily["cures"].sum() < more
