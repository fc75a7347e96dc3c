"""The agent-based (Mesa) model of the borrowers: the readable engine.

>>> from sim.abm import run_abm
>>> result = run_abm(scenario, strategy, seed=7)   # a sim.engine.RunResult

See :mod:`sim.abm.model` and :mod:`sim.abm.agents`, and docs/extending.md.
"""

from sim.abm.agents import BorrowerAgent, Rules
from sim.abm.model import MAX_ACCOUNTS, BookTooLarge, CollectionsModel, model_frame, run_abm

__all__ = [
    "MAX_ACCOUNTS",
    "BookTooLarge",
    "BorrowerAgent",
    "CollectionsModel",
    "Rules",
    "model_frame",
    "run_abm",
]
