"""What ``postloan calibrate`` and ``postloan backtest`` print and write about a fit: the cells
table under the acceptance criterion (:mod:`sim.calibration.criterion`: each cell's band and
status), the fresh-seed table, the one-line summary, the scenario header's fit lines, and
strict JSON."""

from __future__ import annotations

from rich.table import Table


def band_text(cell: dict) -> str:
    """A cell's acceptance band on the probability scale, ``lo-hi`` (``-``: row not simulated)."""
    lo, hi = cell["band"]
    return "-" if lo != lo or hi != hi else f"{lo:.4f}-{hi:.4f}"


def cells_table(result, title: str) -> Table:
    """The fit book's cells: observed and simulated rates, each cell's acceptance band (the
    criterion's log-odds tolerance around the observed rate, on the probability scale) and its
    status: within, outside, or not assessable (the data cannot falsify it). Cells with neither
    an observed rate above 0.1 % nor an error above 0.5 pp are left out."""
    t = Table(title=title)
    for c in ("from", "to", "row n", "empirical", "simulated", "error", "band", "status"):
        t.add_column(c, justify="right")
    for c in result.cells():
        if c["row_count"] >= result.min_row_count and (
            c["empirical"] > 0.001 or abs(c["error"]) > 0.005
        ):
            t.add_row(
                c["from"],
                c["to"],
                f"{c['row_count']:,}",
                f"{c['empirical']:.4f}",
                f"{c['simulated']:.4f}",
                f"{c['error']:+.4f}",
                band_text(c),
                c["status"] if c["status"] != "outside" else "OUTSIDE",
            )
    return t


def fit_summary(result) -> str:
    """One line: the fit book's verdict and, per fresh seed, assessable / within."""
    g = result.goodness_of_fit()
    line = (
        f"Fit book: {g['cells_within_tolerance']} of {g['assessed_cells']} assessable cells "
        f"within ({g['not_assessable_cells']} not assessable)"
    )
    if result.holdout:
        seeds = ", ".join(
            f"seed {v['seed']} {v['assessed_cells']} / {v['cells_within_tolerance']}"
            for v in result.holdout
        )
        line += f"; fresh seeds (assessable / within): {seeds}"
    return line + "."


def holdout_table(verdicts) -> Table:
    t = Table(title="Fresh-seed check: the calibrated book simulated again on other seeds")
    for c in ("seed", "accounts", "assessable", "within", "passes", "worst cell", "outside"):
        t.add_column(c, justify="right")
    for v in verdicts:
        t.add_row(
            str(v["seed"]),
            f"{v['accounts']:,}",
            str(v["assessed_cells"]),
            str(v["cells_within_tolerance"]),
            "yes" if v.get("passed") else "NO",
            str(v["worst_cell"]),
            ", ".join(v.get("failing_cells", [])) or "none",
        )
    return t


def fit_header_lines(result) -> list[str]:
    """The fit's lines of the scenario header (:meth:`FitResult.header_lines`), and the fit
    book's failing cells where no fresh seed was simulated to name them."""
    lines = list(result.header_lines())
    g = result.goodness_of_fit()
    if not result.holdout:
        failing = ", ".join(g["failing_cells"]) or "none"
        lines.append(f"# Cells outside on the fit book: {failing}.")
    return lines


def clean(obj):
    """Replace NaN and infinities by None, recursively (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    return obj


def json_default(value):
    """JSON fallback: NaN-like and numpy values."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if v != v else v
