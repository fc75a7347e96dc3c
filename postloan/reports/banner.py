"""What a result rests on, said where it is read: the "illustrative, not calibrated" banner.

A scenario's ``calibration`` block (:class:`sim.scenario.Calibration`) says whether its
dynamics are fitted to a real panel and its response to contacts to a trial library. Run and
comparison reports, and the command line after a run or a comparison, repeat it in one visible
line, so that no figure of an illustrative book is read as a forecast. One module, one job: the
text (:func:`calibration_note`), its HTML banner (:func:`calibration_banner`) and reading the
block from a result folder (:func:`folder_calibration`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from postloan.reports.html import esc

#: The words an illustrative scenario's reports carry.
ILLUSTRATIVE = "illustrative, not calibrated"


def calibration_note(name: str, calibration: dict[str, Any] | None) -> str | None:
    """One line on what scenario ``name`` rests on; None when it is anchored on both a panel
    and a trial library (nothing to warn about).

    ``calibration`` is the scenario's ``calibration`` block as a mapping; None or a missing
    status is the model's default, illustrative.
    """
    cal = calibration or {}
    status = cal.get("status", "illustrative")
    if status == "illustrative":
        return (
            f"Scenario {name}: {ILLUSTRATIVE}. Its dynamics and its response to contacts are "
            "the design's ranges, fitted to no panel and no trial: differences between "
            "strategies are what this model implies, not a forecast for a real book."
        )
    if status == "fitted":
        return (
            f"Scenario {name}: dynamics fitted to {cal.get('dynamics')}; response to contacts "
            "not fitted to trials, so differences between strategies rest on the design's "
            "contact effects."
        )
    if not cal.get("dynamics"):
        return (
            f"Scenario {name}: response anchored on {cal.get('response')}; dynamics not fitted "
            "to a panel (the design's ranges)."
        )
    return None


def calibration_banner(name: str, calibration: dict[str, Any] | None) -> str:
    """The note as an HTML banner (empty for a fully anchored scenario)."""
    note = calibration_note(name, calibration)
    if note is None:
        return ""
    style = (
        "border:2px solid #b8860b;background:#fff8dc;padding:.6em 1em;margin:1em 0;font-weight:600"
    )
    return f"<div class='calibration' style='{style}'>{esc(note)}</div>"


def folder_calibration(folder: Path) -> dict[str, Any] | None:
    """The ``calibration`` block of the scenario a result folder ran: a run's
    ``scenario.yaml`` or an experiment's first variant (``scenarios/v000.yaml``); None when
    the folder has neither or it predates the block."""
    for path in (folder / "scenario.yaml", folder / "scenarios" / "v000.yaml"):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict):
            block = data.get("calibration")
            return block if isinstance(block, dict) else None
    return None
