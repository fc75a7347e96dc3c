"""Fit a scenario's response parameters to field trials (and the portfolio's published levels).

The status panels fit the dynamics; the trials fit the response. A candidate set of response
parameters is scored by the distance of the simulated trial effects to the published ones, each
in units of the published interval's half-width, plus the distance of the book's portfolio
levels to the published ranges (30+ DPD balances, annualised charge-off): minimum distance
with common random numbers (every candidate runs on the same seeds, so a difference between
two candidates is the parameters', not the luck's). The search is a bounded least-squares fit
on the unit cube of the parameters (``scipy.optimize.least_squares``, forward differences).

``sim`` does not know how to run a trial file (that is ``postloan.trials``): the caller passes
an ``evaluate(scenario) -> list[Target]`` function. ``postloan.trials.calibrate`` wires the
trial library in and is the command-line entry point; docs/behaviour.md gives the procedure.

The parameters, their ranges and the evidence each is anchored on are in one table,
``sim/borrower/response_ranges.yaml`` (:func:`response_ranges`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from scipy.optimize import least_squares

from sim.calibration.parameters import LIBRARY, Parameter, with_values
from sim.scenario import Scenario

#: The table of response parameters (ranges, meaning, evidence).
RANGES_FILE = Path(__file__).resolve().parents[1] / "borrower" / "response_ranges.yaml"
#: Published portfolio ranges (../shared/evidence/README.md): Philadelphia Fed card balances
#: 30+ DPD 1.56-3.57 %; FRED card net charge-off rate 1.9-7.65 % annualised (issue 16: 2-7 %).
DELINQUENCY_30P_RANGE = (0.015, 0.036)
CHARGE_OFF_RANGE = (0.02, 0.07)
#: A book cures a substantial share of its delinquencies without contact (DESIGN.md: early
#: self-cure 40-60 %); the plausibility floor on the share of cures never reached.
SELF_CURE_FLOOR = 0.3


@dataclass(frozen=True)
class ResponseRange:
    """One response parameter of :data:`RANGES_FILE`."""

    path: str
    low: float
    high: float
    off: float | None
    meaning: str
    anchored_on: str
    integer: bool = False

    def parameter(self) -> Parameter:
        return Parameter(self.path, self.low, self.high)


def response_ranges(path: str | Path = RANGES_FILE) -> dict[str, ResponseRange]:
    """The response parameters by dotted path, with their ranges (``yaml.safe_load``)."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    out = {}
    for row in doc["parameters"]:
        low, high = (float(x) for x in row["range"])
        out[row["path"]] = ResponseRange(
            path=row["path"],
            low=low,
            high=high,
            off=row.get("off"),
            meaning=row["meaning"],
            anchored_on=row["anchored_on"],
            integer=bool(row.get("integer", False)),
        )
    return out


@dataclass(frozen=True)
class Target:
    """A published figure and its simulated counterpart.

    ``effect`` is the published point (None: only the interval, e.g. a sign); the residual is
    the distance to it in half-widths of ``[low, high]``, or, without a point, the distance
    outside the interval.
    """

    name: str
    simulated: float
    low: float
    high: float
    effect: float | None = None

    @property
    def within(self) -> bool:
        return bool(math.isfinite(self.simulated) and self.low <= self.simulated <= self.high)

    @property
    def residual(self) -> float:
        half = 0.5 * (self.high - self.low)
        if not math.isfinite(self.simulated):
            return 10.0
        if self.effect is None:
            if self.within:
                return 0.0
            edge = self.low if self.simulated < self.low else self.high
            return (self.simulated - edge) / half
        return (self.simulated - self.effect) / half


def portfolio_targets(summary: dict, daily, days: int) -> list[Target]:
    """The book's portfolio levels against the published ranges: the mean 30+ DPD balance
    share, the charge-off amount over the mean outstanding balance annualised (``365 / days``)
    and the self-cure share (a floor, no point)."""
    outstanding = float(np.mean(daily["outstanding"].to_numpy()))
    charge_off = float(summary["charge_off_amount"]) / outstanding * 365.0 / days
    d30 = float(summary["delinquency_rate_30p_mean"])
    mid = 0.5 * (DELINQUENCY_30P_RANGE[0] + DELINQUENCY_30P_RANGE[1])
    co_mid = 0.5 * (CHARGE_OFF_RANGE[0] + CHARGE_OFF_RANGE[1])
    return [
        Target("portfolio_30p_balance_share", d30, *DELINQUENCY_30P_RANGE, effect=mid),
        Target("portfolio_annual_charge_off", charge_off, *CHARGE_OFF_RANGE, effect=co_mid),
        Target(
            "portfolio_self_cure_share",
            float(summary["self_cure_share"]),
            SELF_CURE_FLOOR,
            1.0,
        ),
    ]


