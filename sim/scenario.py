"""Scenarios: the typed, validated description of a loan book and its world.

A scenario file (YAML) names the book (size, horizon, segment mix, loan terms per purpose), the
borrowers' behaviour parameters, the macro path, the channel table and the staff capacity.
Everything except ``name``, ``accounts``, ``days`` and ``segments`` has a default taken from the
design's industry ranges, so scenario files stay short and say only what differs.

Validation happens once, here, at the boundary; the engine trusts a :class:`Scenario`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from numbers import Integral, Real
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.behaviour_spec import Behaviour
from sim.channels import CHANNEL_NAMES, DEFAULT_CHANNELS, ChannelSpec
from sim.currency import DEFAULT_CURRENCY, check_currency
from sim.macro import Macro
from sim.oprisk import OperationalRisk
from sim.shipped import find_scenario, shipped_scenario_names
from sim.spec_base import Spec as _Spec
from sim.user_input import (
    Problem,
    UserInputError,
    migrate,
    problems_from_validation,
    read_yaml_mapping,
)

PURPOSES = ("consumer", "business", "housing")
CREDIT_STANDINGS = ("good", "fair", "poor")
CAPACITIES = ("strong", "medium", "weak")
METHODS = ("annuity", "equal_principal", "interest_only")
#: Customer value tiers strategies can match (``value_tier`` in rule tables), lowest first.
VALUE_TIERS = ("low", "medium", "high")

#: The scenario file format's version (``schema_version:`` in a file; missing means 1).
SCHEMA_VERSION = 1
#: ``MIGRATIONS[v]`` turns a version-``v`` scenario mapping into version ``v + 1`` (a renamed or
#: restructured field); empty while there is only version 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

#: The latest charge-off a scenario may set: no strategy sees an account at this DPD or later.
MAX_CHARGE_OFF_DPD = 720

#: Memory the engine needs per account (state arrays, contact log, KPI scratch), measured
#: with the 1M-account benchmark and rounded up.
BYTES_PER_ACCOUNT = 700


class PurposeSpec(_Spec):
    """Loan terms of one purpose (consumer, business, housing)."""

    principal_median: float = Field(gt=0)
    principal_sigma: float = Field(default=0.6, ge=0, le=3)
    annual_rate: float = Field(ge=0, le=1)
    terms: list[int] = Field(min_length=1)
    method_mix: dict[str, float]

    @field_validator("terms")
    @classmethod
    def _terms_positive(cls, v: list[int]) -> list[int]:
        if any(t < 1 or t > 480 for t in v):
            raise ValueError("every term must be between 1 and 480 months")
        return v

    @field_validator("method_mix")
    @classmethod
    def _mix(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = set(v) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown method {sorted(unknown)}; allowed: {', '.join(METHODS)}")
        if any(s < 0 or s > 1 for s in v.values()):
            raise ValueError("method shares must be probabilities in [0, 1]")
        if abs(sum(v.values()) - 1.0) > 1e-6:
            raise ValueError(f"method shares must sum to 1 (they sum to {sum(v.values()):.6g})")
        return v


class CreditSpec(_Spec):
    """What a credit standing (good, fair, poor) does to price and to willingness."""

    rate_spread: float = Field(ge=-0.5, le=1)
    willingness: float = Field(description="mean of the willingness logit")
    lifetime_value: float = Field(ge=0, description="median customer lifetime value (USD)")


class CapacitySpec(_Spec):
    """What repayment capacity (strong, medium, weak) does to debt-to-income and hardship."""

    dti_median: float = Field(gt=0, le=5)
    hardship_hazard: float = Field(ge=0, le=1, description="monthly chance of a hardship onset")
    resilience: float = Field(description="mean of the resilience logit")


class Segment(_Spec):
    """One cell of the segment mix."""

    purpose: Literal["consumer", "business", "housing"]
    credit: Literal["good", "fair", "poor"]
    capacity: Literal["strong", "medium", "weak"]
    share: float = Field(ge=0, le=1)


class Traits(_Spec):
    """Joint distribution of the latent traits (a shared latent factor, i.e. a Gaussian copula).

    Every trait is ``loading * z + sqrt(1 - loading**2) * e`` on the latent scale, with ``z``
    one factor per borrower (think "financial conscientiousness") and ``e`` its own noise.
    """

    factor_loading_willingness: float = Field(default=0.6, ge=0, le=0.99)
    factor_loading_resilience: float = Field(default=0.5, ge=0, le=0.99)
    factor_loading_dti: float = Field(default=0.4, ge=0, le=0.99)
    willingness_sigma: float = Field(default=1.0, ge=0, le=5)
    resilience_sigma: float = Field(default=0.8, ge=0, le=5)
    dti_sigma: float = Field(default=0.35, ge=0, le=3)
    reach_sigma: float = Field(default=0.4, ge=0, le=3)
    sensitivity_sigma: float = Field(default=0.5, ge=0, le=3)
    tolerance_median: float = Field(default=4.0, gt=0)
    tolerance_sigma: float = Field(default=0.5, ge=0, le=3)
    lifetime_value_sigma: float = Field(default=0.8, ge=0, le=3)


class Economics(_Spec):
    """Prices of the priced objective ``net_value`` (:mod:`sim.value`, docs/behaviour.md,
    "Churn and the priced objective"). Each default is a stated assumption or a recalled
    figure, named in its description; set them from the lender's own books."""

    funding_rate_annual: float = Field(
        default=0.04,
        ge=0,
        le=1,
        description="annual cost of funds: the interest margin a loan earns is its rate less "
        "this (assumption: about the 2024-25 US policy and deposit rates, 4-5 %)",
    )
    complaint_handling_cost: float = Field(
        default=50.0,
        ge=0,
        description="cost of handling one complaint in house (assumption: 1-2 hours of a "
        "complaint handler at 25-40 USD an hour, loaded)",
    )
    complaint_regulatory_cost: float = Field(
        default=35.0,
        ge=0,
        description="expected regulatory cost per complaint (assumption: about 5 % of "
        "complaints escalate to an ombudsman whose case fee is about 650 GBP, UK Financial "
        "Ombudsman Service, recalled, not re-read)",
    )
    value_tier_cuts: tuple[float, float] = Field(
        default=(0.5, 0.9),
        description="shares of the book below the medium and the high value tier (customer "
        "value at the start: the loan's remaining interest margin plus lifetime value)",
    )

    @field_validator("value_tier_cuts")
    @classmethod
    def _cuts(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] <= v[1] <= 1:
            raise ValueError("value_tier_cuts must be two shares 0 <= low <= high <= 1")
        return v


