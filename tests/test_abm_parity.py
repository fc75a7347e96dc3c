"""The Mesa model and the vectorised engine agree (docs/extending.md, issue 6).

Both engines draw every random number from the same counter-based generator, so on the same
seed they agree exactly; the statistical check (difference of means over replications within 3
standard errors) is what a re-implementation with its own draws would have to pass, and it is
what catches a rule present in one engine only.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.abm import BookTooLarge, CollectionsModel, Rules, model_frame, run_abm
from sim.engine import simulate
from sim.scenario import load_scenario
from strategies.registry import resolve

STRATEGIES = ("standard", "aggressive", "light_touch")
SEEDS = (1, 2, 3, 4)


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("scenarios/small.yaml", accounts=600, days=90)


def kpis(result) -> dict[str, float]:
    s = result.summary
    out = {
        k: float(s[k])
        for k in (
            "collected",
            "cost",
            "charge_offs",
            "churned",
            "complaints",
            "new_delinquent",
            "promises_made",
            "restructures",
        )
    }
    out["cures"] = float(result.daily["cures"].sum())
    out["hardship_onsets"] = float(result.daily["hardship_onsets"].sum())
    out |= {f"contacts_{c}": float(n) for c, n in s["contacts"].items()}
    pooled = result.roll_counts.sum(axis=0)
    rows = pooled.sum(axis=1, keepdims=True)
    rates = np.divide(pooled, rows, out=np.zeros(pooled.shape), where=rows > 0)
    for a in range(5):
        for b in range(7):
            out[f"roll_{a}{b}"] = float(rates[a, b])
    return out


def standardised_differences(runs_a: list[dict], runs_b: list[dict]) -> dict[str, float]:
    """|mean_a - mean_b| / se of the difference, per KPI (0 where both are constant and equal)."""
    z = {}
    for k in runs_a[0]:
        a = np.array([r[k] for r in runs_a])
        b = np.array([r[k] for r in runs_b])
        se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        diff = abs(a.mean() - b.mean())
        z[k] = 0.0 if diff == 0 else (diff / se if se > 0 else np.inf)
    return z


@pytest.fixture(scope="module")
def replications(scenario):
    out = {}
    for name in STRATEGIES:
        vec = [simulate(scenario, resolve(name), s) for s in SEEDS]
        abm = [run_abm(scenario, resolve(name), s) for s in SEEDS]
        out[name] = (vec, abm)
    return out


@pytest.mark.parametrize("name", STRATEGIES)
def test_kpis_and_roll_rates_agree_statistically(replications, name):
    vec, abm = replications[name]
    z = standardised_differences([kpis(r) for r in vec], [kpis(r) for r in abm])
    worst = max(z, key=z.get)
    assert z[worst] < 3.0, f"{name}: {worst} differs by {z[worst]:.2f} standard errors"


@pytest.mark.parametrize("name", STRATEGIES)
def test_same_draws_give_identical_runs(replications, name):
    for v, a in zip(*replications[name], strict=True):
        np.testing.assert_array_equal(v.roll_counts, a.roll_counts)
        for k, x in kpis(v).items():
            assert kpis(a)[k] == pytest.approx(x, rel=1e-9, abs=1e-6), k
        for col in ("n_current", "n_1_30", "n_91_120", "cures", "attempts_call", "churned"):
            np.testing.assert_array_equal(v.daily[col].to_numpy(), a.daily[col].to_numpy())


@pytest.mark.parametrize(
    ("rule", "kpi"),
    [("promises", "promises_made"), ("hardship", "hardship_onsets"), ("irritation", "churned")],
)
def test_a_rule_missing_from_the_abm_fails_parity(replications, scenario, rule, kpi):
    """Switching one behaviour off in the ABM makes the parity check fail."""
    name = "aggressive"
    vec = [kpis(r) for r in replications[name][0]]
    abm = [kpis(run_abm(scenario, resolve(name), s, rules=Rules(**{rule: False}))) for s in SEEDS]
    z = standardised_differences(vec, abm)
    assert max(z.values()) >= 3.0
    assert z[kpi] >= 3.0


def test_data_collector_reports_the_daily_kpis(scenario):
    r = run_abm(scenario, resolve("standard"), 5)
    frame = model_frame(r)
    assert len(frame) == scenario.days
    np.testing.assert_allclose(frame["collected_delinquent"], r.daily["collected_delinquent"])
    np.testing.assert_allclose(frame["cost"], r.daily["cost"])
    np.testing.assert_array_equal(frame["n_charged_off"], r.daily["n_charged_off"])
    assert r.summary["engine"] == "abm"
    assert isinstance(r.model, CollectionsModel)
    assert r.model.rng is not None  # seeded the Mesa way


def test_books_too_large_are_refused():
    sc = load_scenario("scenarios/small.yaml", accounts=200_001, days=30)
    with pytest.raises(BookTooLarge, match="200,000"):
        CollectionsModel(sc, resolve("standard"), 1)


#: The response model's rules act only when their parameter is on: tests/test_response_model.py
#: switches each off in the ABM with its parameter on.
RESPONSE_RULES = (
    "reminders",
    "diminishing_returns",
    "promise_weakening",
    "promise_displacement",
    "current_offers",
)


@pytest.mark.parametrize("rule", [r for r in Rules.__dataclass_fields__ if r not in RESPONSE_RULES])
def test_every_rule_missing_from_the_abm_breaks_exact_agreement(replications, scenario, rule):
    """On shared draws the engines agree exactly, so any behaviour rule switched off in the ABM
    (including those too weak for the 4-seed statistical check) shows as a difference."""
    name = "aggressive"
    vec = replications[name][0][0]
    abm = run_abm(scenario, resolve(name), SEEDS[0], rules=Rules(**{rule: False}))
    same_kpis = all(
        kpis(abm)[k] == pytest.approx(x, rel=1e-9, abs=1e-6) for k, x in kpis(vec).items()
    )
    same_days = all(
        np.array_equal(vec.daily[c].to_numpy(), abm.daily[c].to_numpy())
        for c in ("collected_delinquent", "n_1_30", "cures", "promises_made", "churned")
    )
    assert not (same_kpis and same_days), f"switching {rule} off in the ABM changed nothing"
