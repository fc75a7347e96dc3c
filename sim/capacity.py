"""Staff-limited channels served by priority up to the day's capacity."""

from __future__ import annotations

import numpy as np

from sim.actions import ActionRequests
from sim.dispatch_kernels import allocate_by_priority


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
    return allocate_by_priority(
        np.ascontiguousarray(channel, dtype=np.int64),
        np.ascontiguousarray(priority, dtype=np.float64),
        np.ascontiguousarray(value, dtype=np.float64),
        np.ascontiguousarray(account, dtype=np.int64),
        np.ascontiguousarray(capacity, dtype=np.float64),
    )


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
