"""Every code block of README.md and docs/*.md runs here, on small books, or says why not.

Each markdown file gets a fresh workspace (a temporary folder with a copy of ``scenarios/`` and
``optimizer/spaces/`` whose books are cut to 400 accounts and 60 days) and its blocks run in
order, as a reader would run them:

- ``python`` blocks in one namespace per file (a notebook), with ``accounts=``, ``days=`` and
  ``replications=`` arguments cut the same way;
- ``bash``/``console`` blocks line by line: ``postloan ...`` in this process (through the
  script's entry point), ``make TARGET`` as the Makefile's recipe for it (the install and
  warm-up steps it depends on are this environment's), with ``--accounts``, ``--days``,
  ``--replications``, ``--generations``, ``--population`` and ``--agents`` cut; ``make test``
  is the suite this test is part of, so it is not started again;
- ``yaml`` blocks validated (strategy files with ``postloan strategies validate``, experiment
  files loaded), ``sql`` blocks run by ``api.query`` over the workspace's results.

A block that needs a cluster, real data or more than 10 s carries ``<!-- not run: reason -->``
right before its fence (or ``# not run: reason`` on one shell line); anything else that cannot
be run fails the test, so a new example cannot slip past it. The blocks run must take 60 s at
most in all.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.doc_blocks import CODE_LANGUAGES, SHELL, Block, blocks, shell_lines

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: files whose blocks are known not to run yet, and why (remove the entry once they do)
PENDING: dict[str, str] = {}
ACCOUNTS, DAYS = 400, 60
SHRINK_ARGS = {"--accounts": str(ACCOUNTS), "--days": str(DAYS), "--replications": "2",
               "--generations": "1", "--population": "4", "--check-seeds": "2"}  # fmt: skip
BLOCK_SECONDS = 10.0
TOTAL_SECONDS = 60.0
#: seconds per block run, over the files run in this session
TIMES: dict[str, float] = {}


# ---------------------------------------------------------------------------- workspace
def _workspace(tmp: Path) -> Path:
    """A copy of the shipped scenarios with small books, and the optimiser's spaces."""
    shutil.copytree(ROOT / "scenarios", tmp / "scenarios")
    shutil.copytree(ROOT / "optimizer" / "spaces", tmp / "optimizer" / "spaces")
    for path in (tmp / "scenarios").rglob("*.yaml"):
        text = path.read_text()
        text = re.sub(r"(?m)^(\s*)accounts: \d+", rf"\g<1>accounts: {ACCOUNTS}", text)
        text = re.sub(r"(?m)^(\s*)days: \d+", rf"\g<1>days: {DAYS}", text)
        text = re.sub(r"\baccounts: \d+", f"accounts: {ACCOUNTS}", text)
        text = re.sub(r"\bdays: \d+", f"days: {DAYS}", text)
        text = re.sub(r"(?m)^replications: \d+", "replications: 2", text)
        path.write_text(text)
    (tmp / "results").mkdir()
    return tmp


# ---------------------------------------------------------------------------- runners
def _shrunk(words: list[str]) -> list[str]:
    out = list(words)
    for i, w in enumerate(out[:-1]):
        if w in SHRINK_ARGS:
            out[i + 1] = SHRINK_ARGS[w]
        elif w == "--agents":
            out[i + 1] = ",".join(out[i + 1].split(",")[:2])
    if out[:2] == ["postloan", "optimize"] and "--check-seeds" not in out:
        out += ["--check-seeds", "2"]
    return out


