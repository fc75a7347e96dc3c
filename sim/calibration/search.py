"""The search of a calibration: a trust-region least-squares fit on the unit cube of the
parameters, with a forward-difference Jacobian, Broyden updates, restarts when the steps stall,
a simulation budget, and the warm-up stages that bring the start near the data.

See :mod:`sim.calibration.fit` for the method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from sim.calibration.book import BookSpec, simulated_counts
from sim.calibration.goodness import Margin, margin_residuals, penalised, residuals_for
from sim.calibration.parameters import Parameter, with_values
from sim.calibration.states import STATE_INDEX, STATES
from sim.calibration.transitions import TransitionEstimate
from sim.scenario import Scenario

#: Stop a trust-region run (and restart it with a fresh Jacobian) once its steps are below
#: XTOL (relative) or improve the cost by less than FTOL: the objective is a step function
#: (accounts flip at thresholds), so smaller steps only spend simulations on rejections.
XTOL = 1e-3
FTOL = 1e-4
#: A warm-up stage stops once its cost is at most this per residual.
WARM_TARGET = 0.01
#: Largest first step of a trust-region run on the unit cube (its first trust radius).
FIRST_STEP = 0.25
#: Restart with a fresh difference Jacobian after this many trust-region simulations without
#: a 1 % improvement of the best point.
STALL = 8


class BudgetSpent(Exception):
    """The optimiser used up its simulation budget."""


class Stalled(Exception):
    """The trust-region steps stopped improving the best point (a stale Jacobian)."""


class Objective:
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
        check_scale=None,
    ):
        self.prior = prior  # (centre, scale) on the unit cube, or None
        self.rows = rows  # fit only these rows (a warm-up stage), or None
        # fresh-seed margin: off (None), or the check book's size over the fit book's; its
        # reference row counts are those of the first simulation
        self.check_scale = check_scale
        self.margin: Margin | None = None
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
        self.in_differences = False  # set by Jacobian while it differences
        self.stale = 0  # trust-region simulations since the best point last improved by 1 %
        self.stall = None  # raise Stalled after this many (None: never)
        self.target = None  # stop once the cost is at most this (None: never)

    def values(self, u: np.ndarray) -> list[float]:
        return [p.from_unit(x) for p, x in zip(self.params, u, strict=True)]

    def __call__(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        key = u.tobytes()
        if key in self.cache:
            return self.cache[key]
        if len(self.history) >= self.budget:
            raise BudgetSpent
        sc = with_values(self.base, self.params, self.values(u))
        counts = simulated_counts(sc, self.strategy, self.seed, self.skip)
        r = penalised(residuals_for(self.empirical, counts, self.min_row_count, self.rows))
        if self.check_scale is not None:
            if self.margin is None:
                self.margin = Margin(counts.sum(axis=1).astype(float), float(self.check_scale))
            m = margin_residuals(self.empirical, counts, self.min_row_count, self.margin, self.rows)
            r = np.concatenate([r, m])
        if self.prior is not None:
            centre, scale = self.prior
            r = np.concatenate([r, (u - centre) / scale])
        self.counts[key] = counts
        cost = float(r @ r)
        self.history.append(cost)
        self.points.append((u.copy(), r))
        self.cache[key] = r
        if not self.in_differences:
            self.stale = 0 if cost < 0.99 * self.best_cost else self.stale + 1
        if cost < self.best_cost:
            self.best_u, self.best_cost = u.copy(), cost
        if self.progress is not None:
            self.progress(len(self.history), cost)
        if self.stall is not None and self.stale >= self.stall:
            raise Stalled
        if self.target is not None and cost <= self.target:
            raise BudgetSpent  # as close as the simulation noise lets a fit get
        return r


class Jacobian:
    """Forward differences every ``refresh`` calls, Broyden rank-one updates in between.

    The updates use every simulation made since the last call (trial points the optimiser
    rejected carry secant information too), each against the point of the last call. A
    Jacobian carried over (``J``, e.g. from the coarse stage) is updated, not recomputed, at the
    first call.
    """

    def __init__(
        self,
        objective: Objective,
        step: float,
        refresh: int,
        J: np.ndarray | None = None,
        columns: Sequence[int] = (),
    ):
        self.f, self.step, self.refresh = objective, step, refresh
        self.J = J
        self.carried = J is not None
        self.columns = tuple(columns)  # of a carried J: differenced at the first call
        self.calls = 0
        self.seen = 0
        self.at: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        r0 = self.f(u)
        if self.carried and self.calls == 0:
            if self.columns:  # keep the carried Jacobian but for these columns
                self.J = self.J.copy()
                self.J[:, self.columns] = self._differences(u, r0, self.columns)
        elif self.J is None or self.calls % self.refresh == 0:
            self.J = self._differences(u, r0, range(u.size))
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

    def _differences(self, u: np.ndarray, r0: np.ndarray, columns) -> np.ndarray:
        columns = list(columns)
        J = np.empty((r0.size, len(columns)))
        self.f.in_differences = True
        try:
            for c, k in enumerate(columns):
                h = self.step if u[k] + self.step <= 1.0 else -self.step
                x = u.copy()
                x[k] += h
                J[:, c] = (self.f(x) - r0) / h
        finally:
            self.f.in_differences = False
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
class WarmStage:
    """A warm-up stage: some parameters (``paths``; ``late``: all but those) fitted to some
    rows alone, the other parameters held where they are. The first stage fits the early-stage
    parameters to the rows current and 1-30, the second the late-stage ones to the later rows,
    so that the main search starts near the data (from the starting guesses it would spend
    most of its budget getting there)."""

    base: Scenario
    params: Sequence[Parameter]
    empirical: TransitionEstimate
    strategy: object
    seed: int
    min_row_count: int
    spec: BookSpec
    check_scale: float | None = None
    paths: tuple[str, ...] = WARM_PARAMETERS
    rows: tuple[str, ...] | None = WARM_ROWS
    late: bool = False

    def run(self, u, budget, step, refresh, report, history) -> np.ndarray:
        """Returns the full unit-cube vector with the stage's parameters updated; the last
        Jacobian (of the stage's parameters) is left in ``self.J``, its columns in
        ``self.free``."""
        self.J, self.free, self.record = None, [], None
        free = [k for k, p in enumerate(self.params) if (p.path in self.paths) != self.late]
        rows = STATES if self.rows is None else self.rows
        if (
            not free
            or budget <= 0
            or not any(
                self.empirical.row_totals[STATE_INDEX[s]] >= self.min_row_count for s in rows
            )
        ):
            return u
        held = [k for k in range(len(self.params)) if k not in free]
        base = with_values(
            self.base,
            [self.params[k] for k in held],
            [self.params[k].from_unit(u[k]) for k in held],
        )
        objective = Objective(
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
            self.rows,
            self.check_scale,
        )
        # a warm-up stage stops once its cells are within a tenth of a standard error on
        # average: closer is fitting the simulation's noise
        objective.target = WARM_TARGET * len(objective(u[free]))
        self.J = optimise(objective, u[free], step, refresh, None)
        self.free = free
        history.extend(objective.history)
        self.record = {
            "stage": "warm, late parameters" if self.late else "warm, early parameters",
            "accounts": self.spec.accounts,
            "parameters": len(free),
            "simulations": len(objective.history),
            "best": objective.best_cost,
        }
        out = u.copy()
        out[free] = objective.best_u
        return out


def trust_region(objective: Objective, jac: Jacobian, u: np.ndarray) -> None:
    """One run of scipy's trust-region reflective least squares from ``u``.

    It runs in coordinates centred on ``u`` (``y = u - u_start``, so ``y = 0`` at the start),
    because scipy's first trust radius is the norm of the starting point: centred, the first
    step is at most :data:`FIRST_STEP` on the unit cube instead of the whole cube (a first
    step across the cube wastes simulations on rejections).
    """
    u = np.asarray(u, dtype=float)
    least_squares(
        lambda y: objective(u + y),
        np.zeros_like(u),
        jac=lambda y: jac(u + y),
        bounds=(-u, 1.0 - u),
        method="trf",
        x_scale=FIRST_STEP,
        max_nfev=10 * max(objective.budget, 1),
        xtol=XTOL,
        ftol=FTOL,
    )


def optimise(
    objective: Objective,
    u0: np.ndarray,
    step: float,
    refresh: int,
    J: np.ndarray | None,
    columns: Sequence[int] = (),
) -> np.ndarray | None:
    """Trust-region least squares from ``u0`` (starting from Jacobian ``J`` if given, with
    ``columns`` of it differenced afresh), restarted from the best point with a fresh
    difference Jacobian when the steps stall (:data:`STALL` simulations without a 1 %
    improvement: the secant updates have gone stale) or the run converges, while the budget
    pays for a Jacobian and a few steps. Returns the last Jacobian."""
    u, previous = u0, np.inf
    jac = Jacobian(objective, step, refresh, J, columns)
    objective.stall = STALL
    try:
        while True:
            try:
                trust_region(objective, jac, u)
            except Stalled:
                pass
            left = objective.budget - len(objective.history)
            if objective.best_cost > 0.99 * previous or left < u0.size + 4:
                # no better for a fresh Jacobian, or none affordable: spend what is left on
                # the secant updates from the best point
                objective.stall = None
                if left > 0 and objective.best_cost <= 0.99 * previous:
                    jac = Jacobian(objective, step, refresh, jac.J)
                    trust_region(objective, jac, objective.best_u)
                return jac.J
            u, previous = objective.best_u, objective.best_cost
            objective.stale = 0
            jac = Jacobian(objective, step, refresh)
    except BudgetSpent:
        return jac.J
