"""Staff-limited channels served by priority up to the day's capacity."""

from __future__ import annotations

import numpy as np

from sim.actions import ActionRequests


def allocate_mask(
    channel: np.ndarray,
    priority: np.ndarray,
    value: np.ndarray,
    account: np.ndarray,
    capacity: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Which requests (or attempts) the staff can serve today.

    For a channel whose demand exceeds its capacity, the highest priorities are served first
    and, inside a priority, the highest expected value (then the lowest account id, so the
    choice is deterministic).

    Parameters
    ----------
    channel, priority, value, account : ndarray
        Parallel arrays, one entry per request.
    capacity : ndarray of float, one per channel code
        Attempts the staff can make today; ``inf`` for channels that are not staff-limited.

    Returns
    -------
    keep : ndarray of bool
    unserved : ndarray of int, one per channel code
    """
    n_channels = capacity.size
    unserved = np.zeros(n_channels, np.int64)
    keep = np.ones(channel.size, bool)
    if not channel.size:
        return keep, unserved
    demand = np.bincount(channel, minlength=n_channels)
    limit = np.floor(np.maximum(capacity, 0.0))
    for c in np.flatnonzero(demand > limit):  # a loop over channels, never over accounts
        idx = np.flatnonzero(channel == c)
        order = np.lexsort((account[idx], -value[idx], -priority[idx]))
        cut = int(limit[c])
        keep[idx[order[cut:]]] = False
        unserved[c] = idx.size - cut
    return keep, unserved


def allocate(requests: ActionRequests, capacity: np.ndarray) -> tuple[ActionRequests, np.ndarray]:
    """:func:`allocate_mask` over :class:`ActionRequests`; returns the served requests."""
    if not len(requests):
        return requests, np.zeros(capacity.size, np.int64)
    keep, unserved = allocate_mask(
        np.asarray(requests.channel, np.int64),
        np.asarray(requests.priority, np.float64),
        np.asarray(requests.filled("value"), np.float64),
        np.asarray(requests.account),
        capacity,
    )
    return (requests if keep.all() else requests.take(keep)), unserved
