"""The hardship updates the engines call (on the macro path of :class:`sim.macro.MacroPath`).

The borrower model itself (hardship, due-date payment, contact response, promises,
irritation, repayment, recovery, restructuring) is written once, as compiled rules in
:mod:`sim.borrower`, which both engines call; docs/behaviour.md states its equations.
"""

from __future__ import annotations

import numpy as np

from sim import kernels
from sim.macro import MacroPath
from sim.portfolio import Portfolio


def update_hardship(
    p: Portfolio, idx: np.ndarray, day: int, prm, macro: MacroPath, key
) -> np.ndarray:
    """Bring the hardship state of ``idx`` (unique ids) up to ``day``; returns the new onsets'
    mask (aligned with ``idx``). ``prm`` is the run's behaviour record
    (:func:`sim.borrower.params.behaviour_record`); the rule is
    :func:`sim.borrower.hardship.hardship_update`."""
    return kernels.hardship_update(
        kernels.as_ids(idx),
        day,
        prm,
        np.uint64(key),
        p.hardship,
        p.hardship_day,
        p.hardship_hazard,
        macro.cumulative,
    )


def observe_hardship(p: Portfolio, idx: np.ndarray, day: int, key) -> None:
    """A lender sees hardship with noise (:func:`sim.borrower.hardship.hardship_signal`)."""
    kernels.hardship_observe(kernels.as_ids(idx), day, p.hardship, p.hardship_seen, np.uint64(key))


def drift_dti(p: Portfolio, idx: np.ndarray, day: int, key) -> None:
    """Debt-to-income drifts at a due date (:func:`sim.borrower.hardship.dti_factor`)."""
    kernels.dti_drift(kernels.as_ids(idx), day, p.hardship, p.dti, np.uint64(key))
