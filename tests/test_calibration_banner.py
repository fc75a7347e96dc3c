"""Reports and the command line say what a scenario rests on: "illustrative, not calibrated"
for a book fitted to nothing, the panel for a fitted one."""

from __future__ import annotations

from typer.testing import CliRunner

from postloan.cli import app
from postloan.reports.banner import ILLUSTRATIVE, calibration_banner, calibration_note

runner = CliRunner()
TINY = ["--accounts", "300", "--days", "30"]
QUIET = ["--monitoring", "none"]


def test_notes_per_status():
    assert ILLUSTRATIVE in calibration_note("small", {"status": "illustrative"})
    assert ILLUSTRATIVE in calibration_note("old", None)  # a folder written before the block
    fitted = calibration_note("p", {"status": "fitted", "dynamics": "panel.csv"})
    assert "panel.csv" in fitted and "not fitted to trials" in fitted and ILLUSTRATIVE not in fitted
    both = {"status": "anchored", "dynamics": "panel.csv", "response": "trials/"}
    assert calibration_note("d", both) is None and calibration_banner("d", both) == ""
    assert "not fitted to a panel" in calibration_note(
        "t", {"status": "anchored", "response": "t/"}
    )
    assert "&lt;b&gt;" in calibration_banner("<b>", None)  # escaped


def _one_folder(root):
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    return folder


def test_run_report_and_cli_carry_the_note(tmp_path):
    res = runner.invoke(app, ["run", "small", *TINY, *QUIET, "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert ILLUSTRATIVE in res.stderr
    html = (_one_folder(tmp_path / "a") / "report.html").read_text()
    assert f"Scenario small: {ILLUSTRATIVE}" in html

    res = runner.invoke(app, ["run", *TINY, *QUIET, "--out", str(tmp_path / "b")])  # the default
    assert res.exit_code == 0, res.output
    assert ILLUSTRATIVE not in res.stderr and "not fitted to trials" in res.stderr
    html = (_one_folder(tmp_path / "b") / "report.html").read_text()
    assert ILLUSTRATIVE not in html and "dynamics fitted to credit_record.csv" in html


def test_comparison_report_carries_the_note(tmp_path):
    args = ["compare", "small", "--strategies", "standard,none", "--replications", "1"]
    res = runner.invoke(app, [*args, *TINY, "--report", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert ILLUSTRATIVE in res.stderr
    html = (_one_folder(tmp_path) / "report.html").read_text()
    assert f"{ILLUSTRATIVE}" in html and "class='calibration'" in html
    assert "Intervals cover simulation noise only" in html  # no response draws here
