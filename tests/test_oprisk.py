"""Operational risk events (sim/oprisk.py): outage days make no contact, wrong-number and
wrong-amount contacts come at their rates and book complaints and breaches, both engines
alike; off by default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.abm import run_abm
from sim.engine import simulate
from sim.scenario import Scenario, load_scenario
from strategies.registry import resolve

ROOT = Path(__file__).resolve().parents[1]
RATES = {
    "outage_days_per_year": 36.0,
    "wrong_number_share": 0.05,
    "wrong_amount_share": 0.05,
    "complaint_chance": 0.5,
}


def with_oprisk(sc: Scenario, **rates) -> Scenario:
    data = sc.model_dump()
    data["operational_risk"] = rates
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def runs():
    sc = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=1500, days=120)
    op = with_oprisk(sc, **RATES)
    strategy = resolve("standard")
    return simulate(sc, strategy, 3), simulate(op, strategy, 3), run_abm(op, strategy, 3)


def test_outage_days_make_no_contact(runs):
    base, op, _ = runs
    d = op.daily
    out = d["outage_days"].to_numpy() > 0
    # 36 days a year: 12 expected in 120 days (binomial sd 3.3)
    assert 3 <= out.sum() <= 22
    attempts = d.filter(like="attempts_").sum(axis=1).to_numpy()
    assert attempts[out].sum() == 0
    assert base.daily.filter(like="attempts_").sum(axis=1).to_numpy()[out].sum() > 0


def test_contact_errors_come_at_their_rates_and_complain(runs):
    base, op, _ = runs
    d = op.daily
    attempts = d.filter(like="attempts_").to_numpy().sum()
    rpc = d.filter(like="rpc_").to_numpy().sum()
    for col, n in (("wrong_number_contacts", attempts - rpc), ("wrong_amount_contacts", rpc)):
        got, mean = d[col].sum(), 0.05 * n
        assert abs(got - mean) < 4 * np.sqrt(mean * 0.95), (col, got, mean)
    errors = d["wrong_number_contacts"].sum() + d["wrong_amount_contacts"].sum()
    assert (d["compliance_breaches"] - base.daily["compliance_breaches"]).sum() == d[
        "wrong_number_contacts"
    ].sum()
    extra = d["complaints"].sum() - base.daily["complaints"].sum()
    assert extra > 0.25 * errors  # half of them complain; contacts also differ a little


def test_both_engines_book_the_same_events(runs):
    _, vec, abm = runs
    for col in vec.daily.columns:
        np.testing.assert_allclose(
            abm.daily[col].to_numpy(), vec.daily[col].to_numpy(), rtol=1e-9, atol=1e-6, err_msg=col
        )


def test_off_by_default():
    sc = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=300, days=40)
    a = simulate(sc, resolve("standard"), 1)
    b = simulate(with_oprisk(sc), resolve("standard"), 1)
    assert a.daily.equals(b.daily)
    assert (
        a.daily[["outage_days", "wrong_number_contacts", "wrong_amount_contacts"]].sum().sum() == 0
    )
