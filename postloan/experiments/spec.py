"""Experiment specs: a base scenario, variants, uncertainties, strategies, replications, seed.

An experiment file (YAML, read with ``sim.user_input.read_yaml_mapping``: safe, no tags,
duplicate keys refused) looks like::

    name: staffing_what_if
    scenario: ../small.yaml          # relative to this file
    overrides: {accounts: 2000, days: 90}
    strategies: [default, none]      # built-in names or rule-table files (relative to this file)
    champion: default                # default: the first strategy
    replications: 3
    seed: 7
    variants:                        # a grid (every combination) ...
      grid:
        staff.call_attempts_per_day: [800, 1600]
    # variants:                      # ... or a list
    #   - {name: low_staff, set: {staff.call_attempts_per_day: 800}}
    #   - {name: high_staff, set: {staff.call_attempts_per_day: 1600}}
    uncertainties:                   # optional: Latin hypercube over parameter ranges
      samples: 4
      parameters:
        behaviour.base_intensity: {low: 0.3, high: 0.5}
    # response_draws: {draws: 8}     # optional, instead of uncertainties: the comparison over
    #                                # draws of the response (postloan.experiments.response_draws)
    shards: 1                        # optional: split each book into this many shards

Cells
-----
The experiment's unit of work is a *cell*: one ``(variant, uncertainty sample, strategy,
replication)``, i.e. one call of :func:`sim.engine.simulate`. Its seed depends only on the
experiment seed, the uncertainty sample and the replication (:func:`replication_seed`), never
on the strategy or the variant: every strategy of a replication faces the same borrowers and
the same behavioural luck (common random numbers, see ``docs/experiments.md``).

Overrides use dotted paths into the scenario (``behaviour.base_intensity``,
``staff.call_attempts_per_day``, ``channels.sms.cost_per_attempt``, ``macro.reference``). The
top-level ``overrides`` are applied first, with :meth:`Scenario.with_overrides` semantics (an
overridden ``accounts`` scales staff capacity when ``staff.scale_with_accounts`` is set); the
variant and uncertainty values are then set as given, absolute.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from postloan.experiments.response_draws import (
    ResponseDrawsSpec,
    ResponsePlan,
    resolve_plan,
    response_samples,
)
from sim.scenario import Scenario, ScenarioError, describe_validation_error, load_scenario
from sim.shipped import find_scenario
from sim.user_input import UserInputError, read_yaml_mapping
from strategies.base import Strategy
from strategies.registry import StrategyError, resolve


class ExperimentError(UserInputError):
    """An experiment that cannot be run; the message names the file and the field."""


# ---------------------------------------------------------------------------- the spec
class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariantSpec(_Spec):
    """One named set of scenario overrides."""

    name: str | None = Field(default=None, min_length=1, max_length=60)
    set: dict[str, Any] = Field(default_factory=dict, description="dotted path -> value")


class GridSpec(_Spec):
    """Every combination of the listed values."""

    grid: dict[str, list[Any]] = Field(min_length=1)

    @field_validator("grid")
    @classmethod
    def _non_empty(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for k, vals in v.items():
            if not vals:
                raise ValueError(f"grid parameter {k!r} needs at least one value")
        return v


class Range(_Spec):
    """A uniform range for one uncertain parameter (``log: true`` for log-uniform)."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _order(self) -> Range:
        if not self.low <= self.high:
            raise ValueError("low must not exceed high")
        if self.log and self.low <= 0:
            raise ValueError("a log-uniform range needs low > 0")
        return self


class UncertaintySpec(_Spec):
    """Parameters not under our control, sampled by Latin hypercube with the experiment seed."""

    samples: int = Field(ge=1, le=10_000)
    parameters: dict[str, Range] = Field(min_length=1)


def _variants_kind(v: Any) -> str:
    return "as_grid" if isinstance(v, dict | GridSpec) else "as_list"


