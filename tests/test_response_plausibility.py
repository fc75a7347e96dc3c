"""Plausibility built into the tests (issue 16, point 7): they fail when the response is wrong,
not merely when the code changes.

* The trial library lands inside its published intervals on seeds the fit never used (slow).
* The illustrative card-like book (scenarios/baseline.yaml) is inside the published portfolio
  ranges (30+ DPD balances 1.5-3.6 %, annualised charge-off 2-7 %) with a substantial
  self-cure share.
* ``standard`` over ``none``, and the cost of the ``us_reg_f`` compliance profile, inside
  bounds that follow from the trials: each moves charge-offs by the conversations it adds or
  removes times the effect of a conversation Laudenbach et al. measured.
* Mutation: contact effects, promise rates and promise keeping scaled together by 10, and
  separately by 0, make these checks fail.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from postloan.trials.runner import run_trial
from sim.calibration.response import portfolio_targets
from sim.compliance import load_profile
from sim.constants import Status
from sim.engine import simulate
from sim.population import generate
from sim.scenario import Scenario, load_scenario
from strategies.registry import resolve

ROOT = Path(__file__).resolve().parents[1]
TRIALS = ROOT / "trials"
#: Seeds the response fit never used (it used 1000-1001).
FRESH = 20270101
#: Laudenbach et al. (2018): default -23.8 pp per conversation held, [-30.5, -17.1]
#: (trials/laudenbach_2018_conversation_default.yaml).
CONVERSATION_DEFAULT = (-30.5, -17.1)
#: The cheap trials the mutation checks run (the conversation is the contact that matters).
CORE_TRIALS = (
    "laudenbach_2018_conversation_repayment.yaml",
    "laudenbach_2018_conversation_default.yaml",
)


def baseline(**overrides) -> Scenario:
    return load_scenario(ROOT / "scenarios" / "baseline.yaml", **overrides)


def trial_failures(sc: Scenario | None, files, replications=None, seed=FRESH) -> list[str]:
    out = []
    for name in files:
        r = run_trial(TRIALS / name, replications=replications, seed=seed, scenario=sc)
        if not r.within:
            pub = r.spec.published
            out.append(f"{r.spec.name}: {r.estimate.effect:+.2f} outside [{pub.low}, {pub.high}]")
    return out


def portfolio_failures(sc: Scenario, seed: int = FRESH) -> list[str]:
    sc = sc.with_overrides(accounts=30_000)
    r = simulate(sc, resolve("standard"), seed)
    return [
        f"{t.name}: {t.simulated:.4f} outside [{t.low}, {t.high}]"
        for t in portfolio_targets(r.summary, r.daily, sc.days)
        if not t.within
    ]


def _charged_off_and_spoken(sc: Scenario, strategy, seed: int, compliance=None):
    """Per account: charged off by the end, and had a conversation (a reached call or visit)."""
    book = generate(sc, seed)
    extra = {} if compliance is None else {"compliance": compliance}
    simulate(sc, strategy, seed, portfolio=book, **extra)
    return book.status == Status.CHARGED_OFF, book.last_conversation >= 0


def per_conversation_effect(sc: Scenario, a, b, seed: int = FRESH, ca=None, cb=None):
    """The Wald estimate (pp) of the effect on charge-off of a conversation, from running the
    whole book under ``a`` and ``b`` (common random numbers), and its standard error."""
    ya, da = _charged_off_and_spoken(sc, a, seed, ca)
    yb, db = _charged_off_and_spoken(sc, b, seed, cb)
    first = da.mean() - db.mean()
    itt = ya.mean() - yb.mean()
    n = ya.size
    se_itt = math.sqrt(ya.var() / n + yb.var() / n)
    return 100 * itt / first, 100 * se_itt / abs(first), first


def conversation_failures(sc: Scenario) -> list[str]:
    """``standard`` over ``none``: the change in charge-offs per account given a conversation
    (the Wald estimate over the whole book) inside Laudenbach et al.'s interval, widened by two
    simulation standard errors. The cost of ``us_reg_f`` (against the profile ``none``): the
    charge-offs it adds per conversation it blocks are above 0 (a blocked conversation costs
    something) and at most what one conversation is worth, 30.5 pp (Laudenbach's bound)."""
    sc = sc.with_overrides(accounts=30_000)
    out = []
    eff, se, first = per_conversation_effect(sc, resolve("standard"), None)
    lo, hi = CONVERSATION_DEFAULT
    if not (first > 0 and lo - 2 * se <= eff <= hi + 2 * se):
        out.append(f"standard over none: {eff:+.1f} pp per conversation (se {se:.1f})")
    free = simulate(sc, resolve("standard"), FRESH, compliance=load_profile("none"))
    reg_f = simulate(sc, resolve("standard"), FRESH, compliance=load_profile("us_reg_f"))

    def talks(r):
        return float(r.daily["rpc_call"].sum() + r.daily["rpc_visit"].sum())

    blocked = talks(free) - talks(reg_f)
    added = reg_f.summary["charge_offs"] - free.summary["charge_offs"]
    cost = added / blocked if blocked > 0 else math.nan
    if not (0 < cost <= -lo / 100):
        out.append(f"us_reg_f: {cost:.4f} charge-offs per blocked conversation ({blocked:.0f})")
    return out


def mutated(sc: Scenario, factor: float) -> Scenario:
    """Every channel's contact effect, promise rate and the promise keeping times ``factor``
    (rates and keeping capped at 1)."""
    channels = {
        name: spec.model_copy(
            update={
                "effect": spec.effect * factor,
                "promise_rate": min(1.0, spec.promise_rate * factor),
            }
        )
        for name, spec in sc.channels.items()
    }
    b = sc.behaviour
    behaviour = b.model_copy(
        update={
            "promise_keep": min(1.0, b.promise_keep * factor),
            "promise_keep_hardship": min(1.0, b.promise_keep_hardship * factor),
        }
    )
    return sc.model_copy(update={"channels": channels, "behaviour": behaviour})


# --------------------------------------------------------------------------- the checks
@pytest.mark.slow
def test_the_trial_library_lands_inside_its_published_intervals_on_fresh_seeds():
    files = sorted(p.name for p in TRIALS.glob("*.yaml"))
    assert len(files) >= 6
    assert trial_failures(None, files) == []


def test_the_illustrative_book_is_inside_the_published_portfolio_ranges():
    assert portfolio_failures(baseline()) == []


def test_standard_over_none_and_the_cost_of_reg_f_follow_from_the_conversation_trial():
    assert conversation_failures(baseline()) == []


@pytest.mark.slow
@pytest.mark.parametrize("factor", [10.0, 0.0])
def test_a_wrong_response_fails_the_trial_and_plausibility_checks(factor):
    sc = mutated(baseline(), factor)
    failed = trial_failures(sc, CORE_TRIALS, replications=2)
    failed += portfolio_failures(sc) + conversation_failures(sc)
    assert failed, f"a response scaled by {factor} passes every check"
    # the conversation trials themselves catch it
    assert any(f.startswith("laudenbach") for f in failed), failed


def test_mutation_really_changes_the_response():
    sc = baseline()
    ten, zero = mutated(sc, 10.0), mutated(sc, 0.0)
    assert ten.channels["call"].effect == pytest.approx(10 * sc.channels["call"].effect)
    assert zero.channels["call"].promise_rate == 0.0
    assert zero.behaviour.promise_keep == 0.0
    assert ten.behaviour.promise_keep == 1.0
    assert np.isclose(ten.channels["sms"].effect, 10 * sc.channels["sms"].effect)
