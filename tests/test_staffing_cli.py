"""``postloan staffing``, mounted on a small parent app as the main CLI will mount it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from postloan.commands.staffing import staffing_app
from sim.operations.erlang import agents_for_service_level, queue_metrics

FIGURES = ("p_wait", "mean_wait_s", "service_level", "abandon_rate", "occupancy")
QUICK = ["--hours", "1", "--replications", "3", "--seed", "5"]

parent = typer.Typer()


@parent.callback()
def _root() -> None:
    """Parent app standing in for ``postloan``."""


parent.add_typer(staffing_app, name="staffing")
runner = CliRunner()


def invoke(*args: str) -> typer.testing.Result:
    return runner.invoke(parent, ["staffing", *args])


def test_json_compares_des_with_erlang_c() -> None:
    result = invoke("--calls-per-hour", "1000", "--aht", "120", "--agents", "40", *QUICK, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == set(FIGURES)
    exact = queue_metrics(1000, 120, 40, 20)
    for name in FIGURES:
        assert set(data[name]) == {"des", "des_se", "analytic"}
        assert data[name]["analytic"] == pytest.approx(getattr(exact, name))
    assert data["p_wait"]["analytic"] == pytest.approx(0.1907, abs=1e-4)
    assert 0 < data["service_level"]["des"] <= 1 and data["service_level"]["des_se"] > 0


def test_table_with_patience_uses_erlang_a() -> None:
    args = ["--calls-per-hour", "200", "--aht", "180", "--agents", "9", "--patience", "120"]
    result = invoke(*args, *QUICK)
    assert result.exit_code == 0, result.output
    assert "Erlang-A" in result.output and "service level" in result.output


def test_plan_finds_fewest_agents_and_checks_the_des() -> None:
    args = ["plan", "--calls-per-hour", "300", "--aht", "120", "--target-sl", "0.8"]
    result = invoke(*args, *QUICK, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["agents"] == agents_for_service_level(300, 120, 0.8, 20)
    assert report["chosen"]["agents"] == report["agents"]
    assert report["one_fewer"]["agents"] == report["agents"] - 1
    assert isinstance(report["des_agrees"], bool)


def test_plan_prints_a_verdict() -> None:
    result = invoke("plan", "--calls-per-hour", "100", "--aht", "120", "--patience", "60", *QUICK)
    assert result.exit_code == 0, result.output
    assert "Analytic answer" in result.output and "DES" in result.output


LINE = ["--calls-per-hour", "100", "--aht", "120", "--agents", "5"]
PLAN = ["plan", "--calls-per-hour", "100", "--aht", "120"]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--calls-per-hour", "-5", "--aht", "120", "--agents", "4"], "--calls-per-hour"),
        (["--calls-per-hour", "nan", "--aht", "120", "--agents", "4"], "--calls-per-hour"),
        (["--aht", "120", "--agents", "4"], "--calls-per-hour"),
        (["--calls-per-hour", "100", "--aht", "0", "--agents", "4"], "--aht"),
        (["--calls-per-hour", "100", "--aht", "120", "--agents", "0"], "--agents"),
        (["--calls-per-hour", "100", "--aht", "120"], "--agents"),
        (["--calls-per-hour", "1000", "--aht", "120", "--agents", "30"], "--agents"),  # unstable
        ([*LINE, "--patience", "-1"], "--patience"),
        ([*LINE, "--replications", "1"], "--replications"),
        ([*LINE, "--hours", "0"], "--hours"),
        ([*LINE, "--seed", "-3"], "--seed"),
        ([*LINE, "--target-seconds", "-1"], "--target-seconds"),
        ([*PLAN, "--target-sl", "1.2"], "--target-sl"),
        (["plan", "--calls-per-hour", "100"], "--aht"),
        ([*PLAN, "--target-seconds", "-1"], "--target-seconds"),
    ],
)
def test_bad_input_names_the_option_and_exits_2(args: list[str], option: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("args", [["--help"], ["plan", "--help"], []])
def test_help_everywhere(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_sweep_cli_intervals_service_level_and_edge_warning(tmp_path) -> None:
    small = str(Path(__file__).resolve().parents[1] / "scenarios" / "small.yaml")
    size = ["--accounts", "1500", "--days", "30", "--replications", "2"]
    out = tmp_path / "sweep"
    result = invoke("sweep", small, "--agents", "1,2", *size, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [r["agents"] for r in doc["levels"]] == [1, 2]
    row = doc["levels"][0]
    assert row["collected_low"] <= row["collected"] <= row["collected_high"]
    assert 0 <= row["inbound_service_level"] <= 1 and 0 < row["utilisation"] <= 1
    assert doc["best_agents"] in (1, 2) and "the optimum may lie outside" in doc["warning"]
    assert [m["team"] for m in doc["marginal"]] == ["early_stage", "late_stage", "field", "legal"]
    html = (out / "sweep.html").read_text()
    assert "service level" in html and "utilisation" in html and "warning" in html
    assert {p.name for p in out.iterdir()} >= {"sweep.csv", "sweep_marginal.csv", "sweep_runs.csv"}
    bad = invoke("sweep", small, "--agents", "1,2", "--replications", "1", "--json")
    assert bad.exit_code == 2 and "--replications" in bad.output
