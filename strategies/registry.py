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

Every field of a rule is described in :class:`RuleSpec`. Files are read with
``yaml.safe_load`` and validated; nothing in them is executed. Errors name the file, the rule
and the field.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.actions import RECOVERY_PATHS
from sim.channels import CHANNEL_NAMES
from strategies.base import NoContact, Strategy
from strategies.expected_recovery import ExpectedRecoveryCalls
from strategies.rules import FLAG_BITS, RecoveryRule, Rule, RuleTable
from strategies.split import Split

LIBRARY = Path(__file__).resolve().parent / "library"

#: Strategies written in Python, by name.
PYTHON_STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "none": NoContact,
    "expected_recovery": ExpectedRecoveryCalls,
}

BUCKETS = {"1-30": (1, 30), "31-60": (31, 60), "61-90": (61, 90), "91-120": (91, 119)}


class StrategyError(ValueError):
    """A strategy that cannot be used; the message names the file, the rule and the field."""


Range = tuple[float | None, float | None]


class RuleSpec(BaseModel):
    """One contact rule as written in YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    dpd: tuple[int, int] | None = Field(default=None, description="inclusive DPD range")
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
        return self

    def to_rule(self) -> Rule:
        lo, hi = self.dpd if self.dpd is not None else BUCKETS[self.bucket]
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
            score_min=score[0],
            score_max=score[1],
            flags=tuple(self.flags),
            promise=self.promise,
            balance_min=balance[0],
            balance_max=balance[1],
            once=self.once,
        )


class RecoverySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    balance: Range | None = None
    purpose: list[str] = Field(default_factory=list)
    credit: list[str] = Field(default_factory=list)
    capacity: list[str] = Field(default_factory=list)

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
    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: str
    share: float = Field(ge=0, le=1)


class StrategySpec(BaseModel):
    """A strategy file: a rule table (``rules``) or a split (``split``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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


def _where(loc: tuple, entries: dict[str, str]) -> str:
    loc = list(loc)
    if len(loc) >= 2 and loc[0] in entries and isinstance(loc[1], int):
        rest = ".".join(str(x) for x in loc[2:] if not isinstance(x, int)) or "(whole entry)"
        return f"{entries[loc[0]]} {loc[1] + 1}, field '{rest}'"
    return "field '" + (".".join(map(str, loc)) or "(top level)") + "'"


def validation_message(exc: ValidationError, source: str, entries: dict[str, str]) -> str:
    """A pydantic error as one line per problem: ``source: rule 2, field 'channel': ...``.

    ``entries`` names the file's lists and what one entry is called (``{"rules": "rule"}``).
    """
    lines = []
    for e in exc.errors():
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"{source}: {_where(e['loc'], entries)}: {msg}")
    return "\n".join(lines)


def load_strategy_file(path: str | Path, _seen: tuple[str, ...] = ()) -> Strategy:
    """Read and validate a strategy file (rule table or split)."""
    source = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StrategyError(f"{source}: no such strategy file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise StrategyError(f"{source}: cannot read as YAML: {exc}") from None
    if not isinstance(data, dict):
        raise StrategyError(f"{source}: a strategy file must be a mapping with 'name' and 'rules'")
    try:
        spec = StrategySpec.model_validate(data)
    except ValidationError as exc:
        raise StrategyError(validation_message(exc, source, _ENTRIES)) from None
    if spec.split is not None:
        arms = []
        for i, arm in enumerate(spec.split, start=1):
            if arm.strategy in _seen or arm.strategy == spec.name:
                raise StrategyError(f"{source}: arm {i}: a split cannot contain itself")
            try:
                arms.append((resolve(arm.strategy, (*_seen, spec.name)), arm.share))
            except StrategyError as exc:
                raise StrategyError(f"{source}: arm {i}, field 'strategy': {exc}") from None
        try:
            return Split(spec.name, arms, spec.description)
        except ValueError as exc:
            raise StrategyError(f"{source}: {exc}") from None
    rules = []
    for i, r in enumerate(spec.rules, start=1):
        try:
            rules.append(r.to_rule())
        except ValueError as exc:
            raise StrategyError(f"{source}: rule {i}: {exc}") from None
    recovery = []
    for i, r in enumerate(spec.recovery, start=1):
        try:
            recovery.append(r.to_rule())
        except ValueError as exc:
            raise StrategyError(f"{source}: recovery rule {i}: {exc}") from None
    return RuleTable(spec.name, rules, spec.description, recovery)


def library() -> dict[str, Path]:
    """The library's strategy files by name (the file's stem)."""
    return {p.stem: p for p in sorted(LIBRARY.glob("*.yaml"))}


def names() -> list[str]:
    """Every strategy name ``resolve`` knows without a path."""
    return ["default", *PYTHON_STRATEGIES, *library()]


def resolve(name_or_file: str, _seen: tuple[str, ...] = ()) -> Strategy:
    """A strategy by name (library file stem or Python strategy) or a YAML file path."""
    if name_or_file == "default":
        name_or_file = "standard"
    if name_or_file in PYTHON_STRATEGIES:
        return PYTHON_STRATEGIES[name_or_file]()
    lib = library()
    if name_or_file in lib:
        return load_strategy_file(lib[name_or_file], _seen)
    if name_or_file.endswith((".yaml", ".yml")) or Path(name_or_file).exists():
        return load_strategy_file(name_or_file, _seen)
    raise StrategyError(
        f"unknown strategy {name_or_file!r}; known: {', '.join(names())}, "
        "or give the path of a strategy YAML file"
    )
