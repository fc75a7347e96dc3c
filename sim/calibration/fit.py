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

*Optimiser.* :func:`scipy.optimize.least_squares` (trust-region reflective, bounds) on the unit
cube of the parameters (log scale for scales and intensities), with a forward-difference
Jacobian refreshed every ``refresh`` iterations and Broyden rank-one updates in between,
because one simulation costs about half a second and a full Jacobian costs one simulation per
parameter. The search starts from moment-matching guesses read off the empirical matrix
(:func:`starting_values`); a warm-up stage first fits the early-stage parameters to the rows
current and 1-30 alone. A fixed budget of simulations (not of seconds, so that a calibration is
reproducible bit for bit) bounds the run; the best point seen is returned.

Parameters are addressed by dotted paths into the scenario (``behaviour.base_intensity``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares

from sim.calibration.states import STATE_INDEX, STATES
from sim.calibration.transitions import TransitionEstimate, transition_matrix
from sim.engine import simulate
from sim.scenario import Scenario

N = len(STATES)
#: Residual floor: a residual of 3 is an error of 2 pp in a row whose standard error is small.
FLOOR = 0.02 / 3.0
#: Acceptance: every assessed cell within max(TOLERANCE_PP, TOLERANCE_SE * combined SE).
TOLERANCE_PP = 0.02
TOLERANCE_SE = 3.0
#: Residual given to every cell of an assessed row that the simulation never visits.
UNVISITED = 10.0


class _BudgetSpent(Exception):
    """The optimiser used up its simulation budget."""


@dataclass(frozen=True)
class Parameter:
    """One fitted parameter: a dotted path into the scenario, bounds, and its search scale.

    ``tied`` names other settings that move with it, each as ``(path, factor)``: the setting is
    ``factor * value`` (e.g. the promise-keeping chance in hardship stays the same fraction of
    the one outside hardship as in the defaults).
    """

    path: str
    lower: float
    upper: float
    log: bool = False
    tied: tuple[tuple[str, float], ...] = ()

    def to_unit(self, x: float) -> float:
        if self.log:
            lo, hi = math.log(self.lower), math.log(self.upper)
            return (math.log(min(max(x, self.lower), self.upper)) - lo) / (hi - lo)
        return (min(max(x, self.lower), self.upper) - self.lower) / (self.upper - self.lower)

    def from_unit(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            lo, hi = math.log(self.lower), math.log(self.upper)
            return math.exp(lo + u * (hi - lo))
        return self.lower + u * (self.upper - self.lower)

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[-1]


#: Every parameter the calibration may fit, with its bounds. :func:`select_parameters` picks
#: those the data can identify.
LIBRARY: dict[str, Parameter] = {
    p.name if p.path.startswith("behaviour.") else p.path: p
    for p in (
        Parameter("behaviour.miss_intercept", -8.0, -0.5),  # current -> 1-30
        Parameter("behaviour.prepayment_monthly", 0.0, 0.3),  # current -> paid_off
        Parameter("behaviour.base_intensity", 0.005, 3.0, log=True),  # 1-30 -> current
        Parameter("behaviour.intensity_dpd_scale", 2.0, 400.0, log=True),  # later cures
        # cure vs partial; in hardship 0.4 of it, as the defaults 0.3 / 0.75
        Parameter(
            "behaviour.full_payment_share",
            0.02,
            1.0,
            tied=(("behaviour.full_payment_share_hardship", 0.4),),
        ),
        # cures after contact; in hardship 0.5625 of it, as the defaults 0.45 / 0.8
        Parameter(
            "behaviour.promise_keep",
            0.02,
            1.0,
            tied=(("behaviour.promise_keep_hardship", 0.5625),),
        ),
        Parameter("behaviour.full_payment_dpd_scale", 3.0, 1000.0, log=True),  # late cures
        Parameter("behaviour.delinquent_instalment_pay", 0.0, 0.99),  # 1-30 -> 1-30
        Parameter("behaviour.delinquent_instalment_pay_late", 0.0, 0.99),  # 31-60 -> 31-60
        Parameter("behaviour.delinquent_instalment_pay_slope", -2.0, 2.0),  # 61-90 -> 61-90
        Parameter("behaviour.partial_fraction_low", 0.02, 0.6),  # roll-backs
        Parameter("behaviour.partial_fraction_high", 0.6, 1.0),
        Parameter("behaviour.catch_up_share", 0.0, 0.95),  # late roll-backs to 1-30
        # one payment a cycle for partial payers: without it a late-stage catch-up (back to one
        # instalment behind, DPD small again) is followed within days by a full payment
        Parameter("behaviour.rest_after_partial", 0.0, 1.0),
        # hardship plans cure accounts at 31-90 DPD under the default ladder; without hardship
        # 0.178 of it, as the defaults 0.08 / 0.45
        Parameter(
            "restructuring.take_up",
            0.0,
            0.95,
            tied=(("restructuring.take_up_no_hardship", 0.08 / 0.45),),
        ),
        Parameter("behaviour.settlement_share", 0.0, 0.95),  # delinquent -> paid_off
        Parameter("behaviour.settlement_dpd_scale", 3.0, 1000.0, log=True),  # late settlement
        Parameter("recovery.agency.success", 0.02, 1.0),  # charged_off -> paid_off
        Parameter("recovery.agency.lag_days_mean", 10.0, 720.0, log=True),  # 91-120 -> paid_off
        Parameter("behaviour.intensity_willingness", 0.0, 3.0),  # selection into late stages
    )
}


def set_path(data: dict, path: str, value: float) -> None:
    """Set ``data[a][b]...`` for a dotted path ``a.b...``."""
    keys = path.split(".")
    node = data
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value


def get_path(data: dict, path: str) -> float | None:
    node = data
    for k in path.split("."):
        node = node[k]
    return None if node is None else float(node)


def with_values(base: Scenario, params: Sequence[Parameter], values: Sequence[float]) -> Scenario:
    """A validated scenario with the parameters set to ``values``."""
    data = base.model_dump()
    for p, v in zip(params, values, strict=True):
        set_path(data, p.path, v if isinstance(v, bool) else float(v))
        for path, factor in p.tied:
            set_path(data, path, float(factor * v))
    return Scenario.model_validate(data)


# --------------------------------------------------------------------------- the book
@dataclass(frozen=True)
class BookSpec:
    """The simulated book a calibration fits on (see :func:`calibration_book`)."""

    accounts: int = 25_000
    months: int = 4
    skip_months: int = 1
    revolving: bool = True
    charge_off_dpd: int | None = None
    #: initial share of the book in 1-30, 31-60, 61-90, 91-120: oversampled delinquency, so
    #: that the late rows are simulated precisely
    initial: tuple[float, float, float, float] = (0.07, 0.06, 0.06, 0.06)

    def to_dict(self) -> dict:
        return {
            "accounts": self.accounts,
            "months": self.months,
            "skip_months": self.skip_months,
            "revolving": self.revolving,
            "charge_off_dpd": self.charge_off_dpd,
            "initial_delinquency": dict(zip(_INITIAL_KEYS, self.initial, strict=True)),
        }


_INITIAL_KEYS = ("dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_91_120")
#: Term of every loan of a revolving (card-like) book: none matures within a calibration run.
REVOLVING_TERM = 480


def calibration_book(base: Scenario, spec: BookSpec) -> Scenario:
    """The base scenario as the book to fit on.

    ``accounts`` and ``months`` (plus the warm-up month) set size and horizon; the initial
    delinquency is ``spec.initial``. A ``revolving`` book (credit cards, the two real panels)
    gets 480-month terms, so that no loan matures in the simulated months and ``paid_off`` comes
    only from prepayment and settlement, as for cards, which do not amortise to zero.
    """
    data = base.model_dump()
    data["accounts"] = int(spec.accounts)
    data["days"] = 30 * int(spec.months + spec.skip_months)
    data["initial_delinquency"] = dict(zip(_INITIAL_KEYS, map(float, spec.initial), strict=True))
    if spec.charge_off_dpd is not None:
        data["charge_off_dpd"] = int(spec.charge_off_dpd)
    if spec.revolving:
        for purpose in data["purposes"].values():
            purpose["terms"] = [REVOLVING_TERM]
    if base.accounts != spec.accounts and base.staff.scale_with_accounts:
        factor = spec.accounts / base.accounts
        data["staff"]["call_attempts_per_day"] *= factor
        data["staff"]["visits_per_day"] *= factor
    return Scenario.model_validate(data)


def simulated_counts(scenario: Scenario, strategy, seed: int, skip_months: int = 1) -> np.ndarray:
    """Month-to-month transition counts of a simulated book (warm-up months skipped).

    Runs the engine's day loop directly (as :func:`sim.engine.simulate` does, without the
    daily tables and the summary a calibration does not need: a fifth of the time of a small
    run); falls back to :func:`~sim.engine.simulate` should the loop's internals change.
    """
    try:
        roll = _roll_counts(scenario, strategy, seed)
    except (AttributeError, TypeError):  # pragma: no cover - engine internals changed
        roll = simulate(scenario, strategy, seed, check=False).roll_counts
    return roll[skip_months:].sum(axis=0)


def _roll_counts(scenario: Scenario, strategy, seed: int) -> np.ndarray:
    """Month-end to month-end bucket counts, ``(months, 7, 7)``: the loop of ``simulate``."""
    from sim.compliance import DEFAULT_PROFILE
    from sim.engine import _Run
    from sim.portfolio import MONTH_DAYS, N_BUCKETS

    run = _Run(scenario, strategy, seed, DEFAULT_PROFILE, None)
    p = run.p
    snapshot = p.bucket(0)
    months = -(-scenario.days // MONTH_DAYS)
    roll = np.zeros((months, N_BUCKETS, N_BUCKETS), np.int64)
    for day in range(scenario.days):
        run.step(day)
        if day % MONTH_DAYS == MONTH_DAYS - 1 or day == scenario.days - 1:
            now = p.bucket(day)
            roll[day // MONTH_DAYS] = np.bincount(
                snapshot.astype(np.int64) * N_BUCKETS + now, minlength=N_BUCKETS**2
            ).reshape(N_BUCKETS, N_BUCKETS)
            snapshot = now
    return roll


# --------------------------------------------------------------------------- what to fit
def _p(e: TransitionEstimate, a: str, b: str) -> float:
    v = e.probabilities[STATE_INDEX[a], STATE_INDEX[b]]
    return float(v) if np.isfinite(v) else 0.0


def _assessed(e: TransitionEstimate, state: str, min_row_count: int) -> bool:
    return int(e.row_totals[STATE_INDEX[state]]) >= min_row_count


def select_parameters(
    empirical: TransitionEstimate, min_row_count: int = 200
) -> tuple[tuple[Parameter, ...], dict[str, float]]:
    """The parameters the data can identify, and the settings fixed because of the data.

    Always fitted: the miss intercept, the repayment intensity and its DPD scale, the full
    payment share, promise keeping, and instalment payments in arrears one and two or more
    instalments behind. With late rows (61-90 or 91-120) assessed: the stage trend of
    instalment payments, restructuring take-up, catch-up payments, the rest after a partial
    payment and the full-payment DPD decay. Fitted when the data show it: prepayment (moves
    current -> paid_off), settlement (delinquent -> paid_off) and, for moves charged_off ->
    paid_off, the agency's success chance and lag with ``recovery_settlement`` fixed at 1
    (every successful recovery settles the debt; success and lag set how many and how soon,
    including accounts charged off and settled within a month: 91-120 -> paid_off).
    """
    names = [
        "miss_intercept",
        "base_intensity",
        "intensity_dpd_scale",
        "full_payment_share",
        "promise_keep",
        "delinquent_instalment_pay",
        "delinquent_instalment_pay_late",
    ]
    if any(_assessed(empirical, s, min_row_count) for s in ("61-90", "91-120")):
        names += [
            "delinquent_instalment_pay_slope",
            "restructuring.take_up",
            "catch_up_share",
            "rest_after_partial",
        ]
    fixed: dict[str, float] = {}
    if _p(empirical, "current", "paid_off") > 0:
        names.append("prepayment_monthly")
    if any(_assessed(empirical, s, min_row_count) for s in ("61-90", "91-120")):
        names.append("full_payment_dpd_scale")
    delinquent = ("1-30", "31-60", "61-90", "91-120")
    if any(_p(empirical, s, "paid_off") > 0 for s in delinquent):
        names.append("settlement_share")
    if _assessed(empirical, "charged_off", min_row_count) and _p(
        empirical, "charged_off", "paid_off"
    ):
        names += ["recovery.agency.success", "recovery.agency.lag_days_mean"]
        fixed["behaviour.recovery_settlement"] = 1.0
    return tuple(LIBRARY[n] for n in names), fixed


def starting_values(empirical: TransitionEstimate, params: Sequence[Parameter]) -> dict[str, float]:
    """Moment-matching guesses for the start of the search (read off the empirical matrix).

    Rough on purpose: they put the search in the right region, the optimiser does the rest.
    """
    e = empirical
    stay1, roll1 = _p(e, "1-30", "1-30"), _p(e, "1-30", "31-60")
    stay2, roll2 = _p(e, "31-60", "31-60"), _p(e, "31-60", "61-90")
    cure1, paid1 = _p(e, "1-30", "current"), _p(e, "1-30", "paid_off")
    back1, back2 = _p(e, "61-90", "1-30"), _p(e, "61-90", "31-60")
    pay = stay1 / max(stay1 + roll1, 1e-9)  # instalments paid one behind
    pay2 = stay2 / max(stay2 + roll2, 1e-9)  # ... two behind
    catch_up = back1 / (back1 + back2) if back1 + back2 > 0 else 0.3  # roll-backs to 1-30
    # the rest: typical values of card books (the lab's calibrations of the two public panels
    # land around them), not read off the data
    guess = {
        "behaviour.miss_intercept": math.log(max(_p(e, "current", "1-30"), 1e-4)) + 0.3,
        "behaviour.prepayment_monthly": _p(e, "current", "paid_off"),
        # cures of 30 % a month go with about 0.4 a day, of 50 % with about 1.5 (the payment
        # chance is spread over the first days past due)
        "behaviour.base_intensity": 0.08 * math.exp(5.8 * cure1),
        "behaviour.intensity_dpd_scale": 40.0,
        "behaviour.full_payment_share": 0.7,
        "behaviour.promise_keep": 0.1,
        "behaviour.full_payment_dpd_scale": 40.0,
        "behaviour.delinquent_instalment_pay": min(max(0.95 * pay, 0.05), 0.95),
        "behaviour.delinquent_instalment_pay_late": min(max(pay2, 0.02), 0.95),
        "behaviour.delinquent_instalment_pay_slope": 0.0,
        "restructuring.take_up": 0.1,
        "behaviour.catch_up_share": min(max(0.9 * catch_up, 0.05), 0.9),
        "behaviour.rest_after_partial": 0.5,
        "behaviour.partial_fraction_low": 0.2,
        "behaviour.partial_fraction_high": 0.6,
        "behaviour.settlement_share": min(0.5 * paid1 / max(cure1 + paid1, 1e-9), 0.9),
        "behaviour.settlement_dpd_scale": 100.0,
        "recovery.agency.success": 0.4,
        "recovery.agency.lag_days_mean": 60.0,
        "behaviour.intensity_willingness": 0.5,
    }
    return {p.path: guess.get(p.path, 0.5 * (p.lower + p.upper)) for p in params}


# --------------------------------------------------------------------------- the objective
def residuals_for(
    empirical: TransitionEstimate,
    simulated: np.ndarray,
    min_row_count: int,
    rows: Sequence[str] | None = None,
) -> np.ndarray:
    """Standardised gaps of every cell in rows with at least ``min_row_count`` observations.

    ``(p_sim - p_emp) / sqrt(se_emp**2 + floor**2)`` with ``floor = min(FLOOR, max(0.002,
    0.15 p_emp))``: a rare move measured precisely (current -> 1-30 at 2 %) is held to a
    relative precision, not only to the 2 pp of the acceptance. The simulated standard error
    is left out on purpose: with it the search could widen its own tolerances by letting a
    row empty out in the simulation. A row the simulation never visits gives
    :data:`UNVISITED` in each cell. ``rows``: only these rows (default: all).
    """
    sim = transition_matrix(simulated)
    res = []
    for i in range(N):
        if empirical.row_totals[i] < min_row_count or (rows is not None and STATES[i] not in rows):
            continue
        pe = empirical.probabilities[i]
        ps = sim.probabilities[i]
        if not np.all(np.isfinite(ps)):
            res.extend([UNVISITED] * N)
            continue
        floor = np.minimum(FLOOR, np.maximum(0.002, 0.15 * pe))
        se = np.sqrt(empirical.standard_errors[i] ** 2 + floor**2)
        res.extend((ps - pe) / se)
    return np.asarray(res, dtype=float)


def penalised(r: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """The residuals the optimiser sees: between 3 (about the acceptance tolerance) and 6 a
    residual is stretched by up to ``1 + weight``, so the fit trades slack in cells well inside
    their tolerance for cells just outside it (a step towards a minimax fit); the stretch is
    capped so that far-off cells do not swamp the rest at the start of a search."""
    excess = np.clip(np.abs(r) / 3.0 - 1.0, 0.0, 1.0)
    return r * (1.0 + weight * excess)


@dataclass
class FitResult:
    """What a calibration produced."""

    scenario: Scenario
    parameters: dict[str, float]
    fixed: dict[str, float]
    start: dict[str, float]
    empirical: TransitionEstimate
    simulated: TransitionEstimate
    min_row_count: int
    evaluations: int
    seconds: float
    book: BookSpec
    seed: int
    history: list[float] = field(default_factory=list)

    def cells(self) -> list[dict]:
        """Per-cell comparison: probabilities, errors, standard errors, tolerance, verdict.

        ``se`` combines the empirical and the simulated standard error (root sum of squares);
        ``tolerance = max(2 pp, 3 se)``; ``assessed`` rows have at least ``min_row_count``
        observed moves.
        """
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
                tol = max(TOLERANCE_PP, TOLERANCE_SE * se)
                out.append(
                    {
                        "from": a,
                        "to": b,
                        "row_count": n,
                        "count": int(e.counts[i, j]),
                        "simulated_row_count": int(s.row_totals[i]),
                        "empirical": pe,
                        "simulated": ps,
                        "error": err,
                        "se_empirical": se_e,
                        "se_simulated": se_s,
                        "se": se,
                        "tolerance": tol,
                        "within": bool(np.isfinite(err) and abs(err) <= tol),
                        "assessed": n >= self.min_row_count,
                    }
                )
        return out

    def goodness_of_fit(self) -> dict[str, float]:
        """Summary figures over the assessed cells.

        ``chi_square`` is the sum of squared residuals of the objective (see the module
        docstring); ``degrees_of_freedom`` is the number of free assessed cells (each row's
        cells sum to 1) less the number of fitted parameters.
        """
        cells = [c for c in self.cells() if c["assessed"]]
        errs = np.array([c["error"] for c in cells], dtype=float)
        r = residuals_for(self.empirical, self.simulated.counts, self.min_row_count)
        rows = {c["from"] for c in cells}
        dof = len(cells) - len(rows) - len(self.parameters)
        worst = max(cells, key=lambda c: abs(c["error"]) / c["tolerance"], default=None)
        return {
            "assessed_cells": len(cells),
            "cells_within_tolerance": int(sum(c["within"] for c in cells)),
            "all_within_tolerance": bool(all(c["within"] for c in cells)),
            "max_abs_error": float(np.nanmax(np.abs(errs))) if errs.size else 0.0,
            "mean_abs_error": float(np.nanmean(np.abs(errs))) if errs.size else 0.0,
            "worst_cell": None
            if worst is None
            else (
                f"{worst['from']}->{worst['to']} "
                f"({worst['error']:+.4f} vs {worst['tolerance']:.4f})"
            ),
            "max_error_over_tolerance": 0.0
            if worst is None
            else float(abs(worst["error"]) / worst["tolerance"]),
            "chi_square": float(r @ r),
            "degrees_of_freedom": int(dof),
            "min_row_count": self.min_row_count,
            "tolerance": "max(0.02, 3 * sqrt(se_empirical**2 + se_simulated**2))",
        }

    def to_dict(self) -> dict:
        return {
            "parameters": self.parameters,
            "fixed": self.fixed,
            "start": self.start,
            "goodness_of_fit": self.goodness_of_fit(),
            "empirical": self.empirical.to_dict(),
            "simulated": self.simulated.to_dict(),
            "cells": self.cells(),
            "book": self.book.to_dict(),
            "seed": self.seed,
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "objective_history": self.history,
        }


class _Objective:
    """Residuals on the unit cube, with a simulation budget, a cache and the best point."""

    def __init__(
        self,
        base,
        params,
        empirical,
        strategy,
        seed,
        min_row_count,
        skip,
        budget,
        cb,
        prior,
        rows=None,
    ):
        self.prior = prior  # (centre, scale) on the unit cube, or None
        self.rows = rows  # fit only these rows (a warm-up stage), or None
        self.base, self.params, self.empirical = base, params, empirical
        self.strategy, self.seed, self.min_row_count, self.skip = (
            strategy,
            seed,
            min_row_count,
            skip,
        )
        self.budget, self.progress = budget, cb
        self.history: list[float] = []
        self.points: list[tuple[np.ndarray, np.ndarray]] = []
        self.cache: dict[bytes, np.ndarray] = {}
        self.counts: dict[bytes, np.ndarray] = {}
        self.best_u: np.ndarray | None = None
        self.best_cost = np.inf

    def values(self, u: np.ndarray) -> list[float]:
        return [p.from_unit(x) for p, x in zip(self.params, u, strict=True)]

    def __call__(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        key = u.tobytes()
        if key in self.cache:
            return self.cache[key]
        if len(self.history) >= self.budget:
            raise _BudgetSpent
        sc = with_values(self.base, self.params, self.values(u))
        counts = simulated_counts(sc, self.strategy, self.seed, self.skip)
        r = penalised(residuals_for(self.empirical, counts, self.min_row_count, self.rows))
        if self.prior is not None:
            centre, scale = self.prior
            r = np.concatenate([r, (u - centre) / scale])
        self.counts[key] = counts
        cost = float(r @ r)
        self.history.append(cost)
        self.points.append((u.copy(), r))
        self.cache[key] = r
        if cost < self.best_cost:
            self.best_u, self.best_cost = u.copy(), cost
        if self.progress is not None:
            self.progress(len(self.history), cost)
        return r


class _Jacobian:
    """Forward differences every ``refresh`` calls, Broyden rank-one updates in between.

    The updates use every simulation made since the last call (trial points the optimiser
    rejected carry secant information too), each against the point of the last call. A
    Jacobian carried over (``J``, e.g. from the coarse stage) is updated, not recomputed, at the
    first call.
    """

    def __init__(
        self, objective: _Objective, step: float, refresh: int, J: np.ndarray | None = None
    ):
        self.f, self.step, self.refresh = objective, step, refresh
        self.J = J
        self.carried = J is not None
        self.calls = 0
        self.seen = 0
        self.at: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        r0 = self.f(u)
        if self.carried and self.calls == 0:
            pass  # keep the carried Jacobian for the first step
        elif self.J is None or self.calls % self.refresh == 0:
            self.J = self._differences(u, r0)
        else:
            base_u, base_r = self.at
            for x, r in self.f.points[self.seen :]:
                self._secant(x - base_u, r - base_r)
            self._secant(u - base_u, r0 - base_r)
        self.calls += 1
        self.seen = len(self.f.points)
        self.at = (u.copy(), r0.copy())
        return self.J

    def _secant(self, dx: np.ndarray, dr: np.ndarray) -> None:
        norm = float(dx @ dx)
        if norm > 1e-12:
            self.J = self.J + np.outer(dr - self.J @ dx, dx) / norm

    def _differences(self, u: np.ndarray, r0: np.ndarray) -> np.ndarray:
        J = np.empty((r0.size, u.size))
        for k in range(u.size):
            h = self.step if u[k] + self.step <= 1.0 else -self.step
            x = u.copy()
            x[k] += h
            J[:, k] = (self.f(x) - r0) / h
        return J


#: The parameters of the warm-up stage and the rows they are fitted to: the large, precisely
#: measured rows, where a poor start costs most.
WARM_ROWS: tuple[str, ...] = ("current", "1-30")
WARM_PARAMETERS: tuple[str, ...] = (
    "behaviour.miss_intercept",
    "behaviour.prepayment_monthly",
    "behaviour.base_intensity",
    "behaviour.full_payment_share",
    "behaviour.delinquent_instalment_pay",
    "behaviour.settlement_share",
)


@dataclass
class _Warm:
    """The warm-up stage: the early-stage parameters fitted to the rows current and 1-30
    alone, the other parameters held at their starting values."""

    base: Scenario
    params: Sequence[Parameter]
    empirical: TransitionEstimate
    strategy: object
    seed: int
    min_row_count: int
    spec: BookSpec

    def run(self, u, budget, step, refresh, report, history) -> np.ndarray:
        """Returns the full unit-cube vector with the early-stage parameters updated."""
        free = [k for k, p in enumerate(self.params) if p.path in WARM_PARAMETERS]
        if not free:
            return u
        held = [k for k in range(len(self.params)) if k not in free]
        base = with_values(
            self.base,
            [self.params[k] for k in held],
            [self.params[k].from_unit(u[k]) for k in held],
        )
        objective = _Objective(
            base,
            [self.params[k] for k in free],
            self.empirical,
            self.strategy,
            self.seed,
            self.min_row_count,
            self.spec.skip_months,
            budget,
            report,
            None,
            WARM_ROWS,
        )
        _optimise(objective, u[free], step, refresh, None)
        history.extend(objective.history)
        out = u.copy()
        out[free] = objective.best_u
        return out


def _optimise(
    objective: _Objective, u0: np.ndarray, step: float, refresh: int, J: np.ndarray | None
) -> np.ndarray | None:
    """Trust-region least squares from ``u0`` (starting from Jacobian ``J`` if given),
    restarted from the best point with a fresh difference Jacobian while the budget lasts and
    a restart improves the objective by more than 1 % (the secant updates and the steps of
    the objective can stop it early). Returns the last Jacobian."""
    u, previous = u0, np.inf
    jac = _Jacobian(objective, step, refresh, J)
    try:
        while True:
            least_squares(
                objective,
                u,
                jac=jac,
                bounds=(0.0, 1.0),
                method="trf",
                x_scale=1.0,
                max_nfev=10 * max(objective.budget, 1),
            )
            if objective.best_cost > 0.99 * previous:
                return jac.J
            u, previous = objective.best_u, objective.best_cost
            jac = _Jacobian(objective, step, refresh)
    except _BudgetSpent:
        return jac.J


#: The cheap book of the first stage: noisier, a third of the cost of a simulation.
COARSE_BOOK = BookSpec(accounts=15_000, months=4, initial=(0.08, 0.08, 0.08, 0.08))


def calibrate(
    base: Scenario,
    empirical: TransitionEstimate,
    strategy,
    *,
    params: Sequence[Parameter] | None = None,
    fixed: dict[str, float] | None = None,
    book: BookSpec | None = None,
    coarse: BookSpec | None = None,
    seed: int = 1,
    min_row_count: int = 200,
    coarse_evaluations: int = 0,
    max_evaluations: int = 110,
    step: float = 0.05,
    refresh: int = 16,
    prior_scale: float | None = 0.3,
    warm_evaluations: int = 30,
    start: dict[str, float] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Fit behaviour parameters of ``base`` to an empirical transition matrix.

    Two stages: the search runs first on a small book (``coarse``, ``coarse_evaluations``
    simulations), then continues from its best point on the full book (``book``,
    ``max_evaluations`` simulations), whose simulated matrix is the one reported.

    Parameters
    ----------
    base : Scenario
        Segments, traits, channels and the parameters that are not fitted.
    empirical : TransitionEstimate
    strategy : StrategyProtocol or None
        The collections strategy the observed book was worked under (the default ladder if
        unknown; it is part of the world the parameters are fitted in).
    params : sequence of Parameter, optional
        Default: :func:`select_parameters` of the data.
    fixed : dict, optional
        Settings (dotted paths) fixed before fitting; default: those
        :func:`select_parameters` fixes.
    book : BookSpec, optional
        The simulated book (size, months, warm-up, revolving terms, charge-off DPD, initial
        delinquency); see :func:`calibration_book`.
    coarse : BookSpec or None
        The first stage's book; its revolving flag and charge-off DPD are taken from ``book``.
        ``None`` skips the first stage.
    seed : int
        One seed for every evaluation (common random numbers).
    min_row_count : int
        Rows with fewer observed moves are left out of the objective and of the verdict.
    coarse_evaluations, max_evaluations : int
        Budgets of simulations of the two stages (deterministic, unlike a time budget).
    step : float
        Finite-difference step on the unit cube of each parameter.
    refresh : int
        Recompute the Jacobian by differences every ``refresh`` optimiser iterations.
    prior_scale : float or None
        A weak pull towards the starting values: one more residual per parameter,
        ``(u - u_start) / prior_scale`` on the unit cube (a quarter of a parameter's range
        costs what a cell a third of its tolerance off costs). It steadies directions the data
        do not pin down (several parameters can trade off against each other); ``None``: off.
    start : dict, optional
        Starting values by path; default :func:`starting_values`.
    progress : callable, optional
        Called with (simulations so far, objective) after each simulation.

    Returns
    -------
    FitResult
    """
    t0 = time.perf_counter()
    book = book or BookSpec()
    if params is None:
        params, auto_fixed = select_parameters(empirical, min_row_count)
        fixed = auto_fixed if fixed is None else fixed
    params = tuple(params)
    fixed = dict(fixed or {})
    start_values = {**starting_values(empirical, params), **(start or {})}
    u0 = np.array([p.to_unit(start_values[p.path]) for p in params])
    u = u0
    history: list[float] = []
    stages = [(book, max_evaluations)]
    if coarse is not None and coarse_evaluations > 0:
        coarse = BookSpec(
            accounts=coarse.accounts,
            months=coarse.months,
            skip_months=coarse.skip_months,
            revolving=book.revolving,
            charge_off_dpd=book.charge_off_dpd,
            initial=coarse.initial,
        )
        stages.insert(0, (coarse, coarse_evaluations))

    def report(n: int, cost: float) -> None:
        if progress is not None:
            progress(len(history) + n, cost)

    J = None
    for stage, (spec, budget) in enumerate(stages):
        sim_base = calibration_book(base, spec)
        if fixed:
            sim_base = with_values(
                sim_base, [Parameter(k, -np.inf, np.inf) for k in fixed], list(fixed.values())
            )
        if stage == 0 and warm_evaluations > 0:
            warm = _Warm(sim_base, params, empirical, strategy, seed, min_row_count, spec)
            u = warm.run(u, warm_evaluations, step, refresh, report, history)
        if stage == 0:
            centre = u.copy()  # the prior's centre: the start, after the warm-up
        objective = _Objective(
            sim_base,
            params,
            empirical,
            strategy,
            seed,
            min_row_count,
            spec.skip_months,
            max(budget, 1),
            report,
            None if prior_scale is None else (centre, prior_scale),
        )
        J = _optimise(objective, u, step, refresh, J)
        history.extend(objective.history)
        u = objective.best_u
    best = objective.values(u)
    return FitResult(
        scenario=with_values(sim_base, params, best),
        parameters={p.path: float(v) for p, v in zip(params, best, strict=True)},
        fixed=fixed,
        start={k: float(v) for k, v in start_values.items()},
        empirical=empirical,
        simulated=transition_matrix(objective.counts[u.tobytes()]),
        min_row_count=min_row_count,
        evaluations=len(history),
        seconds=time.perf_counter() - t0,
        book=book,
        seed=seed,
        history=history,
    )
