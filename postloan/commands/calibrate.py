"""``postloan calibrate`` and ``postloan backtest``: fit the borrower model to a status panel.

``calibrate`` writes the calibrated scenario (YAML, with a header saying how it was made) and,
beside it, ``<name>.fit.json`` (for ``x/taiwan_cards.yaml``: ``x/taiwan_cards.fit.json``)
with the empirical and simulated matrices, per-cell errors, standard errors and tolerances,
counts, the fitted parameters and the goodness of fit. ``backtest`` fits on the periods up to
``--train-until`` and compares forecasts of the later periods with what was observed; with
``--out FILE.json`` it also writes ``FILE.html``, a self-contained chart.

Cells are judged by the acceptance criterion of :mod:`sim.calibration.criterion` (log-odds
errors, account-clustered standard errors, only the cells the data can falsify count). Every
problem with the input (missing columns, unknown codes, duplicate account-periods, an empty
file, periods that are not month numbers, YYYYMM or dates, a bad ``--map`` or
``--train-until``) is one line on stderr and exit code 2. A panel that cannot identify what the
fit is asked to fit (:class:`sim.calibration.criterion.CalibrationError`, e.g. no assessable
cell in the 1-30 row) is one line on stderr and exit code 1, with nothing written.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from postloan.commands.errors import command, fail
from postloan.reports.calibration import (
    cells_table,
    clean,
    fit_header_lines,
    fit_summary,
    holdout_table,
    json_default,
)
from postloan.storage.paths import check_out_dir
from sim.atomic import write_text
from sim.shipped import DEFAULT_SCENARIO

err = Console(stderr=True)

#: Defaults of the fit options (the shipped calibrations use them; see docs/calibration.md).
DEFAULTS = {
    "accounts": 25_000,
    "months": 4,
    "evaluations": 42,
    "warm_evaluations": 20,
    "late_evaluations": 24,
    "refine_accounts": 50_000,
    "refine_evaluations": 8,
    "holdout_seeds": 3,
    "min_count": 200,
    "seed": 1,
}

#: The base scenario (segments, traits, channels) of a calibration unless --base says otherwise.
DEFAULT_BASE = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"

PanelArg = typer.Argument(..., help="Status panel: long CSV/Parquet, or the wide Taiwan file")
IdOpt = typer.Option(None, "--id", help="Account id column")
PeriodOpt = typer.Option(
    None, "--period", help="Period column (month numbers, YYYYMM or dates: calendar months)"
)
StatusOpt = typer.Option(None, "--status", help="Status column")
MapOpt = typer.Option(
    None,
    "--map",
    help="Status codes to lab states, e.g. 'X=none,C=paid_off,0=current,1=1-30,...', or a "
    "preset: credit_record, credit_record_shifted, taiwan, taiwan_nominal, taiwan_91plus",
)
FormatOpt = typer.Option("long", "--format", help="long or taiwan")
BaseOpt = typer.Option(
    None, "--base", help="Scenario whose book is simulated while fitting (default: small.yaml)"
)


def _fit_option(key: str, help: str) -> typer.models.OptionInfo:
    """The option ``--key-name`` of a fit setting, defaulting to ``DEFAULTS[key]``."""
    return typer.Option(DEFAULTS[key], "--" + key.replace("_", "-"), help=help)


AccountsOpt = _fit_option("accounts", "Simulated accounts of the search's book")
MonthsOpt = _fit_option("months", "Simulated months per fit simulation (+1 warm-up)")
EvalOpt = _fit_option("evaluations", "Simulations of the main search")
WarmOpt = _fit_option(
    "warm_evaluations",
    "Simulations of the warm-up stage (early-stage parameters, rows current and 1-30)",
)
LateOpt = _fit_option(
    "late_evaluations",
    "Simulations of the second warm-up stage (late-stage parameters, all rows)",
)
RefineAccountsOpt = _fit_option(
    "refine_accounts",
    "Accounts of the refining stage's book (other accounts and luck than the search's)",
)
RefineOpt = _fit_option("refine_evaluations", "Simulations of the refining stage (0: none)")
HoldoutOpt = _fit_option(
    "holdout_seeds",
    "Fresh seeds the calibrated book is checked on, at --scenario-accounts (0: none)",
)
MinCountOpt = _fit_option("min_count", "Rows with fewer observed moves are not fitted")
SeedOpt = _fit_option(
    "seed",
    "Seed of the search's simulations (common random numbers); the refining stage uses "
    "seed + 1, the fresh-seed check seed + 101 ..",
)
ChargeOffOpt = typer.Option(
    None, "--charge-off-dpd", help="Charge-off DPD of the simulated book (default: the base's)"
)
RevolvingOpt = typer.Option(
    True,
    "--revolving/--instalment",
    help="Revolving (card) book: 480-month terms, so paid_off comes from prepayment and "
    "settlement only; --instalment keeps the base scenario's loan terms",
)
StrategyOpt = typer.Option(
    "default", "--strategy", help="Collections strategy the book was worked by (name or file)"
)


def _load(panel: Path, id_col, period_col, status_col, mapping, fmt):
    from sim.calibration import PanelError, load_panel

    if fmt not in ("long", "taiwan"):
        raise fail(f"--format: {fmt!r} is not allowed; use long or taiwan")
    try:
        data = load_panel(panel, id_col, period_col, status_col, mapping, fmt=fmt)
    except PanelError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:  # pragma: no cover - load_panel raises PanelError for input
        raise fail(f"{panel}: {exc}") from None
    gaps = int(data.attrs.get("record_gaps", 0))
    if gaps:  # on stderr: --json keeps stdout for the JSON
        print(
            f"{panel.name}: {gaps:,} pairs of records more than a month apart: no move counted "
            "across them",
            file=sys.stderr,
        )
    return data


def _base(base: Path | None):
    from sim.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(base or DEFAULT_BASE)
    except ScenarioError as exc:
        raise fail(str(exc)) from None


def _strategy(name: str):
    from strategies.registry import StrategyError, resolve

    try:
        return resolve(name)
    except StrategyError as exc:
        raise fail(f"--strategy: {exc}") from None


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)


def fit_json_path(out: Path) -> Path:
    """Where ``calibrate --out x/name.yaml`` writes its fit report: ``x/name.fit.json``."""
    return out.with_name(f"{out.stem}.fit.json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _label(data, period: int) -> str:
    """A period of the panel as its file writes periods (``YYYY-MM`` for calendar months)."""
    from sim.calibration.panel import period_label

    return period_label(period, data.attrs.get("period_kind", "month number"))


def _train_until(data, value: str | None, strictly_inside: bool) -> int | None:
    """``--train-until`` as the panel's period index (:func:`sim.calibration.panel.period_index`:
    ``202406`` on a YYYYMM panel, a date on a dated one, a month number otherwise), checked to
    lie inside the panel's periods."""
    from sim.calibration.panel import PanelError, period_index

    if value is None:
        return None
    kind = data.attrs.get("period_kind", "month number")
    text = value.strip()
    try:
        if kind in ("YYYYMM", "YYYYMMDD") and not (text.isdigit() and len(text) == len(kind)):
            raise ValueError(text)  # 4 on a YYYYMM panel is no month of it
        cut = period_index(text, kind)
    except (PanelError, ValueError):
        allowed = {
            "month number": "a whole month number",
            "YYYYMM": "a period written YYYYMM, e.g. 202406",
            "YYYYMMDD": "a date written YYYYMMDD, e.g. 20240630",
            "date": "a date, e.g. 2024-06 or 2024-06-30",
        }.get(kind, "a period as the panel writes it")
        raise fail(
            f"--train-until: {value!r} is not a period of this panel (its periods are read as "
            f"{kind}); give {allowed}"
        ) from None
    lo, hi = int(data["period"].min()), int(data["period"].max())
    ok = lo < cut < hi if strictly_inside else lo < cut <= hi
    if not ok:
        where = "strictly inside" if strictly_inside else "after the first of"
        raise fail(
            f"--train-until: {value} must lie {where} the panel's periods "
            f"{_label(data, lo)}..{_label(data, hi)}"
        )
    return cut


