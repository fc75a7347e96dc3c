"""The trial library (top-level ``trials/``): every file valid; the whole library runs.

The full run is behind the ``trials`` marker (``pytest -m trials``). It asserts that every study
runs and reports, never that it lands inside its published interval: today most do not, which is
what the response-model work has to change.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postloan.cli import app
from postloan.trials.arms import build_arms
from postloan.trials.runner import trial_scenario
from postloan.trials.spec import load_trial, trial_files

LIBRARY = Path(__file__).resolve().parents[1] / "trials"
FILES = trial_files([LIBRARY])


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_library_file_is_valid_and_runnable(path):
    spec = load_trial(path)
    assert spec.name == path.stem
    assert "low/high" in path.read_text() or "derivation" in path.read_text()
    trial_scenario(spec, path)
    build_arms(spec, path)


def test_library_size_and_published_effects():
    specs = [load_trial(p) for p in FILES]
    assert len(specs) >= 6
    nonzero = [s.name for s in specs if s.published.effect not in (None, 0.0)]
    assert len(nonzero) >= 4, nonzero
    assert len({s.source.split("(")[0] for s in specs}) >= 6  # distinct studies


@pytest.mark.trials
def test_whole_library_runs_and_reports(tmp_path):
    res = CliRunner().invoke(app, ["trial", str(LIBRARY), "-r", "1", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "trials.json").read_text())
    assert [t["name"] for t in doc["trials"]] == [p.stem for p in FILES]
    for t in doc["trials"]:
        assert sum(t["enrolled"].values()) > 100, t["name"]
        assert math.isfinite(t["simulated"]["effect"]), t["name"]
        assert isinstance(t["within"], bool) and isinstance(t["counts"], bool)
