"""SQL over every saved run and experiment, with DuckDB embedded (no server).

Four views:

``runs``
    One row per run folder (``results/<run-id>/summary.json``): ``run_id``, ``created``,
    ``scenario``, ``scenario_hash``, ``strategy``, ``seed``, ``accounts``, ``days``,
    ``code_commit``, ``model_version``, ``wall_seconds`` (from the manifest) and every
    summary KPI, nested ones flattened with ``_`` exactly as in ``cells`` (``contacts_call``,
    ``cost_by_channel_sms``, ``roll_rates_current_1_30``).
``segments``
    Every run folder's ``segments.parquet`` (KPIs per segment over the run, see
    :data:`sim.management.TABLES`) with ``run_id`` first: ``segment_kind``, ``segment``, flows,
    stocks and rates. Runs made with ``--monitoring none`` have none.
``alerts``
    Every run folder's ``alerts.parquet`` with ``run_id`` first: ``rule``, ``kpi``,
    ``measure``, ``severity``, ``direction``, ``threshold``, ``day``, ``month``, ``value``.
``cells``
    Every experiment cell: the rows of every ``cells.parquet`` (or, for an experiment still
    running, of its finished cell files), with ``experiment_id`` naming the folder and
    ``model_version`` the model that computed it.

The connection is read-only for the query: the data are loaded into memory first, then DuckDB's
external access is switched off and its configuration locked, so a query cannot write a file
(``COPY ... TO``), attach a database, read other files or load extensions.

Results of different model versions (see :mod:`postloan.storage.provenance`) are not pooled
unless ``allow_mixed_versions`` is given; both views carry a ``model_version`` column.

Example::

    postloan query "SELECT strategy, avg(net_recovery) FROM cells GROUP BY strategy"
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from postloan.storage.experiments import ExperimentStore, flatten
from postloan.storage.manifest import read_manifest
from postloan.storage.provenance import MixedVersionsError

RUN_COLUMNS = (
    "run_id",
    "created",
    "scenario",
    "scenario_hash",
    "strategy",
    "seed",
    "code_commit",
    "model_version",
    "wall_seconds",
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
            monitoring = summary.get("monitoring")
            if isinstance(monitoring, dict):  # the alerts have their own view: counted here
                summary = {**summary, "monitoring": _monitoring_columns(monitoring)}
            row.update(flatten(summary))  # (folders of schema 1 carry their timings here)
            rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else list(RUN_COLUMNS))


def _monitoring_columns(monitoring: dict) -> dict:
    """The runs view's share of ``summary["monitoring"]``: counts and names, not lists."""
    out = {k: v for k, v in monitoring.items() if not isinstance(v, list)}
    out["alerts"] = len(monitoring.get("alerts", []))
    out["kpis_fired"] = ",".join(monitoring.get("kpis_fired", []))
    out["rules_fired"] = ",".join(monitoring.get("rules_fired", []))
    out["concentration_breaches"] = len(monitoring.get("concentration_breaches", []))
    return out


#: Run-folder tables offered as views (file stem -> an empty frame's columns when none exist).
RUN_TABLE_VIEWS: dict[str, dict[str, str]] = {
    "segments": {"run_id": "VARCHAR", "segment_kind": "VARCHAR", "segment": "VARCHAR"},
    "alerts": {
        "run_id": "VARCHAR",
        "rule": "VARCHAR",
        "kpi": "VARCHAR",
        "severity": "VARCHAR",
        "day": "BIGINT",
        "value": "DOUBLE",
    },
}


