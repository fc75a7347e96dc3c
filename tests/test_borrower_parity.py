"""The borrower model is written once (sim/borrower) and both engines run it (issue 14).

* On every shipped scenario under every library strategy, the vectorised engine and the Mesa
  agents give identical counts and roll-rate matrices and money equal to 1e-9 on the same seed.
* Each behaviour, restructuring and channel parameter of the scenario schema, set one at a
  time to another value (with what switches it on, on a book and strategy where it acts),
  moves both engines, identically: a rule present in one engine only fails this, and so does
  a parameter that moves neither.
* Every scenario field is read by an engine, or is on an allow-list with its reason.
* An agent's method overridden on one agent changes that agent's outcomes only.
"""

from __future__ import annotations

import ast
import math
import types
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from sim.abm import CollectionsModel, run_abm
from sim.channels import ChannelSpec
from sim.compliance import ComplianceProfile, load_profile
from sim.engine import simulate
from sim.scenario import Behaviour, Restructuring, Scenario, StaffingSpec, load_scenario
from strategies.registry import names, resolve

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.yaml"))
STRATEGIES = [*names(), "none"]
TIMING = {"wall_seconds", "account_days_per_second", "engine", "staffing"}


def _strategy(name: str):
    return None if name == "none" else resolve(name)


def _differences(a, b, path: str = "") -> list[str]:
    """Where two summaries differ: integers and strings exactly, floats beyond 1e-9."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k in TIMING:
                continue
            if k not in a or k not in b:
                out.append(f"{path}/{k}: in one summary only")
            else:
                out += _differences(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list | tuple) and isinstance(b, list | tuple) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{path}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return []
        return [] if abs(a - b) <= 1e-9 * max(1.0, abs(a)) else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def assert_same_run(vec, abm) -> None:
    np.testing.assert_array_equal(vec.roll_counts, abm.roll_counts)
    diffs = _differences(vec.summary, abm.summary)
    assert not diffs, diffs[:5]
    for col in vec.daily.columns:
        np.testing.assert_allclose(
            abm.daily[col].to_numpy(), vec.daily[col].to_numpy(), rtol=1e-9, atol=1e-6, err_msg=col
        )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_engines_agree_exactly_on_every_shipped_scenario_and_strategy(scenario):
    sc = load_scenario(ROOT / "scenarios" / f"{scenario}.yaml", accounts=300, days=60)
    for name in STRATEGIES:
        vec = simulate(sc, _strategy(name), 3)
        abm = run_abm(sc, _strategy(name), 3)
        assert_same_run(vec, abm)


# --------------------------------------------------------------------------- parameter sweep
#: Each behaviour or restructuring parameter: (the switch it needs, its new value, strategy).
BEHAVIOUR_SWEEP: dict[str, tuple[dict, object, str]] = {
    "miss_intercept": ({}, -3.0, "standard"),
    "miss_willingness": ({}, 1.8, "standard"),
    "miss_hardship": ({}, 4.0, "standard"),
    "miss_dti": ({}, 3.5, "standard"),
    "miss_restructured": ({"take_up_no_hardship": 0.9}, 3.0, "early_warning"),
    "hardship_spell_days": ({}, 20.0, "standard"),
    "base_intensity": ({}, 0.9, "standard"),
    "intensity_willingness": ({}, 1.2, "standard"),
    "intensity_dpd_scale": ({}, 40.0, "standard"),
    "intensity_hardship": ({}, 0.9, "standard"),
    "contact_effect_dpd_scale": ({}, 3.0, "aggressive"),
    "excitation_decay_days": ({}, 20.0, "aggressive"),
    "payment_excitation": ({}, 0.4, "standard"),
    "full_payment_share": ({}, 0.35, "standard"),
    "full_payment_share_hardship": ({}, 0.8, "standard"),
    "partial_fraction_low": ({}, 0.05, "standard"),
    "partial_fraction_high": ({}, 0.95, "standard"),
    "promise_keep": ({}, 0.3, "aggressive"),
    "promise_keep_hardship": ({}, 0.95, "aggressive"),
    "promise_days_max": ({}, 25, "aggressive"),
    "irritation_half_life_days": ({}, 60.0, "aggressive"),
    "complaint_rate": ({}, 0.5, "aggressive"),
    "churn_rate": ({}, 0.5, "aggressive"),
    "late_fee": ({}, 45.0, "standard"),
    "prepayment_monthly": ({}, 0.08, "standard"),
    "delinquent_instalment_pay": ({}, 0.4, "standard"),
    "delinquent_instalment_pay_late": ({"delinquent_instalment_pay": 0.4}, 0.05, "standard"),
    "delinquent_instalment_pay_slope": (
        {"delinquent_instalment_pay": 0.4, "delinquent_instalment_pay_late": 0.2},
        -0.8,
        "standard",
    ),
    "settlement_share": ({}, 0.4, "standard"),
    "settlement_dpd_scale": ({"settlement_share": 0.1}, 15.0, "standard"),
    "catch_up_share": ({}, 0.6, "standard"),
    "rest_after_partial": ({}, 0.8, "standard"),
    "reage_share": (
        {"delinquent_instalment_pay": 0.4, "delinquent_instalment_pay_late": 0.5},
        0.7,
        "standard",
    ),
    "write_off_monthly": ({}, 0.05, "standard"),
    "full_payment_dpd_scale": ({}, 15.0, "standard"),
    "recovery_settlement": ({}, 0.9, "standard"),
    "medical_shock_monthly": ({}, 0.2, "standard"),
    "medical_shock_miss_push": ({"medical_shock_monthly": 0.2}, 2.0, "standard"),
    "miss_payment_shock": ({}, 1.0, "standard"),
    # response model (sim.borrower.response)
    "forgetful_share": ({"reminder_recall": 0.9}, 0.8, "early_warning"),
    "reminder_recall": ({"forgetful_share": 0.8}, 0.9, "early_warning"),
    "reminder_window_days": ({"forgetful_share": 0.8, "reminder_recall": 0.9}, 1, "early_warning"),
    "contact_saturation": ({}, 0.02, "aggressive"),
    "promise_dpd_scale": ({}, 10.0, "aggressive"),
    "promise_displacement": ({}, 0.9, "aggressive"),
    # restructuring (scenario.restructuring)
    "take_up_current": ({}, 0.9, "early_warning"),
    "plan_relief": ({"take_up_current": 0.9}, 0.9, "early_warning"),
    "take_up": ({}, 0.95, "early_warning"),
    "take_up_no_hardship": ({}, 0.7, "early_warning"),
    "extension_months": ({"take_up_no_hardship": 0.9}, 48, "early_warning"),
}
#: Fields of Behaviour the sweep leaves out, and why.
NOT_SWEPT = {
    "mode": "the Markov test mode: vector engine only (the agent model refuses it)",
    "roll_matrix": "the Markov test mode's matrix: vector engine only",
}
#: Each channel field: (channel, new value, strategy that uses the channel).
CHANNEL_SWEEP: dict[str, tuple[str, object, str]] = {
    "cost_per_attempt": ("sms", 0.4, "standard"),
    "cost_per_contact": ("sms", 0.3, "standard"),
    "reach": ("email", 0.9, "light_touch"),
    "effect": ("email", 0.5, "light_touch"),
    "promise_rate": ("ivr", 0.4, "aggressive"),
    "irritation": ("sms", 3.0, "standard"),
    "reachability": ("sms", "field", "standard"),
    "staff_limited": ("sms", True, "standard"),
    "call_attempt": ("sms", True, "aggressive"),
    "third_party": ("call", True, "standard"),
}
SWEEP_SIZE = {"accounts": 250, "days": 60}
#: Parameters that act only on a larger book, a longer run, another scenario or profile.
SWEEP_BOOK = {
    "catch_up_share": {"accounts": 800, "days": 90},
    "recovery_settlement": {"accounts": 600, "days": 120},
    "miss_restructured": {"accounts": 800, "days": 90},
    "miss_payment_shock": {"accounts": 800, "days": 90},
    "take_up": {"accounts": 800, "days": 90},
    "take_up_no_hardship": {"accounts": 800, "days": 90},
    "extension_months": {"accounts": 800, "days": 90},
    "forgetful_share": {"accounts": 800, "days": 90},
    "reminder_recall": {"accounts": 800, "days": 90},
    "reminder_window_days": {"accounts": 800, "days": 90},
    "take_up_current": {"accounts": 800, "days": 90},
    "plan_relief": {"accounts": 800, "days": 120},
    "staff_limited": {"staffing": True},  # only a staffing plan makes it bite
    "third_party": {"compliance": "cn"},  # a profile that forbids third-party contact
}


def _with(sc: Scenario, behaviour: dict, channels: dict | None = None) -> Scenario:
    b = {k: v for k, v in behaviour.items() if k not in Restructuring.model_fields}
    r = {k: v for k, v in behaviour.items() if k in Restructuring.model_fields}
    update = {
        "behaviour": sc.behaviour.model_copy(update=b),
        "restructuring": sc.restructuring.model_copy(update=r),
    }
    if channels:
        update["channels"] = channels
    return sc.model_copy(update=update)


def _book(field: str) -> tuple[Scenario, ComplianceProfile]:
    where = {
        "scenario": "small",
        "compliance": "us_reg_f",
        **SWEEP_SIZE,
        **SWEEP_BOOK.get(field, {}),
    }
    sc = load_scenario(
        ROOT / "scenarios" / f"{where['scenario']}.yaml",
        accounts=where["accounts"],
        days=where["days"],
    )
    if where.get("staffing"):
        small_team = StaffingSpec(early_stage=1, late_stage=1, field=1, legal=0, replications=1)
        sc = sc.model_copy(update={"staffing": small_team})
    return sc, load_profile(where["compliance"])


def _moves_identically(
    base: Scenario, changed: Scenario, strategy: str, compliance: ComplianceProfile
) -> None:
    seed = 4
    v0 = simulate(base, _strategy(strategy), seed, compliance=compliance)
    v1 = simulate(changed, _strategy(strategy), seed, compliance=compliance)
    a1 = run_abm(changed, _strategy(strategy), seed, compliance=compliance)
    moved = _differences(v0.summary, v1.summary) or not v0.daily.equals(v1.daily)
    assert moved, "the parameter moves neither engine"
    assert_same_run(v1, a1)


def test_the_sweep_covers_every_behaviour_and_restructuring_field():
    fields = set(Behaviour.model_fields) | set(Restructuring.model_fields)
    assert fields - set(NOT_SWEPT) == set(BEHAVIOUR_SWEEP)


def test_the_sweep_covers_every_channel_field():
    assert set(ChannelSpec.model_fields) == set(CHANNEL_SWEEP)


@pytest.mark.parametrize("field", sorted(BEHAVIOUR_SWEEP))
def test_each_behaviour_parameter_moves_both_engines_identically(field):
    switch, value, strategy = BEHAVIOUR_SWEEP[field]
    sc, profile = _book(field)
    _moves_identically(_with(sc, switch), _with(sc, {**switch, field: value}), strategy, profile)


@pytest.mark.parametrize("field", sorted(CHANNEL_SWEEP))
def test_each_channel_parameter_moves_both_engines_identically(field):
    channel, value, strategy = CHANNEL_SWEEP[field]
    sc, profile = _book(field)
    channels = dict(sc.channels)
    channels[channel] = channels[channel].model_copy(update={field: value})
    _moves_identically(sc, _with(sc, {}, channels), strategy, profile)


# --------------------------------------------------------------------------- fields read
#: Scenario fields no engine reads, each with its reason.
DESCRIPTIVE = {
    "name": "the scenario's name, for reports",
    "description": "free text for reports",
    "currency": "the unit of every amount, for tables and reports",
    "calibration": "provenance (illustrative, fitted or anchored), for headers and reports",
    "dynamics": "calibration provenance: the panel the dynamics are fitted on",
    "response": "calibration provenance: the trials the response is anchored on",
    "fit": "calibration provenance: the fit report",
    "scale_with_accounts": "applied when the scenario is loaded (Scenario.with_overrides scales "
    "staff capacity with the account count); the engines read the scaled capacity",
}


def _schema_fields(model: type[BaseModel], seen: set | None = None) -> set[str]:
    seen = set() if seen is None else seen
    out = set()
    for name, info in model.model_fields.items():
        out.add(name)
        for t in _model_types(info.annotation):
            if t not in seen:
                seen.add(t)
                out |= _schema_fields(t, seen)
    return out


def _model_types(annotation) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [t for arg in getattr(annotation, "__args__", ()) for t in _model_types(arg)]


def _names_used_by_the_engines() -> set[str]:
    """Attribute names and string constants in sim/ outside the schema's own modules."""
    used = set()
    for path in (ROOT / "sim").rglob("*.py"):
        if path.name in ("scenario.py", "channels.py") or "calibration" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                used.add(node.value)
            elif isinstance(node, ast.keyword) and node.arg:
                used.add(node.arg)
    return used


