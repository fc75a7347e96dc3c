"""The macro path the borrower rules read, and the hardship updates of the Markov test mode.

The borrower model itself (hardship, due-date payment, contact response, promises,
irritation, repayment, recovery, restructuring) is written once, as compiled rules in
:mod:`sim.borrower`, which both engines call; docs/behaviour.md states its equations.
"""

from __future__ import annotations

import numpy as np

from sim import kernels
from sim.portfolio import Portfolio
from sim.scenario import Scenario


class MacroPath:
    """Unemployment by day and the cumulative hardship multiplier it implies."""

    def __init__(self, scenario: Scenario):
        m = scenario.macro
        months = scenario.days // 30 + 2
        if m.path is not None:
            path = np.array(m.path + [m.path[-1]] * max(0, months - len(m.path)))[:months]
        elif m.shock is not None:
            s = m.shock
            start = s.get("start_month", 0.0)
            ramp = max(s.get("ramp_months", 3.0), 1e-9)
            hold = s.get("hold_months", 6.0)
            recover = max(s.get("recover_months", 6.0), 1e-9)
            t = np.arange(months, dtype=float)
            rise = np.clip((t - start) / ramp, 0, 1)
            fall = np.clip((t - start - ramp - hold) / recover, 0, 1)
            path = m.reference + s["size"] * rise * (1 - fall)
        else:
            path = np.full(months, m.reference)
        self.unemployment_monthly = path
        self.unemployment = np.repeat(path, 30)[: scenario.days + 1]
        self.multiplier = np.exp(m.elasticity * (self.unemployment - m.reference))
        self.cumulative = np.concatenate([[0.0], np.cumsum(self.multiplier)])

    def integral(self, t0: np.ndarray, t1: int) -> np.ndarray:
        """Sum of the daily multiplier over days ``t0 .. t1 - 1``."""
        return self.cumulative[t1] - self.cumulative[np.clip(t0, 0, t1)]


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