def _make_recipe(target: str) -> list[list[str]]:
    """The commands ``make TARGET`` runs after the install step, as postloan command lines."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe, pending = [], ""
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        text = pending + " " + line.strip() if pending else line.strip()
        if text.endswith("\\"):
            pending = text[:-1].rstrip()
            continue
        pending = ""
        if not text.startswith("@"):
            recipe.append(text.replace("$(BIN)/", "").split())
    return recipe


def _postloan(words: list[str], where: str) -> None:
    from postloan.warm import run_postloan

    try:
        run_postloan(*_shrunk(words)[1:])
    except RuntimeError as exc:
        pytest.fail(f"{where}: {exc}")


def _run_shell(block: Block) -> None:
    for line in shell_lines(block):
        if line.not_run:
            continue
        words = line.words
        if words[:1] == ["postloan"]:
            _postloan(words, block.where)
        elif words[:1] == ["make"] and len(words) == 2:
            if words[1] == "test":
                continue  # the whole suite: this test is part of it
            for cmd in _make_recipe(words[1]):
                assert cmd[:1] == ["postloan"], f"{block.where}: make {words[1]} runs {cmd}"
                _postloan(cmd, block.where)
        else:
            pytest.fail(f"{block.where}: cannot run {line.text!r}: mark it '# not run: reason'")


def _run_python(block: Block, namespace: dict) -> None:
    src = re.sub(r"\baccounts=\d+", f"accounts={ACCOUNTS}", block.text)
    src = re.sub(r"\bdays=\d+", f"days={DAYS}", src)
    src = re.sub(r"\breplications=\d+", "replications=2", src)
    exec(compile(src, block.where, "exec"), namespace)  # the docs' own examples


def _strategy_folder(ws: Path) -> Path:
    return ws / "scenarios" / "strategies"


def _write_strategies(ws: Path) -> None:
    """Every strategy table of the docs as ``NAME.yaml`` in the workspace (a split's arms are
    found from where the command runs) and in ``scenarios/strategies/`` (an experiment's, from
    the experiment file)."""
    folder = _strategy_folder(ws)
    folder.mkdir(parents=True, exist_ok=True)
    for path in FILES:
        for b in blocks(path):
            data = yaml.safe_load(b.text) if b.language == "yaml" else None
            if isinstance(data, dict) and ("rules" in data or "split" in data):
                for where in (ws, folder):
                    (where / f"{data['name']}.yaml").write_text(b.text)


def _run_yaml(block: Block, ws: Path) -> None:
    from postloan.experiments.spec import load_experiment

    data = yaml.safe_load(block.text)
    assert isinstance(data, dict), f"{block.where}: not a mapping"
    if "rules" in data or "split" in data:
        _postloan(
            [
                "postloan",
                "strategies",
                "validate",
                str(_strategy_folder(ws) / f"{data['name']}.yaml"),
            ],
            block.where,
        )
    elif "strategies" in data and "scenario" in data:
        path = ws / "scenarios" / "experiments" / "doc_example.yaml"
        path.write_text(block.text)
        exp = load_experiment(path)
        assert exp.spec.name == data["name"]
    elif "arms" in data and "published" in data:  # a trial file (docs/trials.md)
        from postloan.trials.arms import build_arms
        from postloan.trials.runner import trial_scenario
        from postloan.trials.spec import load_trial

        path = ws / "trials" / "doc_example.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(block.text)
        spec = load_trial(path)
        assert spec.name == data["name"]
        trial_scenario(spec, path)
        build_arms(spec, path)
    else:
        pytest.fail(f"{block.where}: a YAML block the test does not know how to check")


def _run_sql(block: Block, ws: Path) -> None:
    from postloan import api

    out = api.query(block.text, ws / "results")
    assert len(out) > 0, f"{block.where}: the query returned no rows"


# ---------------------------------------------------------------------------- tests
@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.xfail(reason=PENDING[p.name], strict=False))
        if p.name in PENDING
        else p
        for p in FILES
    ],
    ids=[p.name for p in FILES],
)
def test_code_blocks_run(path, tmp_path, monkeypatch):
    ws = _workspace(tmp_path)
    _write_strategies(ws)
    monkeypatch.chdir(ws)
    monkeypatch.setenv("COLUMNS", "120")
    namespace: dict = {"__name__": f"doc_{path.stem}"}
    for block in blocks(path):
        if block.language not in CODE_LANGUAGES:
            assert block.language == "", f"{block.where}: unknown block language {block.language!r}"
            continue
        if block.not_run:
            continue
        t0 = time.perf_counter()
        if block.language in SHELL:
            _run_shell(block)
        elif block.language == "python":
            _run_python(block, namespace)
        elif block.language == "yaml":
            _run_yaml(block, ws)
        else:
            _run_sql(block, ws)
        TIMES[block.where] = seconds = time.perf_counter() - t0
        assert seconds <= BLOCK_SECONDS, f"{block.where} took {seconds:.1f} s: mark it not run"


def test_markers_give_a_reason():
    for path in FILES:
        for block in blocks(path):
            if block.not_run is not None:
                assert len(block.not_run) >= 10, f"{block.where}: say why it is not run"
            if block.language in SHELL:
                for line in shell_lines(block):
                    assert line.not_run is None or len(line.not_run) >= 10, block.where


def test_all_blocks_within_a_minute():
    if len({w.split(":")[0] for w in TIMES}) < 2:
        pytest.skip("runs after the files' tests")
    total = sum(TIMES.values())
    slowest = sorted(TIMES.items(), key=lambda kv: -kv[1])[:5]
    assert total <= TOTAL_SECONDS, f"{total:.1f} s; slowest: {slowest}"


def test_make_figures_on_a_small_book(tmp_path):
    """``make figures`` end to end on a small book, into another folder (pages untouched)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "docs" / "make_figures.py")
    figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(figures)
    before = {p: p.read_text() for p in (ROOT / "README.md", ROOT / "docs" / "experiments.md")}
    assert figures.main(["--accounts", "400", "--out", str(tmp_path)]) == 0
    sweep = pd.read_csv(tmp_path / "staffing_sweep.csv")
    assert list(sweep.agents) == figures.AGENTS
    assert (tmp_path / "staffing_sweep.png").read_bytes()[:4] == b"\x89PNG"
    width = pd.read_csv(tmp_path / "paired_width.csv")
    assert list(width.challenger) == figures.CHALLENGERS
    assert (width.width_ratio > 0).all()
    assert (tmp_path / "comparison_report.png").read_bytes()[:4] == b"\x89PNG"
    assert "on net value" in (tmp_path / "comparison_report.md").read_text()
    assert {p: p.read_text() for p in before} == before


@pytest.mark.parametrize(
    ("page", "name"),
    [
        ("README.md", "staffing_sweep"),
        ("docs/experiments.md", "paired_width"),
        ("docs/experiments.md", "comparison_report"),
    ],
)
def test_generated_tables_match_their_figures(page, name):
    """What the pages show is what ``make figures`` last wrote to docs/figures/."""
    text = (ROOT / page).read_text()
    region = re.search(
        rf"<!-- generated by make figures: {name} -->\n(.*?)<!-- end generated -->", text, re.S
    )
    assert region, f"{page}: no generated region {name}"
    assert region.group(1) == (ROOT / "docs" / "figures" / f"{name}.md").read_text()


def test_readme_leads_with_make_demo_and_make_test():
    first = blocks(ROOT / "README.md")[0]
    commands = [line.words[:2] for line in shell_lines(first)]
    assert first.language == "bash" and commands == [["make", "demo"], ["make", "test"]]