class ExperimentSpec(_Spec):
    """The content of an experiment file."""

    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$")
    description: str = ""
    scenario: str = Field(min_length=1, description="scenario file, relative to this file")
    overrides: dict[str, Any] = Field(default_factory=dict)
    strategies: list[str] = Field(min_length=1)
    champion: str | None = None
    replications: int = Field(default=5, ge=1, le=10_000)
    seed: int = Field(default=0, ge=0, lt=2**63)
    variants: (
        Annotated[
            Annotated[list[VariantSpec], Tag("as_list")] | Annotated[GridSpec, Tag("as_grid")],
            Discriminator(_variants_kind),
        ]
        | None
    ) = None
    uncertainties: UncertaintySpec | None = None
    response_draws: ResponseDrawsSpec | None = Field(
        default=None,
        description="repeat the comparison over Latin-hypercube draws of the response "
        "parameters, each kept only if the trial library stays inside its intervals",
    )
    shards: int = Field(default=1, ge=1, le=1024)
    compliance: str | None = Field(
        default=None,
        description="compliance profile (us_reg_f, cn, none, or a YAML file); default: the "
        "engine's",
    )
    kpis: list[str] | None = Field(default=None, description="headline KPIs of the comparison")

    @field_validator("strategies")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("each strategy may appear only once")
        return v

    @model_validator(mode="after")
    def _champion(self) -> ExperimentSpec:
        if self.champion is not None and self.champion not in self.strategies:
            raise ValueError(f"champion {self.champion!r} is not one of the strategies")
        if self.uncertainties is not None and self.response_draws is not None:
            raise ValueError(
                "give uncertainties or response_draws, not both (both set the samples)"
            )
        if isinstance(self.variants, list):
            names = [v.name for v in self.variants if v.name]
            if len(set(names)) != len(names):
                raise ValueError("variant names must be unique")
        return self


# ---------------------------------------------------------------------------- resolved
@dataclass(frozen=True)
class Variant:
    """A scenario variant: its label, the overrides that made it, and the scenario."""

    index: int
    label: str
    overrides: dict[str, Any]
    scenario: Scenario


@dataclass(frozen=True)
class Cell:
    """One simulate() call of an experiment."""

    variant: int
    variant_label: str
    sample: int
    strategy: int
    strategy_name: str
    replication: int
    seed: int
    params: dict[str, Any]

    @property
    def key(self) -> str:
        """Stable file-name key of the cell."""
        return (
            f"v{self.variant:03d}-u{self.sample:04d}-s{self.strategy:02d}-r{self.replication:04d}"
        )


