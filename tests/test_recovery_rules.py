"""Recovery rules of a rule table: the first rule a charged-off claim matches gives its path."""

from __future__ import annotations

import numpy as np
import pytest

from sim.actions import RECOVERY_PATHS, ChargeOffView
from sim.scenario import CAPACITIES, CREDIT_STANDINGS, PURPOSES
from strategies.rules import RecoveryRule, Rule, RuleTable

RULES = [
    RecoveryRule("sale", balance_max=500.0),
    RecoveryRule("legal", balance_min=15_000.0, credits=("good", "fair")),
    RecoveryRule("internal", purposes=("business",), capacities=("weak",)),
    RecoveryRule("legal", balance_min=8_000.0, balance_max=9_000.0),
]


def _first_match(view: ChargeOffView) -> np.ndarray:
    """The rules read one by one (the specification)."""
    out = []
    for k in range(view.account.size):
        path = "agency"
        for rule in RULES:
            lo = -np.inf if rule.balance_min is None else rule.balance_min
            hi = np.inf if rule.balance_max is None else rule.balance_max
            if (
                lo <= view.claim[k] < hi
                and (not rule.purposes or PURPOSES[view.purpose[k]] in rule.purposes)
                and (not rule.credits or CREDIT_STANDINGS[view.credit[k]] in rule.credits)
                and (not rule.capacities or CAPACITIES[view.capacity[k]] in rule.capacities)
            ):
                path = rule.path
                break
        out.append(RECOVERY_PATHS.index(path))
    return np.array(out)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_first_matching_recovery_rule_gives_the_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2_000
    view = ChargeOffView(
        account=np.arange(n),
        claim=np.round(rng.lognormal(8.3, 1.2, n), 2),
        purpose=rng.integers(0, 3, n).astype(np.int8),
        credit=rng.integers(0, 3, n).astype(np.int8),
        capacity=rng.integers(0, 3, n).astype(np.int8),
    )
    view.claim[:4] = [500.0, 499.99, 15_000.0, 8_000.0]  # the bounds: [min, max)
    table = RuleTable("t", [Rule("sms", 1, 30)], recovery=RULES)
    path = table.recovery_path(view)
    np.testing.assert_array_equal(path, _first_match(view))
    used = {RECOVERY_PATHS[c] for c in np.unique(path)}
    assert used == {"sale", "legal", "internal", "agency"}  # every rule and the default bite
