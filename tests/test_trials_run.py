"""The trial runner on small books, and ``postloan trial`` through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from postloan.cli import app
from postloan.trials.observe import days_to_due, population_mask
from postloan.trials.runner import run_trial
from postloan.trials.spec import parse_trial
from sim.population import generate
from sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]


def trial(**changes) -> dict:
    """A trial on the small book: delinquent accounts, the standard ladder in both arms."""
    data = {
        "schema_version": 1,
        "name": "same_arms",
        "source": "test",
        "scenario": "small",
        "accounts": 20_000,
        "start_day": 10,
        "population": {"status": ["delinquent"]},
        "arms": [
            {"name": "control", "strategy": "standard", "control": True},
            {"name": "treated", "strategy": "standard"},
        ],
        "outcome": {"measure": "cured_within", "days": 42},
        "estimand": "itt",
        "published": {
            "effect": 0.0,
            "scale": "absolute",
            "low": -5.0,
            "high": 5.0,
            "control_rate": 0.5,
            "control_n": 500,
            "derivation": "test",
        },
        "replications": 2,
    }
    data.update(changes)
    return data


#: Two arms on top of no contact: SMS every third day, against the same SMS plus calls.
SMS_VS_CALLS = [
    {
        "name": "sms",
        "control": True,
        "base": "none",
        "rules": [{"channel": "sms", "dpd": [1, 119], "every_days": 3}],
    },
    {
        "name": "calls",
        "base": "none",
        "rules": [
            {"channel": "sms", "dpd": [1, 119], "every_days": 3},
            {"channel": "call", "dpd": [1, 119], "every_days": 2},
        ],
    },
]


def write(tmp_path: Path, data: dict, name: str = "trial.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_identical_arms_give_an_interval_covering_zero(tmp_path):
    r = run_trial(write(tmp_path, trial()))
    est = r.estimate
    assert est.n_treatment > 500 and est.n_control > 500
    assert est.low < 0.0 < est.high, est
    # arm shares within 3 binomial SEs of one half
    n = est.n_treatment + est.n_control
    assert abs(est.n_treatment - n / 2) < 3 * np.sqrt(n / 4)
    assert r.enrolled["control"] == est.n_control and r.enrolled["treated"] == est.n_treatment


def test_a_different_arm_is_detected(tmp_path):
    # mutation check of the test above: no contact against the standard ladder must show
    data = trial(arms=[{"name": "control", "strategy": "none", "control": True},
                       {"name": "treated", "strategy": "standard"}])  # fmt: skip
    est = run_trial(write(tmp_path, data)).estimate
    assert est.low > 0.0, est  # contacts raise cures in this engine


def test_same_seed_same_numbers_bit_for_bit(tmp_path):
    path = write(tmp_path, trial(replications=1))
    a, b = run_trial(path, seed=5).to_dict(), run_trial(path, seed=5).to_dict()
    a.pop("wall_seconds"), b.pop("wall_seconds")
    assert a == b
    c = run_trial(path, seed=6).to_dict()
    assert c["simulated"]["effect"] != a["simulated"]["effect"]


def test_per_contact_counts_conversations_of_calls_only(tmp_path):
    data = trial(arms=SMS_VS_CALLS, estimand="per_contact")
    r = run_trial(write(tmp_path, data))
    assert r.conversation_share["sms"] == 0.0  # SMS reach the borrower but hold no conversation
    assert r.conversation_share["calls"] > 0.3
    assert r.contact_cost["calls"] > r.contact_cost["sms"] > 0  # the treatment ran, and cost
    itt = r.estimate.treatment_mean - r.estimate.control_mean
    assert r.estimate.effect == pytest.approx(100 * itt / r.estimate.first_stage, rel=1e-12)


def test_paid_late_is_the_complement_of_paid_on_time(tmp_path):
    base = trial(
        population={"status": ["current"], "days_to_due": [3, 30]},
        outcome={"measure": "paid_on_time", "days": 31},
        replications=1,
    )
    base["published"].update(control_rate=0.9)
    on_time = run_trial(write(tmp_path, base, "a.yaml")).estimate
    base["outcome"]["measure"] = "paid_late"
    late = run_trial(write(tmp_path, base, "b.yaml")).estimate
    assert late.control_mean == pytest.approx(1 - on_time.control_mean, abs=1e-12)
    assert late.effect == pytest.approx(-on_time.effect, abs=1e-9)
    assert 0.5 < on_time.control_mean < 1.0


def test_population_filter_on_a_generated_book():
    sc = load_scenario(ROOT / "scenarios" / "small.yaml")
    book = generate(sc.with_overrides(accounts=20_000), 3)
    spec = parse_trial(
        trial(population={"status": ["delinquent"], "dpd": [31, 60], "capacity": ["weak"]}), "t"
    )
    mask = population_mask(book, spec, 0)
    dpd = book.dpd(0)
    expect = (book.status == 0) & (book.missed > 0) & (dpd >= 31) & (dpd <= 60)
    expect &= book.capacity == 2
    assert mask.sum() > 10 and np.array_equal(mask, expect)
    spec = parse_trial(trial(population={"status": ["current"], "days_to_due": [1, 3]}), "t")
    mask = population_mask(book, spec, 0)
    assert mask.any() and set(np.unique(days_to_due(book.due_day[mask], 0))) <= {1, 2, 3}


def test_command_runs_a_folder_and_saves_table(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    write(folder, trial(replications=1), "one.yaml")
    write(folder, trial(name="second", replications=1), "two.yaml")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["trial", str(folder), "--out", str(out), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert "same_arms" in res.output and "second" in res.output
    assert all(len(line) <= 80 for line in res.output.splitlines() if "Saved" not in line)
    doc = json.loads((out / "trials.json").read_text())
    assert [t["name"] for t in doc["trials"]] == ["same_arms", "second"]
    assert doc["trials"][0]["seeds"] == [3]
    csv = (out / "trials.csv").read_text().splitlines()
    assert csv[0].startswith("study,outcome,estimand") and len(csv) == 3
    res = CliRunner().invoke(app, ["trial", str(folder / "one.yaml"), "--json", "--out", str(out)])
    assert res.exit_code == 0 and json.loads(res.stdout)["table"][0]["study"] == "same_arms"


def test_command_exit_2_on_a_broken_file_and_nothing_written(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    write(folder, trial(replications=1), "a_good.yaml")
    write(folder, trial(behaviour={"promise_keep": 1.0}), "b_bad.yaml")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["trial", str(folder), "--out", str(out)])
    assert res.exit_code == 2
    assert f"{folder / 'b_bad.yaml'}: field 'behaviour'" in res.output
    assert "Traceback" not in res.output
    assert not out.exists()


def test_command_refuses_an_out_that_is_a_file_before_running(tmp_path, monkeypatch):
    import postloan.trials.command

    def refuse(*args, **kwargs):
        raise AssertionError("the trial ran before --out was checked")

    monkeypatch.setattr(postloan.trials.command, "run_trial", refuse)
    path = write(tmp_path, trial(replications=1))
    taken = tmp_path / "taken"
    taken.write_text("x")
    res = CliRunner().invoke(app, ["trial", str(path), "--out", str(taken)])
    assert res.exit_code == 2, res.output
    assert f"--out {taken}: is a file, not a folder" in res.output
    assert "Traceback" not in res.output and taken.read_text() == "x"


def run_with_result(data: dict):
    """One replication by hand, keeping the engine's daily table beside the trial outcomes."""
    from postloan.trials.arms import TrialStrategy, build_arms
    from postloan.trials.observe import TrialObserver
    from postloan.trials.runner import trial_scenario
    from sim.engine import simulate
    from sim.rng import seed_key

    spec = parse_trial(data, "t")
    here = ROOT / "trials" / "t.yaml"
    sc = trial_scenario(spec, here)
    book = generate(sc, 9)
    observer = TrialObserver(spec, book, seed_key(9))
    result = simulate(sc, TrialStrategy(spec, build_arms(spec, here), observer.on_day), 9,
                      portfolio=book)  # fmt: skip
    return observer.outcomes(sc.days - 1), result.daily


