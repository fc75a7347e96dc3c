"""Decision spaces: which levers to search, their bounds, and how a lever vector becomes a
strategy (a :class:`strategies.rules.RuleTable`) and a staffing plan (``StaffingSpec``).

A space file::

    name: example
    base_strategy: standard          # library name or strategy file; levers edit its rules
    replications: 2                  # seeds per candidate (the same seeds for every candidate)
    constraints:
      budget: 60000                  # total cost over the horizon (optional)
      compliance_breaches: 0         # always enforced
      min_service_level: 0.8         # inbound service level, when staffing levers exist
    levers:
      - {name: call_every_1_30, kind: every_days, channel: call, bucket: 1-30, low: 1, high: 7}
      - {name: sms_share_1_30, kind: channel_mix, bucket: 1-30, channels: [sms, call],
         touches_per_week: 4, low: 0, high: 1}
      - {name: call_start, kind: start_day, channel: call, bucket: 1-30, low: 1, high: 15}
      - {name: early_agents, kind: staffing, team: early_stage, low: 2, high: 20}
    allocation:                      # --method allocation
      treatments: [none, light_touch, standard, aggressive]
      teams: false                   # size call and field teams (integer)
      recovery: base                 # recovery paths: the base strategy's, or 'treatment'

Lever kinds:

``every_days``
    Days between attempts for the base strategy's rules on ``channel`` whose DPD range overlaps
    ``bucket`` (integer).
``start_day``
    First DPD of those rules (integer; clipped to the rule's end).
``channel_mix``
    Share of ``touches_per_week`` contacts in ``bucket`` given to the first of ``channels``; the
    rest goes to the second. Each channel's rule gets ``every_days = round(7 / per_week)``; a
    channel with fewer than one touch in 30 days is dropped. A missing rule is cloned from the
    other channel's. Continuous.
``staffing``
    Agents in ``team`` (early_stage, late_stage, field, legal) of the scenario's staffing plan
    (the plan sized to the book when the scenario has none, :mod:`sim.book_staffing`). Integer.
``training``
    Training level of the staffing plan, within [0, 1] (costs per agent-day, raises promise
    rates with diminishing returns after a ramp-up: :mod:`sim.operations.training`).
    Continuous.

Errors name the file and the field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.book_staffing import book_staffing, with_book_staffing
from sim.channels import CHANNEL_NAMES
from sim.scenario import Scenario, StaffingSpec
from sim.user_input import Problem, UserInputError, problems_from_validation, read_yaml_mapping
from strategies.registry import BUCKETS, resolve
from strategies.registry import SCHEMA_VERSION as STRATEGY_SCHEMA_VERSION
from strategies.rules import Rule, RuleTable

TEAMS = ("early_stage", "late_stage", "field", "legal")
INTEGER_KINDS = ("every_days", "start_day", "staffing")


class SpaceError(UserInputError):
    """A decision space that cannot be used; each problem names the file and the field."""


class LeverSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1)
    kind: Literal["every_days", "start_day", "channel_mix", "staffing", "training"]
    low: float
    high: float
    channel: str | None = None
    bucket: str | None = None
    channels: tuple[str, str] | None = None
    touches_per_week: float = Field(default=3.0, gt=0, le=70)
    team: str | None = None
    integer: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> LeverSpec:
        if self.low > self.high:
            raise ValueError(f"low {self.low} > high {self.high}")
        if self.kind in ("every_days", "start_day", "channel_mix") and self.bucket is None:
            raise ValueError(f"a {self.kind} lever needs 'bucket' ({', '.join(BUCKETS)})")
        if self.bucket is not None and self.bucket not in BUCKETS:
            raise ValueError(f"unknown bucket {self.bucket!r}; allowed: {', '.join(BUCKETS)}")
        if self.kind in ("every_days", "start_day"):
            if self.channel not in CHANNEL_NAMES:
                raise ValueError(
                    f"a {self.kind} lever needs 'channel', one of {', '.join(CHANNEL_NAMES)}"
                )
            if self.low < 1:
                raise ValueError(f"low must be >= 1 for a {self.kind} lever")
        if self.kind == "channel_mix":
            if not self.channels or any(c not in CHANNEL_NAMES for c in self.channels):
                raise ValueError("a channel_mix lever needs 'channels': [first, second]")
            if self.channels[0] == self.channels[1]:
                raise ValueError("channel_mix channels must differ")
            if not 0 <= self.low <= self.high <= 1:
                raise ValueError("channel_mix bounds must lie in [0, 1]")
        if self.kind == "staffing":
            if self.team not in TEAMS:
                raise ValueError(f"a staffing lever needs 'team', one of {', '.join(TEAMS)}")
            if self.low < 0:
                raise ValueError("team sizes cannot be negative")
        if self.kind == "training" and not 0 <= self.low <= self.high <= 1:
            raise ValueError("training bounds must lie in [0, 1]")
        return self

    @property
    def is_integer(self) -> bool:
        return self.integer if self.integer is not None else self.kind in INTEGER_KINDS


class Constraints(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    budget: float | None = Field(default=None, gt=0)
    compliance_breaches: int = Field(default=0, ge=0)
    min_service_level: float | None = Field(default=None, ge=0, le=1)
    churn_cap: float | None = Field(default=None, ge=0)


class AllocationSpec(BaseModel):
    """The treatments of the allocation model (``--method allocation``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    treatments: list[str] = Field(
        default_factory=lambda: ["none", "light_touch", "standard", "aggressive"], min_length=2
    )
    teams: bool = Field(default=False, description="size call and field teams (integer)")
    max_agents: int = Field(default=200, ge=0)
    recovery: Literal["base", "treatment"] = Field(
        default="base",
        description="post-charge-off recovery paths: the base strategy's for every treatment "
        "('base': the allocation chooses contact policies only) or each treatment's own",
    )


class SpaceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1)
    description: str = ""
    base_strategy: str = "standard"
    replications: int = Field(default=2, ge=1, le=50)
    constraints: Constraints = Field(default_factory=Constraints)
    levers: list[LeverSpec] = Field(min_length=1)
    allocation: AllocationSpec = Field(default_factory=AllocationSpec)

    @model_validator(mode="after")
    def _unique(self) -> SpaceSpec:
        names = [lv.name for lv in self.levers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"lever names must be unique; repeated: {', '.join(dup)}")
        return self


