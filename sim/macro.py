"""The macro economy a book lives in: unemployment, household income and interest rates.

:class:`Macro` is the ``macro:`` section of a scenario; :class:`MacroPath` turns it into what
the borrower rules read, day by day. Three channels move a borrower's ability to pay:

* **Unemployment** acts on hardship (:func:`sim.borrower.hardship.hardship_update`): onsets
  scale with ``exp(elasticity * (u_t - reference))`` and spells lengthen with
  ``exp(spell_elasticity * (u_t - reference))``. ``reference`` is the unemployment rate at which
  the book's hardship hazards hold (the economy they were calibrated in); ``level`` is today's
  rate when no path is given, so ``reference`` alone is meaningful: a book calibrated at 3 %
  living at 4 % has more hardship than one calibrated at 4 %.
* **Income**: a monthly path of household income relative to the start of the run (1 =
  unchanged). Debt-to-income is divided by it at each month start, and the due-date rule
  reads debt-to-income (``miss_dti``).
* **Interest rates**: a monthly path of the reference (policy) rate, annual. A share
  ``variable_share`` of the loans (fixed per account and seed) is variable-rate: at each month
  start its rate is its contract rate plus ``rate_t - rate_reference`` (never below zero) and
  its instalment is re-amortised over the instalments left; debt-to-income moves with the
  instalment.

Effect sizes (defaults) are set so that a recession of the evidence's size moves the baseline
book as recessions moved card books (``shared/evidence/README.md``, Recessions; docs/macro.md
states the calibration and its check).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sim.constants import MONTH_DAYS, Status

# sim.scenario holds a Macro and sim.portfolio a scenario: the book and the scenario are typed
# ``Any`` here (a Portfolio, a Scenario) so that no import runs back to them.

#: ``MacroPath.cumulative`` rows: running sums of the onset and of the recovery multiplier.
ONSET, RECOVERY = 0, 1
_VARIABLE_RATE_SALT = 0x5A7E_CA11


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _rates(v: list[float] | None, what: str, low: float, high: float) -> list[float] | None:
    if v is not None:
        if not v:
            raise ValueError(f"{what} must name at least one monthly value")
        if any(x < low or x > high for x in v):
            raise ValueError(f"{what} values must lie in [{low}, {high}]")
    return v


class Macro(_Spec):
    """Unemployment, income and interest-rate paths, and how strongly they act.

    ``path`` gives the unemployment rate per month (the last value holds); ``shock`` is a short
    way to write a recession: the rate rises linearly from ``level`` to ``level + size`` over
    ``ramp_months`` from ``start_month``, holds for ``hold_months``, then recovers over
    ``recover_months``. Without either, unemployment stays at ``level``.
    """

    reference: float = Field(
        default=0.04, ge=0, le=1, description="unemployment at which the hardship hazards hold"
    )
    level: float = Field(
        default=0.04, ge=0, le=1, description="unemployment today (without a path or shock)"
    )
    path: list[float] | None = None
    shock: dict[str, float] | None = None
    elasticity: float = Field(
        default=20.0, ge=0, le=200, description="hardship onsets x exp(elasticity * (u - ref))"
    )
    spell_elasticity: float = Field(
        default=10.0, ge=0, le=200, description="spells x exp(spell_elasticity * (u - ref))"
    )
    income: list[float] | None = Field(
        default=None, description="household income per month relative to the start (1 = same)"
    )
    rates: list[float] | None = Field(
        default=None, description="reference interest rate per month (annual, e.g. 0.05)"
    )
    rate_reference: float = Field(
        default=0.03, ge=0, le=1, description="reference rate the book's loans were priced at"
    )
    variable_share: float = Field(
        default=0.0, ge=0, le=1, description="share of loans whose rate follows the rate path"
    )

    @field_validator("path")
    @classmethod
    def _path(cls, v: list[float] | None) -> list[float] | None:
        return _rates(v, "unemployment rates", 0.0, 1.0)

    @field_validator("income")
    @classmethod
    def _income(cls, v: list[float] | None) -> list[float] | None:
        return _rates(v, "income (relative to the start)", 0.05, 20.0)

    @field_validator("rates")
    @classmethod
    def _rate_path(cls, v: list[float] | None) -> list[float] | None:
        return _rates(v, "interest rates", -0.05, 1.0)

    @field_validator("shock")
    @classmethod
    def _shock(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        allowed = {"start_month", "size", "ramp_months", "hold_months", "recover_months"}
        unknown = set(v) - allowed
        if unknown:
            raise ValueError(f"unknown shock key {sorted(unknown)}; allowed: {sorted(allowed)}")
        if "size" not in v:
            raise ValueError("a shock needs a size (rise of the unemployment rate, e.g. 0.04)")
        if any(x < 0 for x in v.values()):
            raise ValueError("shock values must not be negative")
        return v

    @model_validator(mode="after")
    def _one_of(self) -> Macro:
        if self.path is not None and self.shock is not None:
            raise ValueError("give either a path or a shock, not both")
        return self


def _monthly(values: list[float], months: int) -> np.ndarray:
    """A monthly path padded with its last value (the last value holds)."""
    return np.array(values + [values[-1]] * max(0, months - len(values)), dtype=float)[:months]


class MacroPath:
    """The scenario's macro paths by day, the hardship multipliers they imply, and the month-start
    adjustments of debt-to-income and variable rates (:meth:`month_start`)."""

    def __init__(self, scenario: Any):
        """``scenario``: a :class:`sim.scenario.Scenario`."""
        m = scenario.macro
        self.spec = m
        months = scenario.days // MONTH_DAYS + 2
        if m.path is not None:
            path = _monthly(m.path, months)
        elif m.shock is not None:
            s = m.shock
            start = s.get("start_month", 0.0)
            ramp = max(s.get("ramp_months", 3.0), 1e-9)
            hold = s.get("hold_months", 6.0)
            recover = max(s.get("recover_months", 6.0), 1e-9)
            t = np.arange(months, dtype=float)
            rise = np.clip((t - start) / ramp, 0, 1)
            fall = np.clip((t - start - ramp - hold) / recover, 0, 1)
            path = m.level + s["size"] * rise * (1 - fall)
        else:
            path = np.full(months, m.level)
        self.unemployment_monthly = path
        self.unemployment = np.repeat(path, MONTH_DAYS)[: scenario.days + 1]
        gap = self.unemployment - m.reference
        self.multiplier = np.exp(m.elasticity * gap)
        self.recovery_multiplier = np.exp(-m.spell_elasticity * gap)
        zero = np.zeros((2, 1))
        sums = np.cumsum(np.vstack([self.multiplier, self.recovery_multiplier]), axis=1)
        #: running sums of the onset (row ``ONSET``) and recovery (row ``RECOVERY``) multipliers
        self.cumulative = np.ascontiguousarray(np.hstack([zero, sums]))
        self.income_monthly = _monthly(m.income, months) if m.income is not None else None
        self.rates_monthly = _monthly(m.rates, months) if m.rates is not None else None
        self._variable: np.ndarray | None = None
        self._base_rate: np.ndarray | None = None

    @property
    def moves_the_book(self) -> bool:
        """True when :meth:`month_start` has anything to do."""
        return self.income_monthly is not None or (
            self.rates_monthly is not None and self.spec.variable_share > 0
        )

    def variable_rate(self, p: Any, key: int) -> np.ndarray:
        """Which loans are variable-rate: a ``variable_share`` draw per account, fixed by seed."""
        if self._variable is None:
            rng = np.random.default_rng([int(key), _VARIABLE_RATE_SALT])
            self._variable = rng.random(p.n) < self.spec.variable_share
            self._base_rate = p.rate_m.copy()
        return self._variable

    def month_start(self, p: Any, day: int, key: int) -> None:
        """Apply the income and rate paths at the start of month ``day // 30`` (day 0 included:
        a path that does not start at 1 / ``rate_reference`` acts at once).

        Income: debt-to-income of every open account is multiplied by ``income_{m-1} /
        income_m`` (``income_{-1} = 1``). Rates: variable-rate open loans take the rate
        ``contract + (rate_m - rate_reference) / 12`` a month; annuities are re-amortised over
        the instalments left; debt-to-income moves by the ratio of new to old instalment.
        """
        if day % MONTH_DAYS or not self.moves_the_book:
            return
        month = day // MONTH_DAYS
        open_ = (p.status == Status.OPEN) & (p.remaining > 0)
        factor = np.ones(p.n)
        if self.income_monthly is not None:
            before = self.income_monthly[month - 1] if month > 0 else 1.0
            factor *= before / self.income_monthly[month]
        if self.rates_monthly is not None and self.spec.variable_share > 0:
            var = self.variable_rate(p, key) & open_
            if var.any():
                factor[var] *= self._reprice(p, np.flatnonzero(var), month)
        p.dti[open_] *= factor[open_]

    def _reprice(self, p: Any, idx: np.ndarray, month: int) -> np.ndarray:
        """New rates and instalments of the variable-rate loans ``idx``; returns new / old."""
        from sim.loans import Method, annuity_payment, instalment_split  # loans imports pandas

        shift = (self.rates_monthly[month] - self.spec.rate_reference) / 12.0
        new_rate = np.maximum(self._base_rate[idx] + shift, 0.0)
        method, bal, rem = p.method[idx], p.sched_balance[idx], p.remaining[idx]
        principal_part = p.level_principal[idx]
        old = sum(
            instalment_split(method, bal, p.rate_m[idx], rem, p.level_payment[idx], principal_part)
        )
        annuity = method == Method.ANNUITY
        pay = p.level_payment[idx].copy()
        # the level payment moves by the ratio of the annuities at the new and the old rate,
        # so a loan whose schedule is not a fresh annuity of what it owes keeps its shape
        a_new = annuity_payment(bal[annuity], new_rate[annuity], rem[annuity])
        a_old = annuity_payment(bal[annuity], p.rate_m[idx][annuity], rem[annuity])
        pay[annuity] *= np.where(a_old > 0, a_new / np.where(a_old > 0, a_old, 1.0), 1.0)
        p.rate_m[idx] = new_rate
        p.level_payment[idx] = pay
        new = sum(instalment_split(method, bal, new_rate, rem, pay, principal_part))
        return np.where(old > 0, new / np.where(old > 0, old, 1.0), 1.0)
