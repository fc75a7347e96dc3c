"""Answers with their response uncertainty: the range table, Latin-hypercube draws, the trial
filter, the share-of-wins summary, resumable checks, and bad input refused with exit 2."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from postloan.cli import app
from postloan.experiments.response_draws import (
    CHECKS_FILE,
    ResponseDrawsSpec,
    check_draws,
    summarise,
)
from postloan.experiments.spec import ExperimentError, experiment_from_scenario, load_experiment
from sim.response_uncertainty import (
    RESPONSE_PARAMETERS,
    ResponseRangeError,
    latin_hypercube_draws,
    load_response_ranges,
)
from tests.cli_checks import user_error

runner = CliRunner()

#: A trial the scenario's own response passes and a response without contact effects fails:
#: daily calls against no contact on delinquent accounts of the small book, "cured within 30
#: days" up by 10 to 100 points (measured here: +22.3 with contact working, +3.5 without
#: contact effects and promises, 20,000 accounts, the small book's seed).
TRIAL = {
    "schema_version": 1,
    "name": "contact_cures",
    "source": "a test's own claim, not a study",
    "scenario": "small",
    "accounts": 20000,
    "start_day": 5,
    "population": {"status": ["delinquent"], "dpd": [1, 60]},
    "arms": [
        {"name": "nobody", "strategy": "none", "control": True},
        {
            "name": "calls",
            "base": "none",
            "rules": [{"channel": "call", "dpd": [1, 90], "every_days": 1, "priority": 2}],
        },
    ],
    "outcome": {"measure": "cured_within", "days": 30},
    "estimand": "itt",
    "published": {
        "effect": 20.0,
        "scale": "absolute",
        "low": 10.0,
        "high": 100.0,
        "derivation": "made up for the test",
        "control_rate": None,
    },
    "replications": 1,
}

#: Contact does nothing (low = high = 0) or works as the defaults say.
DEAD = {
    "channels.call.effect": 0.0,
    "channels.visit.effect": 0.0,
    "channels.sms.effect": 0.0,
    "channels.ivr.effect": 0.0,
    "channels.letter.effect": 0.0,
    "channels.legal_notice.effect": 0.0,
    "channels.call.promise_rate": 0.0,
    "channels.visit.promise_rate": 0.0,
}


def _table(tmp_path: Path, rows: dict, name: str = "ranges.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"schema_version": 1, "parameters": rows}))
    return path


def _trial(tmp_path: Path) -> Path:
    folder = tmp_path / "trials"
    folder.mkdir(exist_ok=True)
    (folder / "contact_cures.yaml").write_text(yaml.safe_dump(TRIAL, sort_keys=False))
    return folder


# ---------------------------------------------------------------------------- the table
def test_the_shipped_table_loads_and_names_only_response_parameters():
    ranges = load_response_ranges()
    assert len(ranges) >= 10
    assert all(r.parameter in RESPONSE_PARAMETERS and r.low <= r.high for r in ranges)
    assert all(r.source for r in ranges)
    names = {r.parameter for r in ranges}
    assert {"channels.call.effect", "channels.call.promise_rate", "behaviour.promise_keep"} <= names


@pytest.mark.parametrize(
    ("row", "field", "needle"),
    [
        ({"channels.call.effekt": {"low": 0, "high": 1, "source": "s"}}, "", "unknown"),
        ({"channels.call.effect": {"low": 0.2, "high": 0.1, "source": "s"}}, "", "above high"),
        ({"behaviour.promise_keep": {"low": 0.5, "high": 1.5, "source": "s"}}, ".high", "1.5"),
        ({"channels.call.effect": {"low": 0.0, "high": 0.1}}, ".source", "comes from"),
        ({"channels.sms.effect": {"low": 0, "high": 1, "source": "s", "log": True}}, ".low", "log"),
    ],
)  # fmt: skip
def test_a_bad_table_names_the_file_and_the_field(tmp_path, row, field, needle):
    path = _table(tmp_path, row)
    with pytest.raises(ResponseRangeError) as err:
        load_response_ranges(path)
    text = str(err.value)
    parameter = next(iter(row))
    assert str(path) in text and f"parameters.{parameter}{field}" in text and needle in text


# ---------------------------------------------------------------------------- draws
def test_latin_hypercube_draws_are_reproducible_and_stratified():
    ranges = load_response_ranges()
    a = latin_hypercube_draws(ranges, 20, seed=11)
    assert a == latin_hypercube_draws(ranges, 20, seed=11)
    assert a != latin_hypercube_draws(ranges, 20, seed=12)
    for r in ranges:
        values = np.array([d[r.parameter] for d in a])
        assert ((values >= r.low) & (values <= r.high)).all()
        if r.low == r.high:
            continue
        if r.log:
            u = (np.log(values) - math.log(r.low)) / (math.log(r.high) - math.log(r.low))
        else:
            u = (values - r.low) / (r.high - r.low)
        # one draw in each of the 20 equal strata of the range (of its log for log rows)
        assert sorted(np.minimum(np.floor(u * 20), 19).astype(int)) == list(range(20))
    with pytest.raises(ValueError):
        latin_hypercube_draws(ranges, 0, seed=1)


# ---------------------------------------------------------------------------- summary
def test_share_of_wins_and_range_over_kept_draws():
    """Hand-made cells: sample 0 is the scenario's own response (paired interval, noise only);
    draws 1-4 with per-draw mean differences -10, +20, +30, +5, of which 1, 2 and 4 are kept."""
    diffs = {0: [4.0, 6.0, 5.0], 1: [-12.0, -8.0], 2: [18.0, 22.0], 3: [30.0, 30.0], 4: [4.0, 6.0]}
    rows = []
    for sample, ds in diffs.items():
        for r, d in enumerate(ds):
            rows.append({"variant": 0, "sample": sample, "replication": r, "strategy": "a",
                         "net_recovery": 100.0 + r})  # fmt: skip
            rows.append({"variant": 0, "sample": sample, "replication": r, "strategy": "b",
                         "net_recovery": 100.0 + r + d})  # fmt: skip
    checks = [{"draw": i, "kept": i != 3} for i in (1, 2, 3, 4)]
    (row,) = summarise(pd.DataFrame(rows), checks, "a", "net_recovery")
    own = row["own_response"]
    assert own["replications"] == 3 and own["difference"] == pytest.approx(5.0)
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2) * sd 1 / sqrt(3)
    assert own["low"] == pytest.approx(5.0 - half) and own["high"] == pytest.approx(5.0 + half)
    assert row["kept_draws"] == {"draws": 3, "share_better": pytest.approx(2 / 3), "low": -10.0,
                                 "high": 20.0, "covers": row["kept_draws"]["covers"]}  # fmt: skip
    assert row["all_draws"]["share_better"] == 0.75 and row["all_draws"]["high"] == 30.0
    # a KPI where lower is better turns the wins around
    low = pd.DataFrame(rows).rename(columns={"net_recovery": "cost"})
    (row,) = summarise(low, checks, "a", "cost")
    assert row["kept_draws"]["share_better"] == pytest.approx(1 / 3)


# ---------------------------------------------------------------------------- the trial filter
def test_a_draw_that_pushes_a_trial_outside_its_interval_is_rejected(tmp_path):
    """The real trial runner: with contact working (the scenario's own values, a zero-width
    range) the ladder cures more and the draw is kept; with every contact effect and promise
    rate at 0 (a fake range) the effect falls below the trial's interval and the draw is not."""
    trials = _trial(tmp_path)
    small = yaml.safe_load((Path(__file__).parents[1] / "scenarios" / "small.yaml").read_text())
    channels = {"call": 0.06, "visit": 0.11, "sms": 0.01, "ivr": 0.012, "letter": 0.008,
                "legal_notice": 0.05}  # fmt: skip
    assert "channels" not in small  # the defaults of sim/channels.py
    alive = {f"channels.{c}.effect": v for c, v in channels.items()}
    alive |= {"channels.call.promise_rate": 0.45, "channels.visit.promise_rate": 0.55}
    verdicts = {}
    for label, values in (("alive", alive), ("dead", DEAD)):
        table = _table(
            tmp_path, {k: {"low": v, "high": v, "source": "test"} for k, v in values.items()},
            f"{label}.yaml",
        )  # fmt: skip
        spec = {"draws": 1, "ranges": str(table), "trials": str(trials), "trial_scale": 1.0}
        exp = experiment_from_scenario("small", ["standard"], replications=1, accounts=500,
                                       days=20, response_draws=spec)  # fmt: skip
        assert exp.samples[1] == values
        (tmp_path / label).mkdir()
        (rec,) = check_draws(exp, tmp_path / label)
        verdicts[label] = rec
        assert json.loads((tmp_path / label / CHECKS_FILE).read_text())["draws"] == [rec]
    alive_t, dead_t = verdicts["alive"]["trials"][0], verdicts["dead"]["trials"][0]
    assert verdicts["alive"]["kept"] and alive_t["within"] and alive_t["effect"] > 10.0
    assert not verdicts["dead"]["kept"] and not dead_t["within"] and dead_t["effect"] < 10.0


