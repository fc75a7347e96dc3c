"""Strategy files: every problem at once, warnings for rules that never fire or shadow each
other (checked against the engine: a rule flagged as shadowed changes nothing), split cycles,
Python strategies by ``module:Class``, schema versions."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postloan.cli import app
from sim.engine import simulate
from sim.scenario import load_scenario
from sim.user_input import UserInputError
from strategies.base import Strategy
from strategies.registry import (
    StrategyError,
    check_strategy_file,
    library,
    load_strategy_file,
    resolve,
)
from strategies.rules import RuleTable

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"
runner = CliRunner()


def _file(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(StrategyError) as info:
        load_strategy_file(path)
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.problems)
    assert all(line.startswith(str(path)) for line in lines), lines
    return lines


def _warnings(path: Path, scenario=None) -> list[str]:
    return [str(w) for w in check_strategy_file(path, scenario).warnings]


# ----------------------------------------------------------------------------- every problem once
def test_every_impossible_range_reported_at_once(tmp_path):
    path = _file(
        tmp_path,
        "name: bad\nrules:\n"
        "  - {channel: sms, dpd: [1, 30], score: [900, 100]}\n"
        "  - {channel: call, dpd: [5, 30], balance: [5000, 100]}\n"
        "  - {channel: call, dpd: [30, 5], score: [500, 500]}\n"
        "  - {channel: visit, dpd: [800, 900]}\n"
        "  - {channel: pigeon, bucket: 1-30}\n"
        "  - {channel: sms, dpd: [-31, -31]}\n"
        "recovery:\n  - {path: sale, balance: [500, 0]}\n",
    )
    lines = _problems(path)
    expected = [
        "rule 1, field 'score': score [900, 100) is empty",
        "rule 2, field 'balance': balance [5000, 100) is empty",
        "rule 3, field 'dpd': dpd [30, 5] is reversed (min above max)",
        "rule 3, field 'score': score [500, 500) is empty",
        "rule 4, field 'dpd': dpd starts at 800, but every account is charged off by 720",
        "rule 5, field 'channel': unknown channel 'pigeon'",
        # due dates recur every 30 days (the engine's pre-due view wraps after that)
        "rule 6, field 'dpd': dpd starts 31 days before the due date",
        "recovery rule 1, field 'balance': balance [500, 0) is empty",
    ]
    assert len(lines) == len(expected), lines
    for needle in expected:
        assert any(needle in line for line in lines), (needle, lines)


def test_nan_and_inf_are_not_finite(tmp_path):
    path = _file(
        tmp_path,
        "name: bad\nrules:\n"
        "  - {channel: sms, dpd: [1, 30], priority: .nan}\n"
        "  - {channel: sms, dpd: [31, 60], score: [.nan, 500]}\n"
        "  - {channel: sms, dpd: [61, 90], balance: [0, .inf]}\n",
    )
    lines = _problems(path)
    assert [line.split(": ", 1)[1] for line in lines] == [
        "rule 1, field 'priority': must be a finite number (given: nan)",
        "rule 2, field 'score.0': must be a finite number (given: nan)",
        "rule 3, field 'balance.1': must be a finite number (given: inf)",
    ]


def test_duplicate_keys_in_a_rule(tmp_path):
    path = _file(tmp_path, "name: x\nrules:\n  - {channel: sms, dpd: [1, 3], channel: call}\n")
    (line,) = _problems(path)
    assert "rule 1, field 'channel': given twice (lines 3 and 3)" in line


def test_library_loads_without_warnings():
    for name, path in library().items():
        assert _warnings(path) == [], name


# ----------------------------------------------------------------------------- warnings
def test_warnings_for_rules_that_never_fire_or_shadow(tmp_path):
    path = _file(
        tmp_path,
        "name: warn\nrules:\n"
        "  - {channel: sms, dpd: [1, 30], every_days: 3}\n"
        "  - {channel: sms, dpd: [1, 30], every_days: 3}\n"  # duplicate of 1
        "  - {channel: sms, dpd: [5, 20], every_days: 7, score: [0, 500]}\n"  # inside 1
        "  - {channel: call, dpd: [1, 30], every_days: 2, priority: 2}\n"
        "  - {channel: call, dpd: [1, 30], every_days: 3, priority: 1, hours: [9, 12]}\n"
        "  - {channel: visit, dpd: [130, 200]}\n"
        "  - {channel: ivr, dpd: [1, 30], every_days: 2, priority: 1}\n"
        "  - {channel: ivr, dpd: [1, 30], every_days: 1, priority: 1, attempts_per_day: 2}\n"
        "recovery:\n  - {path: agency}\n  - {path: sale, balance: [0, 500]}\n",
    )
    warnings = _warnings(path)
    expected = [
        "rule 2: duplicates rule 1",
        "rule 3: is shadowed by rule 1",
        "rule 5: is shadowed by rule 4",
        "rule 6, field 'dpd': starts at 130 DPD, but accounts are charged off at 120 DPD "
        "(the default, baseline, recession, severe_recession, small)",
        "rule 8: contradicts rule 7: the same accounts on the same channel (ivr) with "
        "different settings (every_days 2 vs 1, attempts_per_day 1 vs 2)",
        "recovery rule 2: is shadowed by recovery rule 1",
    ]
    assert len(warnings) == len(expected), warnings
    for needle in expected:
        assert any(needle in w for w in warnings), (needle, warnings)
    # rule 6 fires where accounts live longer: the message says where
    assert "taiwan_cards: 360" in next(w for w in warnings if "rule 6" in w)


def test_charge_off_of_a_given_scenario(tmp_path):
    path = _file(tmp_path, "name: w\nrules:\n  - {channel: visit, dpd: [110, 119]}\n")
    assert _warnings(path) == []
    early = load_scenario(ROOT / "scenarios" / "small.yaml").with_overrides(charge_off_dpd=90)
    (w,) = _warnings(path, early)
    assert "charged off at 90 DPD (scenario small)" in w


def _run(rules: str, seed: int = 11):
    path_text = "name: t\nrules:\n" + rules
    sc = load_scenario(SMALL, accounts=1500, days=60)
    strategy = load_strategy_file(_write_tmp(path_text))
    return simulate(sc, strategy, seed).summary


_TMP: list[Path] = []


def _write_tmp(text: str) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="strategy-"))
    _TMP.append(folder)
    return _file(folder, text)


BASE = "  - {channel: call, dpd: [1, 60], every_days: 2, priority: 2}\n"
SHADOWED = "  - {channel: call, dpd: [5, 30], every_days: 3, priority: 1, attempts_per_day: 2}\n"
LIVE = "  - {channel: call, dpd: [5, 30], every_days: 1, priority: 1, attempts_per_day: 2}\n"


def test_shadowing_means_what_the_engine_does(tmp_path):
    """A rule the check calls shadowed changes nothing when removed (the engine keeps one
    request per account and channel a day, the higher priority first), and the same rule
    made due more often than its shadow is not flagged, and does change the run."""
    assert any(
        "rule 2: is shadowed by rule 1" in w
        for w in _warnings(_file(tmp_path, "name: t\nrules:\n" + BASE + SHADOWED))
    )
    assert _warnings(_file(tmp_path, "name: t\nrules:\n" + BASE + LIVE)) == []
    alone = _run(BASE)
    with_shadowed = _run(BASE + SHADOWED)
    with_live = _run(BASE + LIVE)
    keys = ("collected", "cost", "contacts", "net_recovery")
    assert {k: with_shadowed[k] for k in keys} == {k: alone[k] for k in keys}
    assert with_live["contacts"] != alone["contacts"]


# ----------------------------------------------------------------------------- splits
def test_split_pointing_at_itself(tmp_path):
    path = _file(
        tmp_path,
        "name: s\nsplit:\n  - {strategy: ./s.yaml, share: 0.5}\n  - {strategy: none, share: 0.5}\n",
    )
    (line,) = _problems(path)
    assert (
        "arm 1, field 'strategy': points at this same file: a split cannot contain itself" in line
    )


def test_two_file_split_cycle(tmp_path):
    _file(tmp_path, "name: b\nsplit:\n  - {strategy: a.yaml, share: 0.5}\n"
          "  - {strategy: none, share: 0.5}\n", "b.yaml")  # fmt: skip
    a = _file(tmp_path, "name: a\nsplit:\n  - {strategy: standard, share: 0.5}\n"
              "  - {strategy: b.yaml, share: 0.5}\n", "a.yaml")  # fmt: skip
    (line,) = _problems(a)  # found relative to a.yaml's folder, whatever the current folder
    assert "arm 2, field 'strategy'" in line
    assert "the splits form a cycle: a.yaml -> b.yaml -> a.yaml" in line


def test_split_arm_relative_to_its_file(tmp_path, monkeypatch):
    sub = tmp_path / "sub"
    sub.mkdir()
    _file(sub, "name: mine\nrules:\n  - {channel: sms, dpd: [1, 30]}\n", "mine.yaml")
    cc = _file(sub, "name: cc\nsplit:\n  - {strategy: standard, share: 0.8}\n"
               "  - {strategy: mine.yaml, share: 0.2}\n", "cc.yaml")  # fmt: skip
    monkeypatch.chdir(tmp_path)
    assert load_strategy_file(cc).arms == ("standard", "mine")


# ----------------------------------------------------------------------------- Python strategies
DOC_EXAMPLE = re.search(
    r"```python\n(.*?)```", (ROOT / "docs" / "strategies.md").read_text(encoding="utf-8"), re.S
).group(1)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """The docs/strategies.md example saved as a module, plus a few broken ones."""
    (tmp_path / "doc_strategies.py").write_text(
        DOC_EXAMPLE
        + "\n\nclass NoDecide:\n    name = 'x'\n\n\n"
        + "class Nameless(Strategy):\n    name = ''\n\n\n"
        + "class NeedsArgs(Strategy):\n    def __init__(self, k):\n        self.k = k\n",
        encoding="utf-8",
    )
    (tmp_path / "broken_strategies.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("doc_strategies", "broken_strategies"):
        sys.modules.pop(name, None)


def test_docs_python_strategy_by_module_and_class(user_module):
    s = resolve("doc_strategies:CallBigArrears")
    assert isinstance(s, Strategy) and s.name == "call_big_arrears"
    same = resolve(str(user_module / "doc_strategies.py") + ":CallBigArrears")
    assert same.name == "call_big_arrears"
    sc = load_scenario(SMALL, accounts=1500, days=45)
    by_ref = simulate(sc, s, 5).summary
    by_object = simulate(sc, resolve(type(s)()), 5).summary  # an object from Python: as is
    by_class = simulate(sc, resolve(type(s)), 5).summary
    assert by_ref["contacts"]["call"] > 0
    assert by_ref["net_recovery"] == by_object["net_recovery"] == by_class["net_recovery"]


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("no_such_module:X", "module 'no_such_module' not found"),
        ("doc_strategies:Missing", "'doc_strategies' has no attribute 'Missing'"),
        (
            "doc_strategies:NoDecide",
            "NoDecide is not a strategy: it has no decide or recovery_path",
        ),
        ("doc_strategies:Nameless", "Nameless has no name"),
        ("doc_strategies:NeedsArgs", "NeedsArgs could not be created without arguments"),
        ("broken_strategies:X", "importing 'broken_strategies' failed: RuntimeError: boom"),
        ("nowhere.py:X", "no such Python file 'nowhere.py'"),
    ],
)
def test_python_strategy_errors(user_module, ref, needle):
    with pytest.raises(StrategyError) as info:
        resolve(ref)
    assert str(info.value).startswith(ref + ": "), str(info.value)
    assert needle in str(info.value)


def test_cli_runs_a_python_strategy_from_the_current_folder(tmp_path):
    """``postloan run ... --strategy module:Class`` with the module next to the user, through
    the installed console script (which does not put the current folder on the path)."""
    exe = Path(sys.executable).parent / "postloan"
    if not exe.exists():
        pytest.skip("the postloan script is not installed next to this interpreter")
    (tmp_path / "doc_strategies.py").write_text(DOC_EXAMPLE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    args = [str(exe), "run", str(SMALL), "--accounts", "800", "--days", "30", "--json"]
    args += ["--strategy", "doc_strategies:CallBigArrears", "--out", str(tmp_path / "out")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    (folder,) = (tmp_path / "out").iterdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["strategy"] == "call_big_arrears"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["contacts"]["call"] > 0
    missing = subprocess.run(
        [*args[:-4], "--strategy", "doc_strategies:Nope", "--out", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "'doc_strategies' has no attribute 'Nope'" in missing.stderr


def test_not_a_strategy_object():
    with pytest.raises(StrategyError, match="int is not a strategy"):
        resolve(42)  # type: ignore[arg-type]
    assert resolve(library()["light_touch"]).name == "light_touch"  # a Path is a file


# ----------------------------------------------------------------------------- schema versions
def test_strategy_schema_version(tmp_path, monkeypatch):
    rules = "rules:\n  - {channel: sms, dpd: [1, 30]}\n"
    assert isinstance(
        load_strategy_file(_file(tmp_path, "schema_version: 1\nname: a\n" + rules)), RuleTable
    )
    (line,) = _problems(_file(tmp_path, "schema_version: 7\nname: a\n" + rules))
    assert "field 'schema_version': this strategy file is schema version 7" in line
    import strategies.registry as registry

    # synthetic history: version 1 called rules 'ladder'; version 2 (current here) 'rules'
    monkeypatch.setattr(registry, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(
        registry,
        "MIGRATIONS",
        {1: lambda d: {**{k: v for k, v in d.items() if k != "ladder"}, "rules": d["ladder"]}},
    )
    old = _file(tmp_path, "name: a\nladder:\n  - {channel: sms, dpd: [1, 30]}\n")
    assert len(load_strategy_file(old).rules) == 1


def test_user_error_hierarchy():
    assert issubclass(StrategyError, UserInputError) and issubclass(UserInputError, ValueError)


# ----------------------------------------------------------------------------- CLI
def test_cli_validate_prints_warnings_and_accepts_a_scenario(tmp_path):
    path = _file(
        tmp_path,
        "name: w\nrules:\n  - {channel: sms, dpd: [1, 30]}\n  - {channel: sms, dpd: [1, 30]}\n"
        "  - {channel: visit, dpd: [100, 119]}\n",
    )
    result = runner.invoke(app, ["strategies", "validate", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "warning: " + str(path) + ": rule 2: duplicates rule 1" in result.stdout
    assert "ok (w, 3 rules, 1 warning)" in result.stdout
    scenario = tmp_path / "early.yaml"
    scenario.write_text(SMALL.read_text().replace("charge_off_dpd: 120", "charge_off_dpd: 90"))
    result = runner.invoke(app, ["strategies", "validate", str(path), "--scenario", str(scenario)])
    assert result.exit_code == 0, result.output
    assert "rule 3, field 'dpd': starts at 100 DPD" in result.stdout
    assert "charged off at 90 DPD (scenario small)" in result.stdout


def test_cli_validate_lists_every_problem(tmp_path):
    path = _file(
        tmp_path,
        "name: bad\nrules:\n  - {channel: sms, dpd: [30, 1]}\n  - {channel: sms, dpd: [9, 2]}\n"
        "  - {channel: call, dpd: [1, 2], score: [900, 100]}\n",
    )
    result = runner.invoke(app, ["strategies", "validate", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    for needle in ("rule 1, field 'dpd'", "rule 2, field 'dpd'", "rule 3, field 'score'"):
        assert needle in result.stderr, result.stderr
