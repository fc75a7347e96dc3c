"""The ``postloan`` command line: run, schedule, strategies; clean errors with exit code 2."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy_financial as npf
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from postloan.cli import app
from sim.kpis import TIMING_FIELDS
from sim.management import TABLES
from sim.scenario import load_scenario
from tests.cli_checks import user_error

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"
SMALL_RUN = [str(SMALL), "--accounts", "1500", "--days", "60"]

SUMMARY_KEYS = {
    "accounts",
    "days",
    "seed",
    "collected",
    "cost",
    "net_recovery",
    "cure_rate",
    "delinquency_rate_30p",
    "npl_ratio_90p",
    "charge_off_amount",
    "churned",
    "complaints",
    "compliance_breaches",
    "contacts",
    "roll_rates",
}
RUN_FILES = {
    "report.html",
    "manifest.json",
    "scenario.yaml",
    "summary.json",
    "daily.parquet",
    "monthly.parquet",
} | {f"{name}.parquet" for name in TABLES}  # the management views, on by default

runner = CliRunner()


def invoke(*args: str, **kw):
    return runner.invoke(app, list(args), env={"COLUMNS": "400"}, **kw)


def _run_folder(out: Path) -> Path:
    children = list(out.iterdir())
    assert len(children) == 1, children  # exactly one run folder, no leftover temp folder
    return children[0]


# ----------------------------------------------------------------------------- run
@pytest.fixture(scope="module")
def json_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "out"
    result = invoke("run", *SMALL_RUN, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    return result, out


def test_run_json_prints_only_the_summary(json_run):
    result, _ = json_run
    summary = json.loads(result.stdout)  # valid JSON and nothing else on stdout
    assert SUMMARY_KEYS <= set(summary)
    assert not set(TIMING_FIELDS) & set(summary)  # timings live in the manifest
    assert summary["accounts"] == 1500 and summary["days"] == 60
    assert summary["seed"] == load_scenario(SMALL).seed
    assert summary["compliance_breaches"] == 0
    assert summary["collected"] > 0
    assert summary["net_recovery"] == pytest.approx(summary["collected"] - summary["cost"])


def test_run_writes_a_complete_results_folder(json_run):
    result, out = json_run
    folder = _run_folder(out)
    assert not folder.name.startswith(".")
    assert {p.name for p in folder.iterdir()} == RUN_FILES
    manifest = json.loads((folder / "manifest.json").read_text())
    for key in ("scenario_hash", "seed", "packages", "code_commit", "wall_seconds", "timing"):
        assert key in manifest
    assert manifest["seed"] == json.loads(result.stdout)["seed"]
    assert manifest["wall_seconds"] > 0
    assert manifest["timing"]["wall_seconds"] == manifest["wall_seconds"]
    assert manifest["timing"]["account_days_per_second"] > 0
    assert manifest["kind"] == "run" and manifest["schema_version"] >= 2
    assert manifest["model_version"].count("+") == 1
    assert "numpy" in manifest["packages"]
    # the scenario as run (overrides applied) reloads to the hash in the manifest
    as_run = load_scenario(folder / "scenario.yaml")
    assert as_run.accounts == 1500 and as_run.days == 60
    assert as_run.content_hash() == manifest["scenario_hash"]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary == json.loads(result.stdout)
    daily = pd.read_parquet(folder / "daily.parquet")
    monthly = pd.read_parquet(folder / "monthly.parquet")
    assert len(daily) == 60 and len(monthly) == 2
    assert daily["collected"].sum() == pytest.approx(summary["collected"], rel=1e-9)


def test_same_seed_same_summary_file(json_run, tmp_path):
    """Identical runs give byte-identical summary files: a hash checks reproducibility."""
    _, out = json_run
    first = (_run_folder(out) / "summary.json").read_bytes()
    again = invoke("run", *SMALL_RUN, "--out", str(tmp_path), "--json")
    assert again.exit_code == 0, again.output
    second = (_run_folder(tmp_path) / "summary.json").read_bytes()
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    assert not set(TIMING_FIELDS) & set(json.loads(first))
    assert json.loads(first)["monitoring"]["risk"]["exposure_start"] > 0  # views included


def test_run_table_output_names_the_folder(tmp_path):
    result = invoke(
        "run", *SMALL_RUN[:1], "--accounts", "800", "--days", "30", "--seed", "3",
        "--strategy", "none", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = _run_folder(tmp_path)
    assert f"Results: {folder}" in result.stdout
    assert "net_recovery" in result.stdout and "seed 3" in result.stdout
    assert json.loads((folder / "summary.json").read_text())["seed"] == 3


# ----------------------------------------------------------------------------- run: errors
@pytest.fixture(scope="module")
def small_data() -> dict:
    return yaml.safe_load(SMALL.read_text(encoding="utf-8"))


def _broken(tmp_path: Path, data) -> Path:
    path = tmp_path / "broken.yaml"
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _run_fails(tmp_path: Path, scenario: Path | str, *extra: str, needles=()):
    out = tmp_path / "out"
    result = invoke("run", str(scenario), "--accounts", "500", "--days", "10",
                    "--out", str(out), *extra)  # fmt: skip
    user_error(result, *needles)
    assert not out.exists() or not any(out.iterdir()), "a failed run left a folder behind"
    return result


def test_run_unknown_key(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["behaviour"] = {"promise_kep": 0.5}
    path = _broken(tmp_path, data)
    _run_fails(tmp_path, path, needles=(str(path), "behaviour.promise_kep", "unknown key"))


def test_run_shares_not_summing_to_one(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["segments"][0]["share"] = 0.9
    path = _broken(tmp_path, data)
    _run_fails(tmp_path, path, needles=(str(path), "'segments'", "sum to 1"))


def test_run_invalid_yaml(tmp_path):
    path = _broken(tmp_path, "name: [oops\n")
    _run_fails(tmp_path, path, needles=(str(path), "not valid YAML"))


def test_run_missing_scenario(tmp_path):
    path = tmp_path / "nope.yaml"
    _run_fails(tmp_path, path, needles=(str(path), "no such scenario file"))


def test_run_unknown_strategy(tmp_path):
    _run_fails(tmp_path, SMALL, "--strategy", "nosuch", needles=("unknown strategy 'nosuch'",))


def test_run_broken_strategy_file(tmp_path):
    bad = tmp_path / "ladder.yaml"
    bad.write_text("name: x\nrules:\n  - {channel: fax, dpd_min: 1, dpd_max: 30}\n")
    _run_fails(tmp_path, SMALL, "--strategy", str(bad), needles=("rule 1", "'channel'"))


def test_run_negative_seed(tmp_path):
    _run_fails(tmp_path, SMALL, "--seed", "-1", needles=("--seed",))


def test_run_too_many_accounts(tmp_path):
    out = tmp_path / "out"
    result = invoke("run", str(SMALL), "--accounts", str(10**12), "--out", str(out))
    user_error(result, "'accounts'", "this machine holds at most")
    assert not out.exists()


# ----------------------------------------------------------------------------- schedule
def test_schedule_csv_matches_numpy_financial():
    result = invoke(
        "schedule", "--principal", "10000", "--annual-rate", "0.12", "--term", "12",
        "--method", "annuity", "--format", "csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    df = pd.read_csv(io.StringIO(result.stdout))
    assert list(df.columns) == ["period", "payment", "interest", "principal", "balance"]
    per = np.arange(1, 13)
    r = 0.12 / 12
    half_cent = 0.005 + 1e-9  # the CSV is written to the cent
    np.testing.assert_allclose(df["payment"], -npf.pmt(r, 12, 10000), atol=half_cent, rtol=0)
    np.testing.assert_allclose(df["interest"], -npf.ipmt(r, per, 12, 10000), atol=half_cent, rtol=0)
    np.testing.assert_allclose(
        df["principal"], -npf.ppmt(r, per, 12, 10000), atol=half_cent, rtol=0
    )
    assert df["payment"].iloc[0] == 888.49
    assert df["balance"].iloc[-1] == 0.0


def test_schedule_json():
    result = invoke(
        "schedule", "--principal", "12000", "--annual-rate", "0.06", "--term", "6",
        "--method", "equal_principal", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["period"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(r["principal"] == 2000.0 for r in rows)
    assert rows[0]["interest"] == 60.0 and rows[-1]["interest"] == 10.0
    assert rows[-1]["balance"] == 0.0


def test_schedule_table():
    result = invoke("schedule", "--principal", "5000", "--annual-rate", "0.1", "--term", "3",
                    "--method", "interest_only")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "interest_only" in result.stdout and "5,041.67" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--principal", "-1", "--annual-rate", "0.1", "--term", "12"], "--principal"),
        (["--principal", "0", "--annual-rate", "0.1", "--term", "12"], "--principal"),
        (["--principal", "100", "--annual-rate", "0.1", "--term", "0"], "--term"),
        (["--principal", "100", "--annual-rate", "0.1", "--term", "481"], "--term"),
        (["--principal", "100", "--annual-rate", "1.5", "--term", "12"], "--annual-rate"),
        (["--principal", "nan", "--annual-rate", "0.1", "--term", "12"], "--principal"),
    ],
)
def test_schedule_bad_inputs(args, needle):
    user_error(invoke("schedule", *args), needle)


def test_schedule_bad_method_is_a_usage_error():
    result = invoke("schedule", "--principal", "100", "--annual-rate", "0.1", "--term", "3",
                    "--method", "balloon")  # fmt: skip
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "--method" in result.output


# ----------------------------------------------------------------------------- strategies
def test_strategies_list_and_show():
    listed = invoke("strategies", "list")
    assert listed.exit_code == 0 and "default" in listed.stdout and "none" in listed.stdout
    shown = invoke("strategies", "show", "default")
    assert shown.exit_code == 0 and "legal_notice" in shown.stdout
    none = invoke("strategies", "show", "none")
    assert none.exit_code == 0 and "Contact nobody" in none.stdout
    user_error(invoke("strategies", "show", "nosuch"), "unknown strategy")


def test_strategies_validate_good(tmp_path):
    good = tmp_path / "ladder.yaml"
    good.write_text(
        "name: my_ladder\ndescription: SMS first, then calls\nrules:\n"
        "  - {channel: sms, dpd: [1, 30], every_days: 3, priority: 1}\n"
        "  - {channel: call, dpd: [5, 119], every_days: 1, priority: 2}\n",
        encoding="utf-8",
    )
    result = invoke("strategies", "validate", str(good))
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout and "my_ladder" in result.stdout and "2 rules" in result.stdout


def test_strategies_validate_broken(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nrules:\n"
        "  - {channel: sms, dpd: [1, 30]}\n"
        "  - {channel: pigeon, dpd: [5, 119]}\n",
        encoding="utf-8",
    )
    result = invoke("strategies", "validate", str(bad))
    user_error(result, str(bad), "rule 2", "field 'channel'", "pigeon")


def test_strategies_validate_bad_range_and_unknown_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nrules:\n  - {channel: sms, dpd: [30, 1]}\n",
        encoding="utf-8",
    )
    user_error(invoke("strategies", "validate", str(bad)), "rule 1", "field 'dpd'", "reversed")
    bad.write_text("name: bad\nrules:\n  - {channel: sms, dpd: [1, 3], often: 2}\n")
    user_error(invoke("strategies", "validate", str(bad)), "rule 1", "often")


# ----------------------------------------------------------------------------- help
@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["schedule"], ["strategies"], ["strategies", "list"], ["strategies", "show"],
     ["strategies", "validate"]],
)  # fmt: skip
def test_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout
    assert "Traceback" not in result.output


def test_console_script_help():
    exe = Path(sys.executable).parent / "postloan"
    if not exe.exists():
        pytest.skip("the postloan script is not installed next to this interpreter")
    done = subprocess.run(
        [str(exe), "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert "run" in done.stdout and "schedule" in done.stdout and "strategies" in done.stdout
