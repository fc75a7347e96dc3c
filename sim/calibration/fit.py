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
from sim.day_loop import RollCounts
from sim.engine import run_days
from sim.scenario import Scenario

N = len(STATES)
#: Residual floor: a residual of 3 is an error of 2 pp in a row whose standard error is small.
FLOOR = 0.02 / 3.0
#: Acceptance: every assessed cell within max(TOLERANCE_PP, TOLERANCE_SE * combined SE).
TOLERANCE_PP = 0.02
TOLERANCE_SE = 3.0
#: Residual given to every cell of an assessed row that the simulation never visits.
UNVISITED = 10.0
#: Stop a trust-region run (and restart it with a fresh Jacobian) once its steps are below
#: XTOL (relative) or improve the cost by less than FTOL: the objective is a step function
#: (accounts flip at thresholds), so smaller steps only spend simulations on rejections.
XTOL = 1e-3
FTOL = 1e-4
#: Promise keeping held fixed by :func:`select_parameters` (DESIGN.md: 50-60 % of promises
#: to pay are kept); the panels identify only its product with the promise rate.
PROMISE_KEEP = 0.55
#: A warm-up stage stops once its cost is at most this per residual.
WARM_TARGET = 0.01
#: Largest first step of a trust-region run on the unit cube (its first trust radius).
FIRST_STEP = 0.25
#: Restart with a fresh difference Jacobian after this many trust-region simulations without
#: a 1 % improvement of the best point.
STALL = 8
#: Fresh-seed margin (:func:`margin_residuals`): every assessed cell's error plus MARGIN_Z
#: standard deviations of the seed-to-seed noise within MARGIN_SHARE of its tolerance.
MARGIN_Z = 2.0
MARGIN_SHARE = 0.9
MARGIN_WEIGHT = 20.0
#: ... capped (far-off cells are the plain residuals' business)
MARGIN_CAP = 2.0


class _BudgetSpent(Exception):
    """The optimiser used up its simulation budget."""


