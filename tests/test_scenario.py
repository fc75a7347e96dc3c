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
    # libyaml's emitter writes what PyYAML's own does
    text = sc.to_yaml()
    assert text == yaml.safe_dump(yaml.safe_load(text), sort_keys=False)


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
def test_currency_is_an_iso_4217_code(tmp_path, small_data):
    assert load_scenario(SCENARIOS / "small.yaml").currency == "USD"
    data = copy.deepcopy(small_data)
    del data["currency"]
    assert load_scenario(_write(tmp_path, data)).currency == "USD"  # the stated default
    data["currency"] = "cny"
    assert load_scenario(_write(tmp_path, data)).currency == "CNY"
    data["currency"] = "EURO"
    msg = _error(_write(tmp_path, data))
    assert "'currency'" in msg and "ISO 4217" in msg and "'EURO'" in msg


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


# ----------------------------------------------------------------------------- safe reading
def test_duplicate_keys_refused_with_line_numbers(tmp_path):
    text = (SCENARIOS / "small.yaml").read_text(encoding="utf-8")
    path = tmp_path / "twice.yaml"
    # a second 'days' at the top and a repeated key inside a nested mapping: both reported
    path.write_text(text + "days: 30\nbehaviour: {promise_keep: 0.7, promise_keep: 0.9}\n")
    msg = _error(path)
    lines = msg.splitlines()
    assert len(lines) == 2, msg
    first = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("days:")))
    n = len(text.splitlines())
    assert f"field 'days': given twice (lines {first + 1} and {n + 1})" in lines[0]
    assert f"field 'behaviour.promise_keep': given twice (lines {n + 2} and {n + 2})" in lines[1]


def test_exponent_without_dot_is_a_number(tmp_path, small_data):
    path = _write(tmp_path, {k: v for k, v in small_data.items() if k != "behaviour"})
    path.write_text(path.read_text() + "behaviour: {complaint_rate: 2e-2, late_fee: 1e1}\n")
    sc = load_scenario(path)
    assert sc.behaviour.complaint_rate == 0.02 and sc.behaviour.late_fee == 10.0


def test_accounts_1e12_names_the_allowed_range(tmp_path, small_data):
    path = _write(tmp_path, small_data)
    text = path.read_text().replace("accounts: 4000", "accounts: 1e12")
    assert "accounts: 1e12" in text
    path.write_text(text)
    msg = _error(path)
    assert f"accounts must be an integer between 1 and {max_accounts():,}" in msg
    assert "unable to parse" not in msg
    for bad in ("many", 2.5, True, 0):
        data = copy.deepcopy(small_data)
        data["accounts"] = bad
        msg = _error(_write(tmp_path, data))
        assert "field 'accounts': accounts must be an integer between 1 and" in msg, msg


@pytest.mark.parametrize(
    ("section", "key", "value", "field"),
    [
        ("macro", "reference", ".nan", "macro.reference"),
        ("behaviour", "promise_keep", ".inf", "behaviour.promise_keep"),
        ("macro", "path", "[0.04, .nan]", "macro.path.1"),
        ("staff", "call_attempts_per_day", "-.inf", "staff.call_attempts_per_day"),
    ],
)
def test_nan_and_inf_refused_as_not_finite(tmp_path, small_data, section, key, value, field):
    data = {k: v for k, v in small_data.items() if k != section}
    path = _write(tmp_path, data)
    path.write_text(path.read_text() + f"{section}: {{{key}: {value}}}\n")
    msg = _error(path)
    assert f"field '{field}': must be a finite number" in msg, msg
    assert "less than or equal" not in msg


def test_scenario_name_cannot_be_a_path(tmp_path, small_data):
    for name in ("../../escaped", "a/b", ".hidden", "x\\y"):
        data = copy.deepcopy(small_data)
        data["name"] = name
        assert "field 'name': must be a plain name" in _error(_write(tmp_path, data))
    data = copy.deepcopy(small_data)
    data["name"] = "small book v2.1 (拆分)"[:13]  # letters of any script, spaces, dots
    assert load_scenario(_write(tmp_path, data)).name == data["name"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("a: &a [*a]\n", "refers to itself"),
        ("[" * 200 + "]" * 200, "nested more than"),
        (
            "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
            + "".join(
                f"{k}: &{k} [{', '.join([f'*{p}'] * 10)}]\n"
                for p, k in zip("abcde", "bcdef", strict=True)
            ),
            "expands to more than",
        ),
        ("name: x\nname: !!python/name:os.system\n", "given twice"),
    ],
)
def test_hostile_yaml_refused(tmp_path, text, needle):
    path = tmp_path / "hostile.yaml"
    path.write_text(text, encoding="utf-8")
    assert needle in _error(path)