def test_checks_are_saved_draw_by_draw_and_resumed(tmp_path):
    """An interruption after the second draw keeps the first two; the rerun checks the rest."""
    table = _table(tmp_path, {"channels.sms.effect": {"low": 0, "high": 0.02, "source": "t"}})
    spec = {"draws": 4, "ranges": str(table), "trials": str(_trial(tmp_path))}
    exp = experiment_from_scenario("small", ["standard"], replications=1, response_draws=spec)
    calls = []

    def fake(path, replications, scenario, accounts):
        calls.append(scenario.channels["sms"].effect)
        if len(calls) == 3:
            raise KeyboardInterrupt
        est = SimpleNamespace(effect=100 * scenario.channels["sms"].effect)
        transport = SimpleNamespace(to_dict=lambda: {"transportable": False})
        return SimpleNamespace(estimate=est, within=est.effect < 1.0, transport=transport)

    with pytest.raises(KeyboardInterrupt):
        check_draws(exp, tmp_path, run_trial=fake)
    saved = json.loads((tmp_path / CHECKS_FILE).read_text())["draws"]
    assert [r["draw"] for r in saved] == [1, 2]
    records = check_draws(exp, tmp_path, run_trial=fake)
    assert len(calls) == 5  # 2 + the interrupted one + draws 3 and 4 (1 and 2 reused)
    # a changed trial file invalidates the saved checks: every draw is checked again
    trial = Path(spec["trials"]) / "contact_cures.yaml"
    trial.write_text(trial.read_text().replace("a test's own claim", "a test's claim"))
    check_draws(exp, tmp_path, run_trial=fake)
    assert len(calls) == 9
    assert [r["kept"] for r in records] == [exp.samples[i]["channels.sms.effect"] < 0.01
                                           for i in (1, 2, 3, 4)]  # fmt: skip


