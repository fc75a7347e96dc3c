"""Staff-limited channels served by priority up to the day's capacity."""

from __future__ import annotations

import numpy as np

from sim.actions import ActionRequests


def allocate(requests: ActionRequests, capacity: np.ndarray) -> tuple[ActionRequests, np.ndarray]:
    """Serve requests of capacity-limited channels in priority order.

    Parameters
    ----------
    requests : ActionRequests
    capacity : ndarray of float, one per channel code
        Attempts the staff can make today; ``inf`` for channels that are not staff-limited.

    Returns
    -------
    served : ActionRequests
        Requests within capacity: for a full channel, the highest priorities first and, inside
        a priority, the highest expected value first (then the lowest account id, so the
        choice is deterministic).
    unserved : ndarray of int, one per channel code
    """
    n_channels = capacity.size
    unserved = np.zeros(n_channels, np.int64)
    if not len(requests):
        return requests, unserved
    demand = np.bincount(requests.channel, minlength=n_channels)
    limit = np.floor(capacity).astype(np.float64)
    short = np.flatnonzero(demand > limit)
    if not short.size:
        return requests, unserved
    keep = np.ones(len(requests), bool)
    value = requests.value if requests.value is not None else np.zeros(len(requests))
    for c in short:  # a loop over channels, never over accounts
        idx = np.flatnonzero(requests.channel == c)
        order = np.lexsort((requests.account[idx], -value[idx], -requests.priority[idx]))
        cut = int(limit[c])
        keep[idx[order[cut:]]] = False
        unserved[c] = idx.size - cut
    return requests.take(keep), unserved
