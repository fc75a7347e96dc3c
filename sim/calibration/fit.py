"""Fit the borrower model so that simulated monthly transitions match an observed panel.

Method (documented for users in ``docs/calibration.md``)
--------------------------------------------------------
*Minimum distance on simulated transitions.* For a parameter vector the lab simulates a book
(:func:`calibration_book`) under the collections strategy the observed book was worked by, and
counts the month-end to month-end moves between the seven states (the first simulated month is
a warm-up and is not counted). Every cell ``(i, j)`` of every row ``i`` with at least
``min_row_count`` observed moves gives one residual (:func:`residuals_for`)::

    r_ij = (p_sim_ij - p_emp_ij) / sqrt(se_emp_ij**2 + floor_ij**2)

with the binomial standard error ``sqrt(p (1 - p) / n)`` of the empirical proportion and
``floor_ij = min(2 pp / 3, max(0.2 pp, 0.15 p_emp_ij))``. A residual of 3 is then about the
acceptance tolerance ``max(2 pp, 3 SE)`` (rare moves measured precisely are held to a relative
precision too); the sum of squares is a chi-square-like distance dominated by the large rows,
where the data are precise. The optimiser sees the residuals stretched by up to 2x between 3
and 6 (:func:`penalised`: cells just outside their tolerance weigh more) and a weak pull of
each parameter towards its start (``prior_scale``), which steadies the directions in which
parameters trade off against each other.

*Common random numbers.* Every evaluation simulates the same accounts with the same seed, and
the engine's counter-based random numbers give each account the same luck on each day and
stream, so the objective changes only where a parameter change changes what an account does.
It is still a step function of the parameters (each account's choice flips at a threshold);
with tens of thousands of simulated accounts the steps are small against the 2 pp tolerance,
and finite differences over 5 % of each parameter's range see the slope through them.

*Fresh-seed margin.* Fitting to one simulated sample, the search also fits that sample's noise
(it can lean on a few accounts' luck), so a cell just inside its tolerance on the fit's own
simulation can leave it on another seed. :func:`margin_residuals` adds, per assessed cell, a
hinge ``weight * max(0, (|error| + z s) / tolerance - share)``: zero while the error plus
``z`` standard deviations ``s`` of the seed-to-seed noise (of the fit book and of the check
book) stays within ``share`` of the acceptance tolerance, which it also computes for the check
book (:data:`MARGIN_Z`, :data:`MARGIN_SHARE`, :data:`MARGIN_WEIGHT`).

*Optimiser.* :func:`scipy.optimize.least_squares` (trust-region reflective, bounds) on the unit
cube of the parameters (log scale for scales and intensities), with a forward-difference
Jacobian and Broyden rank-one updates, because one simulation costs most of a second and a
full Jacobian costs one simulation per parameter; a fresh Jacobian is differenced when the
steps stall (:data:`STALL`) or converge, while the budget pays for it. The first step of a run
is at most :data:`FIRST_STEP` on the unit cube. Stages (:func:`calibrate`): the start is read
off the empirical matrix (:func:`starting_values`) and the late-stage parameters' start picked
among it and two archetypes by one simulation each (:func:`_screen`); a warm-up stage fits
the early-stage parameters to the rows current and 1-30, a second one the late-stage
parameters to all rows (its Jacobian columns carry over); the main stage fits everything; a
refining stage continues on a larger book of other accounts with other luck (``seed + 1``),
where what the search fitted to its own sample's noise shows as error, and gives the reported
matrix. Budgets are numbers of simulations (not seconds), so a calibration is reproducible bit
for bit; the best point seen is returned. Finally :func:`holdout` simulates the result on
fresh seeds at the size of the written scenario and judges every cell again.

Parameters are addressed by dotted paths into the scenario (``behaviour.base_intensity``).

The code is split by job: :mod:`sim.calibration.parameters` (what may be fitted, the start),
:mod:`sim.calibration.book` (the simulated book and its counts), :mod:`sim.calibration.goodness`
(residuals, tolerances, verdicts, :class:`FitResult`), :mod:`sim.calibration.search` (the
trust-region search and its warm-up stages); this module runs the stages (:func:`calibrate`)
and the fresh-seed check (:func:`holdout`), and re-exports the public names of the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from sim.calibration import criterion
from sim.calibration.book import (
    REVOLVING_TERM,
    BookSpec,
    calibration_book,
    simulated_counts,
    simulated_moves,
)
from sim.calibration.bootstrap import clustered_transition_se
from sim.calibration.criterion import CalibrationError, at_bounds, check_identifiable
from sim.calibration.goodness import (
    FLOOR,
    MARGIN_CAP,
    MARGIN_SHARE,
    MARGIN_WEIGHT,
    MARGIN_Z,
    UNVISITED,
    FitResult,
    Margin,
    compare_cells,
    holdout_passed,
    margin_residuals,
    penalised,
    residuals_for,
    verdict,
)
from sim.calibration.parameters import (
    LIBRARY,
    PROMISE_KEEP,
    Parameter,
    get_path,
    select_parameters,
    set_path,
    starting_values,
    unidentified,
    with_values,
)
from sim.calibration.search import (
    FIRST_STEP,
    STALL,
    WARM_PARAMETERS,
    WARM_ROWS,
    WARM_TARGET,
    Objective,
    WarmStage,
    optimise,
)
from sim.calibration.states import STATES
from sim.calibration.transitions import TransitionEstimate, transition_matrix
from sim.scenario import Scenario

#: The calibration's public names (this module and, one job each, :mod:`.parameters`,
#: :mod:`.book`, :mod:`.goodness`, :mod:`.search`): ``from sim.calibration.fit import ...``.
__all__ = [
    "FIRST_STEP",
    "FLOOR",
    "LATE_STARTS",
    "LIBRARY",
    "MARGIN_CAP",
    "MARGIN_SHARE",
    "MARGIN_WEIGHT",
    "MARGIN_Z",
    "PROMISE_KEEP",
    "REFINE_SEED_OFFSET",
    "REVOLVING_TERM",
    "STALL",
    "UNVISITED",
    "WARM_PARAMETERS",
    "WARM_ROWS",
    "WARM_TARGET",
    "BookSpec",
    "CalibrationError",
    "FitResult",
    "Margin",
    "Parameter",
    "calibrate",
    "calibration_book",
    "compare_cells",
    "default_holdout_seeds",
    "get_path",
    "holdout",
    "holdout_passed",
    "margin_residuals",
    "penalised",
    "residuals_for",
    "select_parameters",
    "set_path",
    "simulated_counts",
    "starting_values",
    "verdict",
    "with_values",
]


def default_holdout_seeds(seed: int, n: int = 3) -> tuple[int, ...]:
    """The seeds of the fresh-seed check of a fit on ``seed``: ``seed + 101 .. seed + 100 +
    n`` (the search uses ``seed``, the refining stage ``seed + REFINE_SEED_OFFSET``)."""
    return tuple(int(seed) + 100 + k for k in range(1, n + 1))


#: The refining stage simulates other accounts with other luck than the search (``seed +``
#: this): what the search fitted to its own sample's noise shows there as error.
REFINE_SEED_OFFSET = 1


def holdout(
    scenario: Scenario,
    empirical: TransitionEstimate,
    strategy,
    book: BookSpec,
    seeds: Sequence[int],
    min_row_count: int = 200,
) -> list[dict]:
    """Simulate a calibrated scenario again on fresh seeds and judge every cell.

    ``scenario`` is simulated as the calibration book ``book`` (its size: at least what
    :func:`sim.calibration.criterion.needed_accounts` asks), once per seed; a seed draws other
    accounts and other luck, so the verdict says whether the fit holds beyond the one sample it
    was fitted on. The simulated moves are kept account by account, so the simulation's
    standard errors are clustered like the panel's. Each verdict: ``seed``, ``accounts``, the
    figures of :func:`sim.calibration.criterion.verdict` and the seconds it took.
    """
    sc = calibration_book(scenario, book)
    out = []
    for seed in seeds:
        t0 = time.perf_counter()
        accounts, cells = simulated_moves(sc, strategy, int(seed), book.skip_months)
        n = len(STATES)
        sim = transition_matrix(
            np.bincount(cells, minlength=n * n).reshape(n, n),
            clustered_transition_se(accounts, cells, n),
        )
        v = verdict(compare_cells(empirical, sim, min_row_count))
        out.append(
            {"seed": int(seed), "accounts": int(book.accounts), **v}
            | {"seconds": time.perf_counter() - t0}
        )
    return out


#: Alternative starts of the late-stage parameters (:func:`_screen`): the shapes the lab's
#: calibrations of card books take, a fast decay of payments with DPD and a slow one.
LATE_STARTS: tuple[dict[str, float], ...] = (
    {
        "behaviour.intensity_dpd_scale": 18.0,
        "behaviour.full_payment_dpd_scale": 50.0,
        "behaviour.rest_after_partial": 0.4,
        "restructuring.take_up": 0.1,
        "channels.call.promise_rate": 0.03,
    },
    {
        "behaviour.intensity_dpd_scale": 55.0,
        "behaviour.full_payment_dpd_scale": 55.0,
        "behaviour.rest_after_partial": 0.85,
        "restructuring.take_up": 0.02,
        "channels.call.promise_rate": 0.005,
    },
)


def _screen(
    u, params, given, base, empirical, strategy, seed, spec, min_row_count, history, records
) -> np.ndarray:
    """Pick the start of the late-stage parameters among the guesses and :data:`LATE_STARTS`
    by the fit of the rows after 1-30 (one simulation each): the late stage then searches the
    right basin (the shapes differ enough between books for a local search to stay in the
    wrong one)."""
    rows = [s for s in STATES if s not in WARM_ROWS]
    candidates = [u]
    for alt in LATE_STARTS:
        v = u.copy()
        for k, p in enumerate(params):
            if p.path in alt and p.path not in given:
                v[k] = p.to_unit(alt[p.path])
        if not any(np.array_equal(v, c) for c in candidates):
            candidates.append(v)
    if len(candidates) == 1:
        return u
    costs = []
    for v in candidates:
        sc = with_values(base, params, [p.from_unit(x) for p, x in zip(params, v, strict=True)])
        counts = simulated_counts(sc, strategy, seed, spec.skip_months)
        r = residuals_for(empirical, counts, min_row_count, rows)
        costs.append(float(r @ r))
        history.append(costs[-1])
    best = int(np.argmin(costs))
    records.append(
        {
            "stage": "screen of late starts",
            "accounts": spec.accounts,
            "parameters": len(params),
            "simulations": len(candidates),
            "best": costs[best],
            "choice": best,
        }
    )
    return candidates[best]


def _like(spec: BookSpec, book: BookSpec) -> BookSpec:
    """``spec`` with the revolving flag and the charge-off DPD of ``book``."""
    return BookSpec(
        accounts=spec.accounts,
        months=spec.months,
        skip_months=spec.skip_months,
        revolving=book.revolving,
        charge_off_dpd=book.charge_off_dpd,
        initial=spec.initial,
    )


def calibrate(
    base: Scenario,
    empirical: TransitionEstimate,
    strategy,
    *,
    params: Sequence[Parameter] | None = None,
    fixed: dict[str, float] | None = None,
    book: BookSpec | None = None,
    refine: BookSpec | None = None,
    warm_book: BookSpec | None = None,
    seed: int = 1,
    min_row_count: int = 200,
    max_evaluations: int = 42,
    refine_evaluations: int = 8,
    step: float = 0.05,
    refresh: int = 1000,
    prior_scale: float | None = 0.3,
    warm_evaluations: int = 20,
    late_evaluations: int = 24,
    screen: bool = True,
    start: dict[str, float] | None = None,
    progress: Callable[[int, float], None] | None = None,
    check_accounts: int | None = None,
    margin: bool = True,
    holdout_seeds: Sequence[int] | None = None,
) -> FitResult:
    """Fit behaviour parameters of ``base`` to an empirical transition matrix.

    Stages (module docstring): a screen of late-stage starts, two warm-up stages
    (``warm_evaluations``, ``late_evaluations``) and the main search (``max_evaluations``) on
    ``book`` with ``seed``, then a refining stage (``refine_evaluations``) on ``refine`` with
    ``seed + 1``, whose simulated matrix is the one reported (the main stage's without it);
    then the fresh-seed check (:func:`holdout`).

    Parameters
    ----------
    base : Scenario
        Segments, traits, channels and the parameters that are not fitted.
    empirical : TransitionEstimate
    strategy : StrategyProtocol or None
        The collections strategy the observed book was worked under (the default ladder if
        unknown; it is part of the world the parameters are fitted in).
    params : sequence of Parameter, optional
        Default: :func:`select_parameters` of the data. Named here, a parameter none of whose
        identifying cells (:data:`sim.calibration.parameters.IDENTIFIED_BY`) is assessable is
        refused (:class:`CalibrationError`, before any simulation).
    fixed : dict, optional
        Settings (dotted paths) fixed before fitting; default: those
        :func:`select_parameters` fixes.
    book : BookSpec, optional
        The simulated book (size, months, warm-up, revolving terms, charge-off DPD, initial
        delinquency); see :func:`calibration_book`.
    refine : BookSpec or None
        The refining stage's book (size, months, initial delinquency; its revolving flag and
        charge-off DPD are ``book``'s); default ``book`` with twice the accounts;
        ``refine_evaluations=0``: no refining.
    warm_book : BookSpec or None
        The warm-up stages' book (default ``book``).
    seed : int
        The seed of every simulation of the search (common random numbers); the refining
        stage uses ``seed + REFINE_SEED_OFFSET``.
    min_row_count : int
        Rows with fewer observed moves are left out of the objective and of the verdict.
    max_evaluations, refine_evaluations, warm_evaluations, late_evaluations : int
        Budgets of simulations of the stages (deterministic, unlike a time budget).
    step : float
        Finite-difference step on the unit cube of each parameter.
    refresh : int
        Also recompute the Jacobian by differences every ``refresh`` optimiser iterations.
    screen : bool
        Pick the late-stage parameters' start among the guesses and :data:`LATE_STARTS`.
    prior_scale : float or None
        A weak pull towards the starting values: one more residual per parameter,
        ``(u - u_start) / prior_scale`` on the unit cube (a quarter of a parameter's range
        costs what a cell a third of its tolerance off costs). It steadies directions the data
        do not pin down (several parameters can trade off against each other); ``None``: off.
    start : dict, optional
        Starting values by path; default :func:`starting_values`.
    progress : callable, optional
        Called with (simulations so far, objective) after each simulation.
    check_accounts : int, optional
        Size of the book the fresh-seed check simulates (default: the fit book's).
    margin : bool
        Add the fresh-seed margin (:func:`margin_residuals`) to the objective.
    holdout_seeds : sequence of int, optional
        Seeds of the fresh-seed check run after the fit (:func:`holdout`, on the reported
        book's design with ``check_accounts`` accounts); default
        :func:`default_holdout_seeds` of ``seed``; ``()``: none. They must differ from the
        seeds the fit used.

    Returns
    -------
    FitResult
    """
    t0 = time.perf_counter()
    book = book or BookSpec()
    check_accounts = int(check_accounts or book.accounts)
    seeds = default_holdout_seeds(seed) if holdout_seeds is None else tuple(holdout_seeds)
    used = {seed, seed + REFINE_SEED_OFFSET}
    if used & set(seeds):
        raise ValueError(f"holdout seeds {seeds} must differ from the fit's seeds {sorted(used)}")
    check_identifiable(empirical, min_row_count)
    asked = params is not None  # parameters named by the caller, not picked from the data
    if params is None:
        params, auto_fixed = select_parameters(empirical, min_row_count)
        fixed = auto_fixed if fixed is None else fixed
    params = tuple(params)
    missing = unidentified(empirical, params, min_row_count) if asked else []
    if missing:
        raise CalibrationError(
            "the panel cannot identify what the fit is asked to fit: no assessable cell for "
            + "; ".join(missing)
            + f" (a cell needs a row of >= {min_row_count} moves and about 40 of its own)"
        )
    fixed = dict(fixed or {})
    start_values = {**starting_values(empirical, params), **(start or {})}
    u0 = np.array([p.to_unit(start_values[p.path]) for p in params])
    u = u0
    history: list[float] = []
    records: list[dict] = []
    stages = [(book, max_evaluations)]
    if refine_evaluations > 0:
        if refine is None:
            refine = BookSpec(accounts=2 * book.accounts, months=book.months, initial=book.initial)
        stages.append((_like(refine, book), refine_evaluations))

    def report(n: int, cost: float) -> None:
        if progress is not None:
            progress(len(history) + n, cost)

    J = None
    late_J, late_free = None, []
    for stage, (spec, budget) in enumerate(stages):
        check_scale = check_accounts / spec.accounts if margin else None
        sim_base = calibration_book(base, spec)
        if fixed:
            sim_base = with_values(
                sim_base, [Parameter(k, -np.inf, np.inf) for k in fixed], list(fixed.values())
            )
        if stage == 0:
            wspec = spec if warm_book is None else _like(warm_book, spec)
            warm_base = calibration_book(base, wspec)
            if fixed:
                warm_base = with_values(
                    warm_base, [Parameter(k, -np.inf, np.inf) for k in fixed], list(fixed.values())
                )
            if screen:
                u = _screen(
                    u,
                    params,
                    start or {},
                    warm_base,
                    empirical,
                    strategy,
                    seed,
                    wspec,
                    min_row_count,
                    history,
                    records,
                )
            for late, budget_w in ((False, warm_evaluations), (True, late_evaluations)):
                warm = WarmStage(
                    warm_base,
                    params,
                    empirical,
                    strategy,
                    seed,
                    min_row_count,
                    wspec,
                    check_accounts / wspec.accounts if margin else None,
                    rows=None if late else WARM_ROWS,
                    late=late,
                )
                u = warm.run(u, budget_w, step, refresh, report, history)
                if warm.record is not None:
                    records.append(warm.record)
            late_J, late_free = warm.J, warm.free  # all rows: reused by the main stage
        if stage == 0:
            centre = u.copy()  # the prior's centre: the start, after the warm-up
        objective = Objective(
            sim_base,
            params,
            empirical,
            strategy,
            seed if stage == 0 else seed + REFINE_SEED_OFFSET,
            min_row_count,
            spec.skip_months,
            max(budget, 1),
            report,
            None if prior_scale is None else (centre, prior_scale),
            None,
            check_scale,
        )
        columns: list[int] = []
        if stage == 0 and late_J is not None and late_free:
            # the late stage's Jacobian gives the late parameters' columns on every row; only
            # the early parameters' columns are differenced at the start of the main stage
            m = late_J.shape[0]
            J = np.zeros((m + (len(params) if prior_scale is not None else 0), len(params)))
            J[:m, late_free] = late_J
            if prior_scale is not None:
                J[m + np.asarray(late_free), late_free] = 1.0 / prior_scale
            columns = [k for k in range(len(params)) if k not in late_free]
        J = optimise(objective, u, step, refresh, J, columns)
        history.extend(objective.history)
        records.append(
            {
                "stage": "main" if stage == 0 else "refine",
                "accounts": spec.accounts,
                "parameters": len(params),
                "simulations": len(objective.history),
                "best": objective.best_cost,
            }
        )
        u = objective.best_u
    best = objective.values(u)
    fitted = with_values(sim_base, params, best)
    simulated = transition_matrix(objective.counts[u.tobytes()])
    # the check book: at least the scenario's size, and large enough that the simulated
    # standard error is no larger than the observed one in every assessable cell
    needed = criterion.needed_accounts(empirical, simulated, spec.accounts, min_row_count)
    check_book = BookSpec(
        accounts=max(check_accounts, needed),
        months=spec.months,
        skip_months=spec.skip_months,
        revolving=spec.revolving,
        charge_off_dpd=spec.charge_off_dpd,
        initial=spec.initial,
    )
    verdicts = holdout(fitted, empirical, strategy, check_book, seeds, min_row_count)
    return FitResult(
        scenario=fitted,
        parameters={p.path: float(v) for p, v in zip(params, best, strict=True)},
        fixed=fixed,
        start={k: float(v) for k, v in start_values.items()},
        empirical=empirical,
        simulated=simulated,
        min_row_count=min_row_count,
        evaluations=len(history),
        seconds=time.perf_counter() - t0,
        book=spec,
        seed=objective.seed,
        history=history,
        holdout=verdicts,
        stages=records,
        search_seed=seed,
        check_accounts=check_book.accounts,
        parameters_at_bounds=at_bounds(
            dict(zip([p.path for p in params], best, strict=True)), params
        ),
        rows_not_fitted=rows_not_fitted(empirical, min_row_count),
    )


def rows_not_fitted(empirical: TransitionEstimate, min_row_count: int) -> dict[str, int]:
    """Rows the data show (moves out of a state) too thin to enter the objective and the
    verdict (fewer than ``min_row_count`` moves), with their moves: never fitted."""
    return {
        s: int(n)
        for s, n in zip(STATES, empirical.row_totals, strict=True)
        if 0 < int(n) < min_row_count
    }
