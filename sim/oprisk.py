"""Operational risk events: system outage days, wrong-number and wrong-amount contacts.

The ``operational_risk:`` section of a scenario (:class:`OperationalRisk`, every rate off by
default, and off means the run is bit-identical to one without it). The day loop
(:mod:`sim.day_loop`) applies it the same way for both engines:

* **Outage days** (dialler or contact-system down): on such a day the strategy's contacts are
  not made at all (no attempt, no cost, no effect). Days are drawn once per run, each with
  chance ``outage_days_per_year / 360``.
* **Wrong-number contacts** (a data error: a stale or mistyped phone number): of the attempts
  that do not reach the borrower, a share ``wrong_number_share`` reaches a third party who is
  told of the debt: a compliance breach (third-party disclosure: FDCPA section 805(b),
  Regulation F 12 CFR 1006.6(d)) and a complaint with chance ``complaint_chance``.
* **Wrong-amount contacts** (a data error in the ledger): of the right-party contacts, a share
  ``wrong_amount_share`` quotes a wrong balance: a complaint with chance ``complaint_chance``.
  The conversation's effect on the borrower is kept (a simplification).

The daily table books ``outage_days``, ``wrong_number_contacts`` and ``wrong_amount_contacts``;
complaints and breaches go into ``complaints`` and ``compliance_breaches`` (and the account's
complaint count). Draws use their own generator keyed by the run's seed key and the day, on
the day's contacts in (account, channel) order, so both engines draw alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

_OUTAGE_SALT = 0x0C7A_6E01
_CONTACT_SALT = 0x0C7A_6E02


class OperationalRisk(BaseModel):
    """Rates of operational risk events (docs/macro.md, "Operational risk", gives sources)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    outage_days_per_year: float = Field(
        default=0.0, ge=0, le=360, description="days a year the contact systems are down"
    )
    wrong_number_share: float = Field(
        default=0.0, ge=0, le=1, description="of attempts missing the borrower: a third party told"
    )
    wrong_amount_share: float = Field(
        default=0.0, ge=0, le=1, description="of right-party contacts: a wrong balance quoted"
    )
    complaint_chance: float = Field(
        default=0.25, ge=0, le=1, description="chance that a contact error ends in a complaint"
    )


class OperationalEvents:
    """One run's operational risk events (built by the day loop)."""

    def __init__(self, scenario: Any, key: int):
        """``scenario``: a :class:`sim.scenario.Scenario` (typed ``Any``: sim.scenario imports
        this module); ``key``: the run's seed key."""
        spec = scenario.operational_risk
        self.spec = spec
        self.key = int(key)
        rng = np.random.default_rng([self.key, _OUTAGE_SALT])
        chance = spec.outage_days_per_year / 360.0
        self.outage_days = (rng.random(scenario.days) < chance) if chance > 0 else None
        #: True when contacts must be inspected (the loop then collects them)
        self.contact_errors = spec.wrong_number_share > 0 or spec.wrong_amount_share > 0

    def outage(self, day: int) -> bool:
        """Whether the contact systems are down on ``day``."""
        return self.outage_days is not None and bool(self.outage_days[day])

    def book_contact_errors(self, engine: Any, day: int, events: Any) -> None:
        """Wrong-number and wrong-amount contacts among the day's contacts (``events``, the
        day loop's :class:`sim.day_loop.EventLog`; left there for the observers), booked on
        the engine's book and daily table."""
        acc, chan, rpc = events.take("contacts", 3)
        events.add("contacts", acc, chan, rpc)
        if not acc.size:
            return
        order = np.lexsort((chan, acc))
        acc, rpc = acc[order], rpc[order].astype(bool)
        s = self.spec
        u = np.random.default_rng([self.key, day, _CONTACT_SALT]).random((2, acc.size))
        wrong_number = ~rpc & (u[0] < s.wrong_number_share)
        wrong_amount = rpc & (u[0] < s.wrong_amount_share)
        complains = (wrong_number | wrong_amount) & (u[1] < s.complaint_chance)
        np.add.at(engine.p.complaints, acc[complains], 1)
        engine.rec.add(
            day,
            wrong_number_contacts=int(wrong_number.sum()),
            wrong_amount_contacts=int(wrong_amount.sum()),
            complaints=int(complains.sum()),
            compliance_breaches=int(wrong_number.sum()),
        )
