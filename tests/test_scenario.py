"""Scenario files: the shipped ones load; broken ones fail with a message naming file and field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from sim.scenario import Scenario, ScenarioError, load_scenario, max_accounts

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="module")
def small_data() -> dict:
    return yaml.safe_load((SCENARIOS / "small.yaml").read_text(encoding="utf-8"))


def _write(tmp_path: Path, data, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _error(path: Path, **overrides) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, **overrides)
    msg = str(info.value)
    assert str(path) in msg, msg  # every message names the file
    assert "Traceback" not in msg
    return msg


# ----------------------------------------------------------------------------- shipped files
@pytest.mark.parametrize(
    ("name", "accounts"), [("baseline", 100_000), ("small", 4_000), ("recession", 100_000)]
)
def test_shipped_scenarios_load(name, accounts):
    sc = load_scenario(SCENARIOS / f"{name}.yaml")
    assert isinstance(sc, Scenario)
    assert sc.name == name
    assert sc.accounts == accounts
    assert sum(s.share for s in sc.segments) == pytest.approx(1.0, abs=1e-6)
    # defaults are filled in for every purpose, standing, capacity and channel
    assert set(sc.purposes) == {"consumer", "business", "housing"}
    assert len(sc.channels) == 8
    # the canonical form round-trips: the scenario as run reloads to the same content hash
    again = Scenario.model_validate(yaml.safe_load(sc.to_yaml()))
    assert again.content_hash() == sc.content_hash()


def test_recession_has_a_shock():
    sc = load_scenario(SCENARIOS / "recession.yaml")
    assert sc.macro.shock is not None and sc.macro.shock["size"] > 0


def test_overrides_on_load():
    sc = load_scenario(SCENARIOS / "small.yaml", accounts=1000, days=30, seed=5)
    assert (sc.accounts, sc.days, sc.seed) == (1000, 30, 5)
    # None means "keep the file's value"
    sc = load_scenario(SCENARIOS / "small.yaml", accounts=None, days=None)
    assert (sc.accounts, sc.days) == (4000, 120)


# ----------------------------------------------------------------------------- validation
def test_unknown_top_level_key(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["colour"] = "red"
    msg = _error(_write(tmp_path, data))
    assert "'colour'" in msg and "unknown key" in msg


def test_unknown_nested_key(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["behaviour"] = {"promise_kep": 0.5}
    msg = _error(_write(tmp_path, data))
    assert "behaviour.promise_kep" in msg and "unknown key" in msg


def test_unknown_key_in_segment(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["segments"][2]["colour"] = "blue"
    msg = _error(_write(tmp_path, data))
    assert "segments.2.colour" in msg


def test_wrong_type(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["accounts"] = "many"
    msg = _error(_write(tmp_path, data))
    assert "'accounts'" in msg and "integer" in msg


def test_wrong_type_nested(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["staff"] = {"call_attempts_per_day": "lots"}
    msg = _error(_write(tmp_path, data))
    assert "staff.call_attempts_per_day" in msg


def test_segment_share_above_one(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["segments"][0]["share"] = 1.5
    msg = _error(_write(tmp_path, data))
    assert "segments.0.share" in msg and "less than or equal to 1" in msg


def test_probability_above_one_in_behaviour(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["behaviour"] = {"promise_keep": 2}
    msg = _error(_write(tmp_path, data))
    assert "behaviour.promise_keep" in msg and "less than or equal to 1" in msg


def test_negative_probability(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["behaviour"] = {"complaint_rate": -0.1}
    msg = _error(_write(tmp_path, data))
    assert "behaviour.complaint_rate" in msg


def test_negative_amount(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["purposes"] = {
        "consumer": {
            "principal_median": -5,
            "annual_rate": 0.16,
            "terms": [12],
            "method_mix": {"annuity": 1.0},
        }
    }
    msg = _error(_write(tmp_path, data))
    assert "purposes.consumer.principal_median" in msg and "greater than 0" in msg


def test_empty_segment_list(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["segments"] = []
    msg = _error(_write(tmp_path, data))
    assert "'segments'" in msg and "at least 1" in msg


def test_shares_not_summing_to_one(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["segments"][0]["share"] = 0.5
    msg = _error(_write(tmp_path, data))
    assert "'segments'" in msg and "sum to 1" in msg


def test_too_many_accounts(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["accounts"] = 10**12
    assert 10**12 > max_accounts()
    msg = _error(_write(tmp_path, data))
    assert "'accounts'" in msg and "this machine holds at most" in msg


def test_too_many_accounts_as_override(tmp_path):
    msg = _error(SCENARIOS / "small.yaml", accounts=10**12)
    assert "'accounts'" in msg


def test_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    msg = _error(path)
    assert "must be a mapping" in msg and "list" in msg


def test_empty_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert "must be a mapping" in _error(path)


def test_invalid_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: [unclosed\naccounts: 3\n", encoding="utf-8")
    assert "not valid YAML" in _error(path)


def test_missing_file(tmp_path):
    assert "no such scenario file" in _error(tmp_path / "nope.yaml")


def test_python_tags_are_refused(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.yaml"
    path.write_text(
        f"name: !!python/object/apply:os.system ['touch {marker}']\naccounts: 10\n",
        encoding="utf-8",
    )
    assert "not valid YAML" in _error(path)
    assert not marker.exists()
    path.write_text("name: !!python/object:builtins.object {}\n", encoding="utf-8")
    _error(path)


def test_several_problems_reported_one_per_line(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["colour"] = "red"
    data["days"] = 0
    msg = _error(_write(tmp_path, data))
    lines = msg.splitlines()
    assert len(lines) == 2
    assert all(line.startswith(str(tmp_path)) for line in lines)


def test_markov_mode_needs_a_valid_matrix(tmp_path, small_data):
    data = copy.deepcopy(small_data)
    data["behaviour"] = {"mode": "markov", "roll_matrix": [[1.0] * 7] * 7}
    msg = _error(_write(tmp_path, data))
    assert "behaviour" in msg and "row 0 must sum to 1" in msg


# ----------------------------------------------------------------------------- overrides
def test_with_overrides_scales_staff_capacity():
    sc = load_scenario(SCENARIOS / "small.yaml")
    half = sc.with_overrides(accounts=sc.accounts // 2)
    assert half.accounts == 2000
    assert half.staff.call_attempts_per_day == pytest.approx(sc.staff.call_attempts_per_day / 2)
    assert half.staff.visits_per_day == pytest.approx(sc.staff.visits_per_day / 2)
    triple = sc.with_overrides(accounts=sc.accounts * 3, days=10)
    assert triple.staff.call_attempts_per_day == pytest.approx(3 * sc.staff.call_attempts_per_day)
    assert triple.days == 10
    # a days-only override leaves capacity alone
    assert sc.with_overrides(days=7).staff == sc.staff


def test_with_overrides_respects_scale_flag(small_data):
    data = copy.deepcopy(small_data)
    data["staff"] = {"call_attempts_per_day": 100, "scale_with_accounts": False}
    sc = Scenario.model_validate(data)
    assert sc.with_overrides(accounts=10_000).staff.call_attempts_per_day == 100


def test_with_overrides_validates():
    sc = load_scenario(SCENARIOS / "small.yaml")
    with pytest.raises(ValueError, match="days"):
        sc.with_overrides(days=0)


def test_scenario_is_frozen():
    sc = load_scenario(SCENARIOS / "small.yaml")
    with pytest.raises(ValueError):
        sc.accounts = 5  # type: ignore[misc]
