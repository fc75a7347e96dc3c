"""Shipped scenarios, strategies and trials are found from any working directory, and the
default scenario is the status panel's fitted book."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from postloan.cli import app
from postloan.trials.shipped import find_trial_path, trials_folder
from postloan.trials.spec import trial_files
from sim.scenario import Calibration, ScenarioError, load_scenario
from sim.shipped import DEFAULT_SCENARIO, find_scenario, scenarios_folder
from strategies.registry import resolve
from tests.cli_checks import user_error

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_names_and_repository_paths_resolve_from_another_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_scenario("default") == ROOT / "scenarios" / "default.yaml"
    assert find_scenario("scenarios/baseline.yaml") == ROOT / "scenarios" / "baseline.yaml"
    assert find_scenario("scenarios/experiments/example.yaml").is_file()
    assert load_scenario("scenarios/small.yaml").name == "small"
    assert load_scenario("small", accounts=100).accounts == 100
    assert find_trial_path("trials") == trials_folder()
    assert len(trial_files(["trials/"])) == len(list((ROOT / "trials").glob("*.yaml")))
    assert resolve("strategies/library/light_touch.yaml").name == "light_touch"


def test_a_file_in_the_working_directory_wins_over_a_shipped_one(tmp_path, monkeypatch):
    """Existing relative paths keep working: a local scenarios/small.yaml is the one read."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios").mkdir()
    text = (ROOT / "scenarios" / "small.yaml").read_text().replace("name: small", "name: mine")
    (tmp_path / "scenarios" / "small.yaml").write_text(text)
    assert find_scenario("scenarios/small.yaml") == Path("scenarios/small.yaml")
    assert load_scenario("scenarios/small.yaml").name == "mine"


def test_an_unknown_scenario_names_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ScenarioError) as err:
        load_scenario("nosuch")
    assert "no such scenario file" in str(err.value) and "default, " in str(err.value)
    result = runner.invoke(app, ["run", "nosuch", "--accounts", "100"])
    user_error(result, "nosuch", "baseline")


def test_cli_runs_the_default_scenario_from_a_temporary_folder(tmp_path, monkeypatch):
    """``postloan run`` with no scenario (the installed script, in a fresh process) and
    ``postloan run scenarios/default.yaml`` (in this one), from a folder without scenarios/:
    both run the shipped default, with the same numbers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    tail = ["--accounts", "400", "--days", "40", "--json", "--monitoring", "none", "--out", "runs"]
    proc = subprocess.run(
        [sys.executable, "-m", "postloan.cli", "run", *tail],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["run", "scenarios/default.yaml", *tail])
    assert res.exit_code == 0, res.output
    outs = [json.loads(proc.stdout), json.loads(res.stdout)]
    assert outs[0]["accounts"] == 400
    assert outs[0]["net_recovery"] == outs[1]["net_recovery"]
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all(f.name.split("-", 1)[1].startswith("default") for f in folders)


def test_default_is_the_status_panel_fit_on_a_demo_book():
    """Same fitted dynamics as status_panel.yaml (every field but name, description, size,
    horizon and calibration note; staff scaled with the accounts as an override would), and
    its fit.json has the status panel's fit and says where it came from."""
    default = load_scenario(DEFAULT_SCENARIO)
    panel = load_scenario("status_panel", accounts=default.accounts, days=default.days)
    skip = {"name", "description", "calibration"}
    assert default.model_dump(exclude=skip) == panel.model_dump(exclude=skip)
    assert (default.accounts, default.days, default.charge_off_dpd) == (30_000, 180, 121)
    assert default.calibration.status == "fitted" and default.calibration.response is None
    assert "credit_record.csv" in default.calibration.dynamics
    fit = json.loads((scenarios_folder() / default.calibration.fit).read_text())
    panel_fit = json.loads((scenarios_folder() / "status_panel.fit.json").read_text())
    assert fit["parameters"] == panel_fit["parameters"]
    assert fit["panel_sha256"] == panel_fit["panel_sha256"]
    assert fit["derived_from"]["scenario"] == "scenarios/status_panel.yaml"
    for path, value in fit["parameters"].items():
        section, *rest = path.split(".")
        node = getattr(default, section)
        for part in rest:
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        assert node == value, path


def test_every_shipped_scenario_says_what_it_rests_on():
    """A machine-readable ``calibration`` in every file: illustrative ones say so, fitted ones
    name their panel and a fit file that exists."""
    for path in sorted(scenarios_folder().glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        assert "calibration" in raw, path.name
        cal = load_scenario(path).calibration
        if cal.status == "illustrative":
            assert cal.dynamics is None and cal.response is None
        else:
            assert cal.dynamics and (scenarios_folder() / cal.fit).is_file(), path.name
    statuses = {
        p.stem: load_scenario(p).calibration.status for p in scenarios_folder().glob("*.yaml")
    }
    assert statuses["baseline"] == statuses["small"] == "illustrative"
    assert statuses["status_panel"] == statuses["taiwan_cards"] == "fitted"


@pytest.mark.parametrize(
    ("block", "needle"),
    [
        ({"status": "illustrative", "dynamics": "x.csv"}, "nothing is fitted"),
        ({"status": "fitted"}, "needs dynamics"),
        ({"status": "anchored", "dynamics": "x.csv"}, "needs response"),
        ({"status": "calibrated"}, "calibration.status"),
    ],
)
def test_an_inconsistent_calibration_block_is_refused(tmp_path, block, needle):
    text = (ROOT / "scenarios" / "small.yaml").read_text()
    text = text.replace("calibration: {status: illustrative}", "calibration: " + json.dumps(block))
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert str(path) in str(err.value) and needle in str(err.value)
    assert Calibration().status == "illustrative"


def test_every_shipped_file_is_package_data():
    """An installed ``postloan`` carries every file of scenarios/, trials/ and the strategy
    library: each folder is mapped to a package in setup.py and each file matches that
    package's package-data globs in pyproject.toml (a wheel built from them was checked to hold
    them and to run ``postloan run default`` from another folder)."""
    import ast
    import fnmatch
    import tomllib

    tree = ast.parse((ROOT / "setup.py").read_text())
    (shipped,) = [
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "SHIPPED"
    ]
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]
    package_of = {folder: package for package, folder in shipped.items()}
    package_of["strategies/library"] = "strategies"
    for folder in ("scenarios", "trials", "strategies/library"):
        for f in (ROOT / folder).rglob("*"):
            if not f.is_file() or "__pycache__" in f.parts:
                continue
            where = f.parent.relative_to(ROOT).as_posix()
            assert where in package_of, f"{where}: not mapped to a package in setup.py"
            package = package_of[where]
            name = f.name if package != "strategies" else f"library/{f.name}"
            assert any(fnmatch.fnmatch(name, g) for g in globs[package]), f
    assert "response_ranges.yaml" in globs["sim"]
