"""``postloan report FOLDER``: the right report for a run or an experiment folder."""

from __future__ import annotations

from pathlib import Path

from postloan.reports.html import ReportError
from postloan.storage.manifest import read_manifest
from postloan.storage.provenance import check_schema


def write_report(folder: Path) -> Path:
    """The right report for a run or an experiment folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such folder")
    man = check_schema(read_manifest(folder) or {}, folder)
    if man.get("kind") == "experiment":
        from postloan.reports.experiment import write_experiment_report

        return write_experiment_report(folder)
    if (folder / "summary.json").exists():
        from postloan.reports.run import write_run_report

        return write_run_report(folder)
    raise ReportError(f"{folder}: neither a run folder nor an experiment folder")
