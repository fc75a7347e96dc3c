"""The results store: one folder per run, written whole or not at all.

A run is written into a hidden temporary folder beside its destination and renamed into place
only when every file is complete, so an interrupted or failed run never leaves a half-written
``results/<run-id>/``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from sim.engine import RunResult

PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "pydantic", "simpy", "mesa", "pyomo")


def code_commit() -> str | None:
    """The git commit of the code that ran (with ``-dirty`` when uncommitted changes exist)."""
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def run_id(result: RunResult) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{result.scenario.name}-{result.strategy}-s{result.seed}"


def manifest(result: RunResult, extra: dict | None = None) -> dict:
    return {
        "run_id": None,
        "scenario": result.scenario.name,
        "scenario_hash": result.scenario.content_hash(),
        "strategy": result.strategy,
        "seed": result.seed,
        "accounts": result.scenario.accounts,
        "days": result.scenario.days,
        "packages": package_versions(),
        "code_commit": code_commit(),
        **result.timing,  # wall_seconds, account_days_per_second (kept out of summary.json)
        "created": datetime.now(UTC).isoformat(),
        **(extra or {}),
    }


def save_run(
    result: RunResult, out_dir: str | Path, extra: dict | None = None, report: bool = True
) -> Path:
    """Write ``manifest.json``, ``scenario.yaml``, ``summary.json``, ``daily.parquet``,
    ``monthly.parquet`` and (with ``report``) ``report.html`` into ``out_dir/<run-id>/``
    atomically; returns the folder."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rid = run_id(result)
    final = out_dir / rid
    tmp = Path(tempfile.mkdtemp(prefix=f".{rid}.", dir=out_dir))
    try:
        man = manifest(result, extra)
        man["run_id"] = rid
        (tmp / "manifest.json").write_text(json.dumps(man, indent=2) + "\n")
        (tmp / "scenario.yaml").write_text(result.scenario.to_yaml())
        (tmp / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n")
        result.daily.to_parquet(tmp / "daily.parquet", index=False)
        result.monthly.to_parquet(tmp / "monthly.parquet", index=False)
        if report:
            from postloan.report import write_run_report

            write_run_report(tmp)
        os.chmod(tmp, 0o755)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
