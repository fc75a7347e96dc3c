"""The default strategy: the library's ``standard`` escalation ladder.

Reminder SMS -> calls -> field visit -> legal by bucket, with a restructuring offer for visible
hardship; see ``strategies/library/standard.yaml``.
"""

from __future__ import annotations

from strategies.rules import RuleTable


def default_strategy() -> RuleTable:
    """The ``standard`` rule table (what ``postloan run`` uses unless told otherwise)."""
    from strategies.registry import resolve  # the registry builds on this module's siblings

    return resolve("standard")