def _overlaps(rule: Rule, bucket: str) -> bool:
    lo, hi = BUCKETS[bucket]
    return rule.dpd_min <= hi and rule.dpd_max >= lo


@dataclasses.dataclass
class Space:
    """A validated decision space bound to its base strategy."""

    spec: SpaceSpec
    base: RuleTable
    source: str = "<space>"

    @property
    def names(self) -> list[str]:
        return [lv.name for lv in self.spec.levers]

    @property
    def lower(self) -> np.ndarray:
        return np.array([lv.low for lv in self.spec.levers], float)

    @property
    def upper(self) -> np.ndarray:
        return np.array([lv.high for lv in self.spec.levers], float)

    @property
    def integer(self) -> np.ndarray:
        return np.array([lv.is_integer for lv in self.spec.levers], bool)

    @property
    def has_staffing(self) -> bool:
        """Whether the space edits the staffing plan (team sizes or training)."""
        return any(lv.kind in ("staffing", "training") for lv in self.spec.levers)

    def clip(self, x) -> np.ndarray:
        """Into bounds, integer levers rounded, shares to 0.01 (so equal plans compare equal)."""
        x = np.clip(np.asarray(x, float), self.lower, self.upper)
        return np.where(self.integer, np.round(x), np.round(x, 2))

    def as_dict(self, x) -> dict[str, float]:
        x = self.clip(x)
        return {
            n: (int(v) if i else float(v))
            for n, v, i in zip(self.names, x, self.integer, strict=True)
        }

    def strategy(self, x, name: str = "candidate") -> RuleTable:
        """The base strategy with the levers applied."""
        x = self.clip(x)
        rules = list(self.base.rules)
        for lv, v in zip(self.spec.levers, x, strict=True):
            if lv.kind in ("every_days", "start_day"):
                for i, r in enumerate(rules):
                    if r.channel == lv.channel and _overlaps(r, lv.bucket):
                        if lv.kind == "every_days":
                            rules[i] = dataclasses.replace(r, every_days=int(v))
                        else:
                            rules[i] = dataclasses.replace(r, dpd_min=min(int(v), r.dpd_max))
            elif lv.kind == "channel_mix":
                rules = _apply_mix(rules, lv, float(v))
        return RuleTable(
            name, rules, f"{self.spec.name}: {self.as_dict(x)}", list(self.base.recovery)
        )

    def staffing(self, scenario: Scenario, x) -> StaffingSpec | None:
        """The staffing plan for ``x`` (None when the space has no staffing lever)."""
        if not self.has_staffing:
            return scenario.staffing
        x = self.clip(x)
        # teams without a lever keep the plan sized to the book (sim.book_staffing), not the
        # default plan of a 100,000-account book
        teams = book_staffing(scenario).model_dump()
        for lv, v in zip(self.spec.levers, x, strict=True):
            if lv.kind == "staffing":
                teams[lv.team] = int(v)
            elif lv.kind == "training":
                teams["training"] = float(v)
        return StaffingSpec(**teams)

    def scenario(self, scenario: Scenario, x) -> Scenario:
        """The scenario to run ``x`` on (with its staffing plan when the space has one)."""
        if not self.has_staffing:
            return scenario
        plan = self.staffing(scenario, x)
        return Scenario.model_validate({**scenario.model_dump(), "staffing": plan.model_dump()})

    def reference_scenario(self, scenario: Scenario) -> Scenario:
        """The scenario the reference strategy runs on.

        When the space sizes teams (staffing levers, or ``allocation.teams``) the reference
        runs with the plan sized to the book, so that it pays staff by the day as the
        candidates do (one cost basis); otherwise the scenario as given.
        """
        if not (self.has_staffing or self.spec.allocation.teams):
            return scenario
        return with_book_staffing(scenario)

    def grid(self, levels: int = 5) -> np.ndarray:
        """Every combination: integer levers at every value (if fewer than ``levels``... all
        values), continuous ones at ``levels`` evenly spaced points."""
        axes = []
        for lv in self.spec.levers:
            if lv.is_integer:
                axes.append(
                    np.arange(int(np.ceil(lv.low)), int(np.floor(lv.high)) + 1, dtype=float)
                )
            else:
                axes.append(np.linspace(lv.low, lv.high, levels))
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)


