"""Calibration: the behaviour added for real panels, and the fit.

* every new behaviour parameter does what its documentation says, measured on simulated monthly
  transitions;
* left at its default a parameter changes nothing (same results, bit for bit, as a run with the
  parameter written out at its default);
* the fit gives back known parameters from a panel the lab simulated itself, within three
  standard errors (propagated from the transition cells through the simulated slopes);
* the shipped calibrated scenarios pass the acceptance criterion on their real data, no slack
  (skipped without ``../shared``; strict expected failures for those fitted before it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calibration import load_panel, transition_counts, transition_matrix
from sim.calibration.criterion import CalibrationError
from sim.calibration.fit import (
    LIBRARY,
    BookSpec,
    Parameter,
    calibrate,
    calibration_book,
    compare_cells,
    residuals_for,
    rows_not_fitted,
    select_parameters,
    simulated_counts,
    verdict,
    with_values,
)
from sim.calibration.synthetic import simulate_panel
from sim.calibration.transitions import panel_transition_matrix
from sim.engine import simulate
from sim.ledger import check_invariants
from sim.population import generate
from sim.portfolio import Status
from sim.scenario import Behaviour, Scenario, load_scenario
from strategies.default import default_strategy

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CREDIT_RECORD = DATA / "credit_card_status_panel" / "credit_record.csv"
TAIWAN = DATA / "taiwan_credit_card_default" / "UCI_Credit_Card.csv"
needs_data = pytest.mark.skipif(
    not (CREDIT_RECORD.exists() and TAIWAN.exists()),
    reason=f"real data not found under {DATA} (the shared data folder is absent)",
)

STATES = ("current", "1-30", "31-60", "61-90", "91-120", "charged_off", "paid_off")
IDX = {s: i for i, s in enumerate(STATES)}


def book(accounts: int = 12_000, months: int = 3, **behaviour) -> Scenario:
    """A revolving book (no maturities) with oversampled delinquency and the given behaviour."""
    sc = calibration_book(
        load_scenario(SMALL), BookSpec(accounts=accounts, months=months, initial=(0.06,) * 4)
    )
    data = sc.model_dump()
    data["behaviour"] = {**data["behaviour"], **behaviour}
    return Scenario.model_validate(data)


def rates(sc: Scenario, strategy=None, seed: int = 1):
    """Monthly transition probabilities (warm-up month skipped), their SEs and row counts."""
    est = transition_matrix(simulated_counts(sc, strategy, seed, skip_months=1))
    return est.probabilities, est.standard_errors, est.row_totals


def cell(p, a: str, b: str) -> float:
    return float(p[IDX[a], IDX[b]])


# ----------------------------------------------------------------------------- the parameters
def test_prepayment_gives_its_monthly_rate():
    p, se, _ = rates(book(prepayment_monthly=0.05))
    # a current account prepays when it pays its due instalment: 0.05 times the chance to pay
    pay = 1.0 - cell(p, "current", "1-30")
    assert abs(cell(p, "current", "paid_off") - 0.05 * pay) <= 3 * se[0, 6] + 0.002
    p0, _, _ = rates(book())
    assert cell(p0, "current", "paid_off") == 0.0  # no maturity in a revolving book


def test_instalment_payment_in_arrears_keeps_accounts_where_they_are():
    p0, _, _ = rates(book())
    p1, _, _ = rates(book(delinquent_instalment_pay=1.0))
    assert cell(p0, "1-30", "31-60") > 0.2
    assert cell(p1, "1-30", "31-60") == 0.0  # the new instalment is always paid
    assert cell(p1, "1-30", "1-30") > cell(p0, "1-30", "1-30") + 0.2
    # two or more behind: the late chance (and its trend) apply instead
    p2, _, _ = rates(book(delinquent_instalment_pay=1.0, delinquent_instalment_pay_late=0.0))
    assert cell(p2, "1-30", "31-60") == 0.0
    assert cell(p2, "31-60", "31-60") < cell(p1, "31-60", "31-60") - 0.2
    p3, _, _ = rates(book(delinquent_instalment_pay_late=0.2, delinquent_instalment_pay_slope=1.5))
    assert cell(p3, "61-90", "61-90") > cell(p3, "31-60", "31-60")  # rises with the stage


def test_settlement_closes_delinquent_accounts_as_paid_off():
    p0, _, _ = rates(book())
    p1, _, _ = rates(book(settlement_share=1.0))
    assert cell(p0, "1-30", "paid_off") == 0.0
    # every full payment settles: the cures of the default become settlements
    assert cell(p1, "1-30", "paid_off") > 0.5 * cell(p0, "1-30", "current")
    assert cell(p1, "1-30", "current") < 0.5 * cell(p0, "1-30", "current")
    # rising with DPD: share 0 early, nearly 1 late
    p2, _, _ = rates(book(settlement_share=0.0, settlement_dpd_scale=10.0))
    ratio_early = cell(p2, "1-30", "paid_off") / max(cell(p2, "1-30", "current"), 1e-9)
    ratio_late = cell(p2, "61-90", "paid_off") / max(cell(p2, "61-90", "current"), 1e-9)
    assert ratio_late > ratio_early


def test_full_payment_decay_makes_late_payments_partial():
    p0, _, _ = rates(book())
    p1, _, _ = rates(book(full_payment_dpd_scale=5.0))
    assert cell(p1, "61-90", "current") < 0.5 * cell(p0, "61-90", "current")
    assert cell(p1, "1-30", "current") < cell(p0, "1-30", "current")


def test_catch_up_and_rest_after_partial():
    late = {"intensity_dpd_scale": 60.0}  # payments late in arrears at all
    p0, _, _ = rates(book(**late))
    p1, _, _ = rates(book(catch_up_share=1.0, **late))
    assert cell(p1, "61-90", "1-30") > cell(p0, "61-90", "1-30") + 0.05
    p2, _, _ = rates(book(catch_up_share=1.0, rest_after_partial=1.0, **late))
    # resting partial payers do not follow a catch-up with a cure within days
    assert cell(p2, "61-90", "current") < cell(p1, "61-90", "current")


def test_reageing_brings_late_accounts_back_to_current():
    # two or more behind, the instalment falling due is paid with chance 0.5: a stay, unless
    # the arrangement re-ages the account (then current at the month end)
    late = {"delinquent_instalment_pay": 0.3, "delinquent_instalment_pay_late": 0.5}
    p0, se0, _ = rates(book(**late))
    p1, se1, _ = rates(book(reage_share=1.0, **late))
    ph, seh, _ = rates(book(reage_share=0.5, **late))
    for s in ("31-60", "61-90"):
        stay, cure = cell(p0, s, s), cell(p0, s, "current")
        assert stay > 0.2  # the stays re-ageing turns into returns to current
        # every payer of the new instalment is re-aged: the stays go (bar accounts whose
        # arrears were paid down to one instalment), the returns to current take their place
        assert cell(p1, s, s) < 0.2 * stay
        i = IDX[s]
        gain = cell(p1, s, "current") - cure
        assert abs(gain - stay) < 3 * np.hypot(se1[i, 0], se0[i, 0]) + 0.1 * stay
        # half of them: about half the gain (a tolerance of three standard errors)
        half = cell(ph, s, "current") - cure
        assert abs(half - 0.5 * stay) < 3 * np.hypot(seh[i, 0], se0[i, 0]) + 0.1 * stay
    # one behind, paying the new instalment is a stay, never a re-ageing
    assert abs(cell(p1, "1-30", "1-30") - cell(p0, "1-30", "1-30")) < 3 * np.hypot(
        se1[1, 1], se0[1, 1]
    )
    # the run checks the invariants (the principal identity, DPD against arrears) at its end
    simulate(book(accounts=4000, reage_share=1.0, **late), None, 3, keep_portfolio=True)


def test_write_off_charges_off_current_accounts_at_once():
    p0, _, _ = rates(book())
    p1, se1, _ = rates(book(write_off_monthly=0.02))
    assert cell(p0, "current", "charged_off") == 0.0
    # one due date a month: written off with chance 0.02 and charged off the next morning; an
    # account due on the month-end day shows at 91+ DPD that evening (1 in 30)
    assert abs(cell(p1, "current", "charged_off") - 0.02 * 29 / 30) < 3 * se1[0, 5]
    assert 0 < cell(p1, "current", "91-120") < 0.002


def test_recovery_settlement_moves_charged_off_accounts_to_paid_off():
    sc0 = book(accounts=6000, months=4)
    sc1 = book(accounts=6000, months=4, recovery_settlement=1.0)
    r0 = simulate(sc0, default_strategy(), 1, keep_portfolio=True)
    r1 = simulate(sc1, default_strategy(), 1, keep_portfolio=True)  # checks the invariants
    c0, c1 = r0.roll_counts[1:].sum(0), r1.roll_counts[1:].sum(0)
    assert c0[5, 6] == 0 and c1[5, 6] > 0
    p = r1.portfolio
    settled = (p.status == Status.PAID_OFF) & (p.principal_charged_off > 0)
    assert settled.sum() > 0
    check_invariants(p, sc1.days - 1)
    # charged-off principal stays charged off; the stocks follow the move
    assert np.isclose(p.principal_charged_off.sum(), r0.portfolio.principal_charged_off.sum())
    last = r1.daily.iloc[-1]
    assert last["n_charged_off"] == (p.status == Status.CHARGED_OFF).sum()
    assert last["n_paid_off"] == (p.status == Status.PAID_OFF).sum()


def test_new_parameters_keep_the_running_balance_exact():
    sc = book(
        accounts=4000,
        months=3,
        prepayment_monthly=0.05,
        delinquent_instalment_pay=0.6,
        settlement_share=0.3,
        catch_up_share=0.5,
        rest_after_partial=0.5,
        recovery_settlement=1.0,
        reage_share=0.5,
        write_off_monthly=0.01,
    )
    r = simulate(sc, default_strategy(), 2, keep_portfolio=True)  # checks the invariants too
    p = r.portfolio
    assert np.isclose(r.daily["outstanding"].iloc[-1], p.outstanding().sum(), rtol=1e-12)
    total = p.sched_balance + p.arrears_principal + p.principal_repaid + p.principal_charged_off
    assert np.allclose(total, p.opening_principal, rtol=1e-12, atol=1e-9)


NEW_DEFAULTS = {
    name: Behaviour.model_fields[name].default
    for name in (
        "prepayment_monthly",
        "delinquent_instalment_pay",
        "delinquent_instalment_pay_late",
        "delinquent_instalment_pay_slope",
        "settlement_share",
        "settlement_dpd_scale",
        "full_payment_dpd_scale",
        "catch_up_share",
        "rest_after_partial",
        "recovery_settlement",
        "reage_share",
        "write_off_monthly",
    )
}


@pytest.fixture(scope="module")
def default_run():
    sc = load_scenario(SMALL, accounts=2500, days=90)
    return sc, simulate(sc, default_strategy(), 4)


@pytest.mark.parametrize("name", sorted(NEW_DEFAULTS))
def test_a_parameter_at_its_default_changes_nothing(default_run, name):
    sc, ref = default_run
    data = sc.model_dump(exclude={"behaviour": {name}})
    assert name not in data["behaviour"]
    implicit = Scenario.model_validate(data)
    data["behaviour"][name] = NEW_DEFAULTS[name]
    explicit = Scenario.model_validate(data)
    for variant in (implicit, explicit):
        r = simulate(variant, default_strategy(), 4)
        pd.testing.assert_frame_equal(r.daily, ref.daily, check_exact=True)
        assert np.array_equal(r.roll_counts, ref.roll_counts)
        assert np.array_equal(r.recovery_rates, ref.recovery_rates)


def test_defaults_are_off():
    assert NEW_DEFAULTS == {
        "prepayment_monthly": 0.0,
        "delinquent_instalment_pay": 0.0,
        "delinquent_instalment_pay_late": None,
        "delinquent_instalment_pay_slope": 0.0,
        "settlement_share": 0.0,
        "settlement_dpd_scale": None,
        "full_payment_dpd_scale": None,
        "catch_up_share": 0.0,
        "rest_after_partial": 0.0,
        "recovery_settlement": 0.0,
        "reage_share": 0.0,
        "write_off_monthly": 0.0,
    }


# ----------------------------------------------------------------------------- the fit
TRUTH = {
    "behaviour.miss_intercept": -3.4,
    "behaviour.prepayment_monthly": 0.04,
    "behaviour.delinquent_instalment_pay": 0.55,  # staying one instalment behind
    "behaviour.delinquent_instalment_pay_late": 0.45,  # ... two or more behind
    "behaviour.reage_share": 0.4,  # re-ageing by payment arrangements
    "behaviour.write_off_monthly": 0.004,  # current accounts written off at once
}
START = {
    "behaviour.miss_intercept": -4.2,
    "behaviour.prepayment_monthly": 0.02,
    "behaviour.delinquent_instalment_pay": 0.3,
    "behaviour.delinquent_instalment_pay_late": 0.25,
    "behaviour.reage_share": 0.15,
    "behaviour.write_off_monthly": 0.0015,
}
PRIMARY = {  # the cell each parameter mainly moves
    "behaviour.miss_intercept": ("current", "1-30"),
    "behaviour.prepayment_monthly": ("current", "paid_off"),
    "behaviour.delinquent_instalment_pay": ("1-30", "31-60"),
    "behaviour.delinquent_instalment_pay_late": ("31-60", "61-90"),
    "behaviour.reage_share": ("31-60", "current"),
    "behaviour.write_off_monthly": ("current", "charged_off"),
}
STEPS = {  # central-difference steps of the standard errors
    "behaviour.miss_intercept": 0.2,
    "behaviour.prepayment_monthly": 0.01,
    "behaviour.delinquent_instalment_pay": 0.1,
    "behaviour.delinquent_instalment_pay_late": 0.1,
    "behaviour.reage_share": 0.1,
    "behaviour.write_off_monthly": 0.001,
}


def test_fit_recovers_known_parameters_from_a_simulated_panel():
    spec = BookSpec(accounts=20_000, months=4, initial=(0.08, 0.08, 0.04, 0.03))
    base = calibration_book(load_scenario(SMALL), spec)
    params = [LIBRARY[p.rsplit(".", 1)[-1]] for p in TRUTH]
    truth_sc = with_values(base, params, list(TRUTH.values()))
    # the "real" book: the fit's accounts (seed 1) with other luck (seed 11), so that the two
    # differ by the binomial noise the standard errors describe; its first month is a warm-up
    panel = simulate_panel(truth_sc, default_strategy(), seed=11, portfolio=generate(truth_sc, 1))
    panel = panel[panel["period"] >= 1]
    empirical = transition_matrix(transition_counts(panel))
    result = calibrate(
        load_scenario(SMALL),
        empirical,
        default_strategy(),
        params=params,
        fixed={},
        book=spec,
        seed=1,
        max_evaluations=70,
        warm_evaluations=0,
        late_evaluations=0,
        refine_evaluations=0,
        holdout_seeds=(),
        # the plain minimum distance: here the "observed" panel is as noisy as the simulation,
        # so the acceptance tolerance is a few standard errors of noise and the fresh-seed
        # margin (which trades efficiency for robustness of that acceptance) would fit noise
        margin=False,
        prior_scale=None,
        start=START,
    )
    fitted = result.parameters
    # standard error of each parameter: the combined SE of its primary cell over the slope of
    # that cell in the parameter (central differences on the fit book, common random numbers)
    for k, path in enumerate(TRUTH):
        a, b = PRIMARY[path]
        i, j = IDX[a], IDX[b]
        vals = [fitted[p] for p in TRUTH]
        lo, hi = list(vals), list(vals)
        lo[k] -= STEPS[path]
        hi[k] += STEPS[path]
        p_lo, p_hi = (
            transition_matrix(
                simulated_counts(with_values(base, params, v), default_strategy(), 1)
            ).probabilities[i, j]
            for v in (lo, hi)
        )
        slope = (p_hi - p_lo) / (2 * STEPS[path])
        se_cell = np.hypot(empirical.standard_errors[i, j], result.simulated.standard_errors[i, j])
        se_param = se_cell / abs(slope)
        assert abs(fitted[path] - TRUTH[path]) <= 2 * se_param, (
            f"{path}: fitted {fitted[path]:.4f}, truth {TRUTH[path]}, 2 SE = {2 * se_param:.4f}"
        )
    assert result.goodness_of_fit()["passed"]
    header = result.header_lines()
    assert header[0].startswith("# Acceptance: log-odds error within 3")
    assert "# Fresh-seed check: not run." in header


def test_select_parameters_follows_the_data():
    counts = np.zeros((7, 7), np.int64)
    counts[0, 0], counts[0, 1] = 9000, 500
    counts[1, 0], counts[1, 1], counts[1, 2] = 300, 300, 100
    params, fixed = select_parameters(transition_matrix(counts))
    names = {p.path for p in params}
    assert "behaviour.prepayment_monthly" not in names  # no current -> paid_off in the data
    assert "behaviour.settlement_share" not in names
    assert "recovery.agency.success" not in names
    assert set(fixed) == {"behaviour.promise_keep", "behaviour.promise_keep_hardship"}
    counts[0, 6] = 400
    counts[1, 6] = 50
    counts[5, 5], counts[5, 6] = 900, 50
    params, fixed = select_parameters(transition_matrix(counts))
    names = {p.path for p in params}
    assert {"behaviour.prepayment_monthly", "behaviour.settlement_share"} <= names
    assert "recovery.agency.success" in names and fixed["behaviour.recovery_settlement"] == 1.0


def test_rare_moves_are_fitted_only_where_the_data_can_falsify_them():
    counts = np.zeros((7, 7), np.int64)
    counts[0, 0], counts[0, 1], counts[0, 5] = 9000, 500, 5  # 5 write-offs: not assessable
    counts[1, 0], counts[1, 1], counts[1, 2] = 300, 300, 100
    counts[2, 2], counts[2, 3] = 20, 30  # a thin row: never fitted
    emp = transition_matrix(counts)
    names = {p.path for p in select_parameters(emp)[0]}
    assert not {"behaviour.write_off_monthly", "behaviour.reage_share"} & names
    assert rows_not_fitted(emp, 200) == {"31-60": 50}
    # asked to fit what the data cannot place: refused before any simulation, naming it
    with pytest.raises(CalibrationError, match=r"write_off_monthly \(current->charged_off\)"):
        calibrate(
            load_scenario(SMALL),
            emp,
            None,
            params=[LIBRARY["miss_intercept"], LIBRARY["write_off_monthly"]],
            fixed={},
            holdout_seeds=(),
        )
    counts[0, 5] = 150  # now the data reject half and double the write-off rate
    counts[2] = 0
    counts[2, 0], counts[2, 2], counts[2, 3] = 150, 100, 150
    emp = transition_matrix(counts)
    names = {p.path for p in select_parameters(emp)[0]}
    assert {"behaviour.write_off_monthly", "behaviour.reage_share"} <= names
    assert rows_not_fitted(emp, 200) == {}


def test_residuals_ignore_thin_rows_and_flag_unvisited_ones():
    emp = np.zeros((7, 7), np.int64)
    emp[0, 0], emp[0, 1] = 900, 100
    emp[1, 0], emp[1, 1] = 150, 50  # 200 moves: assessed
    emp[2, 2] = 10  # thin: left out
    sim = emp.copy()
    r = residuals_for(transition_matrix(emp), sim, 200)
    assert r.shape == (14,) and np.allclose(r, 0.0)
    sim[1] = 0  # the simulation never visits 1-30
    r = residuals_for(transition_matrix(emp), sim, 200)
    assert np.all(r[7:] == 10.0)


def test_the_objective_sees_rare_cells_the_old_floor_hid():
    # the status panel's current row: 44 write-offs in 345,417 moves (0.013 %)
    emp = np.zeros((7, 7), np.int64)
    emp[0, 0], emp[0, 1], emp[0, 5], emp[0, 6] = 319_132, 7057, 44, 19_064
    emp[0, 2] = 103
    emp[1, 0], emp[1, 1], emp[1, 2] = 5363, 3412, 559
    sim = emp.copy()
    sim[0, 0] += sim[0, 5]
    sim[0, 5] = 0  # no write-offs in the simulation
    r = residuals_for(transition_matrix(emp), sim, 200)
    # the former floor of 0.2 pp put this cell at -0.06, invisible to the search; now it is
    # the log-odds error over its standard error (capped as an unvisited row)
    assert r[5] <= -3.0
    # current -> 31-60 (103 moves): the chain cannot make it, a constant left out of the search
    assert sim[0, 2] > 0 and r[2] == 0.0
    sim[0, 0] += sim[0, 2]
    sim[0, 2] = 0
    assert residuals_for(transition_matrix(emp), sim, 200)[2] == 0.0
    half = emp.copy()
    half[0, 0] += 22
    half[0, 5] = 22  # half the write-off rate: outside the criterion, and so for the search
    assert residuals_for(transition_matrix(emp), half, 200)[5] < -3.0
    assert np.allclose(residuals_for(transition_matrix(emp), emp, 200), 0.0)


def test_parameters_map_to_and_from_the_unit_cube():
    for p in LIBRARY.values():
        for x in (p.lower, 0.5 * (p.lower + p.upper), p.upper):
            assert p.from_unit(p.to_unit(x)) == pytest.approx(x, rel=1e-9, abs=1e-12)
    tied = Parameter(
        "behaviour.promise_keep", 0, 1, tied=(("behaviour.promise_keep_hardship", 0.5),)
    )
    sc = with_values(load_scenario(SMALL), [tied], [0.6])
    assert sc.behaviour.promise_keep == 0.6 and sc.behaviour.promise_keep_hardship == 0.3


# ----------------------------------------------------------------------------- shipped scenarios
SHIPPED = {
    "status_panel": (
        CREDIT_RECORD,
        {
            "id_col": "ID",
            "period_col": "MONTHS_BALANCE",
            "status_col": "STATUS",
            "mapping": "credit_record_shifted",
        },
        None,
    ),
    "taiwan_cards": (TAIWAN, {"mapping": "taiwan_91plus", "fmt": "taiwan"}, 5),
}


#: Shipped scenarios fitted before the issue-17 criterion that fail it (drop them from here
#: when a re-fit passes: the mark is strict)
PRE_CRITERION = {
    "status_panel": "fitted under the old max(2 pp, 3 SE) acceptance: under the log-odds "
    "criterion current->1-30 (2.69 % vs 2.04 %), current->31-60, current->charged_off, "
    "current->paid_off and 1-30->31-60 are outside; the re-fit with re-ageing and write-offs "
    "fails too (1-30 row, and current->31-60, which the chain cannot make): docs/calibration.md",
}


@needs_data
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=PRE_CRITERION[n], strict=True))
        if n in PRE_CRITERION
        else n
        for n in sorted(SHIPPED)
    ],
)
def test_shipped_calibrations_fit_their_data(name):
    """The shipped scenario's fit report matches the data, and the shipped behaviour simulated
    again today as the fit's book passes the acceptance criterion (no slack)."""
    path, kwargs, until = SHIPPED[name]
    report = json.loads((ROOT / "scenarios" / f"{name}.fit.json").read_text())
    empirical = panel_transition_matrix(load_panel(path, **kwargs), until=until)
    assert np.array_equal(np.array(report["empirical"]["counts"]), empirical.counts)

    sc = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    b = report["book"]
    spec = BookSpec(
        accounts=b["accounts"],
        months=b["months"],
        skip_months=b["skip_months"],
        revolving=b["revolving"],
        charge_off_dpd=b["charge_off_dpd"],
        initial=tuple(b["initial_delinquency"].values()),
    )
    counts = simulated_counts(calibration_book(sc, spec), default_strategy(), report["seed"], 1)
    v = verdict(compare_cells(empirical, transition_matrix(counts), 200))
    assert v["assessed_cells"] > 0
    assert v["passed"], f"{name}: outside {v['failing_cells']}; worst {v['worst_cell']}"