class _Stalled(Exception):
    """The trust-region steps stopped improving the best point (a stale Jacobian)."""


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
        # kept promises; in hardship 0.5625 of it, as the defaults 0.45 / 0.8. A status panel
        # shows the cures promises bring, not the promises: only the product with the promise
        # rate below is identified, so this one is held to the design's 50-60 % kept
        Parameter(
            "behaviour.promise_keep",
            0.5,
            0.6,
            tied=(("behaviour.promise_keep_hardship", 0.5625),),
        ),
        # conversations that end in a promise (calls; visits at 0.55 / 0.45 of it, as the
        # channel defaults): with promise_keep, the cures that contacts bring
        Parameter(
            "channels.call.promise_rate",
            0.001,
            0.6,
            log=True,
            tied=(("channels.visit.promise_rate", 0.55 / 0.45),),
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
    #: that the later rows are simulated precisely (half the book; 31-60 the most, since its
    #: accounts are the ones that are still in 31-60 to 91-120 after the warm-up month)
    initial: tuple[float, float, float, float] = (0.15, 0.20, 0.10, 0.05)

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

    Runs the day loop (:func:`sim.engine.run_days`) with a :class:`~sim.day_loop.RollCounts`
    observer, without the daily tables and the summary a calibration does not need (a fifth of
    the time of a small run), on a copy of the book drawn once (:func:`_population`).
    """
    counts = RollCounts(skip_months)
    run_days(scenario, strategy, seed, observers=[counts], portfolio=_population(scenario, seed))
    return counts.counts


#: Settings the drawn book does not depend on: the fitted behaviour (but for the settings
#: :func:`sim.population.generate` reads), channels, strategy-side and recovery settings.
_BOOK_FREE = ("channels", "restructuring", "recovery", "macro", "staff")
_BOOK_BEHAVIOUR = ("miss_willingness", "miss_dti", "hardship_spell_days", "late_fee")
_BOOKS: dict[tuple[str, int], object] = {}


def _population(scenario: Scenario, seed: int):
    """A fresh copy of the book ``generate(scenario, seed)`` draws, drawn once per book.

    A calibration simulates the same book with other behaviour a hundred times; the draw is a
    tenth of a simulation. The book depends on the scenario's segments, traits, loans and
    initial delinquency and on four behaviour settings (:data:`_BOOK_BEHAVIOUR`), not on what
    is fitted: ``miss_intercept`` shifts every account's risk by one factor, which leaves the
    weighted choice of the initially delinquent accounts unchanged (the tests check that the
    counts equal those of a book drawn anew).
    """
    from sim.population import generate

    data = scenario.model_dump(exclude=set(_BOOK_FREE) | {"behaviour", "name", "description"})
    data["behaviour"] = {k: getattr(scenario.behaviour, k) for k in _BOOK_BEHAVIOUR}
    key = (repr(data), int(seed))
    book = _BOOKS.get(key)
    if book is None:
        if len(_BOOKS) >= 4:
            _BOOKS.pop(next(iter(_BOOKS)))
        book = _BOOKS[key] = generate(scenario, seed)
    return book.packed()


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
    payment, the upper partial-payment fraction and the full-payment DPD decay; with 31-60 the
    last row assessed, the rest after a partial payment and the upper partial fraction.
    Promise keeping is fixed at :data:`PROMISE_KEEP` (only its product with the fitted promise
    rate shows in a status panel). Fitted when the data show it: prepayment (moves
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
        "channels.call.promise_rate",
        "delinquent_instalment_pay",
        "delinquent_instalment_pay_late",
    ]
    if any(_assessed(empirical, s, min_row_count) for s in ("61-90", "91-120")):
        names += [
            "delinquent_instalment_pay_slope",
            "restructuring.take_up",
            "catch_up_share",
            "rest_after_partial",
            "partial_fraction_high",
        ]
    elif _assessed(empirical, "31-60", min_row_count):
        # partial payments that clear one instalment or all but one: 31-60 -> 1-30
        names += ["rest_after_partial", "partial_fraction_high"]
    # promises kept: the panels show only the cures kept promises bring, which the promise
    # rate (fitted) sets as well; held in the middle of the design's 50-60 % (with its tie)
    fixed: dict[str, float] = {
        "behaviour.promise_keep": PROMISE_KEEP,
        "behaviour.promise_keep_hardship": PROMISE_KEEP * 0.5625,
    }
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
    # roll-backs to 1-30 among the roll-backs from 61-90 and from 91-120
    ratios = [
        a / (a + b)
        for a, b in (
            (back1, back2),
            (_p(e, "91-120", "1-30"), _p(e, "91-120", "31-60") + _p(e, "91-120", "61-90")),
        )
        if a + b > 0
    ]
    catch_up = float(np.mean(ratios)) if ratios else 0.3
    # the stage trend of instalments paid in arrears: paid three behind against two behind
    stay3, roll3 = _p(e, "61-90", "61-90"), _p(e, "61-90", "91-120")
    pay3 = stay3 / max(stay3 + roll3, 1e-9)
    slope = math.log(max(pay3, 0.01) / max(pay2, 0.01)) if stay3 + roll3 > 0 else 0.0
    # the rest: typical values of card books (the lab's calibrations of the two public panels
    # land around them), not read off the data
    guess = {
        "behaviour.miss_intercept": math.log(max(_p(e, "current", "1-30"), 1e-4)) + 0.3,
        "behaviour.prepayment_monthly": _p(e, "current", "paid_off"),
        # cures of 30 % a month go with about 0.4 a day, of 50 % with about 1.5 (the payment
        # chance is spread over the first days past due)
        "behaviour.base_intensity": 0.08 * math.exp(5.8 * cure1),
        "behaviour.intensity_dpd_scale": 25.0,
        "behaviour.full_payment_share": 0.7,
        "behaviour.promise_keep": 0.55,
        # few cures after contact in both real books (see docs/calibration.md)
        "channels.call.promise_rate": 0.05,
        "behaviour.full_payment_dpd_scale": 30.0,
        "behaviour.delinquent_instalment_pay": min(max(0.95 * pay, 0.05), 0.95),
        "behaviour.delinquent_instalment_pay_late": min(max(pay2, 0.02), 0.95),
        "behaviour.delinquent_instalment_pay_slope": min(max(slope, -1.5), 1.5),
        "restructuring.take_up": 0.1,
        "behaviour.catch_up_share": min(max(0.9 * catch_up, 0.05), 0.9),
        "behaviour.rest_after_partial": 0.5,
        "behaviour.partial_fraction_low": 0.2,
        "behaviour.partial_fraction_high": 0.75,
        "behaviour.settlement_share": min(0.5 * paid1 / max(cure1 + paid1, 1e-9), 0.9),
        "behaviour.settlement_dpd_scale": 100.0,
        "recovery.agency.success": 0.4,
        "recovery.agency.lag_days_mean": 20.0,
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


def tolerance(se_empirical, se_simulated):
    """The acceptance tolerance of a cell: ``max(2 pp, 3 SE)`` with ``SE = sqrt(se_empirical**2
    + se_simulated**2)``, the standard error of the difference of two independent proportions."""
    return np.maximum(TOLERANCE_PP, TOLERANCE_SE * np.hypot(se_empirical, se_simulated))


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
    noise of standard deviation ``s = sqrt(p (1 - p) (1 / n_fit + 1 / n_check))`` (``p`` the
    larger of the empirical and simulated proportions, ``n`` the simulated moves of the row,
    fixed at the start of the search). The residual is ``weight * max(0, (|error| + z s) /
    tolerance - share)`` with the acceptance tolerance of the check book: a cell whose error
    would leave its tolerance on a fresh seed about once in 40 (``z`` = 2) costs the fit, one
    that stays clear does not.
    """
    sim = transition_matrix(simulated)
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
        s = np.sqrt(p * (1.0 - p) * (1.0 / n_fit + 1.0 / n_check))
        tol = tolerance(empirical.standard_errors[i], np.sqrt(ps * (1.0 - ps) / n_check))
        excess = (np.abs(ps - pe) + margin.z * s) / tol - margin.share
        out.extend(margin.weight * np.clip(excess, 0.0, MARGIN_CAP))
    return np.asarray(out, dtype=float)


def compare_cells(
    empirical: TransitionEstimate, simulated: TransitionEstimate, min_row_count: int
) -> list[dict]:
    """Per-cell comparison of an empirical and a simulated matrix (see :meth:`FitResult.cells`)."""
    out = []
    e, s = empirical, simulated
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
                    "assessed": n >= min_row_count,
                }
            )
    return out