def _run_table(results: Path, stem: str):
    """Every run folder's ``<stem>.parquet`` as one Arrow table with ``run_id`` first."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    if results.is_dir():
        for d in sorted(results.iterdir()):
            f = d / f"{stem}.parquet"
            if d.name.startswith(".") or not f.is_file():
                continue
            rid = (read_manifest(d) or {}).get("run_id") or d.name
            t = pq.read_table(f)
            tables.append(t.add_column(0, "run_id", pa.array([rid] * t.num_rows, pa.string())))
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive")


def _experiment_folders(results: Path) -> list[tuple[Path, dict]]:
    out = []
    if results.is_dir():
        for d in sorted(results.iterdir()):
            if d.name.startswith(".") or not d.is_dir():
                continue
            man = read_manifest(d)
            if man and man.get("kind") == "experiment":
                out.append((d, man))
    return out


def cell_files(results: str | Path = "results") -> list[Path]:
    """The cell tables of every experiment under ``results``."""
    out: list[Path] = []
    for d, man in _experiment_folders(Path(results)):
        whole = d / "cells.parquet"
        if man.get("status") == "complete" and whole.exists():
            out.append(whole)
        else:
            out.extend(ExperimentStore(d).cell_files())
    return out


def _cells_table(results: Path):
    """Every experiment's cells as one Arrow table, with its folder's model version."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for d, man in _experiment_folders(results):
        whole = d / "cells.parquet"
        files = (
            [whole]
            if man.get("status") == "complete" and whole.exists()
            else ExperimentStore(d).cell_files()
        )
        for f in files:
            t = pq.read_table(f)
            version = pa.array([man.get("model_version")] * t.num_rows, pa.string())
            tables.append(t.append_column("model_version", version))
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive")


def model_versions(results: str | Path = "results") -> dict[str, int]:
    """How many runs and experiments under ``results`` each model version made (``unknown``
    for folders written before model versions were recorded)."""
    counts: dict[str, int] = {}
    results = Path(results)
    if results.is_dir():
        for d in sorted(results.iterdir()):
            if d.name.startswith(".") or not d.is_dir():
                continue
            man = read_manifest(d)
            if man is None:
                continue
            v = man.get("model_version") or "unknown"
            counts[v] = counts.get(v, 0) + 1
    return counts


def check_one_version(results: str | Path, allow_mixed_versions: bool = False) -> None:
    """Refuse (``MixedVersionsError``) results of several model versions, unless allowed."""
    counts = model_versions(results)
    if len(counts) > 1 and not allow_mixed_versions:
        listing = ", ".join(f"{v} ({n} folder{'s' if n > 1 else ''})" for v, n in counts.items())
        raise MixedVersionsError(
            f"{results}: results of {len(counts)} model versions would be pooled: {listing}; "
            "pass --allow-mixed-versions to pool them anyway (filter on the model_version "
            "column), or query a folder holding one version"
        )


def connect(results: str | Path = "results", allow_mixed_versions: bool = False):
    """An in-memory, read-only DuckDB connection with the ``runs``, ``segments``, ``alerts``
    and ``cells`` views."""
    import duckdb

    results = Path(results)
    check_one_version(results, allow_mixed_versions)
    con = duckdb.connect(":memory:")
    runs = runs_frame(results)
    con.register("_runs_df", runs)
    con.execute("CREATE VIEW runs AS SELECT * FROM _runs_df")
    for stem, empty in RUN_TABLE_VIEWS.items():
        tbl = _run_table(results, stem)
        if tbl is not None:
            con.register(f"_{stem}_tbl", tbl)
            con.execute(f"CREATE VIEW {stem} AS SELECT * FROM _{stem}_tbl")
        else:
            cols = ", ".join(f"NULL::{t} AS {c}" for c, t in empty.items())
            con.execute(f"CREATE VIEW {stem} AS SELECT * FROM (SELECT {cols}) WHERE false")
    cells = _cells_table(results)
    if cells is not None:
        con.register("_cells_tbl", cells)
        con.execute("CREATE VIEW cells AS SELECT * FROM _cells_tbl")
    else:
        con.execute(
            "CREATE VIEW cells AS SELECT * FROM (SELECT NULL::VARCHAR AS experiment_id, "
            "NULL::VARCHAR AS cell, NULL::VARCHAR AS strategy, NULL::DOUBLE AS net_recovery, "
            "NULL::VARCHAR AS model_version) WHERE false"
        )
    # everything is in memory now: no file, database or extension is reachable from the query
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def query(
    sql: str, results: str | Path = "results", allow_mixed_versions: bool = False
) -> pd.DataFrame:
    """Run ``sql`` over the ``runs``, ``segments``, ``alerts`` and ``cells`` views, read-only;
    returns a DataFrame.

    Raises
    ------
    QueryError
        DuckDB's message, for a query that cannot run (writing a file is one).
    MixedVersionsError
        Results of several model versions, without ``allow_mixed_versions``.
    """
    import duckdb

    con = connect(results, allow_mixed_versions)
    try:
        return con.execute(sql).df()
    except duckdb.Error as exc:
        raise QueryError(f"query failed: {exc}") from None
    finally:
        con.close()
