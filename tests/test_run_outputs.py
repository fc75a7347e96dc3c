"""``postloan run`` with the management views: segment, risk and alert tables in the run folder,
the monitoring block of ``summary.json``, ``--monitoring``, and the query views over them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from postloan.cli import app
from postloan.storage.query import query
from sim.management import TABLES
from tests.cli_checks import user_error

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"
RUN = [str(SMALL), "--accounts", "1000", "--days", "90", "--seed", "7"]
BASE_FILES = {
    "report.html",
    "manifest.json",
    "scenario.yaml",
    "summary.json",
    "daily.parquet",
    "monthly.parquet",
}

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "80"})


def only_folder(out: Path) -> Path:
    children = list(out.iterdir())
    assert len(children) == 1, children
    return children[0]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """One run watched by the shipped default monitoring set."""
    out = tmp_path_factory.mktemp("mgmt") / "out"
    result = invoke("run", *RUN, "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    folder = only_folder(out)
    return folder, json.loads((folder / "summary.json").read_text())


def test_run_folder_has_every_management_table(default_run):
    folder, summary = default_run
    assert {p.name for p in folder.iterdir()} == BASE_FILES | {f"{t}.parquet" for t in TABLES}
    block = summary["monitoring"]
    assert block["monitoring"] == "default"
    assert set(block) >= {"alerts", "kpis_fired", "rules_fired", "concentration_breaches", "risk"}
    risk = pd.read_parquet(folder / "risk.parquet")
    book = risk[risk["segment_kind"] == "book"].iloc[0]
    assert block["risk"]["pd_horizon"] == pytest.approx(book["pd_horizon"], rel=1e-12)
    assert {"credit", "purpose", "capacity", "value_tier"} <= set(risk["segment_kind"])
    matrix = pd.read_parquet(folder / "risk_matrix.parquet")
    credit = matrix[matrix["segment_kind"] == "credit"]
    assert credit["accounts"].sum() == 1000  # every account in one grade of its segment


def test_book_figures_are_the_sums_of_the_segments(default_run):
    folder, summary = default_run
    seg = pd.read_parquet(folder / "segments.parquet")
    kinds = sorted(set(seg["segment_kind"]))
    assert len(kinds) >= 4
    for kind in kinds:
        s = seg[seg["segment_kind"] == kind]
        assert s["charge_offs"].sum() == summary["charge_offs"], kind
        assert s["charge_off_amount"].sum() == pytest.approx(summary["charge_off_amount"], 1e-9)
        assert s["complaints"].sum() == summary["complaints"]
        assert s["churned"].sum() == summary["churned"]
        # a rate: the segments' rates weighted by their outstanding
        w = s["outstanding"].to_numpy()
        rate = np.sum(s["delinquency_rate_30p"].to_numpy() * w) / w.sum()
        assert rate == pytest.approx(summary["delinquency_rate_30p"], rel=1e-9, abs=1e-12)


def _crossing(v: np.ndarray) -> tuple[float, int]:
    """A threshold that ``v`` first exceeds on a known day > 0: the running maximum of the
    first ``k`` days, for the smallest ``k`` the rest of the series beats."""
    for k in range(5, len(v) - 1):
        t = float(np.nanmax(v[:k]))
        later = np.flatnonzero(v[k:] > t)
        if later.size:
            return t, k + int(later[0])
    raise AssertionError("the series never rises above its earlier maximum")


def test_an_alert_fires_on_the_day_its_threshold_is_crossed(default_run, tmp_path):
    folder, _ = default_run
    kpis = pd.read_parquet(folder / "monitoring_kpis.parquet")
    v = kpis["delinquency_rate_30p"].to_numpy()
    threshold, day = _crossing(v)
    assert 0 < day < 90 and np.all(v[:day] <= threshold) and v[day] > threshold
    watch = tmp_path / "watch.yaml"
    watch.write_text(
        yaml.safe_dump(
            {
                "name": "watch",
                "warm_up_days": 0,
                "rules": [
                    {
                        "id": "dq30",
                        "kpi": "delinquency_rate_30p",
                        "threshold": threshold,
                        "direction": "above",
                        "severity": "critical",
                    }
                ],
            }
        )
    )
    out = tmp_path / "out"
    result = invoke("run", *RUN, "--out", str(out), "--monitoring", str(watch))
    assert result.exit_code == 0, result.output
    run = only_folder(out)
    block = json.loads((run / "summary.json").read_text())["monitoring"]
    assert block["monitoring"] == "watch"
    first = block["alerts"][0]
    assert (first["rule"], first["day"], first["severity"]) == ("dq30", day, "critical")
    assert first["value"] == pytest.approx(v[day], rel=1e-12)
    assert pd.read_parquet(run / "alerts.parquet")["day"].iloc[0] == day
    html = (run / "report.html").read_text()
    assert "Monitoring (watch) and risk by segment" in html and "<td class='l'>dq30</td>" in html
    # printed under the KPI table, one line per alert, within 80 columns
    lines = result.stdout.splitlines()
    below = lines[next(i for i, x in enumerate(lines) if "Monitoring alerts" in x) :]
    line = next(x for x in below if "delinquency_rate_30p" in x)
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells[0] == str(day) and cells[1] == "delinquency_rate_30p"
    assert cells[4] == "critical"
    assert max(len(x) for x in result.stdout.splitlines()) <= 80
    # the query views read the new tables
    alerts = query("SELECT run_id, rule, day FROM alerts", out)
    assert alerts["day"].tolist()[0] == day and alerts["run_id"][0] == run.name
    seg = query("SELECT sum(charge_offs) n FROM segments WHERE segment_kind = 'credit'", out)
    runs = query("SELECT charge_offs, monitoring_alerts FROM runs", out)
    assert seg["n"][0] == runs["charge_offs"][0]
    assert runs["monitoring_alerts"][0] == len(block["alerts"])


def test_broken_monitoring_file_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nrules:\n  - id: a\n    kpi: delinquency_rate_30p\n    threshold: high\n"
    )
    out = tmp_path / "out"
    result = invoke("run", *RUN, "--out", str(out), "--monitoring", str(bad))
    user_error(result, str(bad), "rule 1, field 'threshold'")
    assert not out.exists() or not any(out.iterdir())


def test_monitoring_none_writes_the_plain_folder(tmp_path):
    result = invoke(
        "run", str(SMALL), "--accounts", "300", "--days", "20", "--out", str(tmp_path),
        "--monitoring", "none", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = only_folder(tmp_path)
    assert {p.name for p in folder.iterdir()} == BASE_FILES
    assert "monitoring" not in json.loads(result.stdout)
    # no run has segment tables: the views exist and are empty
    assert query("SELECT * FROM segments", tmp_path).empty
    assert query("SELECT * FROM alerts", tmp_path).empty


def test_abm_engine_is_watched_too(tmp_path):
    result = invoke(
        "run", str(SMALL), "--accounts", "200", "--days", "30", "--engine", "abm",
        "--out", str(tmp_path), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    seg = pd.read_parquet(only_folder(tmp_path) / "segments.parquet")
    credit = seg[seg["segment_kind"] == "credit"]
    assert credit["accounts"].sum() == 200
    assert credit["collected_delinquent"].sum() == pytest.approx(
        summary["collected_delinquent"], rel=1e-9, abs=1e-6
    )
    assert summary["monitoring"]["risk"]["exposure_start"] > 0