def verdict(cells: Sequence[dict]) -> dict:
    """Assessed cells, cells within tolerance and the worst cell as a multiple of its tolerance."""
    assessed = [c for c in cells if c["assessed"]]

    def ratio(c):
        return abs(c["error"]) / c["tolerance"] if np.isfinite(c["error"]) else np.inf

    worst = max(assessed, key=ratio, default=None)
    return {
        "assessed_cells": len(assessed),
        "cells_within_tolerance": int(sum(c["within"] for c in assessed)),
        "all_within_tolerance": bool(all(c["within"] for c in assessed)),
        "max_error_over_tolerance": 0.0 if worst is None else float(ratio(worst)),
        "worst_cell": None
        if worst is None
        else (
            f"{worst['from']}->{worst['to']} ({worst['error']:+.4f} vs {worst['tolerance']:.4f})"
        ),
    }


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

    def cells(self) -> list[dict]:
        """Per-cell comparison: probabilities, errors, standard errors, tolerance, verdict.

        ``se`` combines the empirical and the simulated standard error (root sum of squares);
        ``tolerance = max(2 pp, 3 se)``; ``assessed`` rows have at least ``min_row_count``
        observed moves.
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
            "search_seed": self.search_seed,
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "stages": self.stages,
            "holdout": self.holdout,
            "holdout_passed": holdout_passed(self.holdout),
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
        self.in_differences = False  # set by _Jacobian while it differences
        self.stale = 0  # trust-region simulations since the best point last improved by 1 %
        self.stall = None  # raise _Stalled after this many (None: never)
        self.target = None  # stop once the cost is at most this (None: never)

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
            raise _Stalled
        if self.target is not None and cost <= self.target:
            raise _BudgetSpent  # as close as the simulation noise lets a fit get
        return r


class _Jacobian:
    """Forward differences every ``refresh`` calls, Broyden rank-one updates in between.

    The updates use every simulation made since the last call (trial points the optimiser
    rejected carry secant information too), each against the point of the last call. A
    Jacobian carried over (``J``, e.g. from the coarse stage) is updated, not recomputed, at the
    first call.
    """

    def __init__(
        self,
        objective: _Objective,
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
class _Warm:
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
            self.rows,
            self.check_scale,
        )
        # a warm-up stage stops once its cells are within a tenth of a standard error on
        # average: closer is fitting the simulation's noise
        objective.target = WARM_TARGET * len(objective(u[free]))
        self.J = _optimise(objective, u[free], step, refresh, None)
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


def _trust_region(objective: _Objective, jac: _Jacobian, u: np.ndarray) -> None:
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


def _optimise(
    objective: _Objective,
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
    jac = _Jacobian(objective, step, refresh, J, columns)
    objective.stall = STALL
    try:
        while True:
            try:
                _trust_region(objective, jac, u)
            except _Stalled:
                pass
            left = objective.budget - len(objective.history)
            if objective.best_cost > 0.99 * previous or left < u0.size + 4:
                # no better for a fresh Jacobian, or none affordable: spend what is left on
                # the secant updates from the best point
                objective.stall = None
                if left > 0 and objective.best_cost <= 0.99 * previous:
                    jac = _Jacobian(objective, step, refresh, jac.J)
                    _trust_region(objective, jac, objective.best_u)
                return jac.J
            u, previous = objective.best_u, objective.best_cost
            objective.stale = 0
            jac = _Jacobian(objective, step, refresh)
    except _BudgetSpent:
        return jac.J


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
    """Simulate a calibrated scenario again on fresh seeds and judge every assessed cell.

    ``scenario`` is simulated as the calibration book ``book`` (its size: e.g. the written
    scenario's accounts), once per seed; a seed draws other accounts and other luck, so the
    verdict says whether the fit holds beyond the one sample it was fitted on. Each verdict:
    ``seed``, ``accounts``, the figures of :func:`verdict` and the seconds it took.
    """
    sc = calibration_book(scenario, book)
    out = []
    for seed in seeds:
        t0 = time.perf_counter()
        sim = transition_matrix(simulated_counts(sc, strategy, int(seed), book.skip_months))
        v = verdict(compare_cells(empirical, sim, min_row_count))
        out.append(
            {"seed": int(seed), "accounts": int(book.accounts), **v}
            | {"seconds": time.perf_counter() - t0}
        )
    return out


def holdout_passed(verdicts: Sequence[dict]) -> bool | None:
    """Every assessed cell within tolerance on every fresh seed (None: no check was run)."""
    return None if not verdicts else all(v["all_within_tolerance"] for v in verdicts)


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
        Default: :func:`select_parameters` of the data.
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
    if params is None:
        params, auto_fixed = select_parameters(empirical, min_row_count)
        fixed = auto_fixed if fixed is None else fixed
    params = tuple(params)
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
                warm = _Warm(
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
        objective = _Objective(
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
        J = _optimise(objective, u, step, refresh, J, columns)
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
    check_book = BookSpec(
        accounts=check_accounts,
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
        simulated=transition_matrix(objective.counts[u.tobytes()]),
        min_row_count=min_row_count,
        evaluations=len(history),
        seconds=time.perf_counter() - t0,
        book=spec,
        seed=objective.seed,
        history=history,
        holdout=verdicts,
        stages=records,
        search_seed=seed,
    )
