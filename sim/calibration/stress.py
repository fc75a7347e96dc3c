"""Macro stress on a calibrated book: baseline, mild and severe recession paths.

The real panels show no macro variation the lab could fit, so the stress runs through the
lab's own macro channel (``macro:`` in a scenario, see :mod:`sim.behaviour`): hardship onsets
scale with ``exp(elasticity * (u_t - reference))`` (elasticity 20 by default), and hardship
raises the chance to miss an instalment (``miss_hardship`` on the logit scale), cuts the
repayment intensity (``intensity_hardship``) and the full-payment and promise-keeping shares
(the calibration keeps their hardship values in the default proportion). The paths:

=========  =====================================================  ====================
path       unemployment                                           hardship onsets
=========  =====================================================  ====================
baseline   flat at the reference (4 %)                            x 1
mild       +2 points over 3 months from month 1, 6 months held,   x 1.49 at the peak
           back over 6 months
severe     +6 points over 3 months from month 1, 9 months held,   x 3.32 at the peak
           back over 12 months
=========  =====================================================  ====================

``postloan stress scenarios/status_panel.yaml --write`` writes the mild and severe variants
beside the calibrated scenario (``status_panel_mild.yaml``, ``status_panel_severe.yaml``) and
prints the table of roll rates and 30+ delinquency under the three paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.engine import simulate
from sim.scenario import Scenario

#: Macro blocks of the three paths (``None``: the scenario's own, flat at its reference).
PATHS: dict[str, dict | None] = {
    "baseline": None,
    "mild": {
        "shock": {
            "start_month": 1,
            "size": 0.02,
            "ramp_months": 3,
            "hold_months": 6,
            "recover_months": 6,
        }
    },
    "severe": {
        "shock": {
            "start_month": 1,
            "size": 0.06,
            "ramp_months": 3,
            "hold_months": 9,
            "recover_months": 12,
        }
    },
}

ROLLS = (
    ("current", "1-30"),
    ("1-30", "31-60"),
    ("31-60", "61-90"),
    ("61-90", "91-120"),
    ("91-120", "charged_off"),
    ("1-30", "current"),
)
_INDEX = {s: i for i, s in enumerate(("current", "1-30", "31-60", "61-90", "91-120", "co", "po"))}
_INDEX["charged_off"] = 5


def stressed(scenario: Scenario, path: str) -> Scenario:
    """The scenario under one of :data:`PATHS`."""
    block = PATHS[path]
    if block is None:
        return scenario
    data = scenario.model_dump()
    data["macro"] = {**data["macro"], "path": None, "shock": None, **block}
    data["name"] = f"{scenario.name}_{path}"
    data["description"] = f"{scenario.description} | {path} recession path"
    return Scenario.model_validate(data)


def stress_table(scenario: Scenario, strategy, seed: int | None = None) -> pd.DataFrame:
    """Roll rates (pooled over the months after the first), hardship onsets and 30+ DPD
    delinquency (balance share: mean over the run, peak and end) under the three paths,
    same book and same luck (common random numbers)."""
    rows = []
    for name in PATHS:
        sc = stressed(scenario, name)
        result = simulate(sc, strategy, seed)
        counts = result.roll_counts[1:].sum(axis=0)
        totals = np.maximum(counts.sum(axis=1), 1)
        row = {"path": name}
        for a, b in ROLLS:
            row[f"{a}->{b}"] = float(counts[_INDEX[a], _INDEX[b]] / totals[_INDEX[a]])
        daily = result.daily
        row["hardship_onsets"] = int(daily["hardship_onsets"].sum())
        row["peak_unemployment"] = float(daily["unemployment"].max())
        row["delinquency_30p_mean"] = float(daily["delinquency_rate_30p"].mean())
        row["delinquency_30p_peak"] = float(daily["delinquency_rate_30p"].max())
        row["delinquency_30p_end"] = float(daily["delinquency_rate_30p"].iloc[-1])
        row["charge_offs"] = int(result.summary["charge_offs"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("path")


def stressed_yaml(scenario: Scenario, source: Path, path: str) -> str:
    """The YAML of ``scenario`` under ``path``, with a header saying how it was made."""
    return _yaml_with_header(stressed(scenario, path), source, path)


def _yaml_with_header(sc: Scenario, source: Path, path: str) -> str:
    block = PATHS[path]["shock"]
    header = (
        f"# {source.name} under the {path} recession path of sim/calibration/stress.py:\n"
        f"# unemployment +{block['size'] * 100:.0f} points over {block['ramp_months']} months "
        f"from month {block['start_month']}, held {block['hold_months']} months, back over "
        f"{block['recover_months']}.\n"
        f"# Produced by: postloan stress {source} --write\n"
        "# Everything else is the calibrated scenario (see its header).\n"
    )
    return header + sc.to_yaml()