@dataclass
class Experiment:
    """A validated, resolved experiment: everything needed to run its cells."""

    spec: ExperimentSpec
    source: str
    base: Scenario
    strategies: list[Strategy]
    strategy_names: list[str]
    variants: list[Variant]
    samples: list[dict[str, Any]]
    champion: str
    spec_hash: str
    compliance: Any = None  # a sim.compliance.ComplianceProfile, or None for the default
    response: ResponsePlan | None = None  # with response_draws: the ranges and trial files
    # one scenario per (variant, sample), built lazily
    _scenarios: dict[tuple[int, int], Scenario] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    def scenario_for(self, variant: int, sample: int) -> Scenario:
        """The scenario of a variant with an uncertainty sample's values set."""
        key = (variant, sample)
        if key not in self._scenarios:
            v = self.variants[variant]
            values = self.samples[sample]
            sc = v.scenario
            if values:
                sc = apply_overrides(sc, values, f"{self.source}: uncertainties")
            self._scenarios[key] = sc
        return self._scenarios[key]

    def cells(self) -> list[Cell]:
        """Every cell, in a fixed order (variant, sample, replication, strategy)."""
        out = []
        for v in self.variants:
            for s, values in enumerate(self.samples):
                for r in range(self.spec.replications):
                    seed = replication_seed(self.spec.seed, s, r)
                    for i, name in enumerate(self.strategy_names):
                        out.append(
                            Cell(
                                variant=v.index,
                                variant_label=v.label,
                                sample=s,
                                strategy=i,
                                strategy_name=name,
                                replication=r,
                                seed=seed,
                                params={**v.overrides, **values},
                            )
                        )
        return out

    def cell_fingerprint(self, cell: Cell) -> str:
        """Hash of everything that determines a cell's result (to trust it on --resume)."""
        sc = self.scenario_for(cell.variant, cell.sample)
        blob = json.dumps(
            {
                "scenario": sc.content_hash(),
                "strategy": _strategy_identity(self.strategies[cell.strategy]),
                "seed": cell.seed,
                "shards": self.spec.shards,
                "compliance": repr(self.compliance),
            },
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def replication_seed(experiment_seed: int, sample: int, replication: int) -> int:
    """The seed of replication ``r`` of uncertainty sample ``s``: the same for every strategy
    and every variant (common random numbers), distinct between replications and samples."""
    ss = np.random.SeedSequence(entropy=int(experiment_seed), spawn_key=(sample, replication))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _is_path(ref: str) -> bool:
    from strategies.python_refs import is_python_ref

    return ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref or is_python_ref(ref)


def strategy_label(ref: str, strategy: Strategy) -> str:
    """How a strategy is named in cells and tables: as written for a library name (the default
    strategy by its one name, ``standard``), the strategy's own name for a file or a Python
    class (``package.module:Class``)."""
    if ref == "default":
        return "standard"
    return strategy.name if _is_path(ref) else ref


def _load_compliance(ref: str | None, root: Path, where: str):
    if ref is None:
        return None
    from sim.compliance import load_profile

    target = ref
    if ref.endswith((".yaml", ".yml")) and not Path(ref).is_absolute():
        target = str(root / ref)
    try:
        return load_profile(target)
    except (ValueError, OSError) as exc:
        raise ExperimentError(f"{where}: {exc}") from None


def _strategy_identity(strategy: Strategy) -> str:
    rules = getattr(strategy, "rules", None)
    if rules is not None:
        return json.dumps(
            {"name": strategy.name, "rules": [repr(r) for r in rules]}, sort_keys=True
        )
    return f"{type(strategy).__module__}.{type(strategy).__qualname__}:{strategy.name}"


# ---------------------------------------------------------------------------- overrides
def _set_path(data: dict, path: str, value: Any, where: str) -> None:
    parts = path.split(".")
    node = data
    for i, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else ""
            prefix = ".".join(parts[:i]) or "(top level)"
            raise ExperimentError(
                f"{where}: field '{path}': {part!r} is not a scenario field under {prefix}"
                + (f" (known: {known})" if known else "")
            )
        if i == len(parts) - 1:
            node[part] = copy.deepcopy(value)
        else:
            node = node[part]


def apply_overrides(scenario: Scenario, values: dict[str, Any], where: str) -> Scenario:
    """A validated copy of ``scenario`` with dotted-path fields set to ``values``.

    Raises
    ------
    ExperimentError
        Naming ``where`` (file and field) for an unknown path or an invalid value.
    """
    data = scenario.model_dump()
    for path, value in values.items():
        _set_path(data, path, value, where)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ExperimentError(describe_validation_error(where, exc)) from None


def _base_scenario(base: Scenario, overrides: dict[str, Any], where: str) -> Scenario:
    top = {k: v for k, v in overrides.items() if "." not in k}
    nested = {k: v for k, v in overrides.items() if "." in k}
    if top:
        try:
            base = base.with_overrides(**top)
        except ValidationError as exc:
            raise ExperimentError(describe_validation_error(where, exc)) from None
    if nested:
        base = apply_overrides(base, nested, where)
    return base


def latin_hypercube(spec: UncertaintySpec, seed: int) -> list[dict[str, Any]]:
    """``spec.samples`` points, one stratum per sample in every parameter (scipy.stats.qmc)."""
    from scipy.stats import qmc

    names = list(spec.parameters)
    sampler = qmc.LatinHypercube(d=len(names), rng=np.random.default_rng([int(seed), 0x1A7]))
    unit = sampler.random(spec.samples)
    out = []
    for row in unit:
        point = {}
        for name, u in zip(names, row, strict=True):
            r = spec.parameters[name]
            if r.log:
                x = float(np.exp(np.log(r.low) + u * (np.log(r.high) - np.log(r.low))))
            else:
                x = float(r.low + u * (r.high - r.low))
            point[name] = round(x) if r.integer else x
        out.append(point)
    return out


def _variant_label(values: dict[str, Any]) -> str:
    if not values:
        return "base"
    return ",".join(
        f"{k.rsplit('.', 1)[-1]}={v:g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
        for k, v in values.items()
    )


def _variant_sets(spec: ExperimentSpec) -> list[tuple[str | None, dict[str, Any]]]:
    if spec.variants is None:
        return [(None, {})]
    if isinstance(spec.variants, GridSpec):
        keys = list(spec.variants.grid)
        combos = itertools.product(*(spec.variants.grid[k] for k in keys))
        return [(None, dict(zip(keys, c, strict=True))) for c in combos]
    return [(v.name, dict(v.set)) for v in spec.variants]


# ---------------------------------------------------------------------------- loading
def _describe(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"] if p not in ("as_list", "as_grid")]
        where = ".".join(loc) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not part of the experiment format)"
        lines.append(f"{source}: field '{where}': {msg}")
    return "\n".join(dict.fromkeys(lines))


def spec_hash(spec: ExperimentSpec, base: Scenario, strategies: list[Strategy]) -> str:
    """Hash of what the experiment computes (spec, base scenario content, strategy rules)."""
    blob = json.dumps(
        {
            "spec": spec.model_dump(
                mode="json",
                exclude={"description", "kpis", "champion"}
                | ({"response_draws"} if spec.response_draws is None else set()),
            ),
            "base": base.content_hash(),
            "strategies": [_strategy_identity(s) for s in strategies],
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def check_spec_names(spec: ExperimentSpec, source: str) -> None:
    """The KPIs must be outcomes of the registry, and the name must fit in a folder name."""
    from postloan.storage.paths import OutputError, folder_part
    from sim.outcomes import check_names

    try:
        if spec.kpis:
            check_names(list(spec.kpis), f"{source}: field 'kpis'")
        folder_part(spec.name, f"{source}: field 'name':")
    except (ValueError, OutputError) as exc:
        raise ExperimentError(str(exc)) from None


def build_experiment(spec: ExperimentSpec, source: str, root: Path) -> Experiment:
    """Resolve a validated spec: load the scenario, strategies, variants and samples.

    Every variant scenario is validated here, before anything runs.
    """
    check_spec_names(spec, source)
    sc_path = Path(spec.scenario)
    if not sc_path.is_absolute() and (root / sc_path).exists():
        sc_path = root / sc_path  # relative to the file first, else a shipped scenario
    elif not sc_path.is_absolute():
        shipped = find_scenario(sc_path)
        sc_path = shipped if shipped.exists() else root / sc_path
    try:
        base = load_scenario(sc_path)
    except ScenarioError as exc:
        raise ExperimentError(f"{source}: field 'scenario': {exc}") from None
    base = _base_scenario(base, spec.overrides, f"{source}: overrides")
    strategies, names = [], []
    for i, s in enumerate(spec.strategies):
        target = s
        if s.endswith((".yaml", ".yml")) and not Path(s).is_absolute():
            target = str(root / s)
        try:
            strat = resolve(target)
        except StrategyError as exc:
            raise ExperimentError(f"{source}: field 'strategies.{i}': {exc}") from None
        strategies.append(strat)
        names.append(strategy_label(s, strat))
    if len(set(names)) != len(names):
        raise ExperimentError(f"{source}: field 'strategies': two strategies share a name {names}")
    variants = []
    labels: set[str] = set()
    for i, (name, values) in enumerate(_variant_sets(spec)):
        where = f"{source}: variants.{i}"
        sc = apply_overrides(base, values, where) if values else base
        label = name or _variant_label(values)
        if label in labels:
            label = f"{label}#{i}"
        labels.add(label)
        variants.append(Variant(i, label, values, sc))
    samples: list[dict[str, Any]] = [{}]
    response = None
    if spec.response_draws is not None:
        response, samples = _response_draws(spec, root, source, variants[0].scenario)
    if spec.uncertainties is not None:
        samples = latin_hypercube(spec.uncertainties, spec.seed)
        # validate the extremes of every range against the first variant's scenario
        for name, r in spec.uncertainties.parameters.items():
            for bound in (r.low, r.high):
                apply_overrides(
                    variants[0].scenario, {name: bound}, f"{source}: uncertainties.{name}"
                )
    champ_idx = spec.strategies.index(spec.champion) if spec.champion else 0
    compliance = _load_compliance(spec.compliance, root, f"{source}: field 'compliance'")
    return Experiment(
        spec=spec,
        source=source,
        base=base,
        strategies=strategies,
        strategy_names=names,
        variants=variants,
        samples=samples,
        champion=names[champ_idx],
        spec_hash=spec_hash(spec, base, strategies),
        compliance=compliance,
        response=response,
    )


def _response_draws(
    spec: ExperimentSpec, root: Path, source: str, scenario: Scenario
) -> tuple[ResponsePlan, list[dict[str, Any]]]:
    """The range table and trial files of ``response_draws``, and the samples: the scenario as
    it is, then the draws (every range's bounds validated on ``scenario``)."""
    where = f"{source}: field 'response_draws'"
    try:
        plan = resolve_plan(spec.response_draws, root, where)
    except ValueError as exc:
        raise ExperimentError(str(exc)) from None
    for r in plan.ranges:
        for bound in (r.low, r.high):
            apply_overrides(scenario, {r.parameter: bound}, f"{where}: {r.parameter}")
    return plan, response_samples(plan, spec.seed)


def load_experiment(path: str | Path, **changes: Any) -> Experiment:
    """Read, validate and resolve an experiment file.

    Parameters
    ----------
    path : str or Path
    **changes
        Top-level spec fields to replace after reading (e.g. ``replications=2``).

    Raises
    ------
    ExperimentError
        One line per problem, each naming the file and the field.
    """
    path = Path(path)
    source = str(path)
    # safe YAML, duplicate keys and hostile nesting refused (sim.user_input)
    data = read_yaml_mapping(path, "experiment", ExperimentError)
    data.update({k: v for k, v in changes.items() if v is not None})
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise ExperimentError(_describe(source, exc)) from None
    return build_experiment(spec, source, path.resolve().parent)


def experiment_from_scenario(
    scenario: str | Path | Scenario,
    strategies: list[str],
    *,
    replications: int = 5,
    champion: str | None = None,
    seed: int | None = None,
    accounts: int | None = None,
    days: int | None = None,
    name: str | None = None,
    compliance: str | None = None,
    response_draws: ResponseDrawsSpec | dict[str, Any] | None = None,
) -> Experiment:
    """The quick path of ``postloan compare``: one scenario, several strategies, no variants
    (``response_draws``: repeated over draws of the response, see
    :mod:`postloan.experiments.response_draws`)."""
    root = Path.cwd()
    if isinstance(scenario, Scenario):
        sc, sc_ref = scenario, "<in memory>"
    else:
        sc, sc_ref = load_scenario(scenario), str(find_scenario(scenario).resolve())
    overrides = {k: v for k, v in {"accounts": accounts, "days": days}.items() if v is not None}
    data = {
        "name": name or f"compare-{sc.name}",
        "scenario": sc_ref,
        "overrides": overrides,
        "strategies": strategies,
        "champion": champion,
        "replications": replications,
        "seed": sc.seed if seed is None else seed,
        "compliance": compliance,
        "response_draws": response_draws,
    }
    source = "compare"
    _load_compliance(compliance, root, "--compliance")
    for s in strategies:
        try:
            resolve(s)
        except StrategyError as exc:
            raise ExperimentError(f"--strategies: {exc}") from None
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise ExperimentError(_describe(source, exc).replace("field '", "option '")) from None
    if isinstance(scenario, Scenario):
        exp = _build_in_memory(spec, _base_scenario(sc, overrides, "compare: overrides"))
        if spec.response_draws is not None:
            exp.response, exp.samples = _response_draws(spec, root, source, exp.base)
        return exp
    return build_experiment(spec, source, root)


def _build_in_memory(spec: ExperimentSpec, base: Scenario) -> Experiment:
    strategies = []
    for i, s in enumerate(spec.strategies):
        try:
            strategies.append(resolve(s))
        except StrategyError as exc:
            raise ExperimentError(f"compare: strategy {i + 1}: {exc}") from None
    names = [strategy_label(ref, s) for ref, s in zip(spec.strategies, strategies, strict=True)]
    champ_idx = spec.strategies.index(spec.champion) if spec.champion else 0
    return Experiment(
        spec=spec,
        source="compare",
        base=base,
        strategies=strategies,
        strategy_names=names,
        variants=[Variant(0, "base", {}, base)],
        samples=[{}],
        champion=names[champ_idx],
        spec_hash=spec_hash(spec, base, strategies),
        compliance=_load_compliance(spec.compliance, Path.cwd(), "--compliance"),
    )
