"""Contact rules enforced by the engine, whatever a strategy asks for.

A :class:`ComplianceProfile` states what a jurisdiction allows: call attempts in any 7 days,
a quiet period after a telephone conversation, daily caps on connected and unanswered calls,
contact hours, third-party contact. The engine runs every day's requests through

1. :func:`expand`: one request per (account, channel), the highest priority kept, expanded into
   its attempts;
2. contact hours, third-party channels and the quiet period after an earlier day's
   conversation;
3. capacity and fall-back channels;
4. per account, attempts in priority order until a cap is reached (the 7-day cap counting
   today's attempts, the daily connected/unanswered caps and the quiet period after a
   conversation earlier today: these depend on the outcomes of earlier attempts, which are
   drawn exactly as the engine will draw them, :func:`reached`);

steps 2-4 in one compiled pass (``sim.dispatch_kernels.dispatch_attempts``, driven by
``sim.dispatch.serve``), and counts every dropped attempt by reason in the compliance
ledger. ``sim.breach_kernels.count_breaches`` then checks the attempts actually made against
the profile with separate code, so an enforcement bug shows up as a breach. Strategies are
never trusted with compliance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sim.borrower.contact import REACH_CAP
from sim.channels import CHANNEL_NAMES, DEFAULT_CHANNELS, ChannelSpec
from sim.constants import ATTEMPT_STRIDE, NEVER
from sim.portfolio import Portfolio
from sim.rng import Stream, uniforms
from sim.user_input import UserInputError, read_yaml_mapping

#: Reasons an attempt is dropped, in ledger order.
DROP_REASONS: tuple[str, ...] = (
    "duplicate",
    "contact_hours",
    "third_party",
    "call_cap_7d",
    "quiet_after_conversation",
    "daily_connected_cap",
    "daily_unanswered_cap",
)


@dataclass(frozen=True)
class ComplianceProfile:
    """What a jurisdiction allows when contacting one account.

    Attributes
    ----------
    name : str
    max_call_attempts_7d : int or None
        Call attempts (agent calls and IVR) in any 7 consecutive days (US Reg F: 7).
    quiet_days_after_conversation : int or None
        No call attempt within this many days after a telephone conversation (Reg F: 7),
        including later the same day.
    max_connected_calls_per_day, max_unanswered_calls_per_day : int or None
        Daily caps on calls that reach the borrower and on calls that do not (China: 3 and 6).
    contact_hours : (int, int)
        Hours ``[start, end)`` in which contact is allowed (Reg F: 8-21; China: 8-22).
    third_party_contact : bool
        Whether channels that reach third parties may be used. None of the built-in channels
        does, so this only bites for user-defined channels marked ``third_party``.
    enforce : bool
        When False, attempts are not dropped for the profile, only counted as breaches.
    """

    name: str = "us_reg_f"
    max_call_attempts_7d: int | None = 7
    quiet_days_after_conversation: int | None = 7
    max_connected_calls_per_day: int | None = None
    max_unanswered_calls_per_day: int | None = None
    contact_hours: tuple[int, int] = (8, 21)
    third_party_contact: bool = True
    enforce: bool = True

    def __post_init__(self) -> None:
        for name in (
            "max_call_attempts_7d",
            "quiet_days_after_conversation",
            "max_connected_calls_per_day",
            "max_unanswered_calls_per_day",
        ):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, int) and v >= 0):
                raise ValueError(f"{name} must be a non-negative integer or null")
        if self.max_call_attempts_7d is not None and self.max_call_attempts_7d > 7:
            # the attempt ring keeps the last 7 call days per account
            raise ValueError("max_call_attempts_7d above 7 is not supported (use null for none)")
        start, end = self.contact_hours
        if not 0 <= start < end <= 24:
            raise ValueError("contact_hours must be [start, end) with 0 <= start < end <= 24")


PROFILES: dict[str, ComplianceProfile] = {
    "us_reg_f": ComplianceProfile(),
    "cn": ComplianceProfile(
        name="cn",
        max_call_attempts_7d=None,
        quiet_days_after_conversation=None,
        max_connected_calls_per_day=3,
        max_unanswered_calls_per_day=6,
        contact_hours=(8, 22),
        third_party_contact=False,
    ),
    "none": ComplianceProfile(
        name="none",
        max_call_attempts_7d=None,
        quiet_days_after_conversation=None,
        contact_hours=(0, 24),
    ),
}
DEFAULT_PROFILE = PROFILES["us_reg_f"]


class ComplianceError(UserInputError):
    """A compliance profile that cannot be used; the message names the file and field."""


def load_profile(name_or_file: str) -> ComplianceProfile:
    """A built-in profile by name (``us_reg_f``, ``cn``, ``none``) or a user-defined YAML file
    with the fields of :class:`ComplianceProfile` (unknown keys refused)."""
    if name_or_file in PROFILES:
        return PROFILES[name_or_file]
    path = Path(name_or_file)
    if path.suffix.lower() not in (".yaml", ".yml") and not path.exists():
        raise ComplianceError(
            f"unknown compliance profile {name_or_file!r}; built-in: {', '.join(PROFILES)}, "
            "or the path of a profile YAML file"
        )
    # safe YAML, duplicate keys refused (sim.user_input)
    data = read_yaml_mapping(path, "compliance profile", ComplianceError)
    allowed = set(ComplianceProfile.__dataclass_fields__)
    for key in data:
        if key not in allowed:
            raise ComplianceError(
                f"{path}: field '{key}': unknown key; allowed: {', '.join(sorted(allowed))}"
            )
    if "contact_hours" in data:
        hours = data["contact_hours"]
        if not (isinstance(hours, list | tuple) and len(hours) == 2):
            raise ComplianceError(f"{path}: field 'contact_hours': give [start, end]")
        data["contact_hours"] = tuple(hours)
    data.setdefault("name", path.stem)
    try:
        return replace(ComplianceProfile(), **data)
    except (TypeError, ValueError) as exc:
        raise ComplianceError(f"{path}: {exc}") from None


def call_channel_mask(channels: dict[str, ChannelSpec] | None = None) -> np.ndarray:
    """Boolean per channel code: does an attempt count as a call attempt?"""
    channels = channels or DEFAULT_CHANNELS
    return np.array([channels[name].call_attempt for name in CHANNEL_NAMES])


@dataclass(frozen=True)
class Attempts:
    """Contact attempts: requests expanded, one row per attempt (parallel arrays)."""

    account: np.ndarray
    channel: np.ndarray  # int64
    attempt: np.ndarray  # int64, 0 for the first attempt on the channel today
    priority: np.ndarray
    value: np.ndarray
    hour_start: np.ndarray
    hour_end: np.ndarray
    fallback: np.ndarray

    def __len__(self) -> int:
        return int(self.account.size)

    def take(self, keep: np.ndarray) -> Attempts:
        """The attempts selected by a boolean mask or by positions."""
        if keep.dtype == np.bool_:
            keep = np.flatnonzero(keep)  # one scan of the mask, not one per array
        return Attempts(
            self.account[keep],
            self.channel[keep],
            self.attempt[keep],
            self.priority[keep],
            self.value[keep],
            self.hour_start[keep],
            self.hour_end[keep],
            self.fallback[keep],
        )


def reached(
    att: Attempts, portfolio: Portfolio, day: int, key, reach: np.ndarray, reach_trait: np.ndarray
) -> np.ndarray:
    """Whether each attempt reaches the right party: the very draws the engine makes."""
    p_reach = np.minimum(
        reach[att.channel] * portfolio.reach[att.account, reach_trait[att.channel]], REACH_CAP
    )
    counter = att.account * len(reach) + att.channel + att.attempt * ATTEMPT_STRIDE
    return uniforms(key, Stream.REACH, day, counter) < p_reach


def reach_draws(portfolio, day, key, reach, reach_trait) -> Callable[[Attempts], np.ndarray]:
    """Right-party contact of attempts (a function of :class:`Attempts`): the engine's own
    draws."""
    return lambda a: reached(a, portfolio, day, key, reach, reach_trait)


__all__ = [
    "DEFAULT_PROFILE",
    "DROP_REASONS",
    "NEVER",
    "PROFILES",
    "Attempts",
    "ComplianceError",
    "ComplianceProfile",
    "call_channel_mask",
    "load_profile",
    "reached",
]
