"""The default escalation strategy: reminder SMS -> calls -> field visit -> legal, by bucket.

This is the ladder most lenders run. Early (1-30 DPD) the borrower gets SMS reminders and,
from day 5, an agent call every other day; 31-60 DPD calls every day; 61-90 adds a field visit
every two weeks; 91+ a legal notice once and visits. Hardship cases seen by the lender get a
restructuring offer once between 31 and 90 DPD.
"""

from __future__ import annotations

from strategies.rules import Rule, RuleTable

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("sms", 1, 30, every_days=4, priority=1),
    Rule("call", 5, 30, every_days=2, priority=2),
    Rule("sms", 31, 60, every_days=7, priority=1),
    Rule("call", 31, 60, every_days=1, priority=3),
    Rule("restructure_offer", 31, 90, once=True, priority=4, hardship_seen_only=True),
    Rule("call", 61, 119, every_days=1, priority=4),
    Rule("visit", 61, 119, every_days=14, priority=5),
    Rule("letter", 61, 90, every_days=30, priority=1),
    Rule("legal_notice", 91, 119, once=True, priority=6),
)


def default_strategy() -> RuleTable:
    """The default escalation ladder as a rule table."""
    return RuleTable("default", list(DEFAULT_RULES), description=__doc__.splitlines()[0])