class RecoveryPath(_Spec):
    """One post-charge-off path: agency, legal action, debt sale, internal late stage."""

    success: float = Field(ge=0, le=1, description="chance of a substantial recovery")
    success_rate_mean: float = Field(ge=0, le=1, description="mean recovery rate on success")
    failure_rate_mean: float = Field(ge=0, le=1, description="mean recovery rate on failure")
    lag_days_mean: float = Field(ge=0)
    fixed_cost: float = Field(default=0.0, ge=0)
    commission: float = Field(default=0.0, ge=0, le=1)
    price: float = Field(default=0.0, ge=0, le=1, description="debt sale price per unit balance")


def _default_recovery() -> dict[str, RecoveryPath]:
    return {
        "internal": RecoveryPath(
            success=0.22,
            success_rate_mean=0.75,
            failure_rate_mean=0.02,
            lag_days_mean=60,
            fixed_cost=20.0,
        ),
        "agency": RecoveryPath(
            success=0.35,
            success_rate_mean=0.80,
            failure_rate_mean=0.03,
            lag_days_mean=120,
            commission=0.25,
        ),
        # assumption: 300-1,500 USD per case plus court fees
        "legal": RecoveryPath(
            success=0.50,
            success_rate_mean=0.85,
            failure_rate_mean=0.02,
            lag_days_mean=300,
            fixed_cost=900.0,
        ),
        "sale": RecoveryPath(
            success=1.0,
            success_rate_mean=0.08,
            failure_rate_mean=0.08,
            lag_days_mean=0,
            price=0.08,
        ),
    }


