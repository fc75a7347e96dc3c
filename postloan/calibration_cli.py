"""``postloan calibrate`` and ``postloan backtest``: fit the borrower model to a status panel."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from postloan.errors import fail

err = Console(stderr=True)

PanelArg = typer.Argument(..., help="Status panel: long CSV/Parquet, or the wide Taiwan file")
IdOpt = typer.Option(None, "--id", help="Account id column")
PeriodOpt = typer.Option(None, "--period", help="Period column (integers, e.g. months)")
StatusOpt = typer.Option(None, "--status", help="Status column")
MapOpt = typer.Option(
    None,
    "--map",
    help="Status codes to lab states, e.g. 'X=none,C=paid_off,0=current,1=1-30,...', or a "
    "preset: credit_record, credit_record_shifted, taiwan, taiwan_nominal",
)
FormatOpt = typer.Option("long", "--format", help="long or taiwan")
BaseOpt = typer.Option(
    Path("scenarios/small.yaml"), "--base", help="Scenario whose book is simulated while fitting"
)


def _load(panel: Path, id_col, period_col, status_col, mapping, fmt):
    from sim.calibration import PanelError, load_panel

    if fmt not in ("long", "taiwan"):
        raise fail(f"--format: {fmt!r} is not allowed; use long or taiwan")
    try:
        return load_panel(panel, id_col, period_col, status_col, mapping, fmt=fmt)
    except PanelError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:  # a bad --map string
        raise fail(f"--map: {exc}") from None


def _base(base: Path, accounts: int, months: int):
    from sim.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(base, accounts=accounts, days=30 * (months + 1))
    except ScenarioError as exc:
        raise fail(str(exc)) from None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` and ``backtest`` to the main CLI."""

    @app.command()
    def calibrate(
        panel: Path = PanelArg,
        id_col: str | None = IdOpt,
        period_col: str | None = PeriodOpt,
        status_col: str | None = StatusOpt,
        mapping: str | None = MapOpt,
        fmt: str = FormatOpt,
        train_until: int | None = typer.Option(None, "--train-until", help="Last period used"),
        out: Path = typer.Option(..., "--out", help="Calibrated scenario YAML to write"),
        base: Path = BaseOpt,
        accounts: int = typer.Option(30000, "--accounts", help="Simulated accounts per fit step"),
        months: int = typer.Option(6, "--months", help="Simulated months per fit step"),
        min_count: int = typer.Option(
            200, "--min-count", help="Rows with fewer moves are not fitted"
        ),
        evaluations: int = typer.Option(60, "--evaluations", help="Simulation budget"),
        seed: int = typer.Option(1, "--seed"),
        charge_off_dpd: int | None = typer.Option(
            None, "--charge-off-dpd", help="Book's charge-off DPD"
        ),
    ) -> None:
        """Fit the behaviour parameters so that simulated monthly transitions match a panel;
        writes the calibrated scenario and fit.json beside it."""
        from sim.calibration import transition_counts, transition_matrix
        from sim.calibration.fit import calibrate as fit
        from strategies.registry import resolve

        if out.suffix not in (".yaml", ".yml"):
            raise fail(f"--out: {out} must be a .yaml file")
        if accounts < 1000 or months < 2 or evaluations < 1:
            raise fail("--accounts must be >= 1000, --months >= 2, --evaluations >= 1")
        data = _load(panel, id_col, period_col, status_col, mapping, fmt)
        empirical = transition_matrix(transition_counts(data, until=train_until))
        base_sc = _base(base, accounts, months)
        overrides = {"name": out.stem}
        if charge_off_dpd is not None:
            overrides["charge_off_dpd"] = charge_off_dpd
        base_sc = base_sc.model_validate({**base_sc.model_dump(), **overrides})
        with err.status("fitting") as status:
            result = fit(
                base_sc,
                empirical,
                resolve("default"),
                seed=seed,
                min_row_count=min_count,
                max_evaluations=evaluations,
                progress=lambda n, f: status.update(f"fitting: simulation {n}, objective {f:,.1f}"),
            )
        report = result.to_dict() | {
            "panel": str(panel),
            "format": fmt,
            "mapping": mapping,
            "train_until": train_until,
        }
        _write_atomic(out, result.scenario.to_yaml())
        fit_path = (
            out.with_name("fit.json") if out.stem == "scenario" else out.with_suffix(".fit.json")
        )
        text = json.dumps(_clean(report), indent=2, allow_nan=False, default=_none)
        _write_atomic(fit_path, text)
        gof = result.goodness_of_fit()
        t = Table(
            title=f"Calibration of {panel.name}: {gof['cells_within_tolerance']} of "
            f"{gof['assessed_cells']} cells within max(2 pp, 3 SE)"
        )
        for c in ("from", "to", "row n", "empirical", "simulated", "error", "tolerance", "ok"):
            t.add_column(c, justify="right")
        for c in result.cells():
            if c["assessed"] and (c["empirical"] > 0.001 or abs(c["error"]) > 0.005):
                t.add_row(
                    c["from"],
                    c["to"],
                    f"{c['row_count']:,}",
                    f"{c['empirical']:.3f}",
                    f"{c['simulated']:.3f}",
                    f"{c['error']:+.3f}",
                    f"{c['tolerance']:.3f}",
                    "yes" if c["within"] else "NO",
                )
        Console().print(t)
        Console().print(
            f"Wrote {out} and {fit_path} ({result.seconds:.0f} s, {result.evaluations} simulations)"
        )

    @app.command()
    def backtest(
        panel: Path = PanelArg,
        id_col: str | None = IdOpt,
        period_col: str | None = PeriodOpt,
        status_col: str | None = StatusOpt,
        mapping: str | None = MapOpt,
        fmt: str = FormatOpt,
        train_until: int = typer.Option(..., "--train-until", help="Last training period"),
        base: Path = BaseOpt,
        accounts: int = typer.Option(30000, "--accounts"),
        months: int = typer.Option(6, "--months", help="Simulated months per fit step"),
        evaluations: int = typer.Option(40, "--evaluations"),
        seed: int = typer.Option(1, "--seed"),
        as_json: bool = typer.Option(False, "--json", help="Print the result JSON only"),
        out: Path | None = typer.Option(None, "--out", help="Also write the JSON here"),
    ) -> None:
        """Fit on periods up to --train-until, predict the later periods of the cohort seen then,
        and compare with what was observed (and with a naive last-matrix forecast)."""
        from sim.calibration import transition_counts, transition_matrix
        from sim.calibration.backtest import backtest as run_backtest
        from sim.calibration.fit import calibrate as fit
        from strategies.registry import resolve

        data = _load(panel, id_col, period_col, status_col, mapping, fmt)
        periods = data["period"]
        if not periods.min() < train_until < periods.max():
            raise fail(
                f"--train-until: {train_until} must lie strictly inside the panel's periods "
                f"{periods.min()}..{periods.max()}"
            )
        empirical = transition_matrix(transition_counts(data, until=train_until))
        strategy = resolve("default")
        with err.status("fitting on the training periods"):
            result = fit(
                _base(base, accounts, months),
                empirical,
                strategy,
                seed=seed,
                max_evaluations=evaluations,
            )
        with err.status("simulating the test periods"):
            bt = run_backtest(data, train_until, result.scenario, strategy, seed=seed)
        payload = {
            "train_until": train_until,
            "fitted_parameters": result.parameters,
            "fit": result.goodness_of_fit(),
            "summary": bt.summary(),
            "errors": bt.errors().to_dict(orient="records"),
            "observed": bt.observed.reset_index(names="period").to_dict(orient="records"),
            "simulated": bt.simulated.reset_index(names="period").to_dict(orient="records"),
            "naive_last_matrix": bt.naive_last.reset_index(names="period").to_dict(
                orient="records"
            ),
        }
        text = json.dumps(_clean(payload), indent=2, allow_nan=False, default=_none)
        if out is not None:
            _write_atomic(out, text)
        if as_json:
            typer.echo(text)
            return
        t = Table(
            title=f"Back-test: train to period {train_until}, {len(bt.observed) - 1} test periods"
        )
        for c in (
            "forecast",
            "mean |share error|",
            "max |share error|",
            "mean |delinquent share error|",
        ):
            t.add_column(c, justify="right")
        for name, s in payload["summary"].items():
            t.add_row(
                name,
                f"{s['mean_abs_share_error']:.4f}",
                f"{s['max_abs_share_error']:.4f}",
                f"{s['mean_abs_delinquent_share_error']:.4f}",
            )
        Console().print(t)


def _clean(obj):
    """Replace NaN and infinities by None, recursively (strict JSON)."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and obj != obj:
        return None
    return obj


def _none(value):
    """JSON fallback: NaN-like and numpy values."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if v != v else v