@pytest.mark.parametrize("measure", ["charged_off", "complained", "churned_or_closed"])
def test_outcomes_agree_with_the_engines_counts(measure):
    # everyone open on day 0 enrolled: the trial's counts are the book's, less day 0's
    # charge-offs (they happen before the strategy's turn, so those accounts are not enrolled)
    data = trial(
        accounts=4000,
        start_day=0,
        population={"status": ["current", "delinquent"]},
        outcome={"measure": measure, "days": 60},
    )
    out, daily = run_with_result(data)
    assert out.account.size == out.eligible > 3900
    total = int(out.y.sum())
    if measure == "charged_off":
        assert total == int(daily["charge_offs"].iloc[1:].sum()) > 0
    elif measure == "complained":  # an account may complain more than once
        assert 0 < total <= int(daily["complaints"].sum())
    else:  # churned (each account once) plus closed
        churned = int(daily["churned"].sum())
        assert churned + int(daily["n_paid_off"].iloc[-1]) >= total >= churned > 0


def test_a_scenario_given_in_code_replaces_the_files(tmp_path):
    # how a response fit evaluates candidates: same trial, same seed, other response parameters
    path = write(tmp_path, trial(arms=SMS_VS_CALLS, replications=1))
    sc = load_scenario(ROOT / "scenarios" / "small.yaml").model_dump()
    as_file = run_trial(path, seed=4, scenario=load_scenario(ROOT / "scenarios" / "small.yaml"))
    assert as_file.to_dict()["simulated"] == run_trial(path, seed=4).to_dict()["simulated"]
    for spec in sc["channels"].values():  # calls that do nothing: no effect, no promises
        spec.update(effect=0.0, promise_rate=0.0)
    inert = run_trial(path, seed=4, scenario=Scenario.model_validate(sc))
    assert as_file.estimate.low > 0.0  # calls cure accounts in the shipped response ...
    assert inert.estimate.low < 0.0 < inert.estimate.high  # ... and nothing once they are inert
    # the calls were still made (a reached call counts as a conversation only on a channel
    # with promises, so the share with a conversation drops to 0 here)
    assert inert.contact_cost["calls"] > 2 * inert.contact_cost["sms"]


def test_score_bands_partition_the_population():
    book = generate(load_scenario(ROOT / "scenarios" / "small.yaml", accounts=20_000), 3)
    pop = {"status": ["delinquent"]}
    everyone = population_mask(book, parse_trial(trial(population=pop), "t"), 0)
    low = population_mask(book, parse_trial(trial(population={**pop, "score": [0, 220]}), "t"), 0)
    high = population_mask(
        book, parse_trial(trial(population={**pop, "score": [220, 1001]}), "t"), 0
    )
    assert low.sum() > 20 and high.sum() > 20, (low.sum(), high.sum())
    assert not (low & high).any() and np.array_equal(low | high, everyone)
    # a worse score goes with a longer delinquency (the scorecard weighs DPD)
    assert book.dpd(0)[low].mean() > book.dpd(0)[high].mean()
