"""Peer effects on a borrower network: an observer both engines run (docs/extending.md).

A borrower whose neighbour is charged off becomes less willing to pay: its willingness (the
latent trait on the logit scale that drives the miss chance, the repayment intensity and promise
keeping) drops by ``shock`` for each neighbour charged off.

:class:`PeerEffects` is a :class:`sim.day_loop.Observer`: its ``on_charge_off`` hook receives
the day's charge-offs once a day, right after they are placed on their recovery paths and
before the day's contacts and repayments, and lowers the open neighbours' willingness in the
book, vectorised over a CSR adjacency table. Neither engine knows about it:

>>> simulate(sc, strategy, seed, observers=[PeerEffects(network, shock=1.0)])
>>> run_abm(sc, strategy, seed, observers=[PeerEffects(network, shock=1.0)])
"""

from __future__ import annotations

import numpy as np

from sim.day_loop import Observer
from sim.portfolio import Portfolio, Status
from sim.scenario import Scenario


def borrower_network(n: int, degree: int = 8, rewire: float = 0.1, seed: int = 0) -> np.ndarray:
    """A small-world network over account ids 0..n-1 as an (m, 2) edge array.

    Watts-Strogatz: a ring where each borrower knows its ``degree`` nearest neighbours, each
    edge rewired to a random borrower with chance ``rewire``. (``networkx.watts_strogatz_graph``
    builds the same kind of graph; any networkx graph can be passed wherever an edge array is
    taken, see :func:`edge_array`.)
    """
    rng = np.random.default_rng(seed)
    src = np.repeat(np.arange(n), degree // 2)
    dst = (src + np.tile(np.arange(1, degree // 2 + 1), n)) % n
    move = rng.random(src.size) < rewire
    dst[move] = rng.integers(0, n, int(move.sum()))
    keep = src != dst
    edges = np.sort(np.stack([src[keep], dst[keep]], axis=1), axis=1)
    return np.unique(edges, axis=0)


def edge_array(network) -> np.ndarray:
    """An (m, 2) int array of edges from an edge array or a networkx-style graph."""
    if hasattr(network, "edges"):
        network = list(network.edges())
    return np.asarray(network, dtype=np.int64).reshape(-1, 2)


def neighbour_table(network, n: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR adjacency (``indptr``, ``indices``) of an undirected network over ``n`` accounts."""
    e = edge_array(network)
    src = np.concatenate([e[:, 0], e[:, 1]])
    dst = np.concatenate([e[:, 1], e[:, 0]])
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    indptr = np.searchsorted(src, np.arange(n + 1)).astype(np.int64)
    return indptr, dst


class PeerEffects(Observer):
    """A charge-off lowers the willingness of each open neighbour by ``shock``.

    Parameters
    ----------
    network : (m, 2) edge array or networkx graph
        Undirected links between account ids (:func:`borrower_network`).
    shock : float
        Drop in willingness (logit scale) per neighbour charged off.
    """

    def __init__(self, network, shock: float):
        self.network = network
        self.shock = float(shock)
        self.book: Portfolio | None = None

    def on_start(self, book: Portfolio, scenario: Scenario) -> None:
        self.book = book
        self.indptr, self.indices = neighbour_table(self.network, book.n)

    def on_charge_off(self, day: int, accounts: np.ndarray, claims: np.ndarray) -> None:
        if not accounts.size:
            return
        p = self.book
        lo, hi = self.indptr[accounts], self.indptr[accounts + 1]
        nb = self.indices[np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])]
        nb = nb[p.status[nb] == Status.OPEN]
        # a neighbour of several of today's charge-offs takes one shock for each
        np.subtract.at(p.willingness, nb, self.shock)
