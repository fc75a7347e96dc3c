"""The trial table: one row per study, as text (80 columns), CSV and JSON, written atomically."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from rich import box
from rich.table import Table

from postloan.storage.manifest import dumps
from postloan.trials.runner import TrialResult
from sim.atomic import write_text

#: Columns of the CSV (and of the row dicts).
COLUMNS = (
    "study",
    "outcome",
    "estimand",
    "unit",
    "published",
    "published_low",
    "published_high",
    "simulated",
    "simulated_low",
    "simulated_high",
    "within",
    "control_published",
    "control_simulated",
    "transportable",
    "counts",
)


def _num(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    return f"{x:+.{digits}f}"


def _unit(r: TrialResult) -> str:
    return r.estimate.unit


def row(r: TrialResult) -> dict:
    """One table row (numbers as numbers) for CSV and JSON."""
    pub, est, tr = r.spec.published, r.estimate, r.transport
    return {
        "study": r.spec.name,
        "outcome": f"{r.spec.outcome.measure} {r.spec.outcome.days}d",
        "estimand": r.spec.estimand,
        "unit": _unit(r),
        "published": pub.effect,
        "published_low": pub.low,
        "published_high": pub.high,
        "simulated": est.effect,
        "simulated_low": est.low,
        "simulated_high": est.high,
        "within": r.within,
        "control_published": pub.control_rate,
        "control_simulated": tr.simulated,
        "transportable": tr.transportable if tr.checked else None,
        "counts": r.counts,
    }


def _transport_word(r: TrialResult) -> str:
    if not r.transport.checked:
        return "unchecked"
    return "yes" if r.transport.transportable else "no"


def table(results: list[TrialResult], title: str = "Trials") -> Table:
    """A rich table that fits 80 columns: study, published, simulated, within, transportable."""
    t = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 0))
    t.add_column("study / outcome", overflow="fold", width=29)
    t.add_column("published", width=15)
    t.add_column("simulated 95% CI", width=16)
    t.add_column("within", width=6)
    t.add_column("transport", width=9)
    for r in results:
        pub, est = r.spec.published, r.estimate
        unit = {"pp": "pp", "%": "%", "amount": ""}[est.unit]
        t.add_row(
            f"{r.spec.name}\n{r.spec.outcome.measure} {r.spec.outcome.days}d"
            + (" per contact" if r.spec.estimand == "per_contact" else ""),
            ("sign only" if pub.effect is None else f"{_num(pub.effect)}{unit}")
            + f"\n[{_num(pub.low)}, {_num(pub.high)}]",
            f"{_num(est.effect)}{unit}\n[{_num(est.low)}, {_num(est.high)}]",
            "yes" if r.within else "no",
            f"{_transport_word(r)}\n{_rate(r)}",
            end_section=True,
        )
    return t


def _rate(r: TrialResult) -> str:
    tr = r.transport
    if r.spec.outcome.binary:
        sim = f"{100 * tr.simulated:.0f}%"
        return f"ctl {sim}" if tr.published is None else f"{sim}/{100 * tr.published:.0f}%"
    return f"{tr.simulated:.0f}"


def csv_text(results: list[TrialResult]) -> str:
    """The table as CSV (:data:`COLUMNS`), one row per study."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in results:
        w.writerow(row(r))
    return buf.getvalue()


def json_document(results: list[TrialResult], meta: dict) -> dict:
    """Everything measured, with the run's settings (``meta``)."""
    return {
        "meta": meta,
        "table": [row(r) for r in results],
        "trials": [r.to_dict() for r in results],
    }


def save(results: list[TrialResult], out: Path, meta: dict) -> list[Path]:
    """``trials.json`` and ``trials.csv`` under ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "trials.json", out / "trials.csv"]
    write_text(paths[0], dumps(json_document(results, meta)))
    write_text(paths[1], csv_text(results))
    return paths
