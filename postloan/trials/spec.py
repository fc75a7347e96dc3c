"""The trial file: a published field trial written so the lab can run it.

A trial names the study (``name``, ``source``), the simulated book (``scenario``, optionally
``accounts``), the population the study randomised (``population``, a filter on the book on
``start_day``), two or more ``arms`` (one of them the control), the ``outcome`` the study measured
and its window, the ``estimand`` (``itt`` or ``per_contact``) and the ``published`` effect with its
interval and control rate. Every field is documented in ``docs/trials.md``.

A trial may change the book's size and the strategies; it may never change behaviour, channel or
any other scenario parameter: the response is what a trial tests, so a trial that could set it
would test nothing. Such keys are refused with a message saying so.

Files are read with the lab's safe YAML reader (:func:`sim.user_input.read_yaml_mapping`, which
also refuses duplicate keys), validated once here, and every problem is reported as
``FILE: field 'x.y': what is wrong (what is allowed)``, list entries counted from 1
(``arms[2].name``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.scenario import CAPACITIES, CREDIT_STANDINGS, PURPOSES, Scenario
from sim.user_input import Problem, UserInputError, read_yaml_mapping
from strategies.registry import RuleSpec

#: The trial file format's version; files give it as ``schema_version``.
SCHEMA_VERSION = 1

#: Outcomes a trial can measure; ``True``: a 0/1 outcome per account (rates, percentage points).
OUTCOMES: dict[str, bool] = {
    "paid_on_time": True,
    "paid_late": True,
    "paid_any_within": True,
    "cured_within": True,
    "amount_collected_within": False,
    "rolled_to_later_bucket": True,
    "charged_off": True,
    "churned_or_closed": True,
    "complained": True,
}

#: Scenario fields a trial may set (the book's size); every other scenario field is refused.
BOOK_FIELDS = ("accounts",)

#: Scenario fields that set behaviour or channels: named in the refusal message.
_RESPONSE_FIELDS = frozenset(Scenario.model_fields) - {"name", "description", *BOOK_FIELDS}


class TrialError(UserInputError):
    """A trial file that cannot be used; each line of the message names the file and the field."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _range(v: tuple[float, float] | None, what: str) -> tuple[float, float] | None:
    if v is not None and v[0] > v[1]:
        raise ValueError(f"{what} [min, max] needs min <= max, got [{v[0]}, {v[1]}]")
    return v