def _apply_mix(rules: list[Rule], lv: LeverSpec, share: float) -> list[Rule]:
    first, second = lv.channels
    template = next(
        (r for r in rules if r.channel in lv.channels and _overlaps(r, lv.bucket)), None
    )
    if template is None:
        lo, hi = BUCKETS[lv.bucket]
        template = Rule(channel=first, dpd_min=lo, dpd_max=hi)
    out = [r for r in rules if not (r.channel in lv.channels and _overlaps(r, lv.bucket))]
    for ch, s in ((first, share), (second, 1.0 - share)):
        per_week = s * lv.touches_per_week
        if per_week * 30 / 7 < 1:  # fewer than one touch in 30 days: no rule
            continue
        existing = next((r for r in rules if r.channel == ch and _overlaps(r, lv.bucket)), None)
        base = existing or dataclasses.replace(template, channel=ch, fallback=None)
        every = max(1, round(7 / per_week))
        out.append(dataclasses.replace(base, every_days=every))
    return out


def load_space(path: str | Path) -> Space:
    """Read and validate a space file (safe YAML, duplicate keys refused).

    Raises
    ------
    SpaceError
        Every problem at once, each naming the file and the field.
    """
    data = read_yaml_mapping(path, "space", SpaceError, "'name' and 'levers'", {"levers": "lever"})
    return space_from_dict(data, str(path))


def space_from_dict(data: dict, source: str = "<space>") -> Space:
    """A validated space from a mapping (the content of a space file)."""
    try:
        spec = SpaceSpec.model_validate(data)
    except ValidationError as exc:
        raise SpaceError(
            problems_from_validation(exc, source, SpaceSpec, "space", {"levers": "lever"})
        ) from None
    try:
        base = resolve(spec.base_strategy)
    except UserInputError as exc:
        raise SpaceError([Problem(source, "base_strategy", str(p)) for p in exc.problems]) from None
    if not isinstance(base, RuleTable):
        raise SpaceError(
            Problem(source, "base_strategy", "must be a rule table, not a split or Python class")
        )
    problems = []
    for i, lv in enumerate(spec.levers):
        if lv.kind in ("every_days", "start_day") and not any(
            r.channel == lv.channel and _overlaps(r, lv.bucket) for r in base.rules
        ):
            problems.append(
                Problem(
                    source,
                    f"levers.{i}.channel",
                    f"the base strategy {base.name!r} has no {lv.channel} rule in bucket "
                    f"{lv.bucket}",
                    where=f"lever {i + 1} ('{lv.name}'), field 'channel'",
                )
            )
    if problems:
        raise SpaceError(problems)
    return Space(spec, base, source)


def strategy_yaml(table: RuleTable, header: str = "") -> str:
    """A rule table as a strategy file that ``strategies.registry.load_strategy_file`` reads."""
    rules = []
    for r in table.rules:
        d: dict = {"channel": r.channel, "dpd": [r.dpd_min, r.dpd_max]}
        if r.once:
            d["once"] = True
        else:
            d["every_days"] = r.every_days
        if r.attempts_per_day != 1:
            d["attempts_per_day"] = r.attempts_per_day
        d["priority"] = r.priority
        if r.hours:
            d["hours"] = list(r.hours)
        if r.fallback:
            d["fallback"] = r.fallback
        for key, val in (
            ("purpose", r.purposes),
            ("credit", r.credits),
            ("capacity", r.capacities),
        ):
            if val:
                d[key] = list(val)
        if r.score_min is not None or r.score_max is not None:
            d["score"] = [r.score_min, r.score_max]
        if r.flags:
            d["flags"] = list(r.flags)
        if r.promise != "any":
            d["promise"] = r.promise
        if r.balance_min is not None or r.balance_max is not None:
            d["balance"] = [r.balance_min, r.balance_max]
        rules.append(d)
    recovery = []
    for rr in table.recovery:
        d = {"path": rr.path}
        if rr.balance_min is not None or rr.balance_max is not None:
            d["balance"] = [rr.balance_min, rr.balance_max]
        for key, val in (
            ("purpose", rr.purposes),
            ("credit", rr.credits),
            ("capacity", rr.capacities),
        ):
            if val:
                d[key] = list(val)
        recovery.append(d)
    doc = {
        "schema_version": STRATEGY_SCHEMA_VERSION,
        "name": table.name,
        "description": table.description,
        "rules": rules,
    }
    if recovery:
        doc["recovery"] = recovery
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
    return (header + body) if header else body
