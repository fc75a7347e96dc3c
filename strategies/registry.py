"""Find a strategy by name or file: the library by name, rule tables and splits from YAML.

A rule-table file::

    name: my_ladder
    description: SMS first, then calls
    rules:
      - {channel: sms, dpd: [1, 30], every_days: 3, priority: 1, hours: [9, 20]}
      - {channel: call, dpd: [5, 119], every_days: 1, priority: 2, fallback: ivr}
      - {channel: visit, bucket: 61-90, score: [0, 450], balance: [3000, null], every_days: 14}
    recovery:
      - {path: sale, balance: [0, 500]}
      - {path: agency}

A champion/challenger file::

    name: cc
    split:
      - {strategy: standard, share: 0.8}
      - {strategy: aggressive, share: 0.2}

Every field of a rule is described in :class:`RuleSpec`. Files are read with the safe YAML
reader of :mod:`sim.user_input` (no tags, duplicate keys refused) and validated; nothing in them
is executed. Every problem is reported at once, each naming the file, the rule and the field;
rules that can never fire or that shadow each other are warned about by
:func:`check_strategy_file` (see :mod:`strategies.rule_checks`). A file may state
``schema_version: 1`` (missing means 1).

Python strategies are named ``package.module:Class`` or ``file.py:Class``
(:mod:`strategies.python_refs`); a strategy object or class handed over in Python is taken as it
is.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.actions import RECOVERY_PATHS
from sim.channels import CHANNEL_NAMES
from sim.portfolio import MONTH_DAYS
from sim.scenario import MAX_CHARGE_OFF_DPD
from sim.shipped import scenarios_folder
from sim.user_input import (
    Problem,
    UserInputError,
    migrate,
    problems_from_validation,
    read_yaml_mapping,
    shown,
)
from strategies.base import NoContact, Strategy
from strategies.expected_recovery import ExpectedRecoveryCalls
from strategies.python_refs import as_strategy, is_python_ref, load_python_strategy
from strategies.rule_checks import ChargeOff, rule_table_warnings
from strategies.rules import FLAG_BITS, RecoveryRule, Rule, RuleTable
from strategies.split import Split

LIBRARY = Path(__file__).resolve().parent / "library"
#: Shipped scenarios, whose charge-off DPDs ``validate`` checks rules against.
SHIPPED_SCENARIOS = scenarios_folder()

#: The strategy file format's version (``schema_version:``; missing means 1).
SCHEMA_VERSION = 1
#: ``MIGRATIONS[v]`` turns a version-``v`` strategy mapping into version ``v + 1``.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

#: Strategies written in Python, by name.
PYTHON_STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "none": NoContact,
    "expected_recovery": ExpectedRecoveryCalls,
}

BUCKETS = {"1-30": (1, 30), "31-60": (31, 60), "61-90": (61, 90), "91-120": (91, 119)}
#: The highest DPD any strategy can see (the latest charge-off a scenario allows, less a day).
MAX_DPD = MAX_CHARGE_OFF_DPD - 1
#: Behaviour scores run from 0 to 1000 (``strategies.score``).
SCORE_MAX = 1000


class StrategyError(UserInputError):
    """A strategy that cannot be used; each problem names the file, the rule and the field."""


Range = tuple[float | None, float | None]


def _band(v: Range | None, info: ValidationInfo) -> Range | None:
    """A ``[min, max)`` band that some account can fall in (``None``: no bound)."""
    if v is None:
        return v
    lo, hi = v
    name = info.field_name
    if lo is not None and hi is not None and lo >= hi:
        hint = f"; did you mean [{hi:g}, {lo:g}]?" if lo > hi else ""
        raise ValueError(
            f"{name} [{lo:g}, {hi:g}) is empty (min must be below max): no account can match" + hint
        )
    if name == "score" and lo is not None and lo > SCORE_MAX:
        raise ValueError(f"scores run from 0 to {SCORE_MAX}: no account scores {lo:g} or more")
    if hi is not None and hi <= 0:
        what = "scores" if name == "score" else "owes"
        raise ValueError(f"no account {what} less than {hi:g}: the band is empty")
    return v


class RuleSpec(BaseModel):
    """One contact rule as written in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    channel: str
    dpd: tuple[int, int | None] | None = Field(
        default=None,
        description="inclusive DPD range; [min, null]: from min to the scenario's charge-off",
    )
    bucket: str | None = Field(default=None, description="1-30, 31-60, 61-90 or 91-120")
    every_days: int | None = Field(default=None, ge=1, le=365)
    per_week: int | None = Field(default=None, ge=1, le=7, description="attempts spread per week")
    attempts_per_day: int = Field(default=1, ge=1, le=10)
    priority: float = Field(default=1.0, ge=0)
    hours: tuple[int, int] | None = None
    fallback: str | None = None
    purpose: list[str] = Field(default_factory=list)
    credit: list[str] = Field(default_factory=list)
    capacity: list[str] = Field(default_factory=list)
    value_tier: list[str] = Field(
        default_factory=list, description="customer value tiers: low, medium, high"
    )
    score: Range | None = Field(default=None, description="behaviour-score band [min, max)")
    flags: list[str] = Field(default_factory=list)
    promise: Literal["any", "pending", "none", "broken"] = "any"
    balance: Range | None = None
    once: bool = False

    @field_validator("channel", "fallback")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        if v is not None and v not in CHANNEL_NAMES:
            raise ValueError(f"unknown channel {v!r}; allowed: {', '.join(CHANNEL_NAMES)}")
        return v

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str | None) -> str | None:
        if v is not None and v not in BUCKETS:
            raise ValueError(f"unknown bucket {v!r}; allowed: {', '.join(BUCKETS)}")
        return v

    @field_validator("dpd")
    @classmethod
    def _dpd(cls, v: tuple[int, int | None] | None) -> tuple[int, int | None] | None:
        if v is None:
            return v
        lo, hi = v
        if hi is not None and lo > hi:
            raise ValueError(
                f"dpd [{lo}, {hi}] is reversed (min above max): no account can match; "
                f"did you mean [{hi}, {lo}]?"
            )
        if lo < -MONTH_DAYS:
            raise ValueError(
                f"dpd starts {-lo} days before the due date, but due dates recur every "
                f"{MONTH_DAYS} days: a pre-due rule reaches at most {MONTH_DAYS} days ahead "
                f"(dpd from -{MONTH_DAYS})"
            )
        if lo > MAX_DPD:
            raise ValueError(
                f"dpd starts at {lo}, but every account is charged off by {MAX_CHARGE_OFF_DPD} "
                "DPD (the latest charge_off_dpd a scenario allows): the rule can never fire"
            )
        return v

    @field_validator("hours")
    @classmethod
    def _hours(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not 0 <= v[0] < v[1] <= 24:
            raise ValueError("hours must be [start, end) with 0 <= start < end <= 24")
        return v

    @field_validator("score", "balance")
    @classmethod
    def _bands(cls, v: Range | None, info: ValidationInfo) -> Range | None:
        return _band(v, info)

    @field_validator("flags")
    @classmethod
    def _flags(cls, v: list[str]) -> list[str]:
        unknown = [f for f in v if f not in FLAG_BITS]
        if unknown:
            raise ValueError(f"unknown flag {unknown}; allowed: {', '.join(FLAG_BITS)}")
        return v

    @model_validator(mode="after")
    def _one_range(self) -> RuleSpec:
        if (self.dpd is None) == (self.bucket is None):
            raise ValueError("give exactly one of dpd: [min, max] or bucket")
        if self.every_days is not None and self.per_week is not None:
            raise ValueError("give every_days or per_week, not both")
        if self.fallback is not None and self.fallback == self.channel:
            raise ValueError(f"fallback must differ from the rule's channel ({self.channel})")
        return self

    def to_rule(self) -> Rule:
        lo, hi = self.dpd if self.dpd is not None else BUCKETS[self.bucket]
        if hi is None:  # open-ended: every DPD an account can reach before charge-off
            hi = MAX_DPD
        every = self.every_days or (max(1, round(7 / self.per_week)) if self.per_week else 1)
        score = self.score or (None, None)
        balance = self.balance or (None, None)
        return Rule(
            channel=self.channel,
            dpd_min=lo,
            dpd_max=hi,
            every_days=every,
            attempts_per_day=self.attempts_per_day,
            priority=self.priority,
            hours=self.hours,
            fallback=self.fallback,
            purposes=tuple(self.purpose),
            credits=tuple(self.credit),
            capacities=tuple(self.capacity),
            value_tiers=tuple(self.value_tier),
            score_min=score[0],
            score_max=score[1],
            flags=tuple(self.flags),
            promise=self.promise,
            balance_min=balance[0],
            balance_max=balance[1],
            once=self.once,
        )


class RecoverySpec(BaseModel):
    """One post-charge-off row: a path for claims in a balance range and segment."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    path: str
    balance: Range | None = None
    purpose: list[str] = Field(default_factory=list)
    credit: list[str] = Field(default_factory=list)
    capacity: list[str] = Field(default_factory=list)

    @field_validator("balance")
    @classmethod
    def _balance(cls, v: Range | None, info: ValidationInfo) -> Range | None:
        return _band(v, info)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if v not in RECOVERY_PATHS:
            raise ValueError(f"unknown path {v!r}; allowed: {', '.join(RECOVERY_PATHS)}")
        return v

    def to_rule(self) -> RecoveryRule:
        lo, hi = self.balance or (None, None)
        return RecoveryRule(
            self.path, lo, hi, tuple(self.purpose), tuple(self.credit), tuple(self.capacity)
        )


class ArmSpec(BaseModel):
    """One arm of a champion/challenger split."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    strategy: str
    share: float = Field(ge=0, le=1)


class StrategySpec(BaseModel):
    """A strategy file: a rule table (``rules``) or a split (``split``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1)
    description: str = ""
    rules: list[RuleSpec] | None = None
    recovery: list[RecoverySpec] = Field(default_factory=list)
    split: list[ArmSpec] | None = None

    @model_validator(mode="after")
    def _kind(self) -> StrategySpec:
        if (self.rules is None) == (self.split is None):
            raise ValueError("a strategy file has either 'rules' or 'split'")
        if self.rules is not None and not self.rules:
            raise ValueError("'rules' must list at least one rule")
        if self.split is not None:
            if len(self.split) < 2:
                raise ValueError("a split needs at least two arms")
            total = sum(a.share for a in self.split)
            if abs(total - 1) > 1e-9:
                raise ValueError(f"split shares must sum to 1 (they sum to {total:.6g})")
        return self


#: The lists of a strategy file, and what one entry of each is called in messages.
_ENTRIES = {"rules": "rule", "recovery": "recovery rule", "split": "arm"}


def validation_message(exc: ValidationError, source: str, entries: dict[str, str]) -> str:
    """A pydantic error as one line per problem: ``source: rule 2, field 'channel': ...``.

    ``entries`` names the file's lists and what one entry is called (``{"rules": "rule"}``).
    """
    return "\n".join(str(p) for p in problems_from_validation(exc, source, entries=entries))


def _arm_file(ref: str, folder: Path) -> Path | None:
    """The file an arm's ``strategy`` names (relative to the split's folder first, then to the
    current folder), or None for a library or Python strategy."""
    if ref == "default" or ref in PYTHON_STRATEGIES or is_python_ref(ref):
        return None
    if ref in library():
        return library()[ref]
    path = Path(ref)
    if not path.is_absolute() and _exists(folder / path):
        return folder / path
    return path


def _exists(path: Path) -> bool:
    """Does ``path`` exist? False for names no file can have (too long, a NUL byte)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _load_split(spec: StrategySpec, path: Path, chain: tuple[Path, ...]) -> Split:
    source = str(path)
    chain = (*chain, path.resolve())
    arms, problems = [], []
    for i, arm in enumerate(spec.split or ()):
        where, field = f"arm {i + 1}, field 'strategy'", f"split.{i}.strategy"
        target = _arm_file(arm.strategy, path.resolve().parent)
        if target is not None and target.resolve() in chain:
            cycle = [*chain[chain.index(target.resolve()) :], target.resolve()]
            message = (
                "points at this same file: a split cannot contain itself"
                if len(cycle) == 2
                else "the splits form a cycle: " + " -> ".join(p.name for p in cycle)
            )
            problems.append(Problem(source, field, message, shown(arm.strategy), where))
            continue
        try:
            strategy = resolve(str(target) if target is not None else arm.strategy, chain)
        except UserInputError as exc:
            for p in exc.problems:
                problems.append(Problem(source, field, str(p), None, where))
            continue
        arms.append((strategy, arm.share))
    if problems:
        raise StrategyError(problems)
    try:
        return Split(spec.name, arms, spec.description)
    except ValueError as exc:
        raise StrategyError(Problem(source, "split", str(exc))) from None