class Population(_Spec):
    """Which accounts of the book the trial randomises, judged on ``start_day``."""

    status: list[Literal["current", "delinquent"]] = Field(
        default_factory=lambda: ["current", "delinquent"],
        description="open accounts only; current: no instalment in arrears",
    )
    dpd: tuple[int, int] | None = Field(default=None, description="inclusive DPD range")
    days_to_due: tuple[int, int] | None = Field(
        default=None, description="inclusive, 1-30: days from start_day to the next due date"
    )
    purpose: list[str] = Field(default_factory=list)
    credit: list[str] = Field(default_factory=list)
    capacity: list[str] = Field(default_factory=list)
    score: tuple[float, float] | None = Field(
        default=None, description="behaviour score band [min, max) (strategies.score)"
    )
    sample: float = Field(default=1.0, gt=0, le=1, description="share of eligible accounts")

    @field_validator("status")
    @classmethod
    def _status(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("give at least one of: current, delinquent")
        return v

    @field_validator("dpd")
    @classmethod
    def _dpd(cls, v):
        if v is not None and v[0] < 0:
            raise ValueError("DPD is 0 or more (use days_to_due for current accounts)")
        return _range(v, "dpd")

    @field_validator("days_to_due")
    @classmethod
    def _due(cls, v):
        if v is not None and not (1 <= v[0] <= v[1] <= 30):
            raise ValueError(f"days_to_due is a range within [1, 30], got {list(v)}")
        return v

    @field_validator("score")
    @classmethod
    def _score(cls, v):
        return _range(v, "score")

    @field_validator("purpose", "credit", "capacity")
    @classmethod
    def _segment(cls, v: list[str], info) -> list[str]:
        allowed = {"purpose": PURPOSES, "credit": CREDIT_STANDINGS, "capacity": CAPACITIES}
        allowed = allowed[info.field_name]
        bad = [x for x in v if x not in allowed]
        if bad:
            raise ValueError(f"unknown {info.field_name} {bad}; allowed: {', '.join(allowed)}")
        return v


class Arm(_Spec):
    """One arm: a strategy (name or file), or a base strategy plus extra rules."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    strategy: str | None = Field(default=None, description="library name or YAML file")
    base: str | None = Field(default=None, description="a rule-table strategy (or none)")
    rules: list[RuleSpec] = Field(default_factory=list, description="rules added to base")
    control: bool = False
    share: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _one_kind(self) -> Arm:
        if (self.strategy is None) == (self.base is None):
            raise ValueError("give either 'strategy' or 'base' (with extra 'rules'), not both")
        if self.strategy is not None and self.rules:
            raise ValueError("extra 'rules' go with 'base', not with 'strategy'")
        if self.base is not None and not self.rules:
            raise ValueError("'base' needs at least one extra rule (or use 'strategy')")
        return self


class Outcome(_Spec):
    """What the study measured per account, over ``days`` days from ``start_day``."""

    measure: str
    days: int = Field(ge=1, le=730, description="window length in days")

    @field_validator("measure")
    @classmethod
    def _measure(cls, v: str) -> str:
        if v not in OUTCOMES:
            raise ValueError(f"unknown outcome {v!r}; allowed: {', '.join(OUTCOMES)}")
        return v

    @property
    def binary(self) -> bool:
        return OUTCOMES[self.measure]


class Published(_Spec):
    """The study's effect as published, with its interval and control arm."""

    arm: str | None = Field(default=None, description="the treatment arm the effect is for")
    effect: float | None = Field(
        description="the published point estimate; null when only its sign was read"
    )
    scale: Literal["absolute", "relative"]
    low: float
    high: float
    derivation: str = Field(min_length=1, description="where low/high come from")
    control_rate: float | None = Field(
        default=None, description="control arm's outcome: a share (0-1) or a mean amount"
    )
    control_n: int | None = Field(default=None, ge=1, description="study's control-arm size")
    control_sd: float | None = Field(
        default=None, gt=0, description="per-account SD of an amount outcome in the control arm"
    )

    @model_validator(mode="after")
    def _interval(self) -> Published:
        if not self.low <= self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.effect is not None and not self.low <= self.effect <= self.high:
            raise ValueError(f"effect ({self.effect}) must lie in [low, high]")
        if self.control_rate is not None and self.control_n is None:
            raise ValueError("control_rate needs control_n (the study's control-arm size)")
        return self


class TrialSpec(_Spec):
    """A whole trial file (see ``docs/trials.md``)."""

    schema_version: Literal[1]
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.-]+$")
    source: str = Field(min_length=1, description="the citation")
    description: str = ""
    scenario: str = Field(min_length=1, description="shipped scenario name or YAML path")
    accounts: int | None = Field(default=None, ge=100, le=5_000_000)
    population: Population = Field(default_factory=Population)
    start_day: int = Field(ge=0, le=3000)
    arms: list[Arm] = Field(min_length=2)
    outcome: Outcome
    estimand: Literal["itt", "per_contact"] = "itt"
    published: Published
    replications: int = Field(default=4, ge=1, le=200)

    @model_validator(mode="after")
    def _consistent(self) -> TrialSpec:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be distinct, got {names}")
        controls = [a.name for a in self.arms if a.control]
        if len(controls) != 1:
            raise ValueError(f"exactly one arm has 'control: true' (found {len(controls)})")
        given = [a.share for a in self.arms if a.share is not None]
        if given and len(given) != len(self.arms):
            raise ValueError("give 'share' on every arm or on none (equal shares)")
        if given and abs(sum(given) - 1) > 1e-9:
            raise ValueError(f"arm shares must sum to 1 (they sum to {sum(given):.6g})")
        treated = [a.name for a in self.arms if not a.control]
        pub = self.published
        if pub.arm is None and len(treated) > 1:
            raise ValueError(f"published.arm must name the treatment arm, one of {treated}")
        if pub.arm is not None and pub.arm not in treated:
            raise ValueError(f"published.arm {pub.arm!r} is not a treatment arm; one of {treated}")
        if self.estimand == "per_contact" and pub.scale != "absolute":
            raise ValueError("per_contact effects are reported on the absolute scale")
        if self.outcome.binary and pub.control_rate is not None and not 0 < pub.control_rate < 1:
            raise ValueError("published.control_rate of a 0/1 outcome is a share in (0, 1)")
        if not self.outcome.binary and pub.control_rate is not None and pub.control_sd is None:
            raise ValueError("an amount outcome's control_rate needs control_sd as well")
        if self.outcome.measure in ("paid_on_time", "paid_late"):
            hi = self.population.days_to_due[1] if self.population.days_to_due else 30
            if hi >= self.outcome.days:
                raise ValueError(
                    f"{self.outcome.measure} needs outcome.days > the last days_to_due ({hi}) "
                    "so that every enrolled account's due date falls inside the window"
                )
        return self

    @property
    def treatment(self) -> str:
        """The treatment arm the published effect is for."""
        return self.published.arm or next(a.name for a in self.arms if not a.control)

    @property
    def control(self) -> str:
        return next(a.name for a in self.arms if a.control)

    def shares(self) -> list[float]:
        """Each arm's assignment share (equal when the file gives none)."""
        if self.arms[0].share is None:
            return [1.0 / len(self.arms)] * len(self.arms)
        return [float(a.share) for a in self.arms]


