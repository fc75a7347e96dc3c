"""The strategy base class: one vectorised ``decide(view)`` method.

A strategy maps what a lender knows about each workable account today (an
:class:`~sim.actions.AccountView`) to requested actions. Subclass :class:`Strategy` and write
``decide`` with array operations over the view; the engine enforces compliance and capacity
afterwards, so a strategy may ask for more than it will get.
"""

from __future__ import annotations

import numpy as np

from sim.actions import RECOVERY_PATHS, AccountView, ActionRequests, ChargeOffView


class Strategy:
    """Base class for collections strategies.

    Attributes
    ----------
    name : str
        Shown in results and reports.
    pre_due_days : int
        Current accounts appear in the view this many days before their due date (0: never).
    """

    name: str = "strategy"
    pre_due_days: int = 0

    def decide(self, view: AccountView) -> ActionRequests:
        """Requested actions for today's workable accounts."""
        raise NotImplementedError

    def recovery_path(self, view: ChargeOffView) -> np.ndarray:
        """Post-charge-off path of each account: debt sale for small claims, legal action for
        large ones, an agency for the rest."""
        path = np.full(view.account.size, RECOVERY_PATHS.index("agency"), np.int64)
        path[view.claim < 500.0] = RECOVERY_PATHS.index("sale")
        path[view.claim >= 15000.0] = RECOVERY_PATHS.index("legal")
        return path


class NoContact(Strategy):
    """Contact nobody: the self-cure baseline against which strategies earn their money."""

    name = "none"

    def decide(self, view: AccountView) -> ActionRequests:
        return ActionRequests.empty()
