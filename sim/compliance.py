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
ledger. :func:`breaches` then checks the attempts actually made against the profile with
separate code, so an enforcement bug shows up as a breach. Strategies are never trusted
with compliance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sim import kernels
from sim.actions import ActionRequests
from sim.channels import CHANNEL_NAMES, DEFAULT_CHANNELS, ChannelSpec
from sim.portfolio import NEVER, Portfolio
from sim.rng import Stream, uniforms

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

#: Draw counter stride between attempts on one account, channel and day (attempt 0 keeps the
#: plain ``account * channels + channel`` counter).
ATTEMPT_STRIDE = 1 << 40


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


class ComplianceError(ValueError):
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
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ComplianceError(f"{path}: no such compliance profile file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ComplianceError(f"{path}: cannot read as YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ComplianceError(f"{path}: a compliance profile must be a mapping of fields")
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


def expand(requests: ActionRequests, n_accounts: int) -> tuple[Attempts, int]:
    """One request per (account, channel), the highest priority kept (then the earliest),
    expanded into its attempts. Returns the attempts and the number of duplicates dropped."""
    account = kernels.as_ids(requests.account)
    if account.size and (account.min() < 0 or account.max() >= n_accounts):
        raise IndexError("a request names an account id outside the book")
    channel = np.asarray(requests.channel, np.int64)
    dup = 0
    keep = None
    if account.size and (
        channel.min() < 0
        or channel.max() >= 31
        or kernels.has_duplicate_requests(account, channel, kernels.account_slots(n_accounts))
    ):
        key = account * 64 + channel
        order = np.lexsort((-np.asarray(requests.priority), key))
        first = np.ones(order.size, bool)
        first[1:] = key[order][1:] != key[order][:-1]
        keep = np.sort(order[first])
        dup = int((~first).sum())
    r = requests if keep is None else requests.take(keep)
    n_att = r.filled("attempts").astype(np.int64)
    base = Attempts(
        account=kernels.as_ids(r.account),
        channel=np.asarray(r.channel, np.int64),
        attempt=np.zeros(len(r), np.int64),
        priority=np.asarray(r.priority, np.float64),
        value=np.asarray(r.filled("value"), np.float64),
        hour_start=r.filled("hour_start").astype(np.int8, copy=False),
        hour_end=r.filled("hour_end").astype(np.int8, copy=False),
        fallback=r.filled("fallback").astype(np.int8, copy=False),
    )
    if len(r) == 0 or (n_att == 1).all():
        return base, dup
    n_att = np.maximum(n_att, 1)
    rows = np.repeat(np.arange(len(r)), n_att)
    out = base.take(rows)
    starts = np.cumsum(n_att) - n_att
    attempt = np.arange(rows.size) - np.repeat(starts, n_att)
    return replace(out, attempt=attempt), dup


def reached(
    att: Attempts, portfolio: Portfolio, day: int, key, reach: np.ndarray, reach_trait: np.ndarray
) -> np.ndarray:
    """Whether each attempt reaches the right party: the very draws the engine makes."""
    p_reach = np.minimum(
        reach[att.channel] * portfolio.reach[att.account, reach_trait[att.channel]], 0.98
    )
    counter = att.account * len(reach) + att.channel + att.attempt * ATTEMPT_STRIDE
    return uniforms(key, Stream.REACH, day, counter) < p_reach


def record_calls(
    portfolio: Portfolio, account: np.ndarray, day: int, profile: ComplianceProfile
) -> int:
    """Write executed call attempts into each account's ring of recent attempt days and count
    7-day-cap breaches (checked before each write, from the ring)."""
    if not account.size:
        return 0
    cap = profile.max_call_attempts_7d
    return int(
        kernels.record_call_attempts(
            kernels.as_ids(account),
            day,
            portfolio.call_ring,
            portfolio.call_ring_pos,
            -1 if cap is None else int(cap),
            kernels.account_slots(portfolio.n),
        )
    )


def breaches(
    att: Attempts,
    rpc_of: Callable[[Attempts], np.ndarray],
    conversation_before: np.ndarray,
    day: int,
    profile: ComplianceProfile,
    is_call: np.ndarray,
    talks: np.ndarray,
    n_accounts: int,
) -> int:
    """Attempts made today that break the profile's daily rules (hours, quiet period, daily
    caps), counted from the attempts themselves with code separate from the enforcement.

    ``conversation_before`` is each attempt's account's last conversation day before today;
    ``rpc_of`` gives attempts' outcomes. The 7-day cap is checked by :func:`record_calls`.
    """
    if not len(att):
        return 0
    start, end = profile.contact_hours
    n = int((np.maximum(att.hour_start, start) >= np.minimum(att.hour_end, end)).sum())
    calls = np.flatnonzero(is_call[att.channel])
    if not calls.size:
        return n
    q = profile.quiet_days_after_conversation
    if q is not None:
        since = day - conversation_before[calls]
        n += int(((since >= 1) & (since <= q)).sum())
    conn_cap = profile.max_connected_calls_per_day
    unans_cap = profile.max_unanswered_calls_per_day
    size = kernels.group_sizes(att.account[calls], kernels.account_slots(n_accounts))
    if conn_cap == 0 or unans_cap == 0:  # even a single call breaks a zero cap
        ok = rpc_of(att.take(calls[size == 1]))
        n += int(ok.sum()) if conn_cap == 0 else 0
        n += int((~ok).sum()) if unans_cap == 0 else 0
    multi = calls[size > 1]
    if not multi.size or (q is None and conn_cap is None and unans_cap is None):
        return n
    acc = att.account[multi]
    ok = rpc_of(att.take(multi))
    _, inv = np.unique(acc, return_inverse=True)
    if conn_cap is not None:
        n += int((np.bincount(inv, weights=ok) > conn_cap).sum())
    if unans_cap is not None:
        n += int((np.bincount(inv, weights=~ok) > unans_cap).sum())
    if q is not None:
        # a call after a conversation earlier today, in execution order (priority, attempt)
        order = np.lexsort((att.channel[multi], att.attempt[multi], -att.priority[multi], acc))
        conv = (ok & talks[att.channel[multi]])[order]
        a = acc[order]
        new = np.ones(a.size, bool)
        new[1:] = a[1:] != a[:-1]
        first = np.maximum.accumulate(np.where(new, np.arange(a.size), 0))
        c = np.cumsum(conv) - conv  # conversations strictly before, over the whole list
        n += int(((c - c[first]) > 0).sum())
    return n


def reach_draws(portfolio, day, key, reach, reach_trait) -> Callable[[Attempts], np.ndarray]:
    """``rpc_of`` for :func:`breaches`: the engine's own draws."""
    return lambda a: reached(a, portfolio, day, key, reach, reach_trait)


__all__ = [
    "DEFAULT_PROFILE",
    "DROP_REASONS",
    "NEVER",
    "PROFILES",
    "Attempts",
    "ComplianceError",
    "ComplianceProfile",
    "breaches",
    "call_channel_mask",
    "expand",
    "load_profile",
    "reached",
    "record_calls",
]