class Restructuring(_Spec):
    """Hardship plans: arrears principal capitalised, interest and fees waived, term extended."""

    take_up: float = Field(default=0.45, ge=0, le=1)
    take_up_no_hardship: float = Field(default=0.08, ge=0, le=1)
    extension_months: int = Field(default=12, ge=0, le=120)
    take_up_current: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="chance that a current borrower in hardship reached by an offer takes it up "
        "(an early-warning plan before any miss); 0: offers to current accounts are ignored",
    )
    plan_relief: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of hardship's term in the miss logit that a plan removes while the "
        "borrower is in hardship (an affordable instalment); 0: a plan does not change it",
    )


class StaffCapacity(_Spec):
    """Daily capacity of the staff-limited channels (before issue 4's operations model)."""

    call_attempts_per_day: float = Field(default=3500.0, ge=0)
    visits_per_day: float = Field(default=60.0, ge=0)
    scale_with_accounts: bool = Field(
        default=True,
        description="when the account count is overridden, scale capacity in proportion",
    )


class StaffingSpec(_Spec):
    """A staffing plan: agents per team and their working conditions.

    When a scenario names one, the operations model (``sim.operations``, SimPy) turns it into
    the daily capacity of agent calls and field visits and a daily staff cost, and the agent
    labour is then booked as staff cost instead of per attempt.
    """

    early_stage: int = Field(default=12, ge=0, le=5000)
    late_stage: int = Field(default=8, ge=0, le=5000)
    field: int = Field(default=6, ge=0, le=5000)
    legal: int = Field(default=2, ge=0, le=5000)
    shift_hours: float = Field(default=8.0, gt=0, le=24)
    shrinkage: float = Field(default=0.30, ge=0, lt=1)
    training: float = Field(default=0.5, ge=0, le=1)
    labour_cost_per_min: float = Field(default=0.25, ge=0)
    inbound_calls_per_hour: float | None = Field(
        default=None,
        ge=0,
        description="borrowers calling in per hour; null: from the book (sim.book_staffing)",
    )
    inbound_aht_s: float = Field(default=240.0, gt=0)
    inbound_patience_s: float | None = Field(default=180.0, gt=0)
    target_s: float = Field(default=20.0, gt=0)
    training_cost_per_agent_day: float = Field(
        default=6.0,
        ge=0,
        description="extra USD per agent-day of full training over the standard level 0.5",
    )
    callback_rate: float = Field(
        default=0.04,
        ge=0,
        le=1,
        description="inbound call-backs per SMS or letter that reached the borrower (next day)",
    )
    replications: int = Field(default=3, ge=1, le=100, description="DES replications")


class InitialDelinquency(_Spec):
    """Share of accounts in each delinquency bucket at the start (steady-state book)."""

    dpd_1_30: float = Field(default=0.022, ge=0, le=1)
    dpd_31_60: float = Field(default=0.007, ge=0, le=1)
    dpd_61_90: float = Field(default=0.004, ge=0, le=1)
    dpd_91_120: float = Field(default=0.003, ge=0, le=1)

    @model_validator(mode="after")
    def _total(self) -> InitialDelinquency:
        if self.dpd_1_30 + self.dpd_31_60 + self.dpd_61_90 + self.dpd_91_120 > 0.5:
            raise ValueError("initial delinquency shares must not exceed 0.5 in total")
        return self


def _default_purposes() -> dict[str, PurposeSpec]:
    return {
        "consumer": PurposeSpec(
            principal_median=6000,
            principal_sigma=0.6,
            annual_rate=0.16,
            terms=[12, 24, 36],
            method_mix={"annuity": 0.85, "equal_principal": 0.10, "interest_only": 0.05},
        ),
        "business": PurposeSpec(
            principal_median=20000,
            principal_sigma=0.7,
            annual_rate=0.12,
            terms=[12, 24, 36],
            method_mix={"annuity": 0.40, "equal_principal": 0.20, "interest_only": 0.40},
        ),
        "housing": PurposeSpec(
            principal_median=30000,
            principal_sigma=0.5,
            annual_rate=0.09,
            terms=[36, 60, 84],
            method_mix={"annuity": 0.60, "equal_principal": 0.40, "interest_only": 0.0},
        ),
    }


