"""Calibration from data: real monthly status panels and their empirical transition matrices.

* :mod:`~sim.calibration.states`: the lab's seven monthly states, in matrix order.
* :mod:`~sim.calibration.panel`: read a panel (long CSV/Parquet, or the wide Taiwan file) and
  map its status codes onto the lab's states; :class:`PanelError` for every input problem.
* :mod:`~sim.calibration.taiwan`: the Taiwan adapter and its default code mapping.
* :mod:`~sim.calibration.transitions`: transition counts, probabilities with standard errors,
  state shares per period and a naive forecast baseline for back-tests.
* :mod:`~sim.calibration.fit`: fit behaviour parameters to an empirical matrix (minimum distance
  on simulated transitions with common random numbers; see docs/calibration.md).
* :mod:`~sim.calibration.backtest`: fit on early periods, forecast the later ones, compare.
* :mod:`~sim.calibration.stress`: baseline, mild and severe recession paths on a calibrated book.
* :mod:`~sim.calibration.synthetic`: status panels simulated by the lab itself (tests, demos).
"""

from sim.calibration.panel import (
    CREDIT_RECORD_MAPPING,
    CREDIT_RECORD_SHIFTED_MAPPING,
    MAPPING_PRESETS,
    PanelError,
    load_panel,
    parse_mapping,
)
from sim.calibration.states import ABSORBING, NO_LOAN, STATE_DTYPE, STATES
from sim.calibration.taiwan import (
    TAIWAN_91PLUS_MAPPING,
    TAIWAN_MAPPING,
    TAIWAN_NOMINAL_MAPPING,
)
from sim.calibration.transitions import (
    TransitionEstimate,
    naive_forecast,
    shares_by_period,
    transition_counts,
    transition_matrix,
)

__all__ = [
    "ABSORBING",
    "CREDIT_RECORD_MAPPING",
    "CREDIT_RECORD_SHIFTED_MAPPING",
    "MAPPING_PRESETS",
    "NO_LOAN",
    "STATES",
    "STATE_DTYPE",
    "TAIWAN_91PLUS_MAPPING",
    "TAIWAN_MAPPING",
    "TAIWAN_NOMINAL_MAPPING",
    "PanelError",
    "TransitionEstimate",
    "load_panel",
    "naive_forecast",
    "parse_mapping",
    "shares_by_period",
    "transition_counts",
    "transition_matrix",
]
