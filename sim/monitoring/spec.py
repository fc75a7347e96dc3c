"""The monitoring file: which KPIs are watched, against which thresholds.

A monitoring file (YAML) lists rules::

    name: default
    warm_up_days: 60                       # judged from day 60; changes reach back to it at most
    rules:
      - id: delinquency_30p                # unique; names the alert
        kpi: delinquency_rate_30p          # a KPI of KPI_CATALOGUE, or a daily-table column
        measure: level                     # level | change | relative_change
        change_days: 90                    # for change / relative_change: compared with then
        threshold: 0.044
        direction: above                   # above | below: which side is bad
        severity: warning                  # info | warning | critical
        every: day                         # day | month: evaluated each day or at month ends
        window_days: 30                    # flows and flow rates: the trailing window
        min_count: 30                      # rates on fewer events (denominator) are not judged
        source: "GAO-09-748: ..."          # where the threshold comes from (free text)
    concentration:                         # optional limits on exposure concentration
      share: {purpose: 0.8, "purpose:business": 0.3}
      hhi: {purpose: 0.6}

The file is read with :func:`sim.user_input.read_yaml_mapping` (safe YAML, duplicate keys
refused) and validated here; every problem names the file and the field
(:class:`MonitoringError`, a :class:`sim.user_input.UserInputError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.kpis import DERIVED_COLUMNS, FLOW_COLUMNS, STOCK_COLUMNS
from sim.user_input import Problem, UserInputError, problems_from_validation, read_yaml_mapping

#: The shipped default set (package data of ``sim``).
DEFAULT_MONITORING = Path(__file__).with_name("default.yaml")

#: KPIs the monitor computes beyond the daily table's columns: name -> (definition, kind).
#: ``kind``: ``stock`` (the evening's value), ``window`` (over the trailing ``window_days``),
#: ``month`` (from the month-end roll counts; defined at month ends only).
KPI_CATALOGUE: dict[str, tuple[str, str]] = {
    "delinquency_rate_30p": ("31+ DPD share of outstanding principal (逾期率)", "stock"),
    "npl_ratio_90p": ("91+ DPD share of outstanding principal (不良率)", "stock"),
    "charge_off_rate_annualised": (
        "principal charged off in the window over the outstanding at its start, x 360/window",
        "window",
    ),
    "new_delinquency_rate": (
        "new delinquencies in the window over current accounts at its start, x 30/window",
        "window",
    ),
    "cure_rate": (
        "cures in the window over accounts delinquent at its start plus new delinquencies",
        "window",
    ),
    "promise_keep_rate": ("promises kept over promises kept or broken in the window", "window"),
    "complaints_per_1000": (
        "complaints in the window per 1,000 open accounts, x 30/window (a month's)",
        "window",
    ),
    "churn_per_1000": (
        "customers churned in the window per 1,000 open accounts, x 30/window",
        "window",
    ),
    "cost_per_collected": ("collection cost over cash collected in the window", "window"),
    "rpc_rate": ("right-party contacts per contact attempt in the window", "window"),
    "roll_current_to_1_30": ("month-end roll current -> 1-30 DPD", "month"),
    "roll_1_30_to_31_60": ("month-end roll 1-30 -> 31-60 DPD", "month"),
    "roll_31_60_to_61_90": ("month-end roll 31-60 -> 61-90 DPD", "month"),
    "roll_61_90_to_91_120": ("month-end roll 61-90 -> 91-120 DPD", "month"),
    "roll_91_120_to_charged_off": ("month-end roll 91-120 DPD -> charged off", "month"),
    "roll_1_30_to_current": ("month-end roll 1-30 DPD -> current (cure)", "month"),
    "ew_hardship_seen": ("open accounts with the hardship indicator seen", "stock"),
    "ew_missed_reminder": ("open accounts whose last pre-due reminder failed", "stock"),
    "ew_partial_payment": ("open accounts with a partial payment in the last 90 days", "stock"),
    "ew_any": ("open accounts with any of the three early-warning flags", "stock"),
    "ew_any_share": ("ew_any over open accounts", "stock"),
}
#: Daily-table columns a rule may name directly (flows are summed over the window).
TABLE_COLUMNS = (*STOCK_COLUMNS, *FLOW_COLUMNS, *DERIVED_COLUMNS)


class MonitoringError(UserInputError):
    """A monitoring file that cannot be used."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Rule(_Spec):
    """One watched KPI and its threshold."""

    id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$")
    kpi: str
    measure: Literal["level", "change", "relative_change"] = "level"
    change_days: int = Field(default=90, ge=1, le=3650)
    threshold: float
    direction: Literal["above", "below"] = "above"
    severity: Literal["info", "warning", "critical"] = "warning"
    every: Literal["day", "month"] = "day"
    window_days: int = Field(default=30, ge=1, le=365)
    min_count: int = Field(default=30, ge=0)
    source: str = ""

    @field_validator("kpi")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in KPI_CATALOGUE and v not in TABLE_COLUMNS:
            raise ValueError(
                "unknown KPI; allowed: "
                + ", ".join(KPI_CATALOGUE)
                + ", or a daily-table column (docs/monitoring.md)"
            )
        return v

    @model_validator(mode="after")
    def _month_kpis(self) -> Rule:
        if KPI_CATALOGUE.get(self.kpi, ("", ""))[1] == "month":
            if self.every != "month":
                raise ValueError(f"{self.kpi} is a month-end roll rate: set every: month")
            if self.measure != "level" and self.change_days % 30:
                raise ValueError("a month-end KPI changes over whole months: change_days % 30 == 0")
        return self


