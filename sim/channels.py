"""Contact channels: what an attempt costs, how often it reaches the borrower, what it does.

The channel table is part of the world (``sim``): strategies choose channels by name, the engine
looks their physical properties up here. Figures are the design's starting ranges (USD);
field and legal costs are assumptions and marked as such in the docs.
"""

from __future__ import annotations

from enum import IntEnum

from pydantic import BaseModel, ConfigDict, Field


class Channel(IntEnum):
    """Channel codes, stored as ``int8`` in requests and contact logs."""

    SMS = 0
    EMAIL = 1
    IVR = 2
    LETTER = 3
    CALL = 4
    VISIT = 5
    LEGAL_NOTICE = 6
    RESTRUCTURE_OFFER = 7


#: Channels on which a right-party contact is a conversation with a collector (the automated
#: ones, SMS, e-mail, IVR, letters, notices, are not, unless promises are made on them).
CONVERSATION_CHANNELS: tuple[int, ...] = (int(Channel.CALL), int(Channel.VISIT))

CHANNEL_NAMES: tuple[str, ...] = tuple(c.name.lower() for c in Channel)
N_CHANNELS = len(CHANNEL_NAMES)


class Reachability(IntEnum):
    """Which reachability trait of a borrower a channel relies on."""

    PHONE = 0
    DIGITAL = 1
    FIELD = 2


class ChannelSpec(BaseModel):
    """Physical properties of one channel.

    Attributes
    ----------
    cost_per_attempt : float
        Cost of every attempt, reached or not (USD).
    cost_per_contact : float
        Extra cost when the right party is reached (talk time, visit time).
    reach : float
        Chance that an attempt reaches the right party, for a borrower of average reachability.
    effect : float
        Jump of the daily repayment intensity after a right-party contact, for a borrower of
        average sensitivity.
    promise_rate : float
        Chance that a right-party contact ends with a promise to pay.
    irritation : float
        Irritation added by every attempt (reached or not).
    reachability : {"phone", "digital", "field"}
        The borrower trait that scales ``reach``.
    staff_limited : bool
        Served from a daily staff capacity, by priority.
    call_attempt : bool
        Counts as a call attempt for compliance caps.
    third_party : bool
        Reaches people other than the borrower (references, employer); forbidden by profiles
        that bar third-party contact. No built-in channel does.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    cost_per_attempt: float = Field(ge=0)
    cost_per_contact: float = Field(default=0.0, ge=0)
    reach: float = Field(ge=0, le=1)
    effect: float = Field(ge=0)
    promise_rate: float = Field(default=0.0, ge=0, le=1)
    irritation: float = Field(ge=0)
    reachability: str = Field(pattern="^(phone|digital|field)$")
    staff_limited: bool = False
    call_attempt: bool = False
    third_party: bool = False


DEFAULT_CHANNELS: dict[str, ChannelSpec] = {
    "sms": ChannelSpec(
        cost_per_attempt=0.03, reach=0.85, effect=0.010, irritation=0.15, reachability="digital"
    ),
    "email": ChannelSpec(
        cost_per_attempt=0.002, reach=0.45, effect=0.004, irritation=0.05, reachability="digital"
    ),
    "ivr": ChannelSpec(
        cost_per_attempt=0.10,
        reach=0.35,
        effect=0.012,
        irritation=0.3,
        reachability="phone",
        call_attempt=True,
    ),
    "letter": ChannelSpec(
        cost_per_attempt=1.50, reach=0.70, effect=0.008, irritation=0.1, reachability="field"
    ),
    # Agent call: ~1 min of dialling and no-answers per attempt, ~5 min talk + 45 s wrap-up
    # on a right-party contact, at 0.25 USD per agent minute.
    "call": ChannelSpec(
        cost_per_attempt=0.30,
        cost_per_contact=1.45,
        reach=0.25,
        effect=0.060,
        promise_rate=0.45,
        irritation=0.45,
        reachability="phone",
        staff_limited=True,
        call_attempt=True,
    ),
    # Field visit: assumption, 20-60 USD per visit in the design's ranges.
    "visit": ChannelSpec(
        cost_per_attempt=35.0,
        cost_per_contact=5.0,
        reach=0.55,
        effect=0.110,
        promise_rate=0.55,
        irritation=1.2,
        reachability="field",
        staff_limited=True,
    ),
    "legal_notice": ChannelSpec(
        cost_per_attempt=12.0, reach=0.80, effect=0.050, irritation=1.5, reachability="field"
    ),
    "restructure_offer": ChannelSpec(
        cost_per_attempt=4.0, reach=0.60, effect=0.0, irritation=0.1, reachability="phone"
    ),
}


def channel_code(name: str) -> int:
    """Code of a channel name; raises ``KeyError`` naming the allowed ones."""
    try:
        return CHANNEL_NAMES.index(name)
    except ValueError:
        raise KeyError(f"unknown channel {name!r}; allowed: {', '.join(CHANNEL_NAMES)}") from None
