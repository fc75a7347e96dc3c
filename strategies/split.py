"""Champion/challenger: a random split of accounts between named strategies.

Each account is assigned to one arm for the whole run, at random by account id with the run's
counter-based generator, so the same seed puts the same accounts in the same arms, and the arms
face the same borrowers' luck as in any other run with that seed. Every arm decides for its own
accounts; staff capacity is shared, served by priority across arms, as in a real operation.
The engine reports KPIs per arm.
"""

from __future__ import annotations

import numpy as np

from sim.actions import AccountView, ActionRequests, ChargeOffView
from strategies.base import Strategy


class Split(Strategy):
    """Accounts split at random between strategies in given shares.

    Parameters
    ----------
    name : str
    arms : list of (Strategy, float)
        Strategies and their shares (summing to 1). Arm names must be distinct.
    """

    def __init__(self, name: str, arms: list[tuple[Strategy, float]], description: str = ""):
        shares = np.array([s for _, s in arms], float)
        if not arms or (shares < 0).any() or abs(shares.sum() - 1) > 1e-9:
            raise ValueError("arm shares must be non-negative and sum to 1")
        names = [s.name for s, _ in arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm strategies must have distinct names, got {names}")
        self.name = name
        self.description = description
        self.strategies = tuple(s for s, _ in arms)
        self.shares = shares
        self.arms = tuple(names)
        self.pre_due_days = max(s.pre_due_days for s in self.strategies)
        self._cuts = np.cumsum(shares)[:-1]

    def assign(self, accounts: np.ndarray, key) -> np.ndarray:
        """Arm index of each account (called once by the engine at the start of a run)."""
        from sim.rng import Stream, uniforms  # compiled: imported when a split runs

        u = uniforms(key, Stream.ARM_SPLIT, 0, accounts)
        return np.searchsorted(self._cuts, u, side="right").astype(np.int8)

    def decide(self, view: AccountView) -> ActionRequests:
        arm = view.arm
        return requests_by_group(view, arm, self.strategies)

    def recovery_path(self, view: ChargeOffView) -> np.ndarray:
        # the engine's portfolio holds the arms; charge-off views carry account ids only, so the
        # arm is recomputed the same way from a key the engine hands over at the start
        path = np.empty(view.account.size, np.int64)
        return recovery_paths_by_group(view, self._arm_of(view.account), self.strategies, path)

    _arm_lookup: np.ndarray | None = None

    def bind(self, arm: np.ndarray) -> None:
        """Let the strategy read the arms the engine assigned (for recovery paths)."""
        self._arm_lookup = arm

    def _arm_of(self, accounts: np.ndarray) -> np.ndarray:
        if self._arm_lookup is None:
            raise RuntimeError("Split.bind() was not called by the engine")
        return self._arm_lookup[accounts]


def requests_by_group(view: AccountView, group: np.ndarray, strategies) -> ActionRequests:
    """The requests of each group's strategy for its accounts of the view (``group[k]``: index
    into ``strategies`` of the view's account ``k``; other values: no strategy). A strategy that
    looks fewer days ahead of the due date than the view sees only its own pre-due accounts."""
    parts = []
    for g, strategy in enumerate(strategies):
        pos = np.flatnonzero(group == g)
        if not pos.size:
            continue
        sub = view.subset(pos)
        ahead = sub.dpd >= -strategy.pre_due_days
        if not ahead.all():
            sub = sub.subset(np.flatnonzero(ahead))
        parts.append(strategy.decide(sub))
    return ActionRequests.concat(parts)


def recovery_paths_by_group(
    view: ChargeOffView, group: np.ndarray, strategies, path: np.ndarray
) -> np.ndarray:
    """Each charged-off account's recovery path from the strategy of its group: ``group[k]`` is
    the index into ``strategies`` of account ``k`` of the view; accounts of no group (any other
    value) keep their entry of ``path``, which is filled in place and returned."""
    for g, strategy in enumerate(strategies):
        sel = np.flatnonzero(group == g)
        if sel.size:
            path[sel] = strategy.recovery_path(view.subset(sel))
    return path
