"""Fuzz of the file loaders: whatever a user's file holds, a loader either loads it or raises
the one user-error type (``sim.user_input.UserInputError``), and writes nothing.

In process (hypothesis): random YAML documents, random mutations of the shipped files (wrong
types, NaN, huge numbers, unknown keys, duplicated lines, deep nesting, non-UTF-8 bytes,
truncation), empty files and folders, for the scenario, strategy, space and experiment loaders.
Then a handful of the same cases through the ``postloan`` command in a subprocess: exit code 2
and no traceback. About 25 s in all.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.space import load_space
from postloan.experiments.spec import load_experiment
from sim.scenario import load_scenario
from sim.user_input import UserInputError
from strategies.registry import load_strategy_file

ROOT = Path(__file__).resolve().parents[1]

#: Every loader raises a subclass of the one user-error type.
LOADERS = {
    "scenario": (load_scenario, UserInputError),
    "strategy": (load_strategy_file, UserInputError),
    "space": (load_space, UserInputError),
    "experiment": (load_experiment, UserInputError),
}


def _shipped(kind: str) -> list[dict]:
    if kind == "scenario":
        files = ["scenarios/small.yaml", "scenarios/recession.yaml", "scenarios/status_panel.yaml"]
    elif kind == "strategy":
        names = ("standard", "risk_based", "champion_challenger")
        files = [f"strategies/library/{n}.yaml" for n in names]
    elif kind == "space":
        files = ["optimizer/spaces/example.yaml"]
    else:
        files = ["scenarios/experiments/example.yaml"]
    docs = []
    for f in files:
        data = yaml.safe_load((ROOT / f).read_text(encoding="utf-8"))
        if kind == "experiment":  # the mutated copy lives elsewhere: point at the real book
            data["scenario"] = str(ROOT / "scenarios" / "small.yaml")
            data["overrides"] = {"accounts": 500, "days": 30}
        docs.append(data)
    return docs


SHIPPED = {kind: _shipped(kind) for kind in LOADERS}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e300, -1e300, 1e12, 0.5, 2**63, "1e12", "nan", ".inf", "", "../../x"]),
    st.text(max_size=12),
)
KEYS = st.one_of(
    st.sampled_from(
        ["name", "accounts", "days", "rules", "split", "levers", "strategies", "scenario",
         "behaviour", "macro", "segments", "channel", "dpd", "score", "share", "schema_version",
         "low", "high", "kind", "variants", "grid", "set", "replications"]
    ),
    st.text(min_size=1, max_size=8),
)  # fmt: skip
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=5)),
    max_leaves=25,
)


def _paths(node, prefix=()):
    """Every path (tuple of keys and indices) into a document."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _set(doc, path, value, delete=False):
    node = doc
    for p in path[:-1]:
        node = node[p]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    elif delete and isinstance(node, list) and len(node) > 1:
        node.pop(path[-1])
    else:
        node[path[-1]] = value


@st.composite
def mutated(draw, kind: str) -> bytes:
    """A shipped file of ``kind`` with a few random changes, as bytes."""
    doc = copy.deepcopy(draw(st.sampled_from(SHIPPED[kind])))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["value", "delete", "unknown", "nest"]))
        if action == "value":
            _set(doc, path, draw(documents))
        elif action == "delete":
            _set(doc, path, None, delete=True)
        elif action == "unknown":
            parent = _get(doc, path[:-1])
            if isinstance(parent, dict):
                parent[draw(KEYS)] = draw(scalars)
            else:
                _set(doc, path, {draw(KEYS): draw(scalars)})
        else:
            deep = draw(st.integers(1, 60))
            _set(doc, path, eval_free_nest(deep))
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode("utf-8")
    lines = text.split(b"\n")
    edit = draw(st.sampled_from(["none", "duplicate_line", "bytes", "truncate"]))
    if edit == "duplicate_line" and len(lines) > 2:
        i = draw(st.integers(0, len(lines) - 2))
        lines.insert(i + 1, lines[i])  # a key given twice (or a list item more)
    elif edit == "bytes":
        i = draw(st.integers(0, len(lines) - 1))
        lines[i] += draw(st.binary(min_size=1, max_size=4))
    elif edit == "truncate":
        return b"\n".join(lines)[: draw(st.integers(0, len(text)))]
    return b"\n".join(lines)


def eval_free_nest(depth: int):
    node: object = 1
    for _ in range(depth):
        node = [node]
    return node


