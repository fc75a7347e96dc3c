"""Segment, risk and alert tables per experiment cell (``compare`` / ``experiment --segments``).

With ``--segments`` every cell is watched by its own :class:`sim.management.ManagementViews`
(the shipped default monitoring set) and keeps four of its tables, written beside the cell row
as ``cells/views/<cell>.<table>.parquet`` before the row that marks the cell finished (so a
resumed experiment never has a finished cell without its views). When the experiment ends
they are concatenated, with the cell's identity columns (variant, strategy, replication,
sample, seed) in front, into ``segments.parquet``, ``risk.parquet``, ``risk_matrix.parquet``
and ``alerts.parquet`` in the experiment folder, and the alerts are counted per strategy for
``comparison.json``.

Off by default for ``compare`` and ``experiment``: the views cost about as much as the run
itself again (see :mod:`postloan.commands.experiment`), and a comparison of many cells does
not need them to pick a winner.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from postloan.storage.experiments import atomic_write_parquet

if TYPE_CHECKING:
    from postloan.storage.experiments import ExperimentStore
    from sim.management import ManagementViews
    from sim.run_result import RunResult

#: The tables kept per cell (a subset of :data:`sim.management.TABLES`).
CELL_VIEW_TABLES = ("segments", "risk", "risk_matrix", "alerts")
#: Cell identity columns put in front of every concatenated table.
ID_COLUMNS = ("cell", "variant", "variant_label", "strategy", "replication", "sample", "seed")


def cell_views(views: ManagementViews, result: RunResult) -> dict[str, pd.DataFrame]:
    """The tables of :data:`CELL_VIEW_TABLES` for a finished run the views watched (only
    these: the day-by-day tables would cost more than the run)."""
    rec = result.recoveries
    return {
        "segments": views.segments.summary(),
        "risk": views.risk.measures(rec, views.discount_rate),
        "risk_matrix": views.risk.matrix(rec, views.discount_rate),
        "alerts": views.monitor.alerts(),
    }


def views_dir(store: ExperimentStore) -> Path:
    """Where the per-cell tables live (a subfolder: not taken for cell rows)."""
    return store.cells_dir / "views"


def save_cell_views(store: ExperimentStore, key: str, tables: dict[str, pd.DataFrame]) -> None:
    """Write one cell's tables, each atomically."""
    folder = views_dir(store)
    folder.mkdir(parents=True, exist_ok=True)
    for name in CELL_VIEW_TABLES:
        atomic_write_parquet(tables[name], folder / f"{key}.{name}.parquet")


def has_cell_views(store: ExperimentStore, key: str) -> bool:
    """Whether every table of a cell is on disk."""
    folder = views_dir(store)
    return all((folder / f"{key}.{name}.parquet").exists() for name in CELL_VIEW_TABLES)


def consolidate_views(store: ExperimentStore, cells: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Concatenate every cell's tables with the cell's identity columns into
    ``<table>.parquet`` in the experiment folder; returns them (empty dict: no views)."""
    folder = views_dir(store)
    ids = cells[[c for c in ID_COLUMNS if c in cells.columns]].set_index("cell")
    out: dict[str, pd.DataFrame] = {}
    for name in CELL_VIEW_TABLES:
        parts = []
        for key in ids.index:
            path = folder / f"{key}.{name}.parquet"
            if not path.exists():
                continue
            df = pd.read_parquet(path)
            front = pd.DataFrame({"cell": [key] * len(df)})
            for col in ids.columns:
                front[col] = ids.at[key, col]
            parts.append(pd.concat([front, df.reset_index(drop=True)], axis=1))
        if parts:
            out[name] = pd.concat(parts, ignore_index=True)
            atomic_write_parquet(out[name], store.folder / f"{name}.parquet")
    return out


def alert_counts(alerts: pd.DataFrame, cells: pd.DataFrame) -> dict[str, dict]:
    """Per strategy: cells watched, alerts (total and per cell), cells with an alert, and for
    each KPI that fired the number of cells it fired in (``comparison.json``)."""
    out: dict[str, dict] = {}
    for strategy, group in cells.groupby("strategy", sort=False):
        keys = set(group["cell"])
        mine = alerts[alerts["cell"].isin(keys)] if not alerts.empty else alerts
        fired = mine.groupby("kpi")["cell"].nunique() if not mine.empty else pd.Series(dtype=int)
        out[str(strategy)] = {
            "cells": len(keys),
            "alerts": len(mine),
            "alerts_per_cell": len(mine) / len(keys) if keys else 0.0,
            "cells_with_alerts": int(mine["cell"].nunique()) if not mine.empty else 0,
            "kpis_fired": {str(k): int(v) for k, v in sorted(fired.items())},
        }
    return out
