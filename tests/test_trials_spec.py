"""Trial files: every kind of bad file is refused with the file, the field and what is allowed."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from postloan.trials.arms import build_arms
from postloan.trials.runner import trial_scenario
from postloan.trials.spec import TrialError, load_trial, trial_files
from sim.user_input import UserInputError

VALID = {
    "schema_version": 1,
    "name": "t",
    "source": "A. Author (2020)",
    "scenario": "small",
    "accounts": 4000,
    "start_day": 10,
    "population": {"status": ["delinquent"], "dpd": [1, 30]},
    "arms": [
        {"name": "control", "strategy": "none", "control": True},
        {"name": "calls", "base": "none", "rules": [{"channel": "call", "dpd": [1, 119]}]},
    ],
    "outcome": {"measure": "cured_within", "days": 42},
    "estimand": "itt",
    "published": {
        "effect": 10.0,
        "scale": "absolute",
        "low": 5.0,
        "high": 15.0,
        "control_rate": 0.4,
        "control_n": 1000,
        "derivation": "binomial",
    },
    "replications": 1,
}


def write(tmp_path: Path, data: dict | str, name: str = "trial.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def changed(**edits) -> dict:
    """VALID with dotted-path edits; a value of ``...`` deletes the key."""
    data = copy.deepcopy(VALID)
    for dotted, value in edits.items():
        *head, last = dotted.split("__")
        node = data
        for k in head:
            node = node[int(k)] if isinstance(node, list) else node[k]
        key = int(last) if isinstance(node, list) else last
        if value is ...:
            del node[key]
        else:
            node[key] = value
    return data


def test_valid_file_loads(tmp_path):
    spec = load_trial(write(tmp_path, VALID))
    assert spec.control == "control" and spec.treatment == "calls"
    assert spec.shares() == [0.5, 0.5]
    assert [s.name for s in build_arms(spec, tmp_path / "trial.yaml")] == ["none", "calls"]


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        (changed(colour="red"), "colour", "unknown key"),
        (changed(population__segment="x"), "population.segment", "unknown key"),
        (changed(behaviour={"promise_keep": 1.0}), "behaviour", "never behaviour, channel"),
        (changed(channels={"call": {"effect": 9}}), "channels", "never behaviour, channel"),
        (changed(schema_version=2), "schema_version", "schema_version 1"),
        (changed(name=...), "name", "Field required"),
        (changed(outcome__measure="happiness"), "outcome.measure", "allowed: paid_on_time"),
        (changed(outcome__days=0), "outcome.days", "greater than or equal to 1"),
        (changed(estimand="tot"), "estimand", "'itt' or 'per_contact'"),
        (changed(arms=VALID["arms"][:1]), "arms", "at least 2"),
        (changed(arms__1__control=True), "(top level)", "exactly one arm"),
        (changed(arms__1__strategy="standard"), "arms[2]", "either 'strategy' or 'base'"),
        (changed(arms__0__share=0.5), "(top level)", "'share' on every arm"),
        (changed(arms__1__rules__0__channel="pigeon"), "arms[2].rules[1].channel", "allowed"),
        (changed(population__status=["asleep"]), "population.status[1]", "'current'"),
        (changed(population__credit=["great"]), "population.credit", "allowed: good"),
        (changed(population__dpd=[30, 1]), "population.dpd", "min <= max"),
        (changed(population__days_to_due=[0, 40]), "population.days_to_due", "[1, 30]"),
        (changed(published__low=20.0), "published", "low (20.0) must not exceed"),
        (changed(published__scale="log"), "published.scale", "'absolute' or 'relative'"),
        (changed(published__control_n=...), "published", "needs control_n"),
        (changed(published__control_rate=1.5), "(top level)", "share in (0, 1)"),
        (changed(published__arm="control"), "(top level)", "not a treatment arm"),
        (
            changed(estimand="per_contact", published__scale="relative"),
            "(top level)",
            "absolute scale",
        ),
        (
            changed(outcome={"measure": "paid_on_time", "days": 20}),
            "(top level)",
            "outcome.days > the last days_to_due (30)",
        ),
    ],
)
def test_bad_files_are_refused_naming_file_and_field(tmp_path, data, field, says):
    path = write(tmp_path, data)
    with pytest.raises(TrialError) as err:
        load_trial(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: field '{field}'"), msg
    assert says in msg, msg


def test_duplicate_key_refused(tmp_path):
    text = yaml.safe_dump(VALID) + "start_day: 20\n"
    with pytest.raises(TrialError, match=r"field 'start_day': given twice \(lines \d+ and \d+\)"):
        load_trial(write(tmp_path, text))


def test_duplicate_nested_key_refused(tmp_path):
    text = yaml.safe_dump(VALID).replace("  low: 5.0\n", "  low: 5.0\n  low: 6.0\n")
    with pytest.raises(TrialError, match=r"field 'published\.low': given twice"):
        load_trial(write(tmp_path, text))


def test_duplicate_key_in_an_arm_is_named_like_every_trial_field(tmp_path):
    text = yaml.safe_dump(VALID).replace("  name: calls\n", "  name: calls\n  name: x\n")
    path = write(tmp_path, text)
    with pytest.raises(TrialError) as err:
        load_trial(path)
    assert isinstance(err.value, UserInputError)  # the CLI's wrapper maps it to exit 2
    assert [p.field for p in err.value.problems] == ["arms[2].name"]
    assert str(err.value).startswith(f"{path}: field 'arms[2].name': given twice (lines ")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("- just\n- a list\n", "must be a mapping"),
        ("name: [unclosed\n", "not valid YAML"),
        ("!!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ],
)
def test_unreadable_files(tmp_path, text, says):
    with pytest.raises(TrialError, match=says):
        load_trial(write(tmp_path, text))


def test_missing_file_and_empty_folder(tmp_path):
    with pytest.raises(TrialError, match="no such trial file"):
        trial_files([tmp_path / "nope.yaml"])
    with pytest.raises(TrialError, match="no trial files"):
        trial_files([tmp_path])


def test_unknown_strategy_and_scenario_named(tmp_path):
    path = write(tmp_path, changed(arms__0__strategy="no_such_ladder"))
    with pytest.raises(TrialError, match=r"field 'arms\[1\]\.strategy': unknown strategy"):
        build_arms(load_trial(path), path)
    path = write(tmp_path, changed(scenario="atlantis"))
    with pytest.raises(TrialError, match=r"field 'scenario': no scenario 'atlantis'.*shipped:"):
        trial_scenario(load_trial(path), path)


def test_split_cannot_be_an_arm(tmp_path):
    path = write(tmp_path, changed(arms__1={"name": "cc", "strategy": "champion_challenger"}))
    with pytest.raises(TrialError, match="is a split"):
        build_arms(load_trial(path), path)
