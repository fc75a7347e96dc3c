"""Experiments: spec validation, common random numbers, executors, resume, store, query, CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from postloan import api
from postloan.cli import app
from postloan.experiments.comparison import compare_cells
from postloan.experiments.executors import (
    ProcessExecutor,
    SerialExecutor,
    divide_capacity,
    shard_ranges,
    shard_scenarios,
    simulate_sharded,
)
from postloan.experiments.runner import execute_experiment
from postloan.experiments.spec import (
    ExperimentError,
    load_experiment,
    replication_seed,
)
from postloan.storage.experiments import ExperimentStore, flatten
from sim.engine import simulate
from sim.kpis import TIMING_FIELDS
from sim.scenario import load_scenario
from sim.statistics import mean_interval, welch_interval
from strategies.registry import resolve
from tests.cli_checks import user_error

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"
TIMING = ["experiment_id", *TIMING_FIELDS]

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "300"})


def write_spec(folder: Path, **fields) -> Path:
    spec = {
        "name": "tiny",
        "scenario": str(SMALL),
        "overrides": {"accounts": 500, "days": 30},
        "strategies": ["default", "none"],
        "replications": 2,
        "seed": 11,
    }
    spec.update(fields)
    path = folder / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def no_timing(cells: pd.DataFrame) -> pd.DataFrame:
    return cells.drop(columns=[c for c in TIMING if c in cells]).reset_index(drop=True)


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    """A small experiment with a two-value grid, run serially (shared by several tests)."""
    folder = tmp_path_factory.mktemp("exp")
    spec = write_spec(
        folder, variants={"grid": {"staff.call_attempts_per_day": [8, 40]}}, replications=2
    )
    exp = load_experiment(spec)
    outcome = execute_experiment(exp, folder / "results")
    return spec, exp, outcome


# ---------------------------------------------------------------------------- spec errors
@pytest.mark.parametrize(
    ("fields", "needles"),
    [
        ({"replications": 0}, ["field 'replications'", "greater than or equal to 1"]),
        ({"colour": "red"}, ["field 'colour'", "unknown key"]),
        ({"strategies": ["default", "nope"]}, ["field 'strategies.1'", "unknown strategy"]),
        ({"champion": "other"}, ["champion 'other' is not one of the strategies"]),
        (
            {"variants": {"grid": {"behaviour.no_such_knob": [1, 2]}}},
            ["variants.0", "field 'behaviour.no_such_knob'", "no_such_knob"],
        ),
        (
            {"variants": [{"name": "neg", "set": {"staff.call_attempts_per_day": -5}}]},
            ["variants.0", "staff.call_attempts_per_day", "greater than or equal to 0"],
        ),
        (
            {
                "uncertainties": {
                    "samples": 3,
                    "parameters": {"behaviour.base_intensity": {"low": 0.5, "high": 0.1}},
                }
            },
            ["uncertainties.parameters.behaviour.base_intensity", "low must not exceed high"],
        ),
        (
            {
                "uncertainties": {
                    "samples": 2,
                    "parameters": {"behaviour.promise_keep": {"low": 0.5, "high": 1.5}},
                }
            },
            ["uncertainties.behaviour.promise_keep", "less than or equal to 1"],
        ),
        ({"scenario": "missing.yaml"}, ["field 'scenario'", "no such scenario file"]),
        ({"variants": {"grid": {}}}, ["field 'variants.grid'", "at least 1 item"]),
        ({"variants": [{"name": "a", "sett": {}}]}, ["field 'variants.0.sett'", "unknown key"]),
        ({"overrides": {"accounts": 0}}, ["overrides", "accounts"]),
        ({"compliance": "nowhere"}, ["field 'compliance'", "nowhere"]),
    ],
)
def test_spec_errors_name_file_and_field(tmp_path, fields, needles):
    spec = write_spec(tmp_path, **fields)
    with pytest.raises(ExperimentError) as info:
        load_experiment(spec)
    msg = str(info.value)
    assert str(spec) in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_spec_file_errors(tmp_path):
    with pytest.raises(ExperimentError, match="no such experiment file"):
        load_experiment(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ExperimentError, match="not valid YAML"):
        load_experiment(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ExperimentError, match="must be a mapping"):
        load_experiment(bad)
    bad.write_text("name: x\nscenario: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ExperimentError, match="not valid YAML"):  # safe_load: no tags
        load_experiment(bad)


def test_cli_bad_spec_is_one_message_and_writes_nothing(tmp_path):
    spec = write_spec(tmp_path, replications=-1)
    out = tmp_path / "results"
    result = invoke("experiment", spec, "--out", out)
    user_error(result, str(spec), "field 'replications'")
    assert not out.exists() or not any(out.iterdir())


def test_grid_list_and_latin_hypercube(tmp_path):
    exp = load_experiment(
        write_spec(
            tmp_path,
            variants={
                "grid": {"staff.call_attempts_per_day": [10, 20], "macro.reference": [0.04, 0.06]}
            },
            uncertainties={
                "samples": 5,
                "parameters": {
                    "behaviour.base_intensity": {"low": 0.3, "high": 0.5},
                    "behaviour.promise_keep": {"low": 0.6, "high": 0.9},
                },
            },
        )
    )
    assert len(exp.variants) == 4
    assert exp.variants[3].scenario.staff.call_attempts_per_day == 20
    assert exp.variants[3].scenario.macro.reference == 0.06
    assert len(exp.cells()) == 4 * 5 * 2 * 2
    # Latin hypercube: every one of the 5 strata of every parameter is hit exactly once
    for name, (lo, hi) in {
        "behaviour.base_intensity": (0.3, 0.5),
        "behaviour.promise_keep": (0.6, 0.9),
    }.items():
        u = np.array([(s[name] - lo) / (hi - lo) for s in exp.samples])
        assert sorted(np.floor(u * 5).astype(int)) == [0, 1, 2, 3, 4]
    sc = exp.scenario_for(1, 3)
    assert sc.behaviour.base_intensity == exp.samples[3]["behaviour.base_intensity"]
    # the same seed gives the same samples
    again = load_experiment(tmp_path / "exp.yaml")
    assert again.samples == exp.samples and again.spec_hash == exp.spec_hash

    listed = load_experiment(
        write_spec(
            tmp_path,
            variants=[
                {"name": "lean", "set": {"staff.call_attempts_per_day": 5}},
                {"set": {"channels.sms.cost_per_attempt": 0.05}},
            ],
        )
    )
    assert [v.label for v in listed.variants] == ["lean", "cost_per_attempt=0.05"]
    assert listed.variants[1].scenario.channels["sms"].cost_per_attempt == 0.05


def test_common_random_numbers_seed_scheme(serial_run):
    _, exp, outcome = serial_run
    cells = exp.cells()
    by_rep = {}
    for c in cells:
        by_rep.setdefault((c.sample, c.replication), set()).add(c.seed)
    assert all(len(s) == 1 for s in by_rep.values())  # every strategy and variant: one seed
    assert len({next(iter(s)) for s in by_rep.values()}) == len(by_rep)  # reps differ
    assert replication_seed(11, 0, 1) == cells[2].seed
    # the no-contact strategy's book is identical across strategies: same starting arrears
    df = outcome.cells
    for _, g in df.groupby(["variant", "replication"]):
        assert g["seed"].nunique() == 1


# ---------------------------------------------------------------------------- statistics
def test_intervals_match_textbook():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    iv = mean_interval(x)
    m, sd, lo = iv.mean, iv.sd, iv.low
    assert m == 2.5 and lo == pytest.approx(2.5 - 3.182446 * sd / 2, rel=1e-6)
    d, ulo, uhi = welch_interval(np.array([1.0, 2, 3]), np.array([2.0, 4, 6]))
    assert d == -2 and ulo < d < uhi


def test_paired_intervals_narrower_than_unpaired_with_crn(tmp_path):
    comp = api.compare(
        SMALL, ["default", "none"], replications=6, accounts=500, days=30, seed=3, out=tmp_path
    )
    row = comp[(comp.kpi == "net_recovery") & (comp.strategy == "none")].iloc[0]
    paired = row.diff_ci_high - row.diff_ci_low
    unpaired = row.unpaired_ci_high - row.unpaired_ci_low
    assert paired < unpaired, (paired, unpaired)
    assert row.width_ratio == pytest.approx(unpaired / paired)
    assert row.significant and "worse" in row.verdict
    assert row.win_rate == 0.0  # no contact never beats the default ladder on net recovery
    champ = comp[(comp.kpi == "net_recovery") & (comp.strategy == "standard")].iloc[0]
    assert champ.verdict == "champion" and champ.ci_low < champ["mean"] < champ.ci_high


def test_paired_three_times_narrower_between_library_strategies_on_baseline(tmp_path):
    """Issue 7's acceptance on a slice of the baseline (10,000 of its 100,000 accounts, all
    180 days, 8 replications): the paired interval for the difference in net recovery between
    the library's ``standard`` and ``early_warning`` is at least 3 times narrower than the
    unpaired one. Measured: 5.5 on the full baseline (40 replications, seed 20261128); 6.9 on
    this slice with this seed, 3.5 to 6.4 with seeds 1 to 8 (docs/experiments.md)."""
    comp = api.compare(
        ROOT / "scenarios" / "baseline.yaml",
        ["standard", "early_warning"],
        replications=8,
        accounts=10_000,
        seed=20261128,
        out=tmp_path,
    )
    row = comp[(comp.kpi == "net_recovery") & (comp.strategy == "early_warning")].iloc[0]
    paired = row.diff_ci_high - row.diff_ci_low
    unpaired = row.unpaired_ci_high - row.unpaired_ci_low
    assert row.n == 8 and unpaired >= 3 * paired, (paired, unpaired)


def test_not_significant_is_said_plainly():
    rng = np.random.default_rng(0)
    base = rng.normal(100, 10, 6)
    cells = pd.DataFrame(
        {
            "variant": 0,
            "variant_label": "base",
            "sample": 0,
            "replication": np.tile(np.arange(6), 2),
            "strategy": ["a"] * 6 + ["b"] * 6,
            "strategy_index": [0] * 6 + [1] * 6,
            "net_recovery": np.concatenate([base, base + rng.normal(0, 1, 6)]),
        }
    )
    row = compare_cells(cells, "a").query("strategy == 'b'").iloc[0]
    assert row.diff_ci_low < 0 < row.diff_ci_high
    assert row.verdict.startswith("not significant") and row.significant is False


# ---------------------------------------------------------------------------- executors
def test_identical_cells_serial_processes_dask(serial_run, tmp_path):
    _, exp, serial = serial_run
    with ProcessExecutor(2) as ex:
        procs = execute_experiment(exp, tmp_path / "p", executor=ex)
    dask = execute_experiment(exp, tmp_path / "d", jobs=2, scheduler="local")
    assert len(serial.cells) == len(exp.cells()) == 8
    pd.testing.assert_frame_equal(no_timing(serial.cells), no_timing(procs.cells))
    pd.testing.assert_frame_equal(no_timing(serial.cells), no_timing(dask.cells))
    # the comparison files agree too
    a = pd.read_csv(serial.folder / "comparison.csv")
    b = pd.read_csv(dask.folder / "comparison.csv")
    keep = ~a["kpi"].isin(TIMING_FIELDS)
    pd.testing.assert_frame_equal(a[keep].reset_index(drop=True), b[keep].reset_index(drop=True))
    assert dask.store.manifest["executor"]["kind"] == "dask"


def test_cell_is_one_simulate_call(serial_run):
    _, exp, outcome = serial_run
    cell = exp.cells()[3]
    r = simulate(
        exp.scenario_for(cell.variant, cell.sample), resolve(cell.strategy_name), cell.seed
    )
    row = outcome.cells.set_index("cell").loc[cell.key]
    want = flatten(r.summary)
    for k in ("net_recovery", "collected", "contacts_call", "roll_rates_current_1_30", "churned"):
        assert row[k] == pytest.approx(want[k], rel=0, abs=0, nan_ok=True), k
    assert row["strategy"] == cell.strategy_name and row["seed"] == cell.seed
    # the grid parameter is a column, and every KPI is one too
    assert set(outcome.cells["param_staff_call_attempts_per_day"]) == {8, 40}
    assert {"cost_by_channel_sms", "right_party_contacts_call", "unserved_call"} <= set(
        outcome.cells.columns
    )


def test_sharding_divides_capacity_and_is_reproducible():
    sc = load_scenario(SMALL, accounts=1001, days=40)
    assert shard_ranges(1001, 3) == [(0, 334), (334, 668), (668, 1001)]
    parts = shard_scenarios(sc, 3)
    assert [p.accounts for p in parts] == [334, 334, 333]
    calls = [p.staff.call_attempts_per_day for p in parts]
    assert sum(calls) == np.floor(sc.staff.call_attempts_per_day)
    assert divide_capacity(10, [1, 1, 1]) == [4, 3, 3]
    strat = resolve("default")
    whole, _, _ = simulate_sharded(sc, strat, 9, 1)
    assert whole["net_recovery"] == simulate(sc, strat, 9).summary["net_recovery"]
    s_serial, daily, monthly = simulate_sharded(sc, strat, 9, 3, SerialExecutor())
    with ProcessExecutor(2) as ex:
        s_procs, _, _ = simulate_sharded(sc, strat, 9, 3, ex)
    drop = set(TIMING_FIELDS)
    assert {k: v for k, v in s_serial.items() if k not in drop} == {
        k: v for k, v in s_procs.items() if k not in drop
    }
    assert s_serial["accounts"] == 1001 and s_serial["shards"] == 3
    assert (
        daily["n_current"].iloc[0]
        + daily[["n_1_30", "n_31_60", "n_61_90", "n_91_120", "n_charged_off", "n_paid_off"]]
        .iloc[0]
        .sum()
        == 1001
    )
    assert s_serial["collected"] == pytest.approx(daily["collected"].sum())
    assert len(monthly) == 2


# ---------------------------------------------------------------------------- resume
def test_interrupted_run_resumes_without_recomputing(tmp_path):
    spec = write_spec(tmp_path, replications=3)
    exp = load_experiment(spec)
    out = tmp_path / "results"
    seen = []

    def stop_after_three(cell):
        seen.append(cell.key)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute_experiment(exp, out, on_cell=stop_after_three)
    (folder,) = out.iterdir()
    store = ExperimentStore(folder)
    assert store.manifest["status"] == "interrupted"
    finished = {p.name: p.stat().st_mtime_ns for p in store.cells_dir.glob("*.parquet")}
    assert len(store.cell_files()) == 3
    assert not list(folder.rglob("*.tmp")) and not (folder / "cells.parquet").exists()
    for p in store.cells_dir.glob("*.parquet"):
        pq.read_table(p)  # every file that exists is whole
    time.sleep(0.01)
    computed = []
    outcome = execute_experiment(exp, out, resume=True, on_cell=lambda c: computed.append(c.key))
    assert outcome.resumed and outcome.folder == folder
    assert outcome.reused == 3 and outcome.computed == len(exp.cells()) - 3
    assert not set(computed) & set(seen)
    for name, mtime in finished.items():
        assert (store.cells_dir / name).stat().st_mtime_ns == mtime, name
    assert store.manifest["status"] == "complete"
    assert store.manifest["cells_done"] == len(exp.cells()) == len(outcome.cells)
    # the same cells as one uninterrupted run
    clean = execute_experiment(exp, tmp_path / "clean")
    pd.testing.assert_frame_equal(no_timing(outcome.cells), no_timing(clean.cells))
    # resuming a finished experiment recomputes nothing
    again = execute_experiment(exp, out, resume=True)
    assert again.computed == 0 and again.reused == len(exp.cells())


def test_killed_process_resumes_from_cli(tmp_path):
    spec = write_spec(tmp_path, replications=10)
    out = tmp_path / "results"
    code = "from postloan.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "experiment", str(spec), "--out", str(out), "--no-report"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        cells_dir = None
        while time.monotonic() < deadline:
            dirs = [d for d in out.glob("*-tiny")] if out.exists() else []
            if dirs:
                cells_dir = dirs[0] / "cells"
                done = [
                    p
                    for p in cells_dir.glob("v*.parquet")
                    if ".daily." not in p.name and ".monthly." not in p.name
                ]
                if len(done) >= 3:
                    break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert cells_dir is not None
    store = ExperimentStore(cells_dir.parent)
    before = {p.name: p.stat().st_mtime_ns for p in store.cell_files()}
    assert 3 <= len(before) < 20
    for p in cells_dir.glob("*.parquet"):
        pq.read_table(p)  # killed mid-write or not, no file is corrupt
    result = invoke("experiment", spec, "--out", out, "--resume", "--no-report", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["cells_reused"] == len(before)
    assert report["cells_computed"] == 20 - len(before)
    for name, mtime in before.items():
        assert (cells_dir / name).stat().st_mtime_ns == mtime
    assert not list(store.folder.rglob("*.tmp"))
    assert len(pd.read_parquet(store.folder / "cells.parquet")) == 20


# ---------------------------------------------------------------------------- store, CLI
def test_store_layout(serial_run):
    _, exp, outcome = serial_run
    folder = outcome.folder
    names = {p.name for p in folder.iterdir()}
    assert {
        "manifest.json",
        "experiment.yaml",
        "cells.parquet",
        "comparison.csv",
        "comparison.json",
        "cells",
        "scenarios",
    } <= names
    man = json.loads((folder / "manifest.json").read_text())
    assert man["status"] == "complete" and man["cells_done"] == 8 and man["kind"] == "experiment"
    assert man["spec_hash"] == exp.spec_hash
    comp = json.loads((folder / "comparison.json").read_text())
    assert comp["champion"] == "standard"
    kpis = {r["kpi"] for r in comp["rows"]}
    assert {"net_recovery", "cost", "churned", "complaints", "contacts_call"} <= kpis
    rep0 = [p for p in (folder / "cells").glob("*.daily.parquet")]
    assert len(rep0) == 4  # replication 0 of each variant x strategy
    assert len(list((folder / "scenarios").glob("*.yaml"))) == 2


def test_runs_list_show_and_query(serial_run, tmp_path):
    from postloan.storage.runs import save_run

    _, _, outcome = serial_run
    results = outcome.folder.parent
    sc = load_scenario(SMALL, accounts=400, days=30)
    run_folder = save_run(simulate(sc, resolve("none"), 2), results)

    listed = invoke("runs", "list", "--results", results, "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    kinds = {r["id"]: r["kind"] for r in rows}
    assert kinds[outcome.folder.name] == "experiment" and kinds[run_folder.name] == "run"

    shown = invoke("runs", "show", outcome.folder.name[:16], "--results", results)
    assert shown.exit_code == 0, shown.output
    assert "tiny" in shown.stdout and "net_recovery" in shown.stdout
    shown = invoke("runs", "show", run_folder.name, "--results", results, "--json")
    assert json.loads(shown.stdout)["summary"]["accounts"] == 400
    user_error(invoke("runs", "show", "no-such-id", "--results", results), "no run or experiment")

    q = invoke(
        "query",
        "SELECT strategy, count(*) AS n, avg(net_recovery) AS net FROM cells "
        "GROUP BY strategy ORDER BY strategy",
        "--results",
        results,
        "--format",
        "json",
    )
    assert q.exit_code == 0, q.output
    got = json.loads(q.stdout)
    assert [(r["strategy"], r["n"]) for r in got] == [("none", 4), ("standard", 4)]
    want = outcome.cells.groupby("strategy")["net_recovery"].mean()
    assert got[1]["net"] == pytest.approx(want["standard"])
    df = api.query("SELECT run_id, strategy, contacts_call FROM runs", results)
    assert list(df["strategy"]) == ["none"] and df["contacts_call"].iloc[0] == 0
    user_error(invoke("query", "SELECT nope FROM cells", "--results", results), "query failed")


def test_compare_cli(tmp_path):
    out = tmp_path / "results"
    args = [
        "compare",
        SMALL,
        "--strategies",
        "default,none",
        "--replications",
        "2",
        "--accounts",
        "500",
        "--days",
        "30",
        "--out",
        out,
    ]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["champion"] == "standard" and data["cells_computed"] == 4
    rows = [r for r in data["rows"] if r["kpi"] == "net_recovery"]
    assert {r["strategy"] for r in rows} == {"standard", "none"}
    table = invoke(*args[:-2], "--out", tmp_path / "r2", "--champion", "none")
    assert table.exit_code == 0, table.output
    assert "none (champion)" in table.stdout
    # one overall verdict per challenger on the priced objective, trade-offs on its line
    assert "Winner on net value:" in table.stdout
    assert re.search(r"standard: (wins|loses|no clear difference) \(", table.stdout)
    assert "collection cost" in table.stdout and (out.parent / "r2").is_dir()
    user_error(invoke(*args[:3], "default,nope", "--out", tmp_path / "r3"), "unknown strategy")
    assert not (tmp_path / "r3").exists()
    user_error(invoke(*args[:3], "default,none", "--champion", "x"), "--champion")
    user_error(invoke(*args[:3], "none", "--compliance", "mars"), "--compliance", "mars")
    user_error(invoke("compare", tmp_path / "no.yaml", "--strategies", "none"), "no such scenario")


def test_python_api_returns_dataframes(serial_run, tmp_path):
    spec, _, outcome = serial_run
    one = api.run_scenario(SMALL, "none", accounts=500, days=30, seed=4)
    assert len(one) == 1 and one["strategy"].iloc[0] == "none"
    assert one.attrs == {"scenario": "small", "strategy": "none", "seed": 4}
    daily = api.run_scenario(SMALL, "none", accounts=500, days=30, seed=4, daily=True)
    assert len(daily) == 30 and daily["collected"].sum() == pytest.approx(one["collected"].iloc[0])
    cells = api.load_cells(outcome.folder)
    pd.testing.assert_frame_equal(cells, outcome.cells)
    comp = api.load_comparison(outcome.folder)
    assert set(comp["strategy"]) == {"standard", "none"}  # the default strategy is named "standard"
    again = api.run_experiment(spec, out=outcome.folder.parent, resume=True)
    assert again.attrs["folder"] == str(outcome.folder)
    pd.testing.assert_frame_equal(no_timing(again), no_timing(outcome.cells))


def test_compare_segments_writes_views_per_cell(tmp_path):
    """``--segments``: segment, risk and alert tables per cell, concatenated with the cell's
    identity; the segments add up to each cell's KPIs; alerts counted per strategy."""
    out = tmp_path / "results"
    result = invoke(
        "compare", SMALL, "--strategies", "default,none", "--replications", "2",
        "--accounts", "600", "--days", "90", "--seed", "5", "--out", out, "--segments", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = Path(json.loads(result.stdout)["folder"])
    cells = pd.read_parquet(folder / "cells.parquet").set_index("cell")
    seg = pd.read_parquet(folder / "segments.parquet")
    for name in ("risk", "risk_matrix", "alerts"):
        assert (folder / f"{name}.parquet").exists()
    assert set(seg["cell"]) == set(cells.index)
    assert {"strategy", "replication", "seed"} <= set(seg.columns)
    for kind in ("credit", "purpose", "value_tier"):
        by_cell = seg[seg["segment_kind"] == kind].groupby("cell")[["charge_offs", "churned"]].sum()
        assert np.array_equal(by_cell["charge_offs"], cells.loc[by_cell.index, "charge_offs"])
        assert np.array_equal(by_cell["churned"], cells.loc[by_cell.index, "churned"])
    assert (seg.groupby("cell")["strategy"].first() == cells["strategy"]).all()
    alerts = pd.read_parquet(folder / "alerts.parquet")
    per = json.loads((folder / "comparison.json").read_text())["monitoring"]["per_strategy"]
    assert set(per) == {"standard", "none"}
    for strategy, block in per.items():
        mine = alerts[alerts["strategy"] == strategy]
        assert block["cells"] == 2 and block["alerts"] == len(mine)
        assert block["kpis_fired"] == mine.groupby("kpi")["cell"].nunique().to_dict()
    assert per["none"]["alerts"] > 0  # nobody collecting: losses cross the shipped thresholds
    # off by default: no views, no monitoring block
    plain = invoke(
        "compare", SMALL, "--strategies", "none", "--replications", "1", "--accounts", "300",
        "--days", "20", "--out", tmp_path / "plain", "--json",
    )  # fmt: skip
    assert plain.exit_code == 0, plain.output
    plain_folder = Path(json.loads(plain.stdout)["folder"])
    assert not (plain_folder / "segments.parquet").exists()
    assert "monitoring" not in json.loads((plain_folder / "comparison.json").read_text())


def test_segments_refused_for_sharded_books(tmp_path):
    spec = write_spec(tmp_path, shards=2)
    out = tmp_path / "out"
    user_error(invoke("experiment", spec, "--out", out, "--segments"), "--segments", "shards")
    assert not out.exists() or not any(out.iterdir())


def test_resume_with_segments_recomputes_cells_without_views(tmp_path):
    args = [
        "compare", SMALL, "--strategies", "none", "--replications", "2", "--accounts", "300",
        "--days", "20", "--seed", "3", "--out", tmp_path, "--json",
    ]  # fmt: skip
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    again = invoke(*args, "--resume", "--segments")
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert (data["cells_computed"], data["cells_reused"]) == (2, 0)  # no views: run again
    assert pd.read_parquet(Path(data["folder"]) / "segments.parquet")["cell"].nunique() == 2
    third = json.loads(invoke(*args, "--resume", "--segments").stdout)
    assert (third["cells_computed"], third["cells_reused"]) == (0, 2)