def load_strategy_file(path: str | Path, _chain: tuple[Path, ...] = ()) -> Strategy:
    """Read and validate a strategy file (rule table or split).

    Raises
    ------
    StrategyError
        Every problem of the file at once (one line each), naming the file, the rule or arm,
        and the field; a split whose arms lead back to itself names the cycle.
    """
    path = Path(path)
    source = str(path)
    hint = "'name' and 'rules' (or 'split')"
    data = read_yaml_mapping(path, "strategy", StrategyError, hint, _ENTRIES)
    data = migrate(data, source, "strategy", SCHEMA_VERSION, MIGRATIONS, StrategyError)
    try:
        spec = StrategySpec.model_validate(data)
    except ValidationError as exc:
        raise StrategyError(
            problems_from_validation(exc, source, StrategySpec, "strategy", _ENTRIES)
        ) from None
    if spec.split is not None:
        return _load_split(spec, path, _chain)
    rules, recovery, problems = [], [], []
    for i, r in enumerate(spec.rules or ()):
        try:
            rules.append(r.to_rule())
        except ValueError as exc:
            problems.append(Problem(source, f"rules.{i}", str(exc), where=f"rule {i + 1}"))
    for i, r in enumerate(spec.recovery):
        try:
            recovery.append(r.to_rule())
        except ValueError as exc:
            problems.append(
                Problem(source, f"recovery.{i}", str(exc), where=f"recovery rule {i + 1}")
            )
    if problems:
        raise StrategyError(problems)
    return RuleTable(spec.name, rules, spec.description, recovery)