def test_unreadable_files(tmp_path):
    assert "is a folder, not a scenario file" in _error(tmp_path)
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\u00e9\n".encode("latin-1"))
    assert "not UTF-8 text (byte 0xe9 on line 1)" in _error(path)


# ----------------------------------------------------------------------------- schema versions
def test_schema_version(tmp_path, small_data):
    for version in (None, 1):
        data = copy.deepcopy(small_data)
        if version is not None:
            data["schema_version"] = version
        assert load_scenario(_write(tmp_path, data)).name == "small"
    data = copy.deepcopy(small_data)
    data["schema_version"] = 2
    msg = _error(_write(tmp_path, data))
    assert "field 'schema_version': this scenario file is schema version 2" in msg
    assert "upgrade PostLoan Lab" in msg
    data["schema_version"] = "one"
    assert "must be a whole number from 1 to 1" in _error(_write(tmp_path, data))


def test_scenario_as_run_carries_its_schema_version(tmp_path):
    sc = load_scenario(SCENARIOS / "small.yaml")
    text = sc.to_yaml()
    assert text.startswith("schema_version: 1\n")
    path = tmp_path / "as_run.yaml"
    path.write_text(text, encoding="utf-8")
    assert load_scenario(path).content_hash() == sc.content_hash()
    assert Scenario.model_validate(yaml.safe_load(text)).content_hash() == sc.content_hash()


def test_migration_hook_upgrades_an_older_format(tmp_path, small_data, monkeypatch):
    """A synthetic history: version 1 called the horizon ``horizon_days``, version 2 (current
    here) calls it ``days``. Version-1 files (and files without a version) are migrated on
    load; version-2 files load as they are; version 3 is refused."""
    import sim.scenario as scenario_module

    def rename_horizon(data):
        data = dict(data)
        data["days"] = data.pop("horizon_days")
        return data

    monkeypatch.setattr(scenario_module, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(scenario_module, "MIGRATIONS", {1: rename_horizon})
    old = copy.deepcopy(small_data)
    old["horizon_days"] = 90
    del old["days"]
    assert load_scenario(_write(tmp_path, old, "unversioned.yaml")).days == 90
    old["schema_version"] = 1
    assert load_scenario(_write(tmp_path, old, "v1.yaml")).days == 90
    new = copy.deepcopy(small_data)
    new["schema_version"] = 2
    assert load_scenario(_write(tmp_path, new, "v2.yaml")).days == 120
    new["schema_version"] = 3
    assert "reads (1 to 2)" in _error(_write(tmp_path, new, "v3.yaml"))
    # without the migration the old file is refused: the hook is what made it load
    monkeypatch.setattr(scenario_module, "SCHEMA_VERSION", 1)
    assert "horizon_days" in _error(_write(tmp_path, old, "v1.yaml"))


def test_accounts_from_numpy_and_whole_floats(small_data):
    import numpy as np

    for value in (np.int64(3000), np.int32(3000), 3000.0, np.float64(3000.0), "3000", "3e3"):
        data = copy.deepcopy(small_data)
        data["accounts"] = value
        sc = Scenario.model_validate(data)
        assert sc.accounts == 3000 and type(sc.accounts) is int, value
    sc = load_scenario(SCENARIOS / "small.yaml")
    assert sc.with_overrides(accounts=np.int64(2000)).staff.call_attempts_per_day == (
        pytest.approx(sc.staff.call_attempts_per_day / 2)
    )


def test_with_overrides_refuses_junk_accounts_cleanly():
    """Found by the loader fuzz: an experiment's ``overrides: {accounts: [1]}`` reached the
    staff scaling as a list (TypeError); now validation refuses it."""
    sc = load_scenario(SCENARIOS / "small.yaml")
    for junk in ([1], "many", None, float("nan"), -5, True):
        with pytest.raises(ValueError, match="accounts must be an integer between 1 and"):
            sc.with_overrides(accounts=junk)