# ---------------------------------------------------------------------------- end to end
def test_compare_with_response_draws_on_a_tiny_book(tmp_path):
    """``compare --response-draws`` runs the scenario and every draw with common random
    numbers, checks the draws on the trials, and reports per challenger the share of kept draws
    it wins, consistent with the cells."""
    table = _table(
        tmp_path,
        {
            "channels.call.promise_rate": {"low": 0.0, "high": 0.45, "source": "test"},
            "channels.call.effect": {"low": 0.0, "high": 0.12, "source": "test"},
        },
    )
    args = ["compare", "small", "--strategies", "standard,none", "--replications", "2",
            "--accounts", "600", "--days", "45", "--response-draws", "4", "--response-ranges",
            str(table), "--trials", str(_trial(tmp_path)), "--trial-scale", "0.3",
            "--out", str(tmp_path / "out"), "--json", "--report"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    block = doc["response_draws"]
    assert block["draws"] == 4 and block["trials"] == 1
    folder = Path(doc["folder"])
    cells = pd.read_parquet(folder / "cells.parquet")
    assert sorted(cells["sample"].unique()) == [0, 1, 2, 3, 4]
    checks = json.loads((folder / CHECKS_FILE).read_text())["draws"]
    kept = {c["draw"] for c in checks if c["kept"]}
    assert block["kept"] == len(kept) and 0 < len(kept) < 4  # the filter bites both ways here
    (row,) = block["summary"]
    per = cells.pivot_table(index=["sample", "replication"], columns="strategy",
                            values="net_value")  # fmt: skip
    d = (per["none"] - per["standard"]).groupby(level="sample").mean()
    assert row["kept_draws"]["draws"] == len(kept)
    if kept:
        assert row["kept_draws"]["share_better"] == pytest.approx(np.mean([d[k] > 0 for k in kept]))
        assert row["kept_draws"]["low"] == pytest.approx(min(d[k] for k in kept))
    assert row["all_draws"]["share_better"] == pytest.approx(
        np.mean([d[k] > 0 for k in (1, 2, 3, 4)])
    )
    # the comparison table is the scenario's own response: noise only
    comp = json.loads((folder / "comparison.json").read_text())
    assert comp["units"] == 2 and "noise only" in comp["response_draws"]["covers"]["comparison"]
    net = next(r for r in comp["rows"] if r["kpi"] == "net_value" and r["strategy"] == "none")
    assert net["diff"] == pytest.approx(row["own_response"]["difference"])
    html = (folder / "report.html").read_text()
    assert "Response uncertainty" in html and "its intervals cover simulation noise only" in html
    assert f"{block['kept']} kept" in html


# ---------------------------------------------------------------------------- bad input
def test_bad_response_draw_input_exits_2_naming_the_file_and_field(tmp_path):
    base = ["compare", "small", "--strategies", "standard,none", "--accounts", "300"]
    user_error(
        runner.invoke(app, [*base, "--response-draws", "0"]), "--response-draws", "at least 1"
    )
    bad = _table(tmp_path, {"channels.call.effekt": {"low": 0, "high": 1, "source": "s"}})
    res = runner.invoke(app, [*base, "--response-draws", "2", "--response-ranges", str(bad)])
    user_error(res, str(bad), "parameters.channels.call.effekt", "unknown response parameter")
    flipped = _table(tmp_path, {"channels.call.effect": {"low": 0.2, "high": 0.1, "source": "s"}})
    res = runner.invoke(app, [*base, "--response-draws", "2", "--response-ranges", str(flipped)])
    user_error(res, str(flipped), "parameters.channels.call.effect", "above high")
    assert not (tmp_path / "results").exists()


def test_experiment_file_response_draws_are_validated(tmp_path):
    spec = {"name": "rd", "scenario": "small", "strategies": ["standard", "none"],
            "response_draws": {"draws": 0}}  # fmt: skip
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ExperimentError) as err:
        load_experiment(path)
    assert str(path) in str(err.value) and "response_draws.draws" in str(err.value)
    spec["response_draws"] = {"draws": 2, "ranges": "nosuch.yaml"}
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ExperimentError) as err:
        load_experiment(path)
    assert "response_draws" in str(err.value) and "nosuch.yaml" in str(err.value)
    spec["response_draws"] = {"draws": 2}
    spec["uncertainties"] = {
        "samples": 2,
        "parameters": {"macro.reference": {"low": 0.03, "high": 0.05}},
    }
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(ExperimentError, match="not both"):
        load_experiment(path)
    del spec["uncertainties"]
    path.write_text(yaml.safe_dump(spec))
    exp = load_experiment(path)  # the shipped table and library, 2 draws after the scenario
    assert len(exp.samples) == 3 and exp.samples[0] == {}
    assert exp.response.spec == ResponseDrawsSpec(draws=2)