def shipped_charge_offs() -> list[ChargeOff]:
    """The charge-off DPDs to check rules against: the default (120) and the shipped
    scenarios' (read from ``scenarios/`` when it is there), grouped by value."""
    from sim.scenario import Scenario

    default = Scenario.model_fields["charge_off_dpd"].default
    by_dpd: dict[int, list[str]] = {default: ["the default"]}
    for path in sorted(SHIPPED_SCENARIOS.glob("*.yaml")):
        try:
            value = read_yaml_mapping(path, "scenario").get("charge_off_dpd", default)
        except UserInputError:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            by_dpd.setdefault(value, []).append(path.stem)
    return [ChargeOff(dpd, ", ".join(names)) for dpd, names in sorted(by_dpd.items())]


@dataclass(frozen=True)
class StrategyCheck:
    """What ``postloan strategies validate`` reports on a file that loads."""

    strategy: Strategy
    warnings: tuple[Problem, ...]


def strategy_warnings(
    strategy: Strategy, source: str, charge_offs: list[ChargeOff]
) -> list[Problem]:
    """Warnings about a loaded strategy: its rule tables (a split's arms included)."""
    if isinstance(strategy, Split):
        out = []
        for i, arm in enumerate(strategy.strategies):
            for p in strategy_warnings(arm, f"{source}: arm {i + 1} ({arm.name})", charge_offs):
                out.append(p)
        return out
    if isinstance(strategy, RuleTable):
        return rule_table_warnings(strategy.rules, strategy.recovery, source, charge_offs)
    return []


