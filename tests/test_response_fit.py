"""The response fit (sim/calibration/response.py): minimum distance to published figures on
the unit cube of the ranges table, with a synthetic evaluation whose answer is known."""

from __future__ import annotations

import math

import pytest

from sim.calibration.response import Target, fit_response, response_ranges
from sim.scenario import load_scenario
from tests.test_borrower_parity import ROOT


def test_a_target_scores_in_half_widths_and_a_sign_only_target_only_outside():
    t = Target("x", simulated=3.0, low=-2.0, high=2.0, effect=0.0)
    assert t.residual == pytest.approx(1.5) and not t.within
    sign = Target("s", simulated=-5.0, low=-100.0, high=0.0)
    assert sign.residual == 0.0 and sign.within
    assert Target("s", 2.0, -100.0, 0.0).residual == pytest.approx(2.0 / 50.0)
    assert Target("n", math.nan, 0.0, 1.0, 0.5).residual == 10.0


def test_the_fit_recovers_known_response_parameters():
    """Two parameters, three targets that are linear in them: the fit lands on the truth."""
    base = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=100, days=10)
    truth = {"reminder_recall": 0.6, "promise_displacement": 0.4}

    def evaluate(sc):
        r, d = sc.behaviour.reminder_recall, sc.behaviour.promise_displacement
        return [
            Target("a", 10 * r, 5.0, 7.0, 10 * truth["reminder_recall"]),
            Target("b", 10 * d, 3.0, 5.0, 10 * truth["promise_displacement"]),
            Target("c", 10 * (r + d), 9.0, 11.0, 10.0),
        ]

    fit = fit_response(
        base,
        ["behaviour.reminder_recall", "behaviour.promise_displacement"],
        evaluate,
        start=[0.2, 0.9],
        max_evaluations=60,
        diff_step=0.01,
    )
    values = dict(zip(fit.parameters, fit.values, strict=True))
    assert values["behaviour.reminder_recall"] == pytest.approx(0.6, abs=0.01)
    assert values["behaviour.promise_displacement"] == pytest.approx(0.4, abs=0.01)
    assert fit.within == 3 and fit.cost < 1e-3
    assert fit.evaluations == len(fit.history) <= 60


def test_an_unknown_parameter_is_refused_by_name():
    base = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=100, days=10)
    with pytest.raises(KeyError, match=r"behaviour\.no_such"):
        fit_response(base, ["behaviour.no_such"], lambda sc: [], max_evaluations=2)
    assert "behaviour.reminder_recall" in response_ranges()