def test_a_trial_that_cannot_be_estimated_on_the_shrunk_book_rejects_the_draw(tmp_path):
    from postloan.experiments.response_draws import check_draw
    from postloan.trials.spec import TrialError

    table = _table(tmp_path, {"channels.sms.effect": {"low": 0, "high": 0.02, "source": "t"}})
    spec = {"draws": 1, "ranges": str(table), "trials": str(_trial(tmp_path)), "trial_scale": 0.01}
    exp = experiment_from_scenario("small", ["standard"], replications=1, response_draws=spec)

    def too_few(path, replications, scenario, accounts):
        assert accounts == 1000  # 1 % of the trial's 20,000, raised to the floor
        raise TrialError("arm 'calls' has fewer than two enrolled accounts")

    rec = check_draw(exp.scenario_for(0, 1), exp.response, too_few)
    assert rec["kept"] is False
    assert rec["trials"][0]["within"] is False and "fewer than two" in rec["trials"][0]["error"]


def test_the_python_api_compares_over_response_draws(tmp_path):
    from postloan import api

    table = _table(
        tmp_path, {"channels.call.promise_rate": {"low": 0, "high": 0.45, "source": "t"}}
    )
    draws = {"draws": 2, "ranges": str(table), "trials": str(_trial(tmp_path)), "trial_scale": 0.05}
    comp = api.compare("small", ["standard", "none"], replications=2, accounts=300, days=30,
                       out=tmp_path / "out", response_draws=draws)  # fmt: skip
    block = comp.attrs["response_draws"]
    assert block["draws"] == 2 and block["summary"][0]["strategy"] == "none"
    assert len(api.load_cells(comp.attrs["folder"])) == 2 * 2 * 3  # strategies x reps x samples


