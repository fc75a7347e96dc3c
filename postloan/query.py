"""SQL over every saved run and experiment, with DuckDB embedded (no server).

Two views:

``runs``
    One row per run folder (``results/<run-id>/summary.json``): ``run_id``, ``created``,
    ``scenario``, ``scenario_hash``, ``strategy``, ``seed``, ``accounts``, ``days``,
    ``code_commit`` and every summary KPI, nested ones flattened with ``_`` exactly as in
    ``cells`` (``contacts_call``, ``cost_by_channel_sms``, ``roll_rates_current_1_30``).
``cells``
    Every experiment cell: the rows of every ``cells.parquet`` (or, for an experiment still
    running, of its finished cell files), with ``experiment_id`` naming the folder.

Example::

    postloan query "SELECT strategy, avg(net_recovery) FROM cells GROUP BY strategy"
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from postloan.results_store import ExperimentStore, flatten, read_manifest

RUN_COLUMNS = (
    "run_id",
    "created",
    "scenario",
    "scenario_hash",
    "strategy",
    "seed",
    "code_commit",
)


class QueryError(ValueError):
    """A query DuckDB could not run (the message is DuckDB's)."""


def runs_frame(results: str | Path = "results") -> pd.DataFrame:
    """Every run folder's manifest fields and flattened summary, one row each."""
    rows = []
    results = Path(results)
    if results.is_dir():
        for d in sorted(results.iterdir()):
            summary_path = d / "summary.json"
            if d.name.startswith(".") or not summary_path.is_file():
                continue
            man = read_manifest(d) or {}
            try:
                summary = json.loads(summary_path.read_text())
            except (OSError, ValueError):
                continue
            row = {k: man.get(k) for k in RUN_COLUMNS}
            row["run_id"] = row["run_id"] or d.name
            row.update(flatten(summary))
            rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else list(RUN_COLUMNS))


def cell_files(results: str | Path = "results") -> list[Path]:
    """The cell tables of every experiment under ``results``."""
    out: list[Path] = []
    results = Path(results)
    if not results.is_dir():
        return out
    for d in sorted(results.iterdir()):
        if d.name.startswith(".") or not d.is_dir():
            continue
        man = read_manifest(d)
        if not man or man.get("kind") != "experiment":
            continue
        whole = d / "cells.parquet"
        if man.get("status") == "complete" and whole.exists():
            out.append(whole)
        else:
            out.extend(ExperimentStore(d).cell_files())
    return out


def connect(results: str | Path = "results"):
    """An in-memory DuckDB connection with the ``runs`` and ``cells`` views."""
    import duckdb

    con = duckdb.connect(":memory:")
    runs = runs_frame(results)
    con.register("_runs_df", runs)
    con.execute("CREATE VIEW runs AS SELECT * FROM _runs_df")
    files = cell_files(results)
    if files:
        listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
        con.execute(
            f"CREATE VIEW cells AS SELECT * FROM read_parquet([{listing}], union_by_name=true)"
        )
    else:
        con.execute(
            "CREATE VIEW cells AS SELECT * FROM (SELECT NULL::VARCHAR AS experiment_id, "
            "NULL::VARCHAR AS cell, NULL::VARCHAR AS strategy, NULL::DOUBLE AS net_recovery) "
            "WHERE false"
        )
    return con


def query(sql: str, results: str | Path = "results") -> pd.DataFrame:
    """Run ``sql`` over the ``runs`` and ``cells`` views; returns a DataFrame.

    Raises
    ------
    QueryError
        DuckDB's message, for a query that cannot run.
    """
    import duckdb

    con = connect(results)
    try:
        return con.execute(sql).df()
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}") from None
    finally:
        con.close()
