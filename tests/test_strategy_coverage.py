"""Library strategies work every delinquent account of every shipped scenario, to charge-off.

A rule table whose late stage stopped at 119 DPD left accounts of the calibrated books (charged
off at 121 and 360 DPD) uncontacted from 120 DPD on. Here every DPD from 1 to the scenario's
charge-off DPD must be matched, for every account, by a contact rule that repeats: a contact
channel (not the restructuring offer), not ``once``, with no condition but the DPD range and a
score band (flags, promise status, balance or segment conditions match only some accounts), the
score bands together covering every score.
"""

from __future__ import annotations

import pytest

from sim.scenario import load_scenario
from sim.shipped import scenarios_folder
from strategies.registry import SCORE_MAX, library, resolve
from strategies.rules import Rule, RuleTable
from strategies.split import Split

SCENARIOS = sorted(p.stem for p in scenarios_folder().glob("*.yaml"))
STRATEGIES = sorted(library())


def _rule_tables(strategy) -> list[RuleTable]:
    if isinstance(strategy, Split):
        return [t for arm in strategy.strategies for t in _rule_tables(arm)]
    assert isinstance(strategy, RuleTable), type(strategy)
    return [strategy]


def _for_everyone(r: Rule) -> bool:
    """The rule asks for a repeated contact of every account in its DPD range and score band."""
    return (
        r.channel != "restructure_offer"
        and not r.once
        and not r.flags
        and not r.needs_hardship_seen
        and r.promise == "any"
        and r.balance_min is None
        and r.balance_max is None
        and not (r.purposes or r.credits or r.capacities)
    )


def uncovered_dpds(table: RuleTable, charge_off_dpd: int) -> list[int]:
    """The DPDs in 1..charge_off_dpd at which some score has no repeated contact rule."""
    rules = [r for r in table.rules if _for_everyone(r)]
    missing = []
    for dpd in range(1, charge_off_dpd + 1):
        bands = sorted(
            (r.score_min or 0.0, SCORE_MAX if r.score_max is None else r.score_max)
            for r in rules
            if r.dpd_min <= dpd <= r.dpd_max
        )
        reach = 0.0
        for lo, hi in bands:
            if lo > reach:
                break
            reach = max(reach, hi)
        if reach < SCORE_MAX:
            missing.append(dpd)
    return missing


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_library_strategy_contacts_every_dpd_up_to_charge_off(scenario, strategy):
    charge_off = load_scenario(scenarios_folder() / f"{scenario}.yaml").charge_off_dpd
    for table in _rule_tables(resolve(strategy)):
        missing = uncovered_dpds(table, charge_off)
        assert not missing, (
            f"{strategy} ({table.name}) on {scenario} (charge-off {charge_off} DPD): no repeated "
            f"contact rule for every account at DPD {missing[0]}..{missing[-1]} "
            f"({len(missing)} DPDs)"
        )


def test_the_check_sees_a_gap_at_the_late_stage_and_in_a_score_band():
    """The check itself: the former 119-DPD stop and a missing score band are gaps."""
    closed = RuleTable("closed", [Rule("call", 1, 119, every_days=2)])
    assert uncovered_dpds(closed, 121) == [120, 121]
    assert uncovered_dpds(closed, 120) == [120]
    banded = RuleTable(
        "banded",
        [Rule("call", 1, 719, score_min=0, score_max=450), Rule("sms", 1, 719, score_min=650)],
    )
    assert uncovered_dpds(banded, 30) == list(range(1, 31))
    once = RuleTable("once", [Rule("call", 1, 60), Rule("legal_notice", 61, 719, once=True)])
    assert uncovered_dpds(once, 62) == [61, 62]


def test_standard_without_the_offer_is_standard_without_the_offer():
    """The Dobbie & Song control arm (trials/strategies/standard_no_offer.yaml) must follow
    ``standard`` rule for rule, the offer aside, or the trial would compare more than offers."""
    from postloan.trials.shipped import trials_folder

    standard = resolve("standard")
    no_offer = resolve(str(trials_folder() / "strategies" / "standard_no_offer.yaml"))
    assert no_offer.rules == tuple(r for r in standard.rules if r.channel != "restructure_offer")
    assert no_offer.recovery == standard.recovery
