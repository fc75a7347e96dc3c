"""A custom Python strategy: agent calls ranked by expected recovery.

This is the worked example of writing a strategy in code instead of a rule table (see
docs/strategies.md). Each day it estimates, for every delinquent account, the money a call is
expected to bring in: ``arrears x P(reach) x P(pay | reached)``, with the chance to pay taken
from the behaviour score. It asks for calls on every account whose expected recovery beats the
cost of a call, with that expected recovery as the priority, so that when agents run short the
most valuable calls are made first. Everyone delinquent also gets a weekly SMS.
"""

from __future__ import annotations

import numpy as np

from sim.actions import AccountView, ActionRequests
from sim.channels import Channel
from strategies.base import Strategy
from strategies.score import DEFAULT_SCORECARD, Scorecard


class ExpectedRecoveryCalls(Strategy):
    """Call where the expected recovery of a call exceeds its cost.

    Parameters
    ----------
    reach : float
        Assumed chance that a call reaches the borrower (the lender's own estimate).
    call_cost : float
        Cost of one call attempt, including the share of talk time (USD).
    margin : float
        Call only when expected recovery exceeds ``margin x call_cost``.
    scorecard : Scorecard
    """

    name = "expected_recovery"
    description = "Agent calls ranked by expected recovery, weekly SMS"

    def __init__(
        self,
        reach: float = 0.25,
        call_cost: float = 0.7,
        margin: float = 1.5,
        scorecard: Scorecard = DEFAULT_SCORECARD,
    ):
        self.reach, self.call_cost, self.margin, self.scorecard = (
            reach,
            call_cost,
            margin,
            scorecard,
        )

    def decide(self, view: AccountView) -> ActionRequests:
        delinquent = view.dpd > 0
        # a conversation lifts the chance to pay by roughly a third of the non-cure odds
        pay_if_reached = 0.35 * (1.0 - self.scorecard.risk(view))
        expected = view.arrears * self.reach * pay_if_reached
        call = (
            delinquent
            & (expected > self.margin * self.call_cost)
            & (view.days_since_contact(Channel.CALL) >= 1)
        )
        sms = delinquent & (view.days_since_contact(Channel.SMS) >= 7)
        c, s = np.flatnonzero(call), np.flatnonzero(sms)
        return ActionRequests(
            account=np.concatenate([view.account[c], view.account[s]]),
            channel=np.concatenate(
                [np.full(c.size, Channel.CALL, np.int8), np.full(s.size, Channel.SMS, np.int8)]
            ),
            priority=np.concatenate([expected[c], np.zeros(s.size)]),
            value=np.concatenate([expected[c], np.zeros(s.size)]),
        )
