"""Run folders: one per run, written whole or not at all.

A run is written into a hidden temporary folder beside its destination and renamed into place
only when every file is complete (:func:`sim.atomic.staged_folder`), so an interrupted or failed
run never leaves a half-written ``results/<run-id>/``.

``summary.json`` holds what the model computed and nothing about the machine, so two runs of
the same inputs and seed give byte-identical summaries (a file hash checks reproducibility);
timings go to the manifest.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from postloan.storage.paths import OutputError, folder_part, inside
from postloan.storage.provenance import (
    RESULT_SCHEMA_VERSION,
    code_commit,
    model_version,
    package_versions,
)
from sim.atomic import staged_folder

if TYPE_CHECKING:
    from sim.engine import RunResult
    from sim.management import ManagementViews

#: Summary fields that measure the machine, not the model (kept in the manifest).
TIMING_KEYS = ("wall_seconds", "account_days_per_second")


def timing(result: RunResult) -> dict[str, float]:
    """The run's timings, from ``result.timing`` or (older engines) the summary."""
    t = getattr(result, "timing", None)
    if t is None:
        t = {k: result.summary[k] for k in TIMING_KEYS if k in result.summary}
    return {k: float(v) for k, v in t.items()}


def model_summary(summary: dict) -> dict:
    """The summary without the timing fields."""
    return {k: v for k, v in summary.items() if k not in TIMING_KEYS}


def run_id(result: RunResult) -> str:
    """``<UTC time>-<scenario>-<strategy>-s<seed>``, refused if a name would leave ``--out``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    scenario = folder_part(result.scenario.name, "scenario name")
    strategy = folder_part(str(result.strategy), "strategy name")
    return f"{stamp}-{scenario}-{strategy}-s{result.seed}"


def manifest(result: RunResult, extra: dict | None = None) -> dict:
    """The run's manifest: inputs, versions, timing."""
    t = timing(result)
    return {
        "run_id": None,
        "kind": "run",
        "schema_version": RESULT_SCHEMA_VERSION,
        "model_version": model_version(),
        "scenario": result.scenario.name,
        "scenario_hash": result.scenario.content_hash(),
        "strategy": result.strategy,
        "seed": result.seed,
        "accounts": result.scenario.accounts,
        "days": result.scenario.days,
        "currency": getattr(result.scenario, "currency", "USD"),
        "packages": package_versions(),
        "code_commit": code_commit(),
        "wall_seconds": t.get("wall_seconds"),
        "timing": t,
        "created": datetime.now(UTC).isoformat(),
        **(extra or {}),
    }


def save_run(
    result: RunResult,
    out_dir: str | Path,
    extra: dict | None = None,
    report: bool = True,
    views: ManagementViews | None = None,
) -> Path:
    """Write a run folder ``out_dir/<run-id>/`` atomically; returns the folder.

    Parameters
    ----------
    result : RunResult
    out_dir : path
        The folder that holds run folders (``results``).
    extra : dict, optional
        More manifest fields.
    report : bool
        Also write ``report.html``.
    views : ManagementViews, optional
        The management views that watched the run (:mod:`sim.management`): each of their
        tables is written as ``<name>.parquet`` (``segments``, ``risk``, ``alerts``...) and
        their summary goes under ``summary["monitoring"]``.

    Notes
    -----
    Always written: ``manifest.json``, ``scenario.yaml``, ``summary.json``, ``daily.parquet``
    and ``monthly.parquet``. Every file is written inside the staged folder, so the run folder
    appears whole or not at all.
    """
    out_dir = Path(out_dir)
    rid = run_id(result)
    if not inside(out_dir, out_dir / rid):  # pragma: no cover - folder_part already refuses
        raise OutputError(f"{rid}: outside {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with staged_folder(out_dir, rid) as tmp:
        man = manifest(result, extra)
        man["run_id"] = rid
        (tmp / "manifest.json").write_text(json.dumps(man, indent=2) + "\n")
        (tmp / "scenario.yaml").write_text(result.scenario.to_yaml())
        summary = model_summary(result.summary)
        tables = {}
        if views is not None:
            summary["monitoring"] = views.summary(result)
            tables = views.tables(result)
        tables = {**tables, "daily": result.daily, "monthly": result.monthly}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        for name, df in tables.items():
            df.to_parquet(tmp / f"{name}.parquet", index=False)
        if report:
            from postloan.reports.html import REPORT_FILE
            from postloan.reports.run import build_run_report

            # a plain write, as every file here: renaming the folder makes the run atomic
            (tmp / REPORT_FILE).write_bytes(build_run_report(tmp, tables))
    return out_dir / rid