def _empirical(data, train_until, min_count):
    from sim.calibration.transitions import panel_transition_matrix

    # account-clustered standard errors (bootstrap over accounts): the criterion's
    empirical = panel_transition_matrix(data, until=train_until)
    if int((empirical.row_totals >= min_count).sum()) == 0:
        raise fail(
            f"no state has {min_count} observed monthly moves (most: "
            f"{int(empirical.row_totals.max())}); lower --min-count or give a longer panel"
        )
    return empirical


def _fit(
    data,
    base,
    train_until,
    *,
    accounts,
    months,
    evaluations,
    warm,
    late,
    refine_accounts,
    refine_evaluations,
    holdout_seeds,
    check_accounts,
    min_count,
    seed,
    charge_off_dpd,
    revolving,
    strategy,
    label,
):
    from sim.calibration.criterion import CalibrationError
    from sim.calibration.fit import BookSpec, calibrate, default_holdout_seeds

    if accounts < 1000 or refine_accounts < 1000 or check_accounts < 1000:
        raise fail("--accounts, --refine-accounts and --scenario-accounts must be >= 1000")
    if months < 1 or evaluations < 1 or min(warm, late, refine_evaluations, holdout_seeds) < 0:
        raise fail(
            "--months and --evaluations must be >= 1; --warm-evaluations, --late-evaluations, "
            "--refine-evaluations and --holdout-seeds >= 0"
        )
    empirical = _empirical(data, train_until, min_count)
    book = BookSpec(
        accounts=accounts, months=months, revolving=revolving, charge_off_dpd=charge_off_dpd
    )
    refine = BookSpec(accounts=refine_accounts, months=months)
    try:
        with err.status(label) as status:
            return calibrate(
                base,
                empirical,
                strategy,
                book=book,
                refine=refine,
                seed=seed,
                min_row_count=min_count,
                max_evaluations=evaluations,
                warm_evaluations=warm,
                late_evaluations=late,
                refine_evaluations=refine_evaluations,
                check_accounts=check_accounts,
                holdout_seeds=default_holdout_seeds(seed, holdout_seeds),
                progress=lambda n, f: status.update(f"{label}: simulation {n}, objective {f:,.1f}"),
            )
    except CalibrationError as exc:  # the data cannot identify the fit: exit 1, not 2
        print(f"error: {exc}; nothing written", file=sys.stderr)
        raise typer.Exit(code=1) from None
    except ValueError as exc:  # a scenario the fitted values make invalid
        raise fail(f"calibration failed: {exc}") from None


