"""Risk measures (sim/risk.py): PD on a Markov-mode book against the absorbing-chain answer,
HHI and limits against a hand-computed example, LGD's recoveries (in and beyond the horizon)
against the run's own totals, and segments that add up to the book."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from sim.engine import simulate
from sim.risk import (
    RISK_GRADES,
    ConcentrationLimits,
    RiskObserver,
    account_losses,
    concentration,
    hhi,
)
from sim.scenario import Scenario, load_scenario
from sim.segments import Segmentation
from strategies.registry import resolve

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"

# the roll matrix of tests/test_engine.py (current, 1-30, 31-60, 61-90, 91-120, CO, paid off):
# charge-off only from 91-120, so a default is first seen as 91+ DPD
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


def chain_pd(m: np.ndarray, steps: int) -> np.ndarray:
    """P(reaching 91-120 or charged off within ``steps`` monthly transitions), per start state
    0-3: the default states made absorbing, the matrix raised to ``steps``."""
    a = m.copy()
    a[4] = 0.0
    a[4, 4] = 1.0
    return np.linalg.matrix_power(a, steps)[:4, 4:6].sum(axis=1)


def test_markov_pd_matches_the_absorbing_chain():
    data = copy.deepcopy(load_scenario(SMALL).model_dump())
    for spec in data["purposes"].values():
        spec["terms"] = [480]  # nobody reaches maturity
    data.update(
        accounts=20_000,
        # 361 days: 12 due dates each; a 91-120 move on the 12th (day 359 at the latest) shows
        # as 91 DPD by day 360; a 13th due date (day 360) can only reach 90 DPD
        days=361,
        seasoning_max_share=0.0,
        behaviour={"mode": "markov", "roll_matrix": ROLL.tolist()},
        initial_delinquency={
            "dpd_1_30": 0.15,
            "dpd_31_60": 0.12,
            "dpd_61_90": 0.12,
            "dpd_91_120": 0.05,
        },
    )
    sc = Scenario.model_validate(data)

    class ByStart(RiskObserver):
        def on_start(self, book, scenario):
            start = np.minimum(book.missed, 4).astype(np.int64)
            self.extra = (Segmentation("start", start, ("0", "1", "2", "3", "4")),)
            super().on_start(book, scenario)

    obs = ByStart()
    res = simulate(sc, None, 5, observers=[obs])
    m = obs.measures(res.recoveries).set_index(["segment_kind", "segment"])
    ref = chain_pd(ROLL, 12)
    for i in range(4):
        row = m.loc[("start", str(i))]
        n = row["performing"]
        assert n >= 2000
        se = np.sqrt(ref[i] * (1 - ref[i]) / n)
        assert abs(row["pd_horizon"] - ref[i]) <= 3 * se, (i, row["pd_horizon"], ref[i], se)
    assert m.loc[("start", "4"), "performing"] == 0  # in default at the start: no PD
    assert not np.isnan(m.loc[("book", "all"), "pd_12m"])


def test_hhi_and_limits_by_hand():
    assert hhi(np.array([50.0, 30.0, 20.0])) == pytest.approx(0.38)  # .25 + .09 + .04
    assert hhi(np.ones(4)) == pytest.approx(0.25)
    assert hhi(np.zeros(3)) == 0.0
    # five accounts in three segments: exposures 50 | 20 + 10 | 15 + 5 -> shares .5, .3, .2
    exposure = np.array([50.0, 20.0, 10.0, 15.0, 5.0])
    seg = Segmentation("purpose", np.array([0, 1, 1, 2, 2]), ("a", "b", "c"))
    limits = ConcentrationLimits(share={"purpose": 0.45, "purpose:c": 0.1}, hhi={"purpose": 0.35})
    c = concentration(exposure, [seg], limits)
    s = c.shares.set_index("segment")
    assert s["share"].tolist() == pytest.approx([0.5, 0.3, 0.2])
    assert s["breach"].tolist() == [True, False, True]  # a > .45; c > its own .1
    idx = c.indices.set_index("segment_kind")
    assert idx.loc["purpose", "hhi"] == pytest.approx(0.38)
    assert bool(idx.loc["purpose", "breach"])
    single = (exposure / 100) ** 2
    assert idx.loc["account", "hhi"] == pytest.approx(single.sum())
    assert {(b["measure"], b["segment"]) for b in c.breaches} == {
        ("share", "a"),
        ("share", "c"),
        ("hhi", None),
    }
    ok = concentration(exposure, [seg], ConcentrationLimits(share={"purpose": 0.6}))
    assert ok.breaches == []


@pytest.fixture(scope="module")
def risk_run():
    sc = load_scenario(SMALL).model_copy(update={"accounts": 3000, "days": 90})
    obs = RiskObserver()
    res = simulate(sc, resolve("standard"), 7, observers=[obs])
    return res, obs


def test_recoveries_and_lgd_tie_to_the_run(risk_run):
    res, obs = risk_run
    r = res.recoveries
    assert len(r) == res.summary["charge_offs"] > 20
    loss = obs.account_losses(r, discount_rate=0.0)
    # every recovery unit is in the horizon or beyond it, account by account
    assert loss["recovered"].sum() == pytest.approx(res.summary["collected_recovery"], rel=1e-9)
    beyond = loss["recovered_beyond_horizon"].sum()
    assert beyond == pytest.approx(res.summary["recovery_beyond_horizon"], rel=1e-9)
    assert beyond > 0
    # undiscounted PV: cash less commission less the fixed cost; discounting lowers it
    pv0 = r["cash"] * (1 - r["commission"]) - r["fixed_cost"]
    np.testing.assert_allclose(loss["recovered_pv"], pv0)
    lagged = r["lag"].to_numpy() > 0
    pv8 = account_losses(r, 90, 0.08)["recovered_pv"].to_numpy()
    assert (pv8[lagged] < pv0.to_numpy()[lagged]).all()
    one = r[lagged].iloc[0]
    expect = one.cash * (1 - one.commission) / 1.08 ** (one.lag / 365) - one.fixed_cost
    assert pv8[np.flatnonzero(lagged)[0]] == pytest.approx(expect)


def test_measures_add_up_and_matrix(risk_run):
    res, obs = risk_run
    m = obs.measures(res.recoveries)
    book = m[m["segment_kind"] == "book"].iloc[0]
    assert book["defaults"] > 0 and 0 < book["lgd"] < 1.2
    assert book["expected_loss"] == pytest.approx(
        book["pd_horizon"] * book["lgd"] * book["exposure_start"]
    )
    assert np.isnan(book["pd_12m"])  # a 90-day horizon has no 12-month PD
    for kind, part in m[m["segment_kind"] != "book"].groupby("segment_kind"):
        for col in (
            "accounts",
            "performing",
            "defaults",
            "charged_off",
            "claim",
            "exposure_start",
            "ead_defaulted",
            "recovered_beyond_horizon",
        ):
            assert part[col].sum() == pytest.approx(book[col], rel=1e-9), (kind, col)
        # the book's PD is the segments' PDs weighted by performing accounts
        w = part["performing"]
        assert (part["pd_horizon"] * w).sum() / w.sum() == pytest.approx(book["pd_horizon"])
        claimed = part[part["lgd_from"] == "segment"]
        assert (claimed["lgd"] * claimed["claim"]).sum() / claimed["claim"].sum() == (
            pytest.approx(book["lgd"])
        )
    credit = m[m["segment_kind"] == "credit"].set_index("segment")
    assert credit.loc["poor", "pd_horizon"] > credit.loc["good", "pd_horizon"]
    mat = obs.matrix(res.recoveries)
    assert list(mat["grade"].unique()) == list(RISK_GRADES)
    for _kind, part in mat.groupby("segment_kind"):
        assert part["accounts"].sum() == res.summary["accounts"]
        assert part["defaults"].sum() == book["defaults"]
        assert part.loc[part["grade"] == "loss", "accounts"].sum() == res.summary["charge_offs"]
    final = res.daily.iloc[-1]
    graded = mat[mat["segment_kind"] == "purpose"].groupby("grade")["accounts"].sum()
    assert graded["pass"] == final["n_current"]
    assert graded["substandard"] == final["n_91_120"]
    conc = obs.concentration(ConcentrationLimits(share={"purpose": 0.4}))
    s = conc.shares[conc.shares["segment_kind"] == "purpose"]
    assert s["share"].sum() == pytest.approx(1.0)
    assert s["exposure"].sum() == pytest.approx(final["outstanding"], rel=1e-6)
    over = set(s.loc[s["share"] > 0.4, "segment"])
    assert over and {b["segment"] for b in conc.breaches} == over