def check_strategy_file(path: str | Path, scenario: Any = None) -> StrategyCheck:
    """Load a strategy file and list what is suspicious about it (``strategies validate``).

    Parameters
    ----------
    path : str or Path
    scenario : sim.scenario.Scenario, optional
        Check DPD ranges against its charge-off; without it, against the default and the
        shipped scenarios'.

    Raises
    ------
    StrategyError
        Every problem that makes the file unusable, at once.
    """
    strategy = load_strategy_file(path)
    if scenario is not None:
        charge_offs = [ChargeOff(scenario.charge_off_dpd, f"scenario {scenario.name}")]
    else:
        charge_offs = shipped_charge_offs()
    return StrategyCheck(strategy, tuple(strategy_warnings(strategy, str(path), charge_offs)))


def library() -> dict[str, Path]:
    """The library's strategy files by name (the file's stem)."""
    return {p.stem: p for p in sorted(LIBRARY.glob("*.yaml"))}


def _library_path(ref: str) -> Path | str:
    """``ref``, or the library's file when ``ref`` is written the repository's way
    (``strategies/library/NAME.yaml``) and the working directory has no such file."""
    path = Path(ref)
    if path.parts[:2] != ("strategies", "library") or _exists(path):
        return ref
    shipped = LIBRARY.joinpath(*path.parts[2:])
    return shipped if shipped.is_file() else ref


def names() -> list[str]:
    """Every strategy name ``resolve`` knows without a path."""
    return ["default", *PYTHON_STRATEGIES, *library()]


def resolve(ref: str | os.PathLike | Strategy | type, _chain: tuple[Path, ...] = ()) -> Strategy:
    """A strategy from what a user names.

    ``ref`` is a library name (``standard``, alias ``default``), a Python strategy's name
    (``none``, ``expected_recovery``), ``package.module:Class`` or ``file.py:Class``, the path
    of a strategy YAML file (a string or a ``Path``), or (from Python) a strategy object or
    class, taken as it is.

    Raises
    ------
    StrategyError
        Unknown name, broken file, or a Python reference that does not give a strategy.
    """
    if isinstance(ref, os.PathLike):
        ref = os.fspath(ref)
    if not isinstance(ref, str):
        try:
            return as_strategy(ref)
        except UserInputError as exc:
            raise StrategyError(exc.problems) from None
    if ref == "default":
        ref = "standard"
    if ref in PYTHON_STRATEGIES:
        return PYTHON_STRATEGIES[ref]()
    lib = library()
    if ref in lib:
        return load_strategy_file(lib[ref], _chain)
    if ref.endswith((".yaml", ".yml")) or _exists(Path(ref)):
        return load_strategy_file(_library_path(ref), _chain)
    if is_python_ref(ref):
        try:
            return load_python_strategy(ref)
        except UserInputError as exc:
            raise StrategyError(exc.problems) from None
    raise StrategyError(
        f"unknown strategy {ref!r}; known: {', '.join(names())}, the path of a strategy YAML "
        "file, or a Python strategy as package.module:Class"
    )