def _default_credit() -> dict[str, CreditSpec]:
    return {
        "good": CreditSpec(rate_spread=0.0, willingness=2.2, lifetime_value=1800),
        "fair": CreditSpec(rate_spread=0.04, willingness=1.3, lifetime_value=1100),
        "poor": CreditSpec(rate_spread=0.09, willingness=0.4, lifetime_value=600),
    }


def _default_capacity() -> dict[str, CapacitySpec]:
    return {
        "strong": CapacitySpec(dti_median=0.20, hardship_hazard=0.004, resilience=1.0),
        "medium": CapacitySpec(dti_median=0.35, hardship_hazard=0.008, resilience=0.0),
        "weak": CapacitySpec(dti_median=0.55, hardship_hazard=0.016, resilience=-1.0),
    }


def max_accounts() -> int:
    """The largest book this machine can hold (half of physical memory)."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        mem = 8 * 2**30
    return int(0.5 * mem / BYTES_PER_ACCOUNT)


CALIBRATION_STATUSES = ("illustrative", "fitted", "anchored")


class Calibration(_Spec):
    """What a scenario's numbers rest on (docs/calibration.md, "What a scenario rests on").

    ``illustrative``: neither the dynamics nor the response are fitted to evidence (the
    design's ranges); reports of such a scenario say "illustrative, not calibrated".
    ``fitted``: the dynamics (roll and cure rates) are fitted to a real status panel, the
    response to contacts is not fitted to trials. ``anchored``: the response is fitted to a
    trial library as well (and the dynamics to a panel, when ``dynamics`` names one).
    """

    status: Literal["illustrative", "fitted", "anchored"] = "illustrative"
    dynamics: str | None = Field(
        default=None, min_length=1, description="the status panel the dynamics are fitted on"
    )
    response: str | None = Field(
        default=None, min_length=1, description="the trial library the response is fitted on"
    )
    fit: str | None = Field(
        default=None,
        min_length=1,
        description="the fit's provenance file (fit.json), relative to the scenario file",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Calibration:
        if self.status == "illustrative" and (self.dynamics or self.response):
            raise ValueError(
                "status illustrative means nothing is fitted: leave dynamics and response out, "
                "or say status: fitted (a panel) or anchored (a trial library)"
            )
        if self.status == "fitted" and (self.dynamics is None or self.response is not None):
            raise ValueError(
                "status fitted needs dynamics (the panel) and no response; a response fitted "
                "to trials is status: anchored"
            )
        if self.status == "anchored" and self.response is None:
            raise ValueError("status anchored needs response (the trial library it is fitted on)")
        return self

    @property
    def illustrative(self) -> bool:
        """Neither the dynamics nor the response are fitted to evidence."""
        return self.status == "illustrative"


class Scenario(_Spec):
    """A whole scenario. Build with :func:`load_scenario` or ``Scenario.model_validate``."""

    name: str = Field(
        min_length=1,
        max_length=100,
        description="a plain name: no '/' or '\\', not starting with '.'",
    )
    description: str = ""
    currency: str = Field(
        default=DEFAULT_CURRENCY,
        description="ISO 4217 code of the currency every amount is in (principals, fees, "
        "costs); only tables and reports read it. Default USD: the shipped parameters are "
        "US dollars",
    )
    accounts: int = Field(ge=1)
    days: int = Field(ge=1, le=3650)
    seed: int = Field(default=0, ge=0, lt=2**63)
    charge_off_dpd: int = Field(default=120, ge=31, le=MAX_CHARGE_OFF_DPD)
    pre_charge_off_recovery_path: Literal["internal", "agency", "legal", "sale"] = "agency"
    segments: list[Segment] = Field(min_length=1)
    purposes: dict[str, PurposeSpec] = Field(default_factory=_default_purposes)
    credit_standings: dict[str, CreditSpec] = Field(default_factory=_default_credit)
    capacities: dict[str, CapacitySpec] = Field(default_factory=_default_capacity)
    traits: Traits = Field(default_factory=Traits)
    behaviour: Behaviour = Field(default_factory=Behaviour)
    macro: Macro = Field(default_factory=Macro)
    operational_risk: OperationalRisk = Field(default_factory=OperationalRisk)
    channels: dict[str, ChannelSpec] = Field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    staff: StaffCapacity = Field(default_factory=StaffCapacity)
    staffing: StaffingSpec | None = Field(
        default=None, description="a staffing plan; when given it sets the staff capacity"
    )
    recovery: dict[str, RecoveryPath] = Field(default_factory=_default_recovery)
    restructuring: Restructuring = Field(default_factory=Restructuring)
    economics: Economics = Field(default_factory=Economics)
    initial_delinquency: InitialDelinquency = Field(default_factory=InitialDelinquency)
    seasoning_max_share: float = Field(
        default=0.8, ge=0, le=1, description="loans are between 0 and this share into their term"
    )
    calibration: Calibration = Field(
        default_factory=Calibration,
        description="what the numbers rest on: illustrative (default), fitted to a panel, or "
        "anchored on trials; it changes no result",
    )

    @model_validator(mode="before")
    @classmethod
    def _schema(cls, data: Any) -> Any:
        # files are migrated by load_scenario; this covers mappings validated directly
        if isinstance(data, dict) and "schema_version" in data:
            return migrate(data, "scenario", "scenario", SCHEMA_VERSION, MIGRATIONS)
        return data

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        # the name becomes a run folder's name: it must not be a path
        if v.startswith(".") or any(c in "/\\" or ord(c) < 32 for c in v):
            raise ValueError(
                "must be a plain name (it names the run folder): no '/' or '\\', no control "
                "characters, not starting with '.'"
            )
        return v

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, v: Any) -> str:
        return check_currency(v)

    @field_validator("accounts", mode="before")
    @classmethod
    def _fits(cls, v: Any) -> int:
        cap = max_accounts()
        if isinstance(v, str):  # "4000" or "1e4" written as a string
            try:
                v = float(v.replace("_", ""))
            except ValueError:
                pass
        if isinstance(v, bool):
            pass  # true/false is not a count: refused below
        elif isinstance(v, Integral):
            v = int(v)  # numpy integers too
        elif isinstance(v, Real) and math.isfinite(v) and float(v).is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= cap:
            extra = ""
            if isinstance(v, int) and v > cap:
                extra = (
                    f" (this machine holds at most {cap:,}: {v:,} accounts need about "
                    f"{v * BYTES_PER_ACCOUNT / 2**30:,.1f} GiB)"
                )
            raise ValueError(f"accounts must be an integer between 1 and {cap:,}{extra}")
        return v

    @field_validator("segments")
    @classmethod
    def _shares(cls, v: list[Segment]) -> list[Segment]:
        total = sum(s.share for s in v)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"segment shares must sum to 1 (they sum to {total:.6g})")
        keys = [(s.purpose, s.credit, s.capacity) for s in v]
        if len(set(keys)) != len(keys):
            raise ValueError("each (purpose, credit, capacity) cell may appear only once")
        return v

    @field_validator("purposes")
    @classmethod
    def _purposes(cls, v: dict[str, PurposeSpec]) -> dict[str, PurposeSpec]:
        return _complete(v, PURPOSES, _default_purposes(), "purpose")

    @field_validator("credit_standings")
    @classmethod
    def _credit(cls, v: dict[str, CreditSpec]) -> dict[str, CreditSpec]:
        return _complete(v, CREDIT_STANDINGS, _default_credit(), "credit standing")

    @field_validator("capacities")
    @classmethod
    def _capacities(cls, v: dict[str, CapacitySpec]) -> dict[str, CapacitySpec]:
        return _complete(v, CAPACITIES, _default_capacity(), "capacity")

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: dict[str, ChannelSpec]) -> dict[str, ChannelSpec]:
        return _complete(v, CHANNEL_NAMES, DEFAULT_CHANNELS, "channel")

    @field_validator("recovery")
    @classmethod
    def _recovery(cls, v: dict[str, RecoveryPath]) -> dict[str, RecoveryPath]:
        return _complete(v, ("internal", "agency", "legal", "sale"), _default_recovery(), "path")

    def with_overrides(self, **changes) -> Scenario:
        """A validated copy with top-level fields replaced (``accounts``, ``days``, ``seed``...).

        Staff capacity follows the account count when ``staff.scale_with_accounts`` is set.
        """
        data = self.model_dump()
        new = changes.get("accounts")
        # scale only by a usable count; anything else is left to validation to refuse
        usable = isinstance(new, Real) and not isinstance(new, bool) and math.isfinite(new)
        if usable and new > 0 and self.staff.scale_with_accounts:
            factor = new / self.accounts
            data["staff"]["call_attempts_per_day"] *= factor
            data["staff"]["visits_per_day"] *= factor
        data.update(changes)
        return Scenario.model_validate(data)

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON form: two scenarios with the same hash run the same.

        ``calibration`` (what the numbers rest on) changes no result and is left out."""
        blob = json.dumps(self.model_dump(mode="json", exclude={"calibration"}), sort_keys=True)
        blob = blob.encode()
        return hashlib.sha256(blob).hexdigest()

    def to_yaml(self) -> str:
        """The scenario as run, every default written out, with its schema version.

        Written by libyaml's emitter where PyYAML has it (the same text as ``yaml.safe_dump``,
        a tenth of the time: every run writes one).
        """
        doc = {"schema_version": SCHEMA_VERSION, **self.model_dump(mode="json")}
        return yaml.dump(doc, Dumper=_SAFE_DUMPER, sort_keys=False)


def _complete(given: dict, allowed: tuple[str, ...], defaults: dict, what: str) -> dict:
    unknown = set(given) - set(allowed)
    if unknown:
        raise ValueError(f"unknown {what} {sorted(unknown)}; allowed: {', '.join(allowed)}")
    return {k: given.get(k, defaults[k]) for k in allowed}


#: The safe dumper, in C where PyYAML was built with libyaml.
_SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class ScenarioError(UserInputError):
    """A scenario file that cannot be used; each problem names the file and the field."""


def scenario_problems(source: str, err: ValidationError) -> list[Problem]:
    """The problems of a scenario that failed validation, naming the file and the field."""
    return problems_from_validation(err, source, Scenario, "scenario")


def describe_validation_error(source: str, err: ValidationError) -> str:
    """One readable line per problem, naming the file and the field."""
    return "\n".join(str(p) for p in scenario_problems(source, err))


def load_scenario(path: str | Path, **overrides) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path : str or Path
        YAML file, or a shipped scenario's name (``default``) or repository path
        (``scenarios/default.yaml``) from any working directory (:func:`sim.shipped.find_scenario`);
        read with :func:`sim.user_input.read_yaml_mapping` (safe loader, no tags,
        duplicate keys refused, nothing executed). ``schema_version`` is optional (missing
        means 1); older versions are migrated, newer ones refused.
    **overrides
        Top-level fields to replace after loading (``accounts``, ``days``, ``seed``).

    Raises
    ------
    ScenarioError
        With one problem (and one line) per problem, each naming the file and the field.
    """
    path = find_scenario(path)
    source = str(path)
    if not path.exists():
        names = ", ".join(shipped_scenario_names())
        raise ScenarioError(
            Problem(source, message=f"no such scenario file, nor a shipped scenario ({names})")
        )
    data = read_yaml_mapping(path, "scenario", ScenarioError)
    data = migrate(data, source, "scenario", SCHEMA_VERSION, MIGRATIONS, ScenarioError)
    try:
        scenario = Scenario.model_validate(data)
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if overrides:
            scenario = scenario.with_overrides(**overrides)
    except ValidationError as exc:
        raise ScenarioError(scenario_problems(source, exc)) from None
    return scenario