def test_every_scenario_field_is_read_by_an_engine():
    unread = _schema_fields(Scenario) - _names_used_by_the_engines() - set(DESCRIPTIVE)
    assert unread == set()


# --------------------------------------------------------------------------- one agent
def _run_model(model: CollectionsModel) -> CollectionsModel:
    while model.running:
        model.step()
    return model


def test_overriding_one_agents_method_changes_that_agent_only():
    """Without a strategy the borrowers do not share capacity, so one agent that never repays
    (its ``repayment`` replaced on that instance) changes its own account and no other."""
    sc = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=400, days=60)
    plain = _run_model(CollectionsModel(sc, None, 2))
    model = CollectionsModel(sc, None, 2)
    # an account delinquent at the start that repays (and cures) in the plain run
    cured = (model.p.missed > 0) & (plain.p.missed == 0) & (plain.p.status == 0)
    target = int(np.flatnonzero(cured)[0])
    agent = model.borrowers[target]
    agent.repayment = types.MethodType(lambda self, day, dpd: None, agent)
    _run_model(model)
    changed = set()
    for field in ("missed", "arrears_principal", "status", "excitation", "principal_repaid"):
        a, b = getattr(plain.p, field), getattr(model.p, field)
        changed |= set(np.flatnonzero(a != b).tolist())
    assert changed == {target}