@dataclass
class ResponseFit:
    """The outcome of :func:`fit_response`."""

    parameters: list[str]
    values: list[float]
    targets: list[Target]
    cost: float
    evaluations: int
    history: list[dict] = field(default_factory=list)

    @property
    def within(self) -> int:
        return sum(t.within for t in self.targets)

    def to_dict(self) -> dict:
        return {
            "parameters": dict(zip(self.parameters, self.values, strict=True)),
            "cost": self.cost,
            "evaluations": self.evaluations,
            "targets": [
                {
                    "name": t.name,
                    "simulated": t.simulated,
                    "published": t.effect,
                    "low": t.low,
                    "high": t.high,
                    "within": t.within,
                }
                for t in self.targets
            ],
            "history": self.history,
        }


def _dynamics(path: str) -> Parameter:
    """A dynamics parameter of the panel calibration (``sim.calibration.parameters.LIBRARY``),
    for an illustrative book fitted jointly with its response (no panel behind it)."""
    name = path.rsplit(".", 1)[-1] if path.startswith("behaviour.") else path
    if name not in LIBRARY:
        raise KeyError(
            f"{path}: neither a response parameter ({RANGES_FILE.name}) nor a dynamics one"
        )
    return LIBRARY[name]


def candidate(base: Scenario, params: Sequence[Parameter], values: Sequence[float]) -> Scenario:
    """``base`` with the response parameters set (integers rounded where the schema wants)."""
    ranges = response_ranges()
    vals = [
        round(v) if p.path in ranges and ranges[p.path].integer else v
        for p, v in zip(params, values, strict=True)
    ]
    return with_values(base, params, vals)


def fit_response(
    base: Scenario,
    paths: Sequence[str],
    evaluate: Callable[[Scenario], list[Target]],
    start: Sequence[float] | None = None,
    max_evaluations: int = 60,
    diff_step: float = 0.08,
    log: Callable[[str], None] | None = None,
) -> ResponseFit:
    """Fit the response parameters ``paths`` (rows of :data:`RANGES_FILE`) so that
    ``evaluate`` (the trial library and portfolio levels on fixed seeds) lands on the
    published figures: bounded least squares on the unit cube of the ranges, forward
    differences of ``diff_step`` (the objective is a step function of the parameters under
    common random numbers, so the steps must be large enough to move whole accounts; a step is
    about ``diff_step`` of the parameter's range).

    Parameters
    ----------
    base : Scenario
        The scenario whose response is fitted (its other parameters stay).
    paths : sequence of str
        Dotted paths of the fitted parameters (fewer than the targets).
    evaluate : callable
        Scenario -> targets, on fixed seeds (common random numbers).
    start : sequence of float, optional
        Starting values (default: the base scenario's, clipped to the ranges).
    max_evaluations : int
        Budget of ``evaluate`` calls.

    Returns
    -------
    ResponseFit
    """
    ranges = response_ranges()
    params = [ranges[p].parameter() if p in ranges else _dynamics(p) for p in paths]
    if start is None:
        data = base.model_dump()
        start = []
        for p in params:
            node = data
            for k in p.path.split("."):
                node = node[k]
            start.append(float(node) if node is not None else p.lower)
    u0 = np.array(
        [
            min(max(p.to_unit(min(max(v, p.lower), p.upper)), 0.0), 1.0)
            for p, v in zip(params, start, strict=True)
        ]
    )
    history: list[dict] = []
    cache: dict[tuple, list[Target]] = {}

    def run(u: np.ndarray) -> list[Target]:
        key = tuple(np.round(u, 6))
        if key not in cache:
            values = [p.from_unit(float(x)) for p, x in zip(params, u, strict=True)]
            targets = evaluate(candidate(base, params, values))
            cache[key] = targets
            cost = float(sum(t.residual**2 for t in targets))
            history.append(
                {"values": values, "cost": cost, "within": sum(t.within for t in targets)}
            )
            if log is not None:
                shown = ", ".join(f"{p.name}={v:.4g}" for p, v in zip(params, values, strict=True))
                log(f"[{len(history)}] cost {cost:.3f} within {history[-1]['within']}: {shown}")
        return cache[key]

    # scipy's forward-difference step is relative to x: search on x = 1 + u (x in [1, 2]) so
    # that every parameter steps by about diff_step of its range, wherever it sits
    def residuals(x: np.ndarray) -> np.ndarray:
        return np.array([t.residual for t in run(np.clip(x - 1.0, 0.0, 1.0))])

    result = least_squares(
        residuals,
        u0 + 1.0,
        bounds=(1.0, 2.0),
        diff_step=diff_step,
        max_nfev=max(1, max_evaluations // (len(params) + 1)),
        x_scale=1.0,
    )
    best = min(cache.items(), key=lambda kv: sum(t.residual**2 for t in kv[1]))
    u_best = np.array(best[0])
    values = [p.from_unit(float(x)) for p, x in zip(params, u_best, strict=True)]
    del result
    return ResponseFit(
        parameters=list(paths),
        values=values,
        targets=best[1],
        cost=float(sum(t.residual**2 for t in best[1])),
        evaluations=len(history),
        history=history,
    )
