"""The experiment store: one folder per experiment, every cell saved the moment it finishes.

Layout of ``results/<experiment-id>/`` (``<experiment-id>`` is ``<UTC time>-<name>``)::

    manifest.json        kind "experiment", spec and its hash, status (running / complete),
                         cells done and total, executor, versions, code commit, wall time
    experiment.yaml      the experiment spec as run
    scenarios/<v>.yaml   every variant's scenario, every default written out
    cells/<key>.parquet  one row per finished cell (written to a temporary name, then renamed)
    cells/<key>.daily.parquet, cells/<key>.monthly.parquet
                         the daily and monthly tables of replication 0 of every variant and
                         strategy (the "representative path" the report draws)
    cells.parquet        every cell, one row each: variant x sample x strategy x replication,
                         every summary KPI a column (nested ones flattened: contacts_call,
                         cost_by_channel_sms, roll_rates_current_to_1_30, ...)
    comparison.csv       per variant, strategy and KPI: mean and 95 % interval, the paired
    comparison.json      difference against the champion with its interval and win rate, the
                         unpaired interval for contrast, and a plain-words verdict
    report.html          the self-contained report (``postloan report``)

Every file is written to a temporary name beside its destination and renamed into place
(``os.replace``, atomic on POSIX), so an interrupted experiment leaves finished cells and
nothing half-written; ``--resume`` finds the folder by the spec's hash and recomputes only
the cells whose files are missing.
"""

from __future__ import annotations

import math
import os
import re
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from postloan.formatting import round_for_people
from postloan.storage.manifest import MANIFEST, dumps, read_manifest
from postloan.storage.provenance import (
    RESULT_SCHEMA_VERSION,
    check_schema,
    code_commit,
    model_version,
    package_versions,
)
from sim.atomic import clean_temporaries, staged_folder, write_file, write_text

#: Columns of a cell row that describe the cell rather than measure it.
META_COLUMNS = (
    "experiment_id",
    "cell",
    "fingerprint",
    "variant",
    "variant_label",
    "sample",
    "strategy",
    "strategy_index",
    "replication",
    "seed",
)
_SAFE = re.compile(r"[^0-9A-Za-z]+")


# ---------------------------------------------------------------------------- helpers
def column_name(*parts: str) -> str:
    """``("roll_rates", "current", "1-30")`` -> ``roll_rates_current_1_30``."""
    return "_".join(_SAFE.sub("_", str(p)).strip("_") for p in parts if str(p) != "")


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested summary -> flat columns (dicts joined with ``_``, lists by position, None -> NaN)."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        name = column_name(prefix, k) if prefix else column_name(k)
        if isinstance(v, Mapping):
            out.update(flatten(v, name))
        elif isinstance(v, list | tuple):
            for i, x in enumerate(v):
                out[f"{name}_{i}"] = x
        elif v is None:
            out[name] = math.nan
        else:
            out[name] = v
    return out


def atomic_write_parquet(df: pd.DataFrame, path: Path) -> None:
    """Write a Parquet file whole or not at all."""
    write_file(path, lambda tmp: df.to_parquet(tmp, index=False))


