"""The management views of a run (sim/management.py): every table saves to Parquet and reads
back, the summary is JSON, and the observers work the same under the Mesa model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.abm import run_abm
from sim.engine import simulate
from sim.management import TABLES, ManagementViews
from sim.scenario import load_scenario
from sim.segments import book_column
from strategies.registry import resolve

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"


def test_tables_save_as_parquet_and_summary_is_json(tmp_path):
    sc = load_scenario(SMALL).model_copy(update={"accounts": 2000, "days": 60})
    views = ManagementViews()
    result = simulate(sc, resolve("standard"), 2, observers=views.observers)
    tables = views.tables(result)
    assert list(tables) == list(TABLES)
    for name, table in tables.items():
        path = tmp_path / f"{name}.parquet"
        table.to_parquet(path)
        back = pd.read_parquet(path)
        assert back.shape == table.shape, name
    summary = views.summary(result)
    text = json.dumps(summary)
    assert json.loads(text)["risk"]["default_definition"] == "91+ DPD or charged off"
    assert summary["monitoring"] == "default" and isinstance(summary["alerts"], list)
    rec = tables["recoveries"]
    assert len(rec) == result.summary["charge_offs"]
    assert rec["recovered_beyond_horizon"].sum() == pytest.approx(
        result.summary["recovery_beyond_horizon"], rel=1e-9
    )


def test_segments_add_up_under_the_mesa_model():
    sc = load_scenario(SMALL).model_copy(update={"accounts": 300, "days": 40})
    views = ManagementViews()
    result = run_abm(sc, resolve("standard"), 3, observers=views.observers)
    seg = views.segments.daily()
    part = seg[seg["segment_kind"] == "credit"].groupby("day")
    for figure in ("collected_delinquent", "new_delinquent", "cures", "outstanding"):
        np.testing.assert_allclose(
            part[figure].sum().to_numpy(), book_column(result.daily, figure), rtol=1e-6, atol=1e-6
        )
    risk = views.tables(result)["risk"]
    assert (risk.groupby("segment_kind")["accounts"].sum() == 300).all()
