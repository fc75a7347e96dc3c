"""Trial arms as strategies, and the one strategy that runs a whole trial in one simulation.

Every account starts on the control arm's strategy. On ``start_day`` the observer
(:mod:`postloan.trials.observe`) enrols the trial population and writes each enrolled account's arm
into the portfolio's ``arm`` column; from then on :class:`TrialStrategy` hands each account to its
arm's strategy, and every account outside the trial stays on the control strategy. This is the
engine's champion/challenger mechanism (a strategy with ``arms``, ``assign`` and ``bind``, see
:mod:`strategies.split`) with a start day and a population: the engine keeps per-account cash and
contact cost for such strategies, which the outcomes need, and staff capacity is shared between
arms by priority, as it is in a live trial.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from postloan.trials.spec import Arm, TrialError, TrialSpec
from sim.actions import AccountView, ActionRequests, ChargeOffView
from strategies.base import NoContact, Strategy
from strategies.registry import StrategyError, resolve
from strategies.rules import RuleTable
from strategies.split import recovery_paths_by_group, requests_by_group

#: Label of accounts outside the trial in the portfolio's ``arm`` column.
NOT_ENROLLED = 0


def _resolve(name: str, base_dir: Path) -> Strategy:
    """A library strategy by name, or a file (relative to the trial file's folder first)."""
    local = base_dir / name
    return resolve(str(local) if name.endswith((".yaml", ".yml")) and local.exists() else name)


def arm_strategy(arm: Arm, base_dir: Path, source: str, index: int) -> Strategy:
    """The strategy of one arm: a named/file strategy, or a base rule table plus extra rules."""
    where = f"{source}: field 'arms[{index + 1}]"
    try:
        if arm.strategy is not None:
            strategy = _resolve(arm.strategy, base_dir)
        else:
            base = _resolve(arm.base, base_dir)
            if isinstance(base, NoContact):
                rules, recovery, description = [], None, "no contact"
            elif isinstance(base, RuleTable):
                rules, recovery, description = list(base.rules), list(base.recovery), base.name
            else:
                raise TrialError(
                    f"{where}.base': {arm.base!r} is not a rule table; extra rules need a "
                    "rule-table strategy (a library YAML strategy, a rule file, or none)"
                )
            extra = []
            for k, rule in enumerate(arm.rules, start=1):
                try:
                    extra.append(rule.to_rule())
                except ValueError as exc:
                    raise TrialError(f"{where}.rules[{k}]': {exc}") from None
            strategy = RuleTable(
                arm.name, rules + extra, f"{description} + {len(extra)} rule(s)", recovery
            )
    except StrategyError as exc:
        field = "strategy" if arm.strategy is not None else "base"
        raise TrialError(f"{where}.{field}': {exc}") from None
    if getattr(strategy, "arms", None) is not None:
        raise TrialError(
            f"{where}': {strategy.name!r} is a split; a trial arm must be one strategy "
            "(the trial does the randomising)"
        )
    return strategy


class TrialStrategy(Strategy):
    """The control strategy for everyone, and each enrolled account's arm strategy.

    Parameters
    ----------
    spec : TrialSpec
    strategies : list of Strategy
        One per arm of ``spec.arms``, in file order.
    on_decide : callable
        Called with the day before the strategy decides (the observer's daily hook).
    """

    def __init__(
        self, spec: TrialSpec, strategies: list[Strategy], on_decide: Callable[[int], None]
    ):
        self.name = f"trial:{spec.name}"
        self.description = spec.source
        control = next(i for i, a in enumerate(spec.arms) if a.control)
        # group 0 (outside the trial) and the control arm both run the control strategy
        self.strategies = (strategies[control], *strategies)
        self._group = np.array([0, *[0 if a.control else i + 1 for i, a in enumerate(spec.arms)]])
        self._group = self._group.astype(np.int8)
        self.arms = ("not_enrolled", *(a.name for a in spec.arms))
        self.pre_due_days = max(s.pre_due_days for s in strategies)
        self._on_decide = on_decide
        self._arm: np.ndarray | None = None

    def assign(self, accounts: np.ndarray, key) -> np.ndarray:
        """Nobody is enrolled at the start of the run (the observer enrols on start_day)."""
        return np.full(accounts.size, NOT_ENROLLED, np.int8)

    def bind(self, arm: np.ndarray) -> None:
        """The portfolio's arm column, written by the observer and read for recovery paths."""
        self._arm = arm

    def decide(self, view: AccountView) -> ActionRequests:
        self._on_decide(view.day)
        return requests_by_group(view, self._group[view.arm], self.strategies)

    def recovery_path(self, view: ChargeOffView) -> np.ndarray:
        if self._arm is None:
            raise RuntimeError("TrialStrategy.bind() was not called by the engine")
        group = self._group[self._arm[view.account]]
        path = np.empty(view.account.size, np.int64)
        return recovery_paths_by_group(view, group, self.strategies, path)


def build_arms(spec: TrialSpec, trial_file: Path) -> list[Strategy]:
    """Every arm's strategy, in file order (errors name the file and the arm)."""
    return [
        arm_strategy(arm, trial_file.parent, str(trial_file), i) for i, arm in enumerate(spec.arms)
    ]
