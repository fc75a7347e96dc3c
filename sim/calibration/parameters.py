"""The behaviour parameters a calibration may fit: their bounds and scales, how they are set in
a scenario (dotted paths), which of them a panel identifies, and where the search starts.

See :mod:`sim.calibration.fit` for the method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim.calibration import criterion
from sim.calibration.states import STATE_INDEX
from sim.calibration.transitions import TransitionEstimate
from sim.scenario import Scenario

#: Promise keeping held fixed by :func:`select_parameters` (DESIGN.md: 50-60 % of promises
#: to pay are kept); the panels identify only its product with the promise rate.
PROMISE_KEEP = 0.55


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
        # payment arrangements that re-age late accounts: 31-60.. -> current
        Parameter("behaviour.reage_share", 0.0, 0.95),
        # current accounts written off at once (bankruptcy): current -> charged_off
        Parameter("behaviour.write_off_monthly", 1e-6, 0.05, log=True),
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
    # the rare moves, only where the data can falsify them (assessable cells): re-ageing of
    # accounts two or more behind, write-offs of current accounts
    ok = criterion.assessable(empirical, min_row_count)
    if any(ok[STATE_INDEX[s], STATE_INDEX["current"]] for s in ("31-60", "61-90", "91-120")):
        names.append("reage_share")
    if ok[STATE_INDEX["current"], STATE_INDEX["charged_off"]]:
        names.append("write_off_monthly")
    return tuple(LIBRARY[n] for n in names), fixed


#: The cells that identify a parameter: fitting it needs at least one of them assessable
#: (:func:`sim.calibration.criterion.assessable`), else the data cannot place it.
IDENTIFIED_BY: dict[str, tuple[tuple[str, str], ...]] = {
    "behaviour.miss_intercept": (("current", "1-30"),),
    "behaviour.prepayment_monthly": (("current", "paid_off"),),
    "behaviour.delinquent_instalment_pay": (("1-30", "1-30"), ("1-30", "31-60")),
    "behaviour.delinquent_instalment_pay_late": (("31-60", "31-60"), ("31-60", "61-90")),
    "behaviour.reage_share": (("31-60", "current"), ("61-90", "current"), ("91-120", "current")),
    "behaviour.write_off_monthly": (("current", "charged_off"),),
    "behaviour.settlement_share": tuple(
        (s, "paid_off") for s in ("1-30", "31-60", "61-90", "91-120")
    ),
    "recovery.agency.success": (("charged_off", "paid_off"), ("charged_off", "charged_off")),
}


def unidentified(
    empirical: TransitionEstimate, params: Sequence[Parameter], min_row_count: int = 200
) -> list[str]:
    """The parameters of ``params`` with an :data:`IDENTIFIED_BY` entry none of whose cells is
    assessable in ``empirical``, as ``path (cells)``: the data cannot identify them."""
    ok = criterion.assessable(empirical, min_row_count)
    out = []
    for p in params:
        cells = IDENTIFIED_BY.get(p.path)
        if cells and not any(ok[STATE_INDEX[a], STATE_INDEX[b]] for a, b in cells):
            out.append(f"{p.path} ({', '.join(f'{a}->{b}' for a, b in cells)})")
    return out


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
        "behaviour.reage_share": 0.1,
        "behaviour.write_off_monthly": max(_p(e, "current", "charged_off") * 30 / 29, 1e-5),
    }
    return {p.path: guess.get(p.path, 0.5 * (p.lower + p.upper)) for p in params}
