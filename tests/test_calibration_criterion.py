"""The acceptance criterion of a calibration (sim/calibration/criterion.py), stated once.

* the old criterion's blind spots are gone: a simulated rate of 0 on a cell observed at 2 % is
  not "within", and the tolerance of current -> 1-30 is a few per cent of its rate, not 98 %;
* a cell is assessable exactly when the criterion rejects half and double its observed rate;
* account-clustered standard errors: a bootstrap over accounts finds the clustering a binomial
  standard error misses, and is reproducible;
* the pass rule (>= 90 % of assessable cells, every assessable cell of the 1-30 row) and the
  failing cells by name;
* the check book the criterion asks for gives a simulated SE no larger than the observed one;
* a panel that cannot identify the behaviour (only current accounts) is refused, not "7 of 7
  within"; fitted parameters at a bound are named.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_calibration_fit import SHIPPED, needs_data
from test_calibration_holdout import SMALL

from sim.calibration import criterion, load_panel, transition_matrix
from sim.calibration.criterion import (
    CalibrationError,
    assessable,
    at_bounds,
    judge,
    needed_accounts,
    verdict,
)
from sim.calibration.fit import LIBRARY, calibrate
from sim.calibration.transitions import panel_transition_matrix
from sim.scenario import load_scenario


def matrix(rows: dict[int, dict[int, int]], clustered=None):
    c = np.zeros((7, 7), np.int64)
    for i, row in rows.items():
        for j, n in row.items():
            c[i, j] = n
    return transition_matrix(c, clustered)


def cell(cells, a, b):
    return next(c for c in cells if (c["from"], c["to"]) == (a, b))


# ------------------------------------------------------------------------------ blind spots
def test_a_zero_simulated_rate_is_not_within_a_two_percent_cell():
    # 1-30 row of 2,000 moves, 2 % of them to 31-60 (40 moves): the old max(2 pp, 3 SE) let a
    # simulated 0 pass (error 0.02 <= 0.02). The simulation's row has 400 moves: judged at its
    # own (zero) rate, the simulated SE of the log-odds would be about 1.4 and pass it too
    emp = matrix({1: {0: 1000, 1: 960, 2: 40}})
    sim = matrix({1: {0: 200, 1: 200, 2: 0}})
    c = cell(judge(emp, sim, 200), "1-30", "31-60")
    assert c["assessed"] and not c["within"] and c["status"] == "outside"
    # ... while the same cell simulated at its observed rate is within
    ok = cell(judge(emp, matrix({1: {0: 1000, 1: 960, 2: 40}}), 200), "1-30", "31-60")
    assert ok["within"]


def test_the_current_to_1_30_tolerance_is_a_few_percent_of_the_rate():
    # the status panel's current row: 345,417 moves, 7,057 of them to 1-30 (2.04 %)
    emp = matrix({0: {0: 319_132, 1: 7057, 6: 19_228}})
    sim = matrix({0: {0: 319_132, 1: 7057, 6: 19_228}})
    c = cell(judge(emp, sim, 200), "current", "1-30")
    lo, hi = c["band"]
    half_width = (hi - lo) / 2 / c["empirical"]
    assert half_width < 0.10  # the old tolerance was 0.02 / 0.0204 = 98 % of the rate
    # the shipped fit's 2.69 % is far outside it
    fit = matrix({0: {0: 319_132 - 2245, 1: 7057 + 2245, 6: 19_228}})
    assert not cell(judge(emp, fit, 200), "current", "1-30")["within"]


@needs_data
def test_real_status_panel_current_to_1_30_under_clustered_errors():
    """On the real panel the clustered SE of current -> 1-30 is about 1.3 times the binomial
    one, and the band stays within 10 % of the rate; the fit's 2.69 % is outside it."""
    path, kwargs, until = SHIPPED["status_panel"]
    emp = panel_transition_matrix(load_panel(path, **kwargs), until=until)
    ratio = emp.clustered_standard_errors[0, 1] / emp.standard_errors[0, 1]
    assert 1.15 < ratio < 1.5
    c = cell(judge(emp, emp, 200), "current", "1-30")
    assert (c["band"][1] - c["band"][0]) / 2 / c["empirical"] < 0.10
    assert not c["band"][0] <= 0.0269 <= c["band"][1]


# ------------------------------------------------------------------------------ assessable
@pytest.mark.parametrize("k", [5, 20, 35, 45, 60, 200, 500, 800])
def test_assessable_means_half_and_double_are_rejected(k):
    n = 1000
    emp = matrix({1: {0: n - k, 2: k}})
    ok = assessable(emp, 200)[1, 2]
    big = 10**7  # a simulation this large adds no noise of its own at the ceiling se_sim = se_obs
    rejects = []
    for factor in (0.5, 2.0):
        q = min(factor * k / n, 1.0)
        ks = round(q * big)
        sim = matrix({1: {0: big - ks, 2: ks}})
        # judge at the assessment ceiling: the simulated SE equal to the observed one
        c = cell(judge(emp, sim, 200), "1-30", "31-60")
        ceiling = criterion.Z * np.sqrt(2.0) * c["se_observed"]
        rejects.append(q >= 1.0 or abs(c["logit_error"]) > ceiling)
    assert ok == all(rejects)
    assert ok == (k >= 45)  # about 40 events: where the data can falsify a cell