def _where(loc: tuple) -> str:
    """``("arms", 1, "name")`` as ``arms[2].name``: list entries counted from 1."""
    parts = []
    for x in loc:
        if isinstance(x, int) and parts:
            parts[-1] = f"{parts[-1]}[{x + 1}]"
        else:
            parts.append(str(x))
    return ".".join(parts) or "(top level)"


def _problems(exc: ValidationError, source: str) -> list[Problem]:
    problems = []
    for e in exc.errors():
        msg = e["msg"].removeprefix("Value error, ")
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not part of the trial format, see docs/trials.md)"
        elif e["type"] == "literal_error" and loc == ("schema_version",):
            msg = f"this lab reads trial files of schema_version {SCHEMA_VERSION}; {msg}"
        problems.append(Problem(source, _where(loc), msg))
    return problems


def _loc(field: str) -> tuple:
    """A dotted field path (``arms.0.name``) as a location (``("arms", 0, "name")``)."""
    return tuple(int(x) if x.isdigit() else x for x in field.split("."))


def parse_trial(data: object, source: str) -> TrialSpec:
    """Validate a parsed trial file (``source`` names it in messages)."""
    if not isinstance(data, dict):
        raise TrialError(Problem(source, message="a trial file must be a mapping of fields"))
    refused = sorted(k for k in data if k in _RESPONSE_FIELDS)
    if refused:
        raise TrialError(
            Problem(
                source,
                refused[0],
                "a trial may change the book's size ('accounts') and the strategies, never "
                "behaviour, channel or other scenario parameters (the response is what the trial "
                "tests); put them in a scenario file and name it in 'scenario' (refused: "
                f"{', '.join(refused)})",
            )
        )
    try:
        return TrialSpec.model_validate(data)
    except ValidationError as exc:
        raise TrialError(_problems(exc, source)) from None


def load_trial(path: str | Path) -> TrialSpec:
    """Read and validate one trial file.

    Raises
    ------
    TrialError
        One line per problem, each naming the file and the field.
    """
    try:
        data = read_yaml_mapping(path, "trial", TrialError)
    except TrialError as exc:  # fields named as everywhere else in trial messages
        raise TrialError(
            Problem(p.source, _where(_loc(p.field)), p.message, p.given) if p.field else p
            for p in exc.problems
        ) from None
    return parse_trial(data, str(path))


def trial_files(paths: list[str | Path]) -> list[Path]:
    """The trial files named: files as given, folders expanded to their ``*.yaml`` files
    (``trials/`` is the shipped library from any working directory)."""
    from postloan.trials.shipped import find_trial_path

    out: list[Path] = []
    for p in map(find_trial_path, paths):
        if p.is_dir():
            found = sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
            if not found:
                raise TrialError(Problem(str(p), message="no trial files (*.yaml) in this folder"))
            out.extend(found)
        elif p.exists():
            out.append(p)
        else:
            raise TrialError(Problem(str(p), message="no such trial file or folder"))
    return out
