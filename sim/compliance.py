"""Contact rules enforced by the engine, whatever a strategy asks for.

A :class:`ComplianceProfile` states the caps of a jurisdiction; :func:`enforce` drops every
request that would break them and says why, so the compliance ledger can count dropped actions
by reason. Strategies are never trusted with compliance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim import kernels
from sim.actions import ActionRequests
from sim.channels import CHANNEL_NAMES, DEFAULT_CHANNELS, ChannelSpec
from sim.portfolio import Portfolio

#: Reasons a request is dropped, in ledger order.
DROP_REASONS: tuple[str, ...] = ("duplicate", "call_cap_7d")


@dataclass(frozen=True)
class ComplianceProfile:
    """Caps on contacting one account.

    Attributes
    ----------
    name : str
    max_call_attempts_7d : int or None
        Call attempts (agent calls and IVR) allowed in any 7 consecutive days (US Reg F: 7).
    enforce : bool
        When False, requests pass unchanged and breaches are only counted.
    """

    name: str = "us_reg_f"
    max_call_attempts_7d: int | None = 7
    enforce: bool = True


DEFAULT_PROFILE = ComplianceProfile()


def call_channel_mask(channels: dict[str, ChannelSpec] | None = None) -> np.ndarray:
    """Boolean per channel code: does an attempt count as a call attempt?"""
    channels = channels or DEFAULT_CHANNELS
    return np.array([channels[name].call_attempt for name in CHANNEL_NAMES])


def _rank_within_account(
    account: np.ndarray, priority: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Order requests by account, highest priority first, and rank them inside each account."""
    order = np.lexsort((-priority, account))
    acc = account[order]
    start = np.ones(acc.size, bool)
    start[1:] = acc[1:] != acc[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(acc.size), 0))
    return order, np.arange(acc.size) - first


def calls_in_window(portfolio: Portfolio, account: np.ndarray, day: int) -> np.ndarray:
    """Call attempts on each account in the 7 days ending yesterday (the ring holds the last 7)."""
    return (portfolio.call_ring[account] > day - 7).sum(axis=1)


def _drop_duplicates(requests: ActionRequests) -> tuple[ActionRequests, int]:
    """Keep the highest-priority request of each (account, channel), in request order."""
    key = requests.account * 16 + requests.channel
    order = np.lexsort((-requests.priority, key))
    first = np.ones(order.size, bool)
    first[1:] = key[order][1:] != key[order][:-1]
    return requests.take(np.sort(order[first])), int((~first).sum())


def enforce(
    requests: ActionRequests,
    portfolio: Portfolio,
    day: int,
    profile: ComplianceProfile,
    is_call: np.ndarray,
) -> tuple[ActionRequests, dict[str, int]]:
    """Drop the requests a profile forbids.

    First one attempt per account and channel a day (the highest-priority duplicate stays);
    then, per account, call requests in priority order until the calls of the last 7 days reach
    the cap.

    Parameters
    ----------
    requests : ActionRequests
    portfolio : Portfolio
    day : int
    profile : ComplianceProfile
    is_call : ndarray of bool
        Per channel code, whether it counts as a call attempt.

    Returns
    -------
    kept : ActionRequests
        The requests kept, in request order.
    dropped : dict
        Number of dropped requests by reason (``DROP_REASONS``).
    """
    dropped = dict.fromkeys(DROP_REASONS, 0)
    if not len(requests):
        return requests, dropped
    slots = kernels.account_slots(portfolio.n)
    account = kernels.as_ids(requests.account)
    if account.min() < 0 or account.max() >= portfolio.n:
        raise IndexError("a request names an account id outside the book")
    channel = np.asarray(requests.channel)
    small_codes = channel.min() >= 0 and channel.max() < 31
    if not small_codes or kernels.has_duplicate_requests(account, channel, slots):
        requests, dropped["duplicate"] = _drop_duplicates(requests)
    if not profile.enforce or profile.max_call_attempts_7d is None:
        return requests, dropped

    calls = is_call[requests.channel]
    if calls.any():
        call_idx = np.flatnonzero(calls)
        acc = requests.account[call_idx]
        priority = np.ascontiguousarray(requests.priority[call_idx], dtype=np.float64)
        if np.isnan(priority).any():
            order, rank = _rank_within_account(acc, priority)
            over = np.empty(acc.size, bool)
            over[order] = calls_in_window(portfolio, acc[order], day) + rank + 1 > (
                profile.max_call_attempts_7d
            )
        else:
            over = kernels.call_cap_excess(
                kernels.as_ids(acc),
                priority,
                day,
                portfolio.call_ring,
                profile.max_call_attempts_7d,
                slots,
            )
        if over.any():
            keep = np.ones(len(requests), bool)
            keep[call_idx[over]] = False
            dropped["call_cap_7d"] = int(over.sum())
            requests = requests.take(keep)
    return requests, dropped


def record_calls(
    portfolio: Portfolio, account: np.ndarray, day: int, profile: ComplianceProfile
) -> int:
    """Write executed call attempts into each account's ring of recent attempt days, and
    count breaches.

    ``account`` may repeat (two call attempts on one account in a day); each lands in its own
    ring slot.

    Returns
    -------
    int
        Accounts over the profile's 7-day call cap after today's attempts: checked from the
        attempt log, independently of :func:`enforce`, so an enforcement bug shows up here.
        (An account with more attempts today than the ring holds counts as a breach too.)
    """
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
