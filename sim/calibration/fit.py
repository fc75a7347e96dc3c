"""Fit the borrower model so that simulated monthly transitions match an observed panel.

The objective is a minimum-distance criterion: for every transition cell whose row has enough
observations, the gap between the simulated and the empirical probability, divided by the
combined standard error (empirical and simulated, plus a floor so that near-certain cells do not
dominate). Every evaluation simulates the same book with the same seed, so that with the
engine's counter-based random numbers (common random numbers) the objective moves smoothly with
the parameters; :func:`scipy.optimize.least_squares` then fits the parameters with bounds.

Parameters are addressed by dotted paths into the scenario (``behaviour.base_intensity``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from sim.calibration.states import STATES
from sim.calibration.transitions import TransitionEstimate, transition_matrix
from sim.engine import simulate
from sim.scenario import Scenario


class _BudgetSpent(Exception):
    """The optimiser used up its simulation budget."""


@dataclass(frozen=True)
class Parameter:
    """One fitted parameter: a dotted path into the scenario and its bounds."""

    path: str
    lower: float
    upper: float


#: Parameters fitted by default, each mainly responsible for some cells.
DEFAULT_PARAMETERS: tuple[Parameter, ...] = (
    Parameter("behaviour.miss_intercept", -7.0, -1.0),  # current -> 1-30
    Parameter("behaviour.prepayment_monthly", 0.0, 0.3),  # current -> paid_off
    Parameter("behaviour.base_intensity", 0.01, 3.0),  # 1-30 -> current
    Parameter("behaviour.intensity_dpd_scale", 2.0, 120.0),  # later cures and rolls
    Parameter("behaviour.full_payment_share", 0.05, 1.0),  # cure vs. staying in a bucket
    Parameter("behaviour.settlement_share", 0.0, 0.9),  # delinquent -> paid_off
)


def set_path(data: dict, path: str, value: float) -> None:
    """Set ``data[a][b]...`` for a dotted path ``a.b...``."""
    keys = path.split(".")
    node = data
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


def get_path(data: dict, path: str) -> float:
    node = data
    for k in path.split("."):
        node = node[k]
    return float(node)


def with_values(base: Scenario, params: Sequence[Parameter], values: np.ndarray) -> Scenario:
    """A scenario with the parameters set to ``values``."""
    data = base.model_dump()
    for p, v in zip(params, values, strict=True):
        set_path(data, p.path, float(v))
    return Scenario.model_validate(data)


def simulated_counts(scenario: Scenario, strategy, seed: int, skip_months: int = 1) -> np.ndarray:
    """Month-to-month transition counts of a simulated book (warm-up months skipped)."""
    result = simulate(scenario, strategy, seed, check=False)
    return result.roll_counts[skip_months:].sum(axis=0)


@dataclass
class FitResult:
    """What a calibration produced."""

    scenario: Scenario
    parameters: dict[str, float]
    empirical: TransitionEstimate
    simulated: TransitionEstimate
    min_row_count: int
    evaluations: int
    seconds: float
    history: list[float] = field(default_factory=list)

    def cells(self) -> list[dict]:
        """Per-cell comparison: probabilities, errors, standard errors, tolerance, verdict."""
        out = []
        e, s = self.empirical, self.simulated
        for i, a in enumerate(STATES):
            n = int(e.row_totals[i])
            if n == 0:
                continue
            for j, b in enumerate(STATES):
                pe, ps = float(e.probabilities[i, j]), float(s.probabilities[i, j])
                se_e = float(e.standard_errors[i, j])
                se_s = float(s.standard_errors[i, j]) if np.isfinite(ps) else float("nan")
                se = float(np.hypot(se_e, se_s if np.isfinite(se_s) else 0.0))
                err = ps - pe if np.isfinite(ps) else float("nan")
                tol = max(0.02, 3.0 * se)
                out.append(
                    {
                        "from": a,
                        "to": b,
                        "row_count": n,
                        "count": int(e.counts[i, j]),
                        "empirical": pe,
                        "simulated": ps,
                        "error": err,
                        "se_empirical": se_e,
                        "se_simulated": se_s,
                        "tolerance": tol,
                        "within": bool(np.isfinite(err) and abs(err) <= tol),
                        "assessed": n >= self.min_row_count,
                    }
                )
        return out

    def goodness_of_fit(self) -> dict[str, float]:
        """Summary figures over the assessed cells."""
        cells = [c for c in self.cells() if c["assessed"]]
        errs = np.array([c["error"] for c in cells], dtype=float)
        z = np.array(
            [c["error"] / max(np.hypot(c["se_empirical"], c["se_simulated"]), 1e-4) for c in cells]
        )
        return {
            "assessed_cells": len(cells),
            "cells_within_tolerance": int(sum(c["within"] for c in cells)),
            "max_abs_error": float(np.nanmax(np.abs(errs))) if errs.size else 0.0,
            "mean_abs_error": float(np.nanmean(np.abs(errs))) if errs.size else 0.0,
            "chi_square": float(np.nansum(z**2)),
            "min_row_count": self.min_row_count,
        }

    def to_dict(self) -> dict:
        return {
            "parameters": self.parameters,
            "goodness_of_fit": self.goodness_of_fit(),
            "empirical": self.empirical.to_dict(),
            "simulated": self.simulated.to_dict(),
            "cells": self.cells(),
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "objective_history": self.history,
        }


def residuals_for(
    empirical: TransitionEstimate, simulated: np.ndarray, min_row_count: int
) -> np.ndarray:
    """Standardised gaps of every cell in rows with at least ``min_row_count`` observations."""
    sim = transition_matrix(simulated)
    res = []
    for i in range(len(STATES)):
        if empirical.row_totals[i] < min_row_count:
            continue
        pe = empirical.probabilities[i]
        ps = sim.probabilities[i]
        if not np.all(np.isfinite(ps)):
            res.extend([5.0] * len(STATES))  # the simulation never visits this state
            continue
        se = np.sqrt(empirical.standard_errors[i] ** 2 + sim.standard_errors[i] ** 2 + 0.005**2)
        res.extend((ps - pe) / se)
    return np.asarray(res)


def calibrate(
    base: Scenario,
    empirical: TransitionEstimate,
    strategy,
    *,
    params: Sequence[Parameter] = DEFAULT_PARAMETERS,
    seed: int = 1,
    min_row_count: int = 200,
    max_evaluations: int = 60,
    skip_months: int = 1,
    progress: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Fit ``params`` of ``base`` to an empirical transition matrix.

    Parameters
    ----------
    base : Scenario
        The book to simulate (its size and horizon set the simulation's precision and cost).
    empirical : TransitionEstimate
    strategy : StrategyProtocol or None
        The collections strategy the observed book was worked under (``default`` if unknown).
    params : sequence of Parameter
    seed : int
        One seed for every evaluation (common random numbers).
    min_row_count : int
        Rows with fewer observations are left out of the objective and of the verdict.
    max_evaluations : int
        Budget of simulations for the optimiser.

    Returns
    -------
    FitResult
    """
    t0 = time.perf_counter()
    lower = np.array([p.lower for p in params])
    upper = np.array([p.upper for p in params])
    start_data = base.model_dump()
    x0 = np.clip([get_path(start_data, p.path) for p in params], lower, upper)
    # work on the unit cube so that one finite-difference step means the same for every parameter
    span = upper - lower
    history: list[float] = []

    def fun(u: np.ndarray) -> np.ndarray:
        x = lower + span * np.clip(u, 0.0, 1.0)
        counts = simulated_counts(with_values(base, params, x), strategy, seed, skip_months)
        r = residuals_for(empirical, counts, min_row_count)
        history.append(float(r @ r))
        if progress is not None:
            progress(len(history), history[-1])
        return r

    best_u = (x0 - lower) / span
    best_cost = np.inf

    def budgeted(u: np.ndarray) -> np.ndarray:
        nonlocal best_u, best_cost
        if len(history) >= max_evaluations:
            raise _BudgetSpent
        r = fun(u)
        if history[-1] < best_cost:
            best_u, best_cost = np.clip(u, 0.0, 1.0).copy(), history[-1]
        return r

    # least_squares does not count its finite-difference evaluations against max_nfev, so the
    # simulation budget is enforced here; the best point seen is kept either way.
    try:
        least_squares(budgeted, best_u, bounds=(0.0, 1.0), diff_step=0.02, method="trf")
    except _BudgetSpent:
        pass
    best = lower + span * best_u
    scenario = with_values(base, params, best)
    counts = simulated_counts(scenario, strategy, seed, skip_months)
    return FitResult(
        scenario=scenario,
        parameters={p.path: float(v) for p, v in zip(params, best, strict=True)},
        empirical=empirical,
        simulated=transition_matrix(counts),
        min_row_count=min_row_count,
        evaluations=len(history) + 1,
        seconds=time.perf_counter() - t0,
        history=history,
    )
