"""Find a strategy by name or file: built-ins by name, rule tables from YAML files.

A rule-table file looks like::

    name: my_ladder
    description: SMS first, then calls
    rules:
      - {channel: sms, dpd_min: 1, dpd_max: 30, every_days: 3, priority: 1}
      - {channel: call, dpd_min: 5, dpd_max: 119, every_days: 1, priority: 2}

Files are read with ``yaml.safe_load`` and validated; nothing in them is executed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sim.channels import CHANNEL_NAMES
from strategies.base import NoContact, Strategy
from strategies.default import default_strategy
from strategies.rules import Rule, RuleTable

BUILT_IN: dict[str, Callable[[], Strategy]] = {
    "default": default_strategy,
    "none": NoContact,
}


class StrategyError(ValueError):
    """A strategy that cannot be used; the message names the file, the rule and the field."""


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    dpd_min: int = Field(ge=-30, le=720)
    dpd_max: int = Field(ge=-30, le=720)
    every_days: int = Field(default=1, ge=1, le=365)
    priority: float = Field(default=1.0, ge=0)
    hardship_seen_only: bool = False
    once: bool = False

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        if v not in CHANNEL_NAMES:
            raise ValueError(f"unknown channel {v!r}; allowed: {', '.join(CHANNEL_NAMES)}")
        return v


class RuleTableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    rules: list[RuleSpec] = Field(min_length=1)


def load_rule_table(path: str | Path) -> RuleTable:
    """Read and validate a rule-table file."""
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
        spec = RuleTableSpec.model_validate(data)
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            loc = list(e["loc"])
            where = "field '" + ".".join(map(str, loc)) + "'"
            if len(loc) >= 2 and loc[0] == "rules":
                where = f"rule {int(loc[1]) + 1}, field '{'.'.join(map(str, loc[2:])) or '(rule)'}'"
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown key"
            lines.append(f"{source}: {where}: {msg}")
        raise StrategyError("\n".join(lines)) from None
    rules = []
    for i, r in enumerate(spec.rules, start=1):
        try:
            rules.append(Rule(**r.model_dump()))
        except ValueError as exc:
            raise StrategyError(f"{source}: rule {i}: {exc}") from None
    return RuleTable(spec.name, rules, spec.description)


def resolve(name_or_file: str) -> Strategy:
    """A built-in strategy by name, or a rule table from a YAML file path."""
    if name_or_file in BUILT_IN:
        return BUILT_IN[name_or_file]()
    if name_or_file.endswith((".yaml", ".yml")) or Path(name_or_file).exists():
        return load_rule_table(name_or_file)
    raise StrategyError(
        f"unknown strategy {name_or_file!r}; built-in: {', '.join(BUILT_IN)}, "
        "or give the path of a rule-table YAML file"
    )