def _open_shares(data, train_until) -> dict[str, float]:
    """Initial delinquency of the written scenario: the panel's mix of open states (pooled
    over the training periods), capped at the scenario's 0.5 in total."""
    import numpy as np

    from sim.calibration.states import STATE_INDEX

    rows = data if train_until is None else data[data["period"] <= train_until]
    counts = np.bincount(rows["state"].cat.codes.to_numpy(), minlength=7)[:5].astype(float)
    total = counts.sum()
    shares = counts / total if total else np.eye(5)[0]
    keys = ("dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_91_120")
    out = {
        k: round(float(shares[STATE_INDEX[s]]), 6)
        for k, s in zip(keys, ("1-30", "31-60", "61-90", "91-120"), strict=True)
    }
    if sum(out.values()) > 0.5:
        scale = 0.5 / sum(out.values())
        out = {k: v * scale for k, v in out.items()}
    return out


def _command(panel, fmt, id_col, period_col, status_col, mapping, train_until, out, extra):
    parts = ["postloan", "calibrate", str(panel)]
    if fmt != "long":
        parts += ["--format", fmt]
    for flag, value in (("--id", id_col), ("--period", period_col), ("--status", status_col)):
        if value is not None:
            parts += [flag, value]
    if mapping is not None:
        parts += ["--map", mapping]
    if train_until is not None:
        parts += ["--train-until", str(train_until)]
    parts += extra
    parts += ["--out", str(out)]
    return shlex.join(parts)


