"""Analytic queueing references for an inbound line: Erlang-C (M/M/n) and Erlang-A (M/M/n+M).

Units follow contact-centre practice: calls per hour, average handle time (AHT) and patience in
seconds, offered load in Erlangs (``calls_per_hour * aht_s / 3600``). Everything is computed in
log space (``scipy.special``/``scipy.stats``) so that hundreds or thousands of agents are fine.

Definitions shared with the discrete-event model (:mod:`sim.operations.des`), per arriving call:

* ``p_wait``: the call finds every agent busy and has to queue;
* ``mean_wait_s``: time in queue, until answered or until it abandons (abandoning calls count
  with the time they waited);
* ``service_level``: the call is *answered* within ``target_s`` (abandoned calls never count);
* ``abandon_rate``: the call hangs up before being answered (Erlang-A only, 0 for Erlang-C);
* ``occupancy``: share of agent time spent handling calls.

Erlang-A follows Garnett, Mandelbaum and Reiman (2002): Poisson arrivals, exponential handle
times, exponential patience, first come first served. The stationary law of the birth-death
chain is computed exactly, its tail truncated where it is negligible (below ``exp(-60)`` of the
peak). The answered-within-``t`` probability uses the closed form for a tagged call that finds
``q`` calls ahead: its virtual wait is ``-log(U) / theta`` with ``U ~ Beta(n mu / theta, q + 1)``
(a sum of exponentials with rates ``n mu + m theta``), so the chance that it is answered within
``t`` and before its own patience runs out is a regularised incomplete beta function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Log-probability below the peak at which the Erlang-A tail is cut off.
_TAIL_CUTOFF = 60.0
#: Upper bound on the truncated Erlang-A queue length (a guard against absurd inputs).
_MAX_QUEUE = 4_000_000


@dataclass(frozen=True)
class QueueMetrics:
    """Steady-state figures of an inbound line.

    Attributes
    ----------
    agents : int
        Agents answering the line.
    offered_load : float
        Offered load in Erlangs.
    target_s : float
        Service-level threshold (seconds).
    p_wait : float
        Probability that an arriving call queues.
    mean_wait_s : float
        Mean time in queue over all calls (seconds), abandoned calls included.
    service_level : float
        Probability that a call is answered within ``target_s``.
    abandon_rate : float
        Probability that a call abandons (0 without patience).
    occupancy : float
        Share of agent time spent handling calls.
    """

    agents: int
    offered_load: float
    target_s: float
    p_wait: float
    mean_wait_s: float
    service_level: float
    abandon_rate: float
    occupancy: float


def offered_load(calls_per_hour: float, aht_s: float) -> float:
    """Offered load in Erlangs.

    Parameters
    ----------
    calls_per_hour : float
        Arrival rate of calls.
    aht_s : float
        Average handle time in seconds.

    Returns
    -------
    float
        ``calls_per_hour * aht_s / 3600``.
    """
    return calls_per_hour * aht_s / 3600.0


def erlang_b(agents: int, load: float) -> float:
    """Erlang-B blocking probability of ``agents`` servers offered ``load`` Erlangs.

    Parameters
    ----------
    agents : int
        Number of servers (>= 0).
    load : float
        Offered load in Erlangs (> 0).

    Returns
    -------
    float
        ``(a^n / n!) / sum_{k<=n} a^k / k!``, computed as a ratio of Poisson terms.
    """
    from scipy import stats  # imported on first use (fast start-up)

    return float(np.exp(stats.poisson.logpmf(agents, load) - stats.poisson.logcdf(agents, load)))


def erlang_c(agents: int, load: float) -> float:
    """Erlang-C probability that an arriving call waits (M/M/n).

    Parameters
    ----------
    agents : int
        Number of agents (>= 1).
    load : float
        Offered load in Erlangs (> 0).

    Returns
    -------
    float
        Probability of waiting; 1.0 when ``load >= agents`` (the queue is unstable).
    """
    if load >= agents:
        return 1.0
    blocking = erlang_b(agents, load)
    rho = load / agents
    return blocking / (1.0 - rho * (1.0 - blocking))


def erlang_c_mean_wait(agents: int, load: float, aht_s: float) -> float:
    """Mean time in queue (seconds) over all calls of an M/M/n line.

    Parameters
    ----------
    agents : int
        Number of agents.
    load : float
        Offered load in Erlangs.
    aht_s : float
        Average handle time in seconds.

    Returns
    -------
    float
        ``C(n, a) * aht / (n - a)``; infinite when ``load >= agents``.
    """
    if load >= agents:
        return math.inf
    return erlang_c(agents, load) * aht_s / (agents - load)


def erlang_c_service_level(agents: int, load: float, aht_s: float, target_s: float) -> float:
    """Probability that an M/M/n call is answered within ``target_s`` seconds.

    Parameters
    ----------
    agents : int
        Number of agents.
    load : float
        Offered load in Erlangs.
    aht_s : float
        Average handle time in seconds.
    target_s : float
        Threshold in seconds.

    Returns
    -------
    float
        ``1 - C(n, a) exp(-(n - a) t / aht)``; 0 when ``load >= agents``.
    """
    if load >= agents:
        return 0.0
    return 1.0 - erlang_c(agents, load) * math.exp(-(agents - load) * target_s / aht_s)


def _erlang_a_queue_log_weights(agents: int, load: float, gamma: float) -> np.ndarray:
    """Log of ``pi_{n+j} / pi_n`` for ``j = 0, 1, ...`` until the tail is negligible.

    ``gamma`` is ``aht / patience`` (abandonment rate over service rate); the birth-death chain
    moves from ``n + j - 1`` to ``n + j`` at rate ``lambda`` and back at ``n mu + j theta``.
    """
    size = 256
    while True:
        j = np.arange(1, size + 1, dtype=float)
        steps = math.log(load) - np.log(agents + j * gamma)
        logw = np.concatenate(([0.0], np.cumsum(steps)))
        # The increments fall with j, so once the last one is negative and the weight has
        # dropped far below its peak, every later term is smaller still.
        if steps[-1] < 0 and logw[-1] < logw.max() - _TAIL_CUTOFF:
            keep = logw >= logw.max() - _TAIL_CUTOFF - 10.0
            return logw[: int(np.flatnonzero(keep)[-1]) + 1]
        if size >= _MAX_QUEUE:
            raise ValueError("patience too long for an overloaded Erlang-A line")
        size = min(4 * size, _MAX_QUEUE)


def erlang_a(
    agents: int, load: float, aht_s: float, patience_s: float, target_s: float = 20.0
) -> QueueMetrics:
    """Steady-state figures of an M/M/n+M (Erlang-A) line.

    Parameters
    ----------
    agents : int
        Number of agents (>= 1).
    load : float
        Offered load in Erlangs (> 0); may exceed ``agents`` since callers abandon.
    aht_s : float
        Average handle time in seconds (exponential handle times).
    patience_s : float
        Mean patience in seconds (exponential patience).
    target_s : float, default 20
        Service-level threshold in seconds.

    Returns
    -------
    QueueMetrics
        Waiting probability, mean wait, service level, abandonment and occupancy.
    """
    from scipy import special, stats  # imported on first use (fast start-up)

    gamma = aht_s / patience_s
    logw = _erlang_a_queue_log_weights(agents, load, gamma)
    log_pi_n = stats.poisson.logpmf(agents, load)
    log_head = stats.poisson.logcdf(agents - 1, load) if agents > 0 else -math.inf
    log_queue = log_pi_n + special.logsumexp(logw)
    log_total = np.logaddexp(log_head, log_queue)
    pi_tail = np.exp(log_pi_n + logw - log_total)  # P(N = n + q), q = 0, 1, ...

    q = np.arange(logw.size, dtype=float)
    mean_queue = float(np.dot(q, pi_tail))
    p_wait = float(pi_tail.sum())
    abandon = gamma * mean_queue / load  # theta E[Q] / lambda
    mean_wait = mean_queue * aht_s / load  # Little: E[Q] / lambda

    # A call finding q ahead is answered before abandoning with chance x / (x + q + 1), and
    # within t with that times P(Beta(x + 1, q + 1) >= exp(-theta t)), x = n mu / theta.
    x = agents / gamma
    answered_in_time = (
        x / (x + q + 1.0) * special.betaincc(x + 1.0, q + 1.0, math.exp(-target_s / patience_s))
    )
    service_level = (1.0 - p_wait) + float(np.dot(pi_tail, answered_in_time))
    return QueueMetrics(
        agents=agents,
        offered_load=load,
        target_s=target_s,
        p_wait=_probability(p_wait),
        mean_wait_s=mean_wait,
        service_level=_probability(service_level),
        abandon_rate=_probability(abandon),
        occupancy=_probability(load * (1.0 - abandon) / agents),
    )


def _probability(p: float) -> float:
    """Clip rounding noise (a few ulps) off a probability."""
    return min(max(p, 0.0), 1.0)


def queue_metrics(
    calls_per_hour: float,
    aht_s: float,
    agents: int,
    target_s: float = 20.0,
    patience_s: float | None = None,
) -> QueueMetrics:
    """Erlang-C figures, or Erlang-A figures when a mean patience is given.

    Parameters
    ----------
    calls_per_hour : float
        Arrival rate of calls.
    aht_s : float
        Average handle time in seconds.
    agents : int
        Number of agents.
    target_s : float, default 20
        Service-level threshold in seconds.
    patience_s : float, optional
        Mean patience in seconds; ``None`` means callers never abandon (Erlang-C).

    Returns
    -------
    QueueMetrics
        The steady-state figures. Without patience and with ``load >= agents`` the queue is
        unstable: waiting probability 1, infinite wait, service level 0, occupancy 1.
    """
    load = offered_load(calls_per_hour, aht_s)
    if patience_s is not None:
        return erlang_a(agents, load, aht_s, patience_s, target_s)
    return QueueMetrics(
        agents=agents,
        offered_load=load,
        target_s=target_s,
        p_wait=erlang_c(agents, load),
        mean_wait_s=erlang_c_mean_wait(agents, load, aht_s),
        service_level=erlang_c_service_level(agents, load, aht_s, target_s),
        abandon_rate=0.0,
        occupancy=min(load / agents, 1.0),
    )


def agents_for_service_level(
    calls_per_hour: float,
    aht_s: float,
    target_sl: float,
    target_s: float,
    patience_s: float | None = None,
) -> int:
    """Fewest agents whose service level reaches ``target_sl`` within ``target_s`` seconds.

    Parameters
    ----------
    calls_per_hour : float
        Arrival rate of calls (> 0).
    aht_s : float
        Average handle time in seconds (> 0).
    target_sl : float
        Required share of calls answered within ``target_s``, in (0, 1).
    target_s : float
        Threshold in seconds (>= 0).
    patience_s : float, optional
        Mean patience (Erlang-A); ``None`` for Erlang-C.

    Returns
    -------
    int
        The smallest ``n`` with ``service_level(n) >= target_sl``.

    Raises
    ------
    ValueError
        If ``target_sl`` is not in (0, 1).
    """
    if not 0.0 < target_sl < 1.0:
        raise ValueError("target_sl must be strictly between 0 and 1")

    def meets(n: int) -> bool:
        try:
            sl = queue_metrics(calls_per_hour, aht_s, n, target_s, patience_s).service_level
        except ValueError:  # overloaded with near-endless patience: hopeless anyway
            return False
        return sl >= target_sl

    load = offered_load(calls_per_hour, aht_s)
    # Erlang-C needs n > load. Erlang-A answers at most n / AHT calls a second, so its service
    # level is at most n / load: fewer than target_sl * load agents cannot do.
    low = math.floor(load) + 1 if patience_s is None else max(1, math.floor(target_sl * load))
    # Service level rises with n, so bracket by doubling, then bisect.
    if meets(low):
        return low
    step = max(1, math.ceil(math.sqrt(load)))
    high = low + step
    while not meets(high):
        low, step = high, step * 2
        high = low + step
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if meets(mid) else (mid, high)
    return high
