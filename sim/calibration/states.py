"""The monthly account states of the lab, shared by every calibration table.

The order is fixed: it is the row and column order of every transition matrix in the project
(the scenario's ``roll_matrix`` uses the same order). ``charged_off`` and ``paid_off`` are
absorbing in the lab's own chain; real data may show a few exits from them.
"""

from __future__ import annotations

from itertools import pairwise

import pandas as pd

STATES: tuple[str, ...] = (
    "current",
    "1-30",
    "31-60",
    "61-90",
    "91-120",
    "charged_off",
    "paid_off",
)
N_STATES = len(STATES)
STATE_INDEX: dict[str, int] = {name: i for i, name in enumerate(STATES)}

#: Mapping target meaning "no loan that month": such rows are dropped from the panel.
NO_LOAN = "none"
MAPPING_TARGETS: tuple[str, ...] = (*STATES, NO_LOAN)

ABSORBING: tuple[str, ...] = ("charged_off", "paid_off")

#: The dtype of the ``state`` column of a panel.
STATE_DTYPE = pd.CategoricalDtype(categories=list(STATES), ordered=True)

#: Roll (one bucket worse) and cure (back to current) pairs, in reporting order.
ROLL_PAIRS: tuple[tuple[str, str], ...] = tuple(pairwise(STATES[:6]))
CURE_PAIRS: tuple[tuple[str, str], ...] = tuple((s, "current") for s in STATES[1:5])