class ConcentrationSpec(_Spec):
    """Limits on exposure concentration (:class:`sim.risk.ConcentrationLimits`)."""

    share: dict[str, float] = Field(default_factory=dict)
    hhi: dict[str, float] = Field(default_factory=dict)

    @field_validator("share", "hhi")
    @classmethod
    def _fractions(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if not 0 < x <= 1:
                raise ValueError(f"{k}: a limit is a fraction in (0, 1], got {x}")
        return v


class Monitoring(_Spec):
    """A monitoring set: its rules and optional concentration limits."""

    name: str = "monitoring"
    description: str = ""
    warm_up_days: int = Field(
        default=0,
        ge=0,
        description="no rule is judged before this day, and no change reaches back before it "
        "(a simulated book starts from a drawn state, not a simulated one)",
    )
    rules: list[Rule] = Field(min_length=1)
    concentration: ConcentrationSpec = Field(default_factory=ConcentrationSpec)

    @model_validator(mode="after")
    def _unique_ids(self) -> Monitoring:
        seen: set[str] = set()
        for r in self.rules:
            if r.id in seen:
                raise ValueError(f"rule id {r.id!r} is used twice; ids name the alerts")
            seen.add(r.id)
        return self


def load_monitoring(path: str | Path) -> Monitoring:
    """Read and validate a monitoring file.

    Raises
    ------
    MonitoringError
        One line per problem, each naming the file and the field (``rules.2.threshold``).
    """
    source = str(path)
    data = read_yaml_mapping(
        path, "monitoring", MonitoringError, "name, rules and concentration", {"rules": "rule"}
    )
    try:
        return Monitoring.model_validate(data)
    except ValidationError as exc:
        raise MonitoringError(
            problems_from_validation(exc, source, Monitoring, "monitoring", {"rules": "rule"})
        ) from None


def default_monitoring() -> Monitoring:
    """The shipped default set (``sim/monitoring/default.yaml``)."""
    return load_monitoring(DEFAULT_MONITORING)


__all__ = [
    "DEFAULT_MONITORING",
    "KPI_CATALOGUE",
    "ConcentrationSpec",
    "Monitoring",
    "MonitoringError",
    "Problem",
    "Rule",
    "default_monitoring",
    "load_monitoring",
]