def register(app: typer.Typer) -> None:
    """Add ``calibrate``, ``backtest`` and ``stress`` to the main CLI."""
    register_stress(app)

    @command(app, simulates=True)
    def calibrate(
        panel: Path = PanelArg,
        id_col: str | None = IdOpt,
        period_col: str | None = PeriodOpt,
        status_col: str | None = StatusOpt,
        mapping: str | None = MapOpt,
        fmt: str = FormatOpt,
        train_until: str | None = typer.Option(
            None,
            "--train-until",
            help="Fit on the moves ending in periods up to this one, written as the panel "
            "writes periods (a month number, YYYYMM such as 202406, or a date)",
        ),
        out: Path = typer.Option(..., "--out", help="Calibrated scenario YAML to write"),
        base: Path | None = BaseOpt,
        accounts: int = AccountsOpt,
        months: int = MonthsOpt,
        evaluations: int = EvalOpt,
        warm: int = WarmOpt,
        late: int = LateOpt,
        refine_accounts: int = RefineAccountsOpt,
        refine_evaluations: int = RefineOpt,
        holdout_seeds: int = HoldoutOpt,
        min_count: int = MinCountOpt,
        seed: int = SeedOpt,
        charge_off_dpd: int | None = ChargeOffOpt,
        revolving: bool = RevolvingOpt,
        strategy: str = StrategyOpt,
        scenario_accounts: int = typer.Option(
            50_000,
            "--scenario-accounts",
            help="Accounts of the written scenario (and of the fresh-seed check's book)",
        ),
        scenario_days: int = typer.Option(
            360, "--scenario-days", help="Horizon (days) of the written scenario"
        ),
        allow_holdout_failure: bool = typer.Option(
            False,
            "--allow-holdout-failure",
            help="Write the scenario even if the fit fails the criterion on a fresh seed",
        ),
    ) -> None:
        """Fit the behaviour parameters so that simulated monthly transitions match a panel;
        writes the calibrated scenario and NAME.fit.json beside it. The fit is checked on
        fresh seeds (--holdout-seeds); if it fails the criterion there, only the report is
        written and the exit code is 1; if the panel cannot identify the fit, nothing is
        written and the exit code is 1."""
        from sim.calibration import criterion
        from sim.calibration.fit import holdout_passed

        t0 = time.perf_counter()
        if out.suffix not in (".yaml", ".yml"):
            raise fail(f"--out: {out} must be a .yaml file")
        check_out_dir(out.parent)  # before the fit, not after it
        data = _load(panel, id_col, period_col, status_col, mapping, fmt)
        cut = _train_until(data, train_until, strictly_inside=False)
        base_sc = _base(base)
        result = _fit(
            data,
            base_sc,
            cut,
            accounts=accounts,
            months=months,
            evaluations=evaluations,
            warm=warm,
            late=late,
            refine_accounts=refine_accounts,
            refine_evaluations=refine_evaluations,
            holdout_seeds=holdout_seeds,
            check_accounts=scenario_accounts,
            min_count=min_count,
            seed=seed,
            charge_off_dpd=charge_off_dpd,
            revolving=revolving,
            strategy=_strategy(strategy),
            label="fitting",
        )
        gof = result.goodness_of_fit()
        fit_path = fit_json_path(out)
        periods = (int(data["period"].min()), int(data["period"].max()))
        span = f"{_label(data, periods[0])}..{_label(data, periods[1])}"
        moves_until = "" if cut is None else f", moves ending by {_label(data, cut)}"
        extra = []
        if charge_off_dpd is not None:
            extra += ["--charge-off-dpd", str(charge_off_dpd)]
        if not revolving:
            extra += ["--instalment"]
        if base is not None:
            extra += ["--base", str(base)]
        defaults = {
            "--accounts": (accounts, DEFAULTS["accounts"]),
            "--months": (months, DEFAULTS["months"]),
            "--evaluations": (evaluations, DEFAULTS["evaluations"]),
            "--warm-evaluations": (warm, DEFAULTS["warm_evaluations"]),
            "--late-evaluations": (late, DEFAULTS["late_evaluations"]),
            "--refine-accounts": (refine_accounts, DEFAULTS["refine_accounts"]),
            "--refine-evaluations": (refine_evaluations, DEFAULTS["refine_evaluations"]),
            "--holdout-seeds": (holdout_seeds, DEFAULTS["holdout_seeds"]),
            "--min-count": (min_count, DEFAULTS["min_count"]),
            "--seed": (seed, DEFAULTS["seed"]),
            "--scenario-accounts": (scenario_accounts, 50_000),
            "--scenario-days": (scenario_days, 360),
        }
        for flag, (value, default) in defaults.items():
            if value != default:
                extra += [flag, str(value)]
        if strategy != "default":
            extra += ["--strategy", strategy]
        command = _command(
            panel, fmt, id_col, period_col, status_col, mapping, train_until, out, extra
        )

        data_sc = result.scenario.model_dump()
        data_sc.update(
            name=out.stem,
            description=(
                f"Behaviour calibrated to {panel.name} (periods {span}{moves_until}); "
                f"{gof['cells_within_tolerance']} of {gof['assessed_cells']} assessable cells "
                f"within on the fit book. Acceptance: {criterion.DESCRIPTION}"
            ),
            accounts=scenario_accounts,
            days=scenario_days,
            initial_delinquency=_open_shares(data, cut),
            # what the numbers rest on: this panel (the response stays the base's)
            calibration={
                "status": "fitted",
                "dynamics": f"{panel.name} (sha256 {_sha256(panel)}), periods {span}{moves_until}",
                "fit": fit_path.name,
            },
        )
        from sim.scenario import Scenario

        scenario = Scenario.model_validate(data_sc)
        moves = int(result.empirical.row_totals.sum())
        passed = holdout_passed(result.holdout)
        header = "\n".join(
            [
                f"# Calibrated scenario: the borrower behaviour fitted to {panel.name}",
                f"# ({moves:,} monthly moves; periods {span}{moves_until}; rows with >= "
                f"{min_count} moves judged).",
                f"# Produced by: {command}",
                *fit_header_lines(result),
                f"# Details in {fit_path.name} (docs/calibration.md explains the method).",
                f"# Panel sha256 {_sha256(panel)}.",
                "# The fit simulated this behaviour on a book with oversampled delinquency (see",
                f"# {fit_path.name}: book); initial_delinquency here is the panel's mix of open",
                "# states, accounts and days are free to change.",
                "",
            ]
        )
        report = result.to_dict() | {
            "panel": str(panel),
            "panel_sha256": _sha256(panel),
            "format": fmt,
            "mapping": mapping,
            "columns": {"id": id_col, "period": period_col, "status": status_col},
            "train_until": cut,
            "train_until_as_given": train_until,
            "periods": list(periods),
            "period_kind": data.attrs.get("period_kind", "month number"),
            "record_gaps": int(data.attrs.get("record_gaps", 0)),
            "strategy": strategy,
            "command": command,
            "scenario": str(out),
            "wall_seconds": time.perf_counter() - t0,
            "standard_error": criterion.DESCRIPTION,
        }
        text = json.dumps(clean(report), indent=2, allow_nan=False, default=json_default)
        _write_atomic(fit_path, text)
        console = Console()
        console.print(
            cells_table(
                result,
                f"Calibration of {panel.name}: {gof['cells_within_tolerance']} of "
                f"{gof['assessed_cells']} assessable cells within on the fit book",
            )
        )
        if result.holdout:
            console.print(holdout_table(result.holdout))
        console.print(f"Acceptance: {criterion.DESCRIPTION}.", highlight=False)
        console.print(fit_summary(result), highlight=False)
        if result.parameters_at_bounds:
            console.print(
                "Parameters at a bound: " + ", ".join(result.parameters_at_bounds),
                highlight=False,
            )
        if result.rows_not_fitted:
            console.print(
                f"Rows never fitted (< {result.min_row_count} moves): "
                + ", ".join(f"{s} ({n:,})" for s, n in result.rows_not_fitted.items()),
                highlight=False,
            )
        if passed is False and not allow_holdout_failure:
            bad = [v for v in result.holdout if not v.get("passed")]
            print(
                f"error: the fit does not hold on fresh seeds: seed {bad[0]['seed']}: "
                f"{bad[0]['cells_within_tolerance']} of {bad[0]['assessed_cells']} assessable "
                f"cells within (outside: {', '.join(bad[0].get('failing_cells', [])) or 'none'}"
                f"; worst {bad[0]['worst_cell']}); {out} not written (report in {fit_path}). "
                "Try more --evaluations or a larger --refine-accounts, or "
                "--allow-holdout-failure to write it anyway.",
                file=sys.stderr,
            )
            raise typer.Exit(code=1)
        _write_atomic(out, header + scenario.to_yaml())
        Console().print(
            f"Wrote {out} and {fit_path} ({time.perf_counter() - t0:.0f} s, "
            f"{result.evaluations} simulations)"
        )

    @command(app, simulates=True)
    def backtest(
        panel: Path = PanelArg,
        id_col: str | None = IdOpt,
        period_col: str | None = PeriodOpt,
        status_col: str | None = StatusOpt,
        mapping: str | None = MapOpt,
        fmt: str = FormatOpt,
        train_until: str = typer.Option(
            ...,
            "--train-until",
            help="Last training period, written as the panel writes periods (a month number, "
            "YYYYMM such as 202406, or a date)",
        ),
        base: Path | None = BaseOpt,
        accounts: int = AccountsOpt,
        months: int = MonthsOpt,
        evaluations: int = EvalOpt,
        warm: int = WarmOpt,
        late: int = LateOpt,
        refine_accounts: int = RefineAccountsOpt,
        refine_evaluations: int = RefineOpt,
        holdout_seeds: int = HoldoutOpt,
        min_count: int = MinCountOpt,
        seed: int = SeedOpt,
        charge_off_dpd: int | None = ChargeOffOpt,
        revolving: bool = RevolvingOpt,
        strategy: str = StrategyOpt,
        forecast_accounts: int = typer.Option(
            40_000, "--forecast-accounts", help="Accounts of the simulated forecast"
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the result JSON only"),
        out: Path | None = typer.Option(
            None, "--out", help="Write the JSON here, and a chart (.html) beside it"
        ),
    ) -> None:
        """Fit on periods up to --train-until, predict the later periods of the cohort seen then,
        and compare with what was observed (and with a naive last-matrix forecast)."""
        from sim.calibration.backtest import backtest as run_backtest
        from sim.calibration.backtest import chart_html
        from sim.calibration.fit import holdout_passed

        if out is not None and out.suffix != ".json":
            raise fail(f"--out: {out} must be a .json file")
        if out is not None:
            check_out_dir(out.parent)
        data = _load(panel, id_col, period_col, status_col, mapping, fmt)
        cut = _train_until(data, train_until, strictly_inside=True)
        strat = _strategy(strategy)
        result = _fit(
            data,
            _base(base),
            cut,
            accounts=accounts,
            months=months,
            evaluations=evaluations,
            warm=warm,
            late=late,
            refine_accounts=refine_accounts,
            refine_evaluations=refine_evaluations,
            holdout_seeds=holdout_seeds,
            check_accounts=forecast_accounts,
            min_count=min_count,
            seed=seed,
            charge_off_dpd=charge_off_dpd,
            revolving=revolving,
            strategy=strat,
            label="fitting on the training periods",
        )
        with err.status("simulating the test periods"):
            bt = run_backtest(
                data, cut, result.scenario, strat, seed=seed, accounts=forecast_accounts
            )
        cut_label = _label(data, cut)
        payload = {
            "panel": str(panel),
            "period_kind": data.attrs.get("period_kind", "month number"),
            "train_until_as_given": train_until,
            "record_gaps": int(data.attrs.get("record_gaps", 0)),
            "fitted_parameters": result.parameters,
            "fit": result.goodness_of_fit(),
            "fit_cells": [c for c in result.cells() if c["assessed"]],
            "fit_holdout": result.holdout,
            **bt.to_dict(),
        }
        text = json.dumps(clean(payload), indent=2, allow_nan=False, default=json_default)
        chart_path = None
        if out is not None:
            _write_atomic(out, text)
            html = chart_html(bt, f"Back-test of {panel.name}: train to period {cut_label}")
            if html is None:
                err.print("plotly is not installed: no chart written")
            else:
                chart_path = out.with_suffix(".html")
                _write_atomic(chart_path, html)
        if as_json:
            typer.echo(text)
            return
        console = Console()
        t = Table(
            title=f"Back-test of {panel.name}: train to period {cut_label}, "
            f"{len(bt.observed) - 1} test periods, cohort of {bt.observed.attrs['accounts']:,} "
            "accounts"
        )
        for c in (
            "forecast",
            "mean |share err|",
            "max |share err|",
            "mean |delinquent share err|",
            "mean |paid-off share err|",
            "mean |roll-rate err|",
        ):
            t.add_column(c, justify="right")
        for name, s in payload["summary"].items():
            t.add_row(
                name,
                f"{s['mean_abs_share_error']:.4f}",
                f"{s['max_abs_share_error']:.4f}",
                f"{s['mean_abs_delinquent_share_error']:.4f}",
                f"{s['mean_abs_paid_off_share_error']:.4f}",
                f"{s['mean_abs_rate_error']:.4f}",
            )
        console.print(t)
        p = Table(title="Delinquent share (1-30 .. 91-120) and current -> 1-30 by period")
        for c in (
            "period",
            "observed",
            "simulated",
            "naive last",
            "obs roll",
            "sim roll",
            "naive roll",
        ):
            p.add_column(c, justify="right")
        delinquent = list(bt.observed.columns[1:5])
        for period in bt.observed.index[1:]:
            p.add_row(
                _label(data, period),
                f"{bt.observed.loc[period, delinquent].sum():.4f}",
                f"{bt.simulated.loc[period, delinquent].sum():.4f}",
                f"{bt.naive_last.loc[period, delinquent].sum():.4f}",
                f"{bt.observed_rates.loc[period, 'current->1-30']:.4f}",
                f"{bt.predicted_rates['simulated'].loc[period, 'current->1-30']:.4f}",
                f"{bt.predicted_rates['naive_last_matrix'].loc[period, 'current->1-30']:.4f}",
            )
        console.print(p)
        passed = holdout_passed(result.holdout)
        verdict = {True: "passes", False: "fails", None: "no fresh-seed check"}[passed]
        console.print(f"Training fit ({verdict}): {fit_summary(result)}", highlight=False)
        lines = bt.holdout_lines()
        if lines:
            console.print(
                f"Hold-out: the simulator against the naive last-matrix forecast on the same "
                f"accounts (censored accounts left out), test periods after {cut_label}:",
                highlight=False,
            )
            for line in lines:
                console.print(line, highlight=False, markup=False)
        written = [str(x) for x in (out, chart_path) if x is not None]
        if written:
            console.print("Wrote " + " and ".join(written))


def register_stress(app: typer.Typer) -> None:
    """Add ``stress``: a calibrated book under the baseline, mild and severe macro paths."""

    @command(app, simulates=True)
    def stress(
        scenario: Path = typer.Argument(
            Path(DEFAULT_SCENARIO),
            help="Scenario: a YAML file or a shipped scenario's name (default: default)",
        ),
        strategy: str = StrategyOpt,
        accounts: int | None = typer.Option(None, "--accounts", help="Override the account count"),
        days: int | None = typer.Option(None, "--days", help="Override the horizon in days"),
        seed: int | None = typer.Option(None, "--seed", help="Seed (default: the scenario's)"),
        write: bool = typer.Option(
            False, "--write", help="Also write NAME_mild.yaml and NAME_severe.yaml beside it"
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the table as JSON"),
    ) -> None:
        """Run a scenario under the baseline, mild and severe recession paths (same book, same
        luck) and compare roll rates, hardship onsets and 30+ DPD delinquency."""
        from sim.calibration.stress import stress_table, stressed_yaml
        from sim.scenario import ScenarioError, load_scenario

        try:
            sc = load_scenario(scenario, accounts=accounts, days=days)
        except ScenarioError as exc:
            raise fail(str(exc)) from None
        strat = _strategy(strategy)
        if write:
            for path in ("mild", "severe"):
                out = scenario.with_name(f"{scenario.stem}_{path}.yaml")
                _write_atomic(out, stressed_yaml(load_scenario(scenario), scenario, path))
                err.print(f"wrote {out}")
        with err.status("simulating three macro paths"):
            table = stress_table(sc, strat, seed)
        if as_json:
            typer.echo(table.reset_index().to_json(orient="records", indent=2))
            return
        t = Table(title=f"{sc.name}: {sc.accounts:,} accounts, {sc.days} days, three macro paths")
        t.add_column("")
        for path in table.index:
            t.add_column(path, justify="right")
        for col in table.columns:
            values = table[col]
            fmt = (
                (lambda v: f"{v:,.0f}")
                if col in ("hardship_onsets", "charge_offs")
                else (lambda v: f"{v:.2%}")
            )
            t.add_row(col, *(fmt(v) for v in values))
        Console().print(t)
