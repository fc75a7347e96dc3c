"""The simulated book of a calibration: its size and shape (:class:`BookSpec`), the scenario
that makes it, and the month-to-month transition counts it gives, from the one day loop with a
roll-count observer (:func:`simulated_counts`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.day_loop import MonthEndStates, RollCounts
from sim.engine import run_days
from sim.scenario import Scenario


# --------------------------------------------------------------------------- the book
@dataclass(frozen=True)
class BookSpec:
    """The simulated book a calibration fits on (see :func:`calibration_book`)."""

    accounts: int = 25_000
    months: int = 4
    skip_months: int = 1
    revolving: bool = True
    charge_off_dpd: int | None = None
    #: initial share of the book in 1-30, 31-60, 61-90, 91-120: oversampled delinquency, so
    #: that the later rows are simulated precisely (half the book; 31-60 the most, since its
    #: accounts are the ones that are still in 31-60 to 91-120 after the warm-up month)
    initial: tuple[float, float, float, float] = (0.15, 0.20, 0.10, 0.05)

    def to_dict(self) -> dict:
        return {
            "accounts": self.accounts,
            "months": self.months,
            "skip_months": self.skip_months,
            "revolving": self.revolving,
            "charge_off_dpd": self.charge_off_dpd,
            "initial_delinquency": dict(zip(_INITIAL_KEYS, self.initial, strict=True)),
        }


_INITIAL_KEYS = ("dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_91_120")
#: Term of every loan of a revolving (card-like) book: none matures within a calibration run.
REVOLVING_TERM = 480


def calibration_book(base: Scenario, spec: BookSpec) -> Scenario:
    """The base scenario as the book to fit on.

    ``accounts`` and ``months`` (plus the warm-up month) set size and horizon; the initial
    delinquency is ``spec.initial``. A ``revolving`` book (credit cards, the two real panels)
    gets 480-month terms, so that no loan matures in the simulated months and ``paid_off`` comes
    only from prepayment and settlement, as for cards, which do not amortise to zero.
    """
    data = base.model_dump()
    data["accounts"] = int(spec.accounts)
    data["days"] = 30 * int(spec.months + spec.skip_months)
    data["initial_delinquency"] = dict(zip(_INITIAL_KEYS, map(float, spec.initial), strict=True))
    if spec.charge_off_dpd is not None:
        data["charge_off_dpd"] = int(spec.charge_off_dpd)
    if spec.revolving:
        for purpose in data["purposes"].values():
            purpose["terms"] = [REVOLVING_TERM]
    if base.accounts != spec.accounts and base.staff.scale_with_accounts:
        factor = spec.accounts / base.accounts
        data["staff"]["call_attempts_per_day"] *= factor
        data["staff"]["visits_per_day"] *= factor
    return Scenario.model_validate(data)


def simulated_counts(scenario: Scenario, strategy, seed: int, skip_months: int = 1) -> np.ndarray:
    """Month-to-month transition counts of a simulated book (warm-up months skipped).

    Runs the day loop (:func:`sim.engine.run_days`) with a :class:`~sim.day_loop.RollCounts`
    observer, without the daily tables and the summary a calibration does not need (a fifth of
    the time of a small run), on a copy of the book drawn once (:func:`_population`).
    """
    counts = RollCounts(skip_months)
    run_days(scenario, strategy, seed, observers=[counts], portfolio=_population(scenario, seed))
    return counts.counts


def simulated_moves(
    scenario: Scenario, strategy, seed: int, skip_months: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The month-to-month moves of a simulated book, account by account (warm-up months
    skipped): the account index and the cell ``from * 7 + to`` of each move. Their counts are
    :func:`simulated_counts`'s; the accounts let the fresh-seed check bootstrap the simulation
    over accounts as it does the panel."""
    states = MonthEndStates()
    run_days(scenario, strategy, seed, observers=[states], portfolio=_population(scenario, seed))
    month_ends = np.stack(states.states).astype(np.int64)  # (months + 1, accounts)
    moves = month_ends[skip_months:]
    n_states = 7
    cells = (moves[:-1] * n_states + moves[1:]).ravel()
    accounts = np.tile(np.arange(month_ends.shape[1]), moves.shape[0] - 1)
    return accounts, cells


#: Settings the drawn book does not depend on: the fitted behaviour (but for the settings
#: :func:`sim.population.generate` reads), channels, strategy-side and recovery settings.
_BOOK_FREE = ("channels", "restructuring", "recovery", "macro", "staff")
_BOOK_BEHAVIOUR = ("miss_willingness", "miss_dti", "hardship_spell_days", "late_fee")
_BOOKS: dict[tuple[str, int], object] = {}


def _population(scenario: Scenario, seed: int):
    """A fresh copy of the book ``generate(scenario, seed)`` draws, drawn once per book.

    A calibration simulates the same book with other behaviour a hundred times; the draw is a
    tenth of a simulation. The book depends on the scenario's segments, traits, loans and
    initial delinquency and on four behaviour settings (:data:`_BOOK_BEHAVIOUR`), not on what
    is fitted: ``miss_intercept`` shifts every account's risk by one factor, which leaves the
    weighted choice of the initially delinquent accounts unchanged (the tests check that the
    counts equal those of a book drawn anew).
    """
    from sim.population import generate

    data = scenario.model_dump(exclude=set(_BOOK_FREE) | {"behaviour", "name", "description"})
    data["behaviour"] = {k: getattr(scenario.behaviour, k) for k in _BOOK_BEHAVIOUR}
    key = (repr(data), int(seed))
    book = _BOOKS.get(key)
    if book is None:
        if len(_BOOKS) >= 4:
            _BOOKS.pop(next(iter(_BOOKS)))
        book = _BOOKS[key] = generate(scenario, seed)
    return book.packed()
