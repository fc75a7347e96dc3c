"""How well a simulated transition matrix fits an empirical one: the residuals the search
minimises, the acceptance tolerance of every cell, the fresh-seed margin, the cell-by-cell
comparison and verdict, and :class:`FitResult`.

See :mod:`sim.calibration.fit` for the method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from sim.calibration import criterion
from sim.calibration.book import BookSpec
from sim.calibration.states import STATES
from sim.calibration.transitions import TransitionEstimate, transition_matrix
from sim.scenario import Scenario

N = len(STATES)
#: Residual floor: a residual of 3 is an error of 2 pp in a row whose standard error is small.
FLOOR = 0.02 / 3.0
#: Residual given to every cell of an assessed row that the simulation never visits.
UNVISITED = 10.0
#: Moves the lab's chain cannot make in a month: two or more buckets worse (one instalment
#: falls due a month; a write-off goes to charged_off). Left out of the objective.
UNREACHABLE = np.zeros((len(STATES), len(STATES)), dtype=bool)
for _i in range(4):  # current, 1-30, 31-60, 61-90
    UNREACHABLE[_i, _i + 2 : 5] = True
#: Fresh-seed margin (:func:`margin_residuals`): every assessed cell's error plus MARGIN_Z
#: standard deviations of the seed-to-seed noise within MARGIN_SHARE of its tolerance.
MARGIN_Z = 2.0
MARGIN_SHARE = 0.9
MARGIN_WEIGHT = 20.0
#: ... capped (far-off cells are the plain residuals' business)
MARGIN_CAP = 2.0


# --------------------------------------------------------------------------- the objective
def residuals_for(
    empirical: TransitionEstimate,
    simulated: np.ndarray,
    min_row_count: int,
    rows: Sequence[str] | None = None,
) -> np.ndarray:
    """Standardised gaps of every cell in rows with at least ``min_row_count`` observations.

    ``(p_sim - p_emp) / sqrt(se_emp**2 + floor**2)`` with ``floor = min(FLOOR, max(0.15
    p_emp, 1 / n))`` (``n`` the row's observed moves): a rare move measured precisely
    (current -> 1-30 at 2 %, current -> charged_off at 0.01 %) is held to a relative precision,
    as the log-odds criterion holds it; a cell the data never show, to about one move of its
    row. (The former absolute floor of 0.2 pp let the search ignore every cell below about
    1 %, where write-offs and re-ageing live.) In the cells the criterion assesses
    (:func:`sim.calibration.criterion.assessable`) the residual is the criterion's instead:
    the log-odds error over the observed (account-clustered) log-odds standard error, so that
    a residual of 3 is within the acceptance tolerance. Cells the chain cannot reach
    (:data:`UNREACHABLE`, e.g. current -> 31-60) get 0. The simulated standard error
    is left out on purpose: with it the search could widen its own tolerances by letting a
    row empty out in the simulation. A row the simulation never visits gives
    :data:`UNVISITED` in each cell. ``rows``: only these rows (default: all).
    """
    sim = transition_matrix(simulated)
    ok = criterion.assessable(empirical, min_row_count)
    se_logit = criterion.observed_logit_se(empirical)
    res = []
    for i in range(N):
        if empirical.row_totals[i] < min_row_count or (rows is not None and STATES[i] not in rows):
            continue
        pe = empirical.probabilities[i]
        ps = sim.probabilities[i]
        if not np.all(np.isfinite(ps)):
            res.extend([UNVISITED] * N)
            continue
        floor = np.minimum(FLOOR, np.maximum(0.15 * pe, 1.0 / empirical.row_totals[i]))
        se = np.sqrt(empirical.standard_errors[i] ** 2 + floor**2)
        r = (ps - pe) / se
        if ok[i].any():  # the criterion's scale where the data can falsify the cell
            gap = _empirical_logit(simulated[i]) - _empirical_logit(empirical.counts[i])
            r = np.where(ok[i], gap / se_logit[i], r)
        # a move the model cannot make is a constant, not a direction: left out (it would
        # swamp the search's progress tests); the criterion still judges it
        res.extend(np.where(UNREACHABLE[i], 0.0, r))
    return np.asarray(res, dtype=float)


def _empirical_logit(counts: np.ndarray) -> np.ndarray:
    """``logit((k + 0.5) / (n + 1))`` of a row's counts (the criterion's, finite at 0)."""
    k = counts.astype(float)
    n = float(k.sum())
    p = (k + 0.5) / (n + 1.0)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class Margin:
    """The fresh-seed margin of the objective (:func:`margin_residuals`).

    ``fit_rows``: simulated moves out of each state in the fit book at the start of the search,
    held fixed (so that the search cannot buy slack by emptying a row); ``check_scale``: the
    size of the book a fresh-seed check simulates relative to the fit book.
    """

    fit_rows: np.ndarray
    check_scale: float = 1.0
    z: float = MARGIN_Z
    share: float = MARGIN_SHARE
    weight: float = MARGIN_WEIGHT


def margin_residuals(
    empirical: TransitionEstimate,
    simulated: np.ndarray,
    min_row_count: int,
    margin: Margin,
    rows: Sequence[str] | None = None,
) -> np.ndarray:
    """One residual per assessed cell, zero while the cell keeps a margin for fresh seeds.

    The fit sees one simulated sample; a fresh seed of the check book differs from it by
    noise of standard deviation ``s = sqrt(deff p (1 - p) (1 / n_fit + 1 / n_check))`` (``deff``
    the observed design effect of the cell, ``p`` the
    larger of the empirical and simulated proportions, ``n`` the simulated moves of the row,
    fixed at the start of the search). The residual is ``weight * max(0, (|error| + z s) /
    tolerance - share)`` with the acceptance tolerance of the check book: a cell whose error
    would leave its tolerance on a fresh seed about once in 40 (``z`` = 2) costs the fit, one
    that stays clear does not.
    """
    sim = transition_matrix(simulated)
    ok = criterion.assessable(empirical, min_row_count)
    se_o = criterion.observed_logit_se(empirical)
    deff = criterion.design_effects(empirical)
    out = []
    for i in range(N):
        if empirical.row_totals[i] < min_row_count or (rows is not None and STATES[i] not in rows):
            continue
        ps = sim.probabilities[i]
        if not np.all(np.isfinite(ps)):
            out.extend([0.0] * N)  # residuals_for flags the row
            continue
        pe = empirical.probabilities[i]
        n_fit = max(float(margin.fit_rows[i]), 1.0)
        n_check = n_fit * margin.check_scale
        p = np.maximum(pe, ps)
        # accounts' moves are clustered: a fresh seed's sample differs by the design effect
        # more than a binomial one (the observed design effect stands in for the simulated)
        s = np.sqrt(deff[i] * p * (1.0 - p) * (1.0 / n_fit + 1.0 / n_check))
        # the acceptance tolerance of the check book (sim.calibration.criterion), carried to
        # the probability scale at the observed rate
        q = np.clip(pe, 1e-6, 1 - 1e-6)
        se_s = np.sqrt(deff[i] / (n_check * q * (1.0 - q)))
        tol = criterion.Z * np.hypot(se_o[i], se_s) * q * (1.0 - q)
        excess = (np.abs(ps - pe) + margin.z * s) / tol - margin.share
        keep = ok[i] & ~UNREACHABLE[i]
        out.extend(np.where(keep, margin.weight * np.clip(excess, 0.0, MARGIN_CAP), 0.0))
    return np.asarray(out, dtype=float)


def compare_cells(
    empirical: TransitionEstimate, simulated: TransitionEstimate, min_row_count: int
) -> list[dict]:
    """Per-cell comparison of an empirical and a simulated matrix: the acceptance criterion's
    judgement of every cell (:func:`sim.calibration.criterion.judge`)."""
    return criterion.judge(empirical, simulated, min_row_count)


def verdict(cells: Sequence[dict]) -> dict:
    """The criterion's verdict on judged cells (:func:`sim.calibration.criterion.verdict`)."""
    return criterion.verdict(cells)


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
    #: the fresh-seed check (:func:`holdout`): one verdict per seed
    holdout: list[dict] = field(default_factory=list)
    #: the search stages: book size, parameters, simulations and best objective of each
    stages: list[dict] = field(default_factory=list)
    #: the seed of the search (``seed`` is that of the reported simulation: the refining
    #: stage's, ``search_seed + REFINE_SEED_OFFSET``, when there is one)
    search_seed: int | None = None
    #: accounts of the fresh-seed check's book (the scenario's size, or more where the
    #: criterion needs it: :func:`sim.calibration.criterion.needed_accounts`)
    check_accounts: int | None = None
    #: fitted parameters the search left at a bound (``path (lower bound v)``)
    parameters_at_bounds: list[str] = field(default_factory=list)
    #: rows the data show with fewer moves than ``min_row_count``: left out of the objective
    #: and the verdict, never fitted (state -> moves)
    rows_not_fitted: dict[str, int] = field(default_factory=dict)

    def failing_cells(self) -> list[str]:
        """Cells outside the criterion on any fresh seed (``from->to``, seed order): for the
        scenario header."""
        out: list[str] = []
        for v in self.holdout:
            out += [c for c in v.get("failing_cells", []) if c not in out]
        return out

    def header_lines(self) -> list[str]:
        """The scenario header's lines on the fit (``# `` comments): the criterion, the fit
        book's and each fresh seed's verdict, the cells outside by name, the parameters at a
        bound. For ``postloan calibrate`` to write above the scenario."""
        g = self.goodness_of_fit()
        lines = [
            f"Acceptance: {criterion.DESCRIPTION}.",
            f"Fit book: {g['cells_within_tolerance']} of {g['assessed_cells']} assessable cells "
            f"within ({g['not_assessable_cells']} not assessable).",
        ]
        if not self.holdout:
            lines.append("Fresh-seed check: not run.")
        for v in self.holdout:
            lines.append(
                f"Fresh seed {v['seed']} ({v['accounts']:,} accounts): "
                f"{v['cells_within_tolerance']} of {v['assessed_cells']} within, "
                + ("passes" if v.get("passed") else "FAILS")
                + f"; worst {v['worst_cell']}."
            )
        failing = self.failing_cells()
        lines.append(
            "Cells outside on a fresh seed: " + (", ".join(failing) if failing else "none") + "."
        )
        if self.parameters_at_bounds:
            lines.append("Parameters at a bound: " + ", ".join(self.parameters_at_bounds) + ".")
        if self.rows_not_fitted:
            lines.append(
                f"Rows never fitted (< {self.min_row_count} moves): "
                + ", ".join(f"{s} ({n:,} moves)" for s, n in self.rows_not_fitted.items())
                + "."
            )
        return [f"# {line}" for line in lines]

    def cells(self) -> list[dict]:
        """Per-cell comparison: probabilities, errors, standard errors, tolerance, verdict.

        Judged by the acceptance criterion (:mod:`sim.calibration.criterion`): log-odds
        errors, account-clustered standard errors, ``assessed`` only where the data can
        falsify the cell.
        """
        return compare_cells(self.empirical, self.simulated, self.min_row_count)

    def goodness_of_fit(self) -> dict[str, float]:
        """Summary figures over the assessed cells.

        ``chi_square`` is the sum of squared residuals of the objective (see the module
        docstring); ``degrees_of_freedom`` is the number of free assessed cells (each row's
        cells sum to 1) less the number of fitted parameters.
        """
        all_cells = self.cells()
        cells = [c for c in all_cells if c["assessed"]]
        errs = np.array([c["error"] for c in cells], dtype=float)
        r = residuals_for(self.empirical, self.simulated.counts, self.min_row_count)
        rows = {c["from"] for c in cells}
        dof = len(cells) - len(rows) - len(self.parameters)
        v = verdict(all_cells)
        return {
            "assessed_cells": v["assessed_cells"],
            "cells_within_tolerance": v["cells_within_tolerance"],
            "all_within_tolerance": v["all_within_tolerance"],
            "max_abs_error": float(np.nanmax(np.abs(errs))) if errs.size else 0.0,
            "mean_abs_error": float(np.nanmean(np.abs(errs))) if errs.size else 0.0,
            "worst_cell": v["worst_cell"],
            "max_error_over_tolerance": v["max_error_over_tolerance"],
            "not_assessable_cells": v["not_assessable_cells"],
            "passed": v["passed"],
            "failing_cells": v["failing_cells"],
            "chi_square": float(r @ r),
            "degrees_of_freedom": int(dof),
            "min_row_count": self.min_row_count,
            "criterion": criterion.DESCRIPTION,
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
            "search_seed": self.search_seed,
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "stages": self.stages,
            "holdout": self.holdout,
            "holdout_passed": holdout_passed(self.holdout),
            "holdout_failing_cells": self.failing_cells(),
            "check_accounts": self.check_accounts,
            "parameters_at_bounds": self.parameters_at_bounds,
            "rows_not_fitted": self.rows_not_fitted,
            "criterion": criterion.DESCRIPTION,
            "objective_history": self.history,
        }


def holdout_passed(verdicts: Sequence[dict]) -> bool | None:
    """Every fresh seed passes the criterion (:func:`sim.calibration.criterion.passes`; None:
    no check was run)."""
    return criterion.passes(verdicts)
