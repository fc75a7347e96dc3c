"""The response parameters' uncertainty: one table of ranges, and Latin-hypercube draws over it.

The table (``sim/response_ranges.yaml``, or a file of the same format) lists each response
parameter of the borrower model (how contacts move payments: channel effects, promise rates,
promise keeping, ...) with a range ``[low, high]`` and where the range comes from. Which
parameters count as response parameters is :data:`RESPONSE_PARAMETERS`; a new response parameter
is added there and given a row in the table. A draw is a mapping of dotted scenario paths to
values, set on a scenario as overrides (``postloan.experiments.spec.apply_overrides``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from sim.channels import CHANNEL_NAMES, DEFAULT_CHANNELS, ChannelSpec
from sim.scenario import Behaviour
from sim.user_input import Problem, UserInputError, read_yaml_mapping

#: The shipped table.
DEFAULT_RANGES = Path(__file__).resolve().parent / "response_ranges.yaml"

#: The table format's version (``schema_version:``).
SCHEMA_VERSION = 1

#: Behaviour fields that describe the response to contacts (the rest are dynamics).
RESPONSE_BEHAVIOUR = (
    "promise_keep",
    "promise_keep_hardship",
    "promise_days_max",
    "contact_effect_dpd_scale",
    "excitation_decay_days",
)

#: Every parameter a range may be given for, as a dotted scenario path.
RESPONSE_PARAMETERS: tuple[str, ...] = (
    *(f"channels.{c}.effect" for c in CHANNEL_NAMES),
    *(f"channels.{c}.promise_rate" for c in CHANNEL_NAMES),
    *(f"behaviour.{name}" for name in RESPONSE_BEHAVIOUR),
)

_ROW_KEYS = {"low", "high", "source", "log"}


class ResponseRangeError(UserInputError):
    """A response-range table that cannot be used; each problem names the file and the field."""


@dataclass(frozen=True)
class ResponseRange:
    """One row of the table: a parameter's range and where it comes from."""

    parameter: str
    low: float
    high: float
    source: str
    log: bool = False

    def value(self, u: float) -> float:
        """The value at quantile ``u`` in [0, 1] of the range (uniform, or log-uniform)."""
        if self.log:
            return float(
                math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
            )
        return float(self.low + u * (self.high - self.low))


def _number(row: Mapping[str, Any], key: str) -> float | None:
    v = row.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _field_problem(parameter: str, value: float) -> str | None:
    """Why ``value`` is not allowed for ``parameter`` by the scenario's own field bounds."""
    section, *rest = parameter.split(".")
    try:
        if section == "channels":
            channel, name = rest
            ChannelSpec(**{**DEFAULT_CHANNELS[channel].model_dump(), name: value})
        else:
            Behaviour(**{rest[0]: value})
    except ValidationError as exc:
        return exc.errors()[0]["msg"]
    return None


def _row(parameter: str, row: Any, source: str) -> tuple[ResponseRange | None, list[Problem]]:
    where = f"parameters.{parameter}"
    if parameter not in RESPONSE_PARAMETERS:
        msg = (
            f"unknown response parameter {parameter!r}; known: {', '.join(RESPONSE_PARAMETERS)} "
            "(a new one is added to sim.response_uncertainty.RESPONSE_PARAMETERS)"
        )
        return None, [Problem(source, where, msg)]
    if not isinstance(row, Mapping):
        return None, [Problem(source, where, "must be a mapping {low, high, source, log}")]
    problems = [
        Problem(source, f"{where}.{k}", f"unknown field; allowed: {', '.join(sorted(_ROW_KEYS))}")
        for k in row
        if k not in _ROW_KEYS
    ]
    low, high = _number(row, "low"), _number(row, "high")
    for key, v in (("low", low), ("high", high)):
        if v is None:
            problems.append(Problem(source, f"{where}.{key}", "must be a finite number"))
    text = row.get("source")
    if not isinstance(text, str) or not text.strip():
        problems.append(Problem(source, f"{where}.source", "must say where the range comes from"))
    log = row.get("log", False)
    if not isinstance(log, bool):
        problems.append(Problem(source, f"{where}.log", "must be true or false"))
    if low is None or high is None:
        return None, problems
    if low > high:
        problems.append(Problem(source, where, f"low {low:g} is above high {high:g}"))
    if log is True and low <= 0:
        problems.append(Problem(source, f"{where}.low", "a log-scale range needs low > 0"))
    for key, v in (("low", low), ("high", high)):
        why = _field_problem(parameter, v)
        if why:
            problems.append(Problem(source, f"{where}.{key}", f"{v:g} is not allowed: {why}"))
    if problems:
        return None, problems
    return ResponseRange(parameter, low, high, text.strip(), bool(log)), []


def load_response_ranges(path: str | Path | None = None) -> list[ResponseRange]:
    """Read and validate a response-range table (default: the shipped one).

    Raises
    ------
    ResponseRangeError
        Every problem at once, each naming the file and the field: an unknown parameter, a
        missing or non-finite bound, ``low > high``, a bound outside the field's own range, a
        missing ``source``.
    """
    path = DEFAULT_RANGES if path is None else Path(path)
    source = str(path)
    data = read_yaml_mapping(path, "response-range table", ResponseRangeError)
    problems: list[Problem] = []
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        problems.append(
            Problem(source, "schema_version", f"this lab reads version {SCHEMA_VERSION}")
        )
    for key in data:
        if key not in ("schema_version", "parameters"):
            problems.append(
                Problem(source, key, "unknown field; allowed: schema_version, parameters")
            )
    params = data.get("parameters")
    if not isinstance(params, Mapping) or not params:
        problems.append(Problem(source, "parameters", "must map at least one parameter to a range"))
        raise ResponseRangeError(problems)
    ranges = []
    for parameter, row in params.items():
        r, found = _row(str(parameter), row, source)
        problems += found
        if r is not None:
            ranges.append(r)
    if problems:
        raise ResponseRangeError(problems)
    return ranges


def latin_hypercube_draws(ranges: list[ResponseRange], n: int, seed: int) -> list[dict[str, float]]:
    """``n`` draws over ``ranges``: a Latin hypercube (``scipy.stats.qmc.LatinHypercube``), so
    each parameter's range is cut into ``n`` equal strata (of its log, for ``log`` rows) and
    every stratum holds exactly one draw. The same ranges, ``n`` and ``seed`` give the same
    draws."""
    from scipy.stats import qmc

    if n < 1:
        raise ValueError("the number of draws must be at least 1")
    sampler = qmc.LatinHypercube(d=len(ranges), rng=np.random.default_rng([int(seed), 0x2E5]))
    unit = sampler.random(n)
    return [
        {r.parameter: r.value(float(u)) for r, u in zip(ranges, row, strict=True)} for row in unit
    ]
