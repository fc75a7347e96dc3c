"""Peer effects on a borrower network, in both engines (the worked example of docs/extending.md).

A borrower whose neighbour is charged off becomes less willing to pay: its willingness (the
latent trait on the logit scale that drives the miss chance, the repayment intensity and promise
keeping) drops by ``shock`` for each neighbour charged off.

* ABM: :meth:`sim.abm.agents.BorrowerAgent.on_neighbour_default`, called by the model for each
  neighbour of an account charged off (``CollectionsModel(network=..., peer_shock=...)``).
* Vectorised engine: no engine edit is needed. The engine asks the strategy for a recovery path
  on the day of every charge-off (``strategy.recovery_path(ChargeOffView)``); :class:`PeerEffects`
  wraps any strategy, applies the same shock there, vectorised over the neighbours, and passes
  the question on. Run it with ``simulate(..., portfolio=book)`` so it can reach the book.
"""

from __future__ import annotations

import numpy as np

from sim.portfolio import Portfolio, Status


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


class PeerEffects:
    """Wrap a strategy so that the vectorised engine applies the peer effect at charge-off."""

    def __init__(self, inner, graph, portfolio: Portfolio, shock: float):
        self.inner = inner
        self.p = portfolio
        self.shock = float(shock)
        self.indptr, self.indices = neighbour_table(graph, portfolio.n)

    def __getattr__(self, name):  # name, pre_due_days, decide, ... come from the inner strategy
        return getattr(self.inner, name)

    def decide(self, view):
        return self.inner.decide(view)

    def recovery_path(self, view) -> np.ndarray:
        for i in view.account:  # in charge-off order, as the ABM notifies neighbours
            nb = self.indices[self.indptr[i] : self.indptr[i + 1]]
            nb = nb[self.p.status[nb] == Status.OPEN]
            self.p.willingness[nb] -= self.shock
        return self.inner.recovery_path(view)