def atomic_write_row(row: dict[str, Any], path: Path) -> None:
    """Write one row (a dict of scalars) as a Parquet file, atomically (pyarrow directly: a
    cell row has ~140 columns and pandas' conversion would cost more than the write)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_file(path, lambda tmp: pq.write_table(pa.Table.from_pylist([row]), tmp))


# ---------------------------------------------------------------------------- the store
class ExperimentStore:
    """One experiment folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.cells_dir = self.folder / "cells"

    # ------------------------------------------------------------ opening
    @classmethod
    def create(cls, out_dir: Path, experiment, executor: dict | None = None) -> ExperimentStore:
        """A new experiment folder with its manifest, spec and scenarios, made atomically."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        eid = f"{stamp}-{experiment.name}"
        with staged_folder(out_dir, eid) as tmp:
            (tmp / "cells").mkdir()
            (tmp / "scenarios").mkdir()
            for v in experiment.variants:
                (tmp / "scenarios" / f"v{v.index:03d}.yaml").write_text(
                    f"# variant {v.index}: {v.label}\n" + v.scenario.to_yaml()
                )
            (tmp / "experiment.yaml").write_text(
                yaml.safe_dump(experiment.spec.model_dump(mode="json"), sort_keys=False)
            )
            man = {
                "kind": "experiment",
                "experiment_id": eid,
                "name": experiment.name,
                "description": experiment.spec.description,
                "source": experiment.source,
                "spec_hash": experiment.spec_hash,
                "status": "running",
                "cells_total": len(experiment.cells()),
                "cells_done": 0,
                "champion": experiment.champion,
                "strategies": experiment.strategy_names,
                "replications": experiment.spec.replications,
                "seed": experiment.spec.seed,
                "shards": experiment.spec.shards,
                "compliance": experiment.spec.compliance,
                "scenario": experiment.base.name,
                "accounts": experiment.base.accounts,
                "days": experiment.base.days,
                "currency": getattr(experiment.base, "currency", "USD"),
                "variants": [
                    {
                        "index": v.index,
                        "label": v.label,
                        "overrides": v.overrides,
                        "scenario_hash": v.scenario.content_hash(),
                    }
                    for v in experiment.variants
                ],
                "samples": experiment.samples,
                "executor": executor,
                "schema_version": RESULT_SCHEMA_VERSION,
                "model_version": model_version(),
                "packages": package_versions(),
                "code_commit": code_commit(),
                "created": datetime.now(UTC).isoformat(),
                "finished": None,
                "wall_seconds": 0.0,
                "pid": os.getpid(),
                "host": socket.gethostname(),
            }
            (tmp / MANIFEST).write_text(dumps(man))
        return cls(out_dir / eid)

    @classmethod
    def find(cls, out_dir: Path, spec_hash: str) -> ExperimentStore | None:
        """The newest experiment folder under ``out_dir`` made from this spec, if any."""
        out_dir = Path(out_dir)
        if not out_dir.is_dir():
            return None
        found = []
        for d in out_dir.iterdir():
            if not d.is_dir() or d.name.startswith("."):
                continue
            man = read_manifest(d)
            if man and man.get("kind") == "experiment" and man.get("spec_hash") == spec_hash:
                found.append(d)
        if not found:
            return None
        newest = max(found, key=lambda d: d.name)
        check_schema(read_manifest(newest) or {}, newest)
        return cls(newest)

    # ------------------------------------------------------------ manifest
    @property
    def manifest(self) -> dict:
        man = read_manifest(self.folder)
        if man is None:
            raise FileNotFoundError(f"{self.folder}: no readable {MANIFEST}")
        return man

    def update_manifest(self, **changes: Any) -> dict:
        man = self.manifest
        man.update(changes)
        write_text(self.folder / MANIFEST, dumps(man))
        return man

    def status(self) -> tuple[str, int, int]:
        """``(status, cells on disk, cells total)``, told truthfully: a folder left
        "running" by a process that no longer runs (killed, machine rebooted) is
        "interrupted", and the count is of the cell files actually saved."""
        man = self.manifest
        status = man.get("status") or "unknown"
        if status == "running" and not _alive(man):
            status = "interrupted"
        return status, len(self.cell_files()), int(man.get("cells_total") or 0)

    @property
    def experiment_id(self) -> str:
        return self.folder.name

    # ------------------------------------------------------------ cells
    def clean_temporaries(self) -> int:
        """Remove temporary files an interruption left behind; returns how many."""
        return clean_temporaries(self.folder) + clean_temporaries(self.cells_dir)

    def cell_path(self, key: str) -> Path:
        return self.cells_dir / f"{key}.parquet"

    def finished(self, fingerprints: Mapping[str, str]) -> set[str]:
        """Keys of the cells already saved with a matching fingerprint (readable files only)."""
        import pyarrow.parquet as pq

        done = set()
        for key, fp in fingerprints.items():
            path = self.cell_path(key)
            if not path.exists():
                continue
            try:
                table = pq.read_table(path, columns=["fingerprint"])
            except Exception:  # an unreadable file is recomputed (cannot happen with renames)
                continue
            if table.num_rows == 1 and table.column("fingerprint")[0].as_py() == fp:
                done.add(key)
        return done

    def save_cell(
        self,
        row: dict[str, Any],
        daily: pd.DataFrame | None = None,
        monthly: pd.DataFrame | None = None,
    ) -> Path:
        """Save one finished cell (tables first, then the row that marks it finished)."""
        self.cells_dir.mkdir(exist_ok=True)
        key = row["cell"]
        if daily is not None:
            atomic_write_parquet(daily, self.cells_dir / f"{key}.daily.parquet")
        if monthly is not None:
            atomic_write_parquet(monthly, self.cells_dir / f"{key}.monthly.parquet")
        path = self.cell_path(key)
        atomic_write_row(row, path)
        return path

    def cell_files(self) -> list[Path]:
        return sorted(
            p
            for p in self.cells_dir.glob("*.parquet")
            if not p.name.endswith((".daily.parquet", ".monthly.parquet"))
        )

    def _read_cells(self) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = [pq.read_table(p) for p in self.cell_files()]
        if not tables:
            return pd.DataFrame(columns=list(META_COLUMNS))
        table = pa.concat_tables(tables, promote_options="permissive")
        cells = table.to_pandas()
        return cells.sort_values("cell", kind="stable").reset_index(drop=True)

    def consolidate(self) -> pd.DataFrame:
        """Gather every cell file into ``cells.parquet`` (sorted by cell key); returns it."""
        cells = self._read_cells()
        atomic_write_parquet(cells, self.folder / "cells.parquet")
        return cells

    def load_cells(self) -> pd.DataFrame:
        """``cells.parquet``, or the cell files of an experiment still running."""
        path = self.folder / "cells.parquet"
        if path.exists() and self.manifest.get("status") == "complete":
            return pd.read_parquet(path)
        return self._read_cells()

    def daily(self, key: str) -> pd.DataFrame | None:
        p = self.cells_dir / f"{key}.daily.parquet"
        return pd.read_parquet(p) if p.exists() else None

    def monthly(self, key: str) -> pd.DataFrame | None:
        p = self.cells_dir / f"{key}.monthly.parquet"
        return pd.read_parquet(p) if p.exists() else None

    # ------------------------------------------------------------ comparison
    def write_comparison(self, table: pd.DataFrame, meta: dict) -> None:
        write_text(self.folder / "comparison.csv", round_for_people(table).to_csv(index=False))
        records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
        write_text(self.folder / "comparison.json", dumps({**meta, "rows": records}))

    def finish(self, wall_seconds: float, cells_done: int) -> dict:
        man = self.manifest
        return self.update_manifest(
            status="complete" if cells_done >= man["cells_total"] else "partial",
            cells_done=cells_done,
            finished=datetime.now(UTC).isoformat(),
            wall_seconds=float(man.get("wall_seconds") or 0.0) + wall_seconds,
        )


def _alive(man: dict) -> bool:
    """Whether the process that wrote a "running" manifest still runs (unknown: assumed so)."""
    pid, host = man.get("pid"), man.get("host")
    if pid is None or host != socket.gethostname():
        return True  # another machine (a Dask client elsewhere) or an older folder
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def cell_row(experiment_id: str, cell, fingerprint: str, summary: dict) -> dict[str, Any]:
    """One row of ``cells.parquet``: the cell's identity, its parameters, every KPI."""
    row: dict[str, Any] = {
        "experiment_id": experiment_id,
        "cell": cell.key,
        "fingerprint": fingerprint,
        "variant": cell.variant,
        "variant_label": cell.variant_label,
        "sample": cell.sample,
        "strategy": cell.strategy_name,
        "strategy_index": cell.strategy,
        "replication": cell.replication,
    }
    for path, value in cell.params.items():
        row[column_name("param", path)] = value
    kpis = flatten({k: v for k, v in summary.items() if k != "seed"})
    row["seed"] = int(summary.get("seed", cell.seed))
    row.update(kpis)
    return row