def test_an_experiment_interrupted_in_the_trial_checks_resumes_them(tmp_path, monkeypatch):
    """Ctrl-C during the draws' trial checks: the cells and the checks done are kept, the
    manifest says interrupted, and --resume runs no cell again and checks only the rest."""
    import postloan.experiments.response_draws as rd
    from postloan.experiments.runner import execute_experiment
    from postloan.storage.manifest import read_manifest

    table = _table(tmp_path, {"channels.sms.effect": {"low": 0, "high": 0.02, "source": "t"}})
    spec = {"draws": 3, "ranges": str(table), "trials": str(_trial(tmp_path))}
    exp = experiment_from_scenario("small", ["standard", "none"], replications=1, accounts=300,
                                   days=20, response_draws=spec)  # fmt: skip
    calls = []

    def flaky(scenario, plan, run_trial=None):
        calls.append(scenario.channels["sms"].effect)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return {"kept": scenario.channels["sms"].effect < 0.01, "trials": [], "seconds": 0.0}

    monkeypatch.setattr(rd, "check_draw", flaky)
    with pytest.raises(KeyboardInterrupt):
        execute_experiment(exp, tmp_path / "out")
    (folder,) = (tmp_path / "out").iterdir()
    assert read_manifest(folder)["status"] == "interrupted"
    assert len(json.loads((folder / CHECKS_FILE).read_text())["draws"]) == 1
    outcome = execute_experiment(exp, tmp_path / "out", resume=True)
    assert outcome.computed == 0 and outcome.folder == folder
    assert len(calls) == 4  # draw 1, the interrupted draw 2, then 2 and 3 on resume
    assert read_manifest(folder)["status"] == "complete"
    block = json.loads((folder / "comparison.json").read_text())["response_draws"]
    assert block["kept"] == sum(exp.samples[i]["channels.sms.effect"] < 0.01 for i in (1, 2, 3))