def _check(kind: str, payload: bytes | None, as_dir: bool = False) -> None:
    load, error = LOADERS[kind]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input.{kind}.yaml"
        if as_dir:
            path.mkdir()
        else:
            path.write_bytes(payload or b"")
        before = sorted(os.listdir(folder))
        cwd_before = sorted(os.listdir(Path.cwd()))
        try:
            load(path)
        except error as exc:
            assert str(exc).strip(), "an error with no message"
            assert "Traceback" not in str(exc)
        assert sorted(os.listdir(folder)) == before  # nothing written next to the input
        assert sorted(os.listdir(Path.cwd())) == cwd_before  # nor where we stand


FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples every run: a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("kind", list(LOADERS))
@FUZZ
@given(doc=documents)
def test_random_documents(kind, doc):
    _check(kind, yaml.safe_dump(doc, allow_unicode=True).encode("utf-8"))


@pytest.mark.parametrize("kind", list(LOADERS))
@FUZZ
@given(data=st.data())
def test_mutated_shipped_files(kind, data):
    _check(kind, data.draw(mutated(kind)))


#: Characters that mean something to YAML, to make random text look like broken YAML.
YAML_ALPHABET = st.sampled_from([*"{}[]:-&*!|>'\"%@`#,?\n\t .0123456789eEnaifxyz<=", "é"])


@pytest.mark.parametrize("kind", list(LOADERS))
@settings(max_examples=100, deadline=None, derandomize=True)
@given(raw=st.one_of(st.binary(max_size=120), st.text(YAML_ALPHABET, max_size=120).map(str.encode)))
def test_random_bytes(kind, raw):
    _check(kind, raw)


@pytest.mark.parametrize("kind", list(LOADERS))
@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff\xfe\x00", b"[" * 5000, b"a: &a [*a]", b"- 1\n- 2\n", b"{", b"\t\x00", None],
    ids=["empty", "utf16-bom", "deep", "self-alias", "list", "unclosed", "nul", "folder"],
)
def test_degenerate_files(kind, payload):
    _check(kind, payload, as_dir=payload is None)


def test_devices_and_oversized_files(tmp_path):
    with pytest.raises(UserInputError, match="is larger than 4,194,304 bytes"):
        load_scenario("/dev/zero")  # an endless file is cut off, not read into memory
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (4 * 2**20 + 1))
    with pytest.raises(UserInputError, match="is larger than"):
        load_strategy_file(big)


def test_shipped_files_still_load():
    for kind, (load, _) in LOADERS.items():
        for doc in SHIPPED[kind]:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "shipped.yaml"
                path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
                load(path)


# ----------------------------------------------------------------------------- the command line
NONE_ARM = "  - {strategy: none, share: 0.5}\n"
SELF_SPLIT = "name: s\nsplit:\n  - {strategy: ./input.yaml, share: 0.5}\n" + NONE_ARM
CLI_CASES = [
    ("run", "scenario", "name: x\naccounts: 100\naccounts: 200\n", "given twice"),
    ("run", "scenario", None, "accounts must be an integer between 1 and"),
    ("strategies validate", "strategy", SELF_SPLIT, "a split cannot contain itself"),
    ("strategies validate", "strategy",
     "name: s\nrules:\n  - {channel: sms, dpd: [30, 1]}\n  - {channel: sms, priority: .nan}\n",
     "must be a finite number"),
    ("schedule", None, None, "--principal: must be a finite amount above 0"),
]  # fmt: skip


@pytest.mark.parametrize(("command", "kind", "text", "needle"), CLI_CASES)
def test_cli_user_errors_exit_2_without_traceback(tmp_path, command, kind, text, needle):
    path = tmp_path / "input.yaml"
    if kind == "scenario" and text is None:
        text = (ROOT / "scenarios" / "small.yaml").read_text()
        text = text.replace("accounts: 4000", "accounts: 1e12")
    args = command.split()
    if kind is not None:
        path.write_text(text, encoding="utf-8")
        args.append(str(path))
        if command == "run":
            args += ["--out", str(tmp_path / "out")]
    else:
        args += ["--principal", "inf", "--annual-rate", "0.1", "--term", "12"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "error::RuntimeWarning"}
    done = subprocess.run(
        [sys.executable, "-c", "from postloan.cli import main; main()", *args],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr
    assert needle in done.stderr, done.stderr
    assert "inf" not in done.stdout and "nan" not in done.stdout  # no table came out
    assert sorted(p.name for p in tmp_path.iterdir()) == (["input.yaml"] if kind else [])
