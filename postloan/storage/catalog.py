"""Finding saved folders: every run and experiment under ``results``, and one by its id."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from postloan.storage.experiments import ExperimentStore
from postloan.storage.manifest import MANIFEST, read_manifest
from postloan.storage.provenance import check_schema


# ---------------------------------------------------------------------------- listing
def list_results(results: Path) -> pd.DataFrame:
    """Every run and experiment folder under ``results`` (newest first)."""
    rows = []
    results = Path(results)
    if results.is_dir():
        for d in results.iterdir():
            if not d.is_dir() or d.name.startswith("."):
                continue
            man = read_manifest(d)
            if man is None:
                continue
            if man.get("kind") == "experiment":
                rows.append(
                    {
                        "id": d.name,
                        "kind": "experiment",
                        "name": man.get("name"),
                        "scenario": man.get("scenario"),
                        "strategy": ",".join(man.get("strategies", [])),
                        "accounts": man.get("accounts"),
                        "days": man.get("days"),
                        "status": "{} {}/{}".format(*ExperimentStore(d).status()),
                        "created": man.get("created"),
                    }
                )
            else:
                summary = {}
                try:
                    summary = json.loads((d / "summary.json").read_text())
                except (OSError, ValueError):
                    pass
                rows.append(
                    {
                        "id": d.name,
                        "kind": "run",
                        "name": man.get("scenario"),
                        "scenario": man.get("scenario"),
                        "strategy": man.get("strategy"),
                        "accounts": man.get("accounts"),
                        "days": man.get("days"),
                        "status": (
                            f"net {summary['net_recovery']:,.0f}"
                            if "net_recovery" in summary
                            else "?"
                        ),
                        "created": man.get("created"),
                    }
                )
    cols = ["id", "kind", "name", "scenario", "strategy", "accounts", "days", "status", "created"]
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values("id", ascending=False, kind="stable").reset_index(drop=True)


class ResultNotFound(LookupError):
    """No saved run or experiment matches an id (or more than one does)."""


def find_result(results: Path, ident: str) -> Path:
    """The folder whose id is ``ident`` or starts with it (unique prefix); or a path."""
    found = _find(Path(results), ident)
    check_schema(read_manifest(found) or {}, found)
    return found


def _find(results: Path, ident: str) -> Path:
    p = Path(ident)
    if p.is_dir() and (p / MANIFEST).exists():
        return p
    results = Path(results)
    exact = results / ident
    if exact.is_dir() and (exact / MANIFEST).exists():
        return exact
    matches = (
        sorted(
            d
            for d in results.iterdir()
            if d.is_dir() and not d.name.startswith(".") and ident in d.name
        )
        if results.is_dir()
        else []
    )
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ResultNotFound(f"no run or experiment matching {ident!r} under {results}")
    names = ", ".join(m.name for m in matches[:5])
    raise ResultNotFound(f"{ident!r} matches {len(matches)} folders ({names}...); be more specific")
