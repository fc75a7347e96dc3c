"""Seeded random streams for the operations model: one numpy Generator per distribution.

Every distribution of every replication gets its own ``numpy.random.Generator``, derived from
one seed through ``SeedSequence`` spawning: replication ``r``, owner ``o`` (the inbound line or
a team) and distribution ``d`` use the child with spawn key ``(r, o, d)``. Streams therefore do
not depend on how many draws another distribution made, which keeps common random numbers
between staffing variants as far as the shared parts go.

Draws are made in blocks and handed out one by one: a numpy call per draw would cost more than
the SimPy event it feeds.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain

import numpy as np

#: Numbers drawn per refill of a stream.
BLOCK = 1024

Sampler = Callable[[np.random.Generator, int], np.ndarray]
Draw = Callable[[], float]


def generator(seed: int, replication: int, owner: int, distribution: int) -> np.random.Generator:
    """The Generator of one distribution of one owner in one replication.

    Parameters
    ----------
    seed : int
        Root seed of the experiment.
    replication, owner, distribution : int
        Position in the spawn tree (``SeedSequence(seed).spawn(...)`` three levels deep).

    Returns
    -------
    numpy.random.Generator
        A PCG64 generator independent of every other position in the tree.
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(replication, owner, distribution))
    return np.random.Generator(np.random.PCG64(sequence))


def stream(rng: np.random.Generator, sampler: Sampler) -> Draw:
    """Scalar draws from one distribution, generated in blocks of :data:`BLOCK`.

    Parameters
    ----------
    rng : numpy.random.Generator
        The stream's own generator.
    sampler : callable
        ``sampler(rng, size) -> ndarray`` drawing ``size`` values.

    Returns
    -------
    callable
        ``draw() -> float``. It is the ``__next__`` of a chain of blocks, so a draw costs no
        Python frame; a new block is drawn when the previous one runs out.
    """
    blocks = iter(lambda: sampler(rng, BLOCK).tolist(), None)
    return chain.from_iterable(blocks).__next__


def exponential(mean: float) -> Sampler:
    """Sampler of exponential durations with the given mean."""
    return lambda rng, size: rng.exponential(mean, size)


def uniform(low: float, high: float) -> Sampler:
    """Sampler of uniform values on ``[low, high)``."""
    return lambda rng, size: rng.uniform(low, high, size)


def unit() -> Sampler:
    """Sampler of U(0, 1) numbers, for Bernoulli outcomes."""
    return lambda rng, size: rng.random(size)


def constant(value: float) -> Sampler:
    """Sampler that always returns ``value`` (e.g. infinite patience)."""
    return lambda rng, size: np.full(size, value)