def test_zero_cells_and_thin_rows_are_not_assessable_never_within():
    emp = matrix({0: {0: 9990, 1: 10}, 1: {0: 100, 1: 50}})
    cells = judge(emp, emp, 200)
    for c in cells:
        if c["count"] == 0 or c["from"] == "1-30" or (c["from"], c["to"]) == ("current", "1-30"):
            assert c["status"] == "not assessable" and not c["within"]
    v = verdict(cells)
    assert v["assessed_cells"] == 1 and v["not_assessable_cells"] == 13


# ------------------------------------------------------------------------------ clustered SE
def test_bootstrap_over_accounts_finds_clustering_and_is_reproducible():
    # 400 accounts x 10 moves: in the clustered panel an account either always stays current
    # or always misses (design effect about 10); in the other, moves are independent
    rng = np.random.default_rng(3)
    n_acc, months = 400, 10
    always = rng.random(n_acc) < 0.3
    independent = rng.random((n_acc, months)) < 0.3
    for states, low, high in ((np.repeat(always[:, None], months, 1), 6.0, 14.0),
                              (independent, 0.7, 1.4)):  # fmt: skip
        rows = []
        for a in range(n_acc):
            rows.append((str(a), 0, "current"))
            for t in range(months):
                # a move current -> (1-30 or current), then back to current for the next month
                rows.append((str(a), 2 * t + 1, "1-30" if states[a, t] else "current"))
                rows.append((str(a), 2 * t + 2, "current"))
        panel = pd.DataFrame(rows, columns=["account_id", "period", "state"])
        panel["state"] = pd.Categorical(panel["state"], categories=list(criterion.STATES))
        est = panel_transition_matrix(panel, resamples=200)
        deff = criterion.design_effects(est)[0, 1]
        assert low < deff < high, deff
        again = panel_transition_matrix(panel, resamples=200)
        assert np.array_equal(
            est.clustered_standard_errors, again.clustered_standard_errors, equal_nan=True
        )


# ------------------------------------------------------------------------------ pass rule
def _cells(row, statuses):
    return [
        {
            "from": row,
            "to": str(k),
            "assessed": s != "na",
            "within": s == "in",
            "logit_error": 0.1 if s == "in" else 1.0,
            "tolerance": 0.5,
            "simulated": 0.1,
            "empirical": 0.1,
            "se_ratio": 0.9,
        }
        for k, s in enumerate(statuses)
    ]


def test_pass_rule_needs_ninety_percent_and_the_whole_1_30_row():
    nine_of_ten = _cells("current", ["in"] * 9 + ["out", "na"])
    v = verdict(nine_of_ten)
    assert v["passed"] and v["assessed_cells"] == 10 and v["failing_cells"] == ["current->9"]
    v = verdict(_cells("current", ["in"] * 8 + ["out", "out"]))
    assert not v["passed"] and v["share_within"] == pytest.approx(0.8)
    # one miss in the 1-30 row fails the simulation even at 95 % within
    v = verdict(_cells("current", ["in"] * 19) + _cells("1-30", ["out"]))
    assert v["share_within"] == pytest.approx(0.95) and not v["passed"]
    assert v["failing_cells"] == ["1-30->0"] and not v["key_row_within"]
    assert criterion.passes([{"passed": True}, {"passed": False}]) is False
    assert criterion.passes([]) is None
    assert not verdict(_cells("current", ["na", "na"]))["passed"]  # nothing assessable


def test_needed_check_book_gives_a_simulated_se_no_larger_than_the_observed():
    emp = matrix({0: {0: 90_000, 1: 2000, 6: 8000}, 1: {0: 500, 1: 400, 2: 100}})
    rows = {0: {0: 9000, 1: 200, 6: 800}, 1: {0: 1000, 1: 800, 2: 200}}
    pilot = matrix(rows)  # a simulation of 5,000 accounts
    need = needed_accounts(emp, pilot, 5000, 200)
    scale = need / 5000
    assert scale == pytest.approx(10.0, rel=0.01)  # the current row sets it: 100,000 vs 10,000
    big = matrix({i: {j: round(n * scale) for j, n in r.items()} for i, r in rows.items()})
    ratios = [c["se_ratio"] for c in judge(emp, big, 200) if c["assessed"]]
    assert ratios and max(ratios) <= 1.0 + 1e-3
    small = [c["se_ratio"] for c in judge(emp, pilot, 200) if c["assessed"]]
    assert max(small) > 1.0


# ------------------------------------------------------------------------------ refusal
def test_a_panel_of_only_current_accounts_is_refused():
    emp = matrix({0: {0: 50_000}})
    with pytest.raises(CalibrationError, match="cannot identify") as info:
        calibrate(load_scenario(SMALL), emp, None, holdout_seeds=())
    assert "1-30: 0 moves" in str(info.value)
    # a few misses but a thin 1-30 row: still nothing to fit the delinquent behaviour on
    emp = matrix({0: {0: 50_000, 1: 150}, 1: {0: 90, 1: 60}})
    with pytest.raises(CalibrationError, match="no cell of the 1-30 row"):
        calibrate(load_scenario(SMALL), emp, None, holdout_seeds=())
    assert isinstance(CalibrationError("x"), ValueError)


def test_parameters_at_a_bound_are_named():
    p = [LIBRARY["base_intensity"], LIBRARY["miss_intercept"], LIBRARY["rest_after_partial"]]
    values = {p[0].path: 3.0, p[1].path: -3.0, p[2].path: 0.0}
    assert at_bounds(values, p) == [
        "behaviour.base_intensity (upper bound 3)",
        "behaviour.rest_after_partial (lower bound 0)",
    ]
