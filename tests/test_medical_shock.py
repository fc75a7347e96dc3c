"""The medical-expense shock, the worked example of adding a borrower rule (docs/behaviour.md):
written once in sim/borrower/hardship.py, run by both engines, off by default."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest

from sim.abm import run_abm
from sim.engine import simulate
from sim.scenario import load_scenario
from strategies.registry import resolve
from tests.doc_blocks import blocks

ROOT = Path(__file__).resolve().parents[1]


def _shocked(sc, monthly: float, push: float = 0.0):
    b = sc.behaviour.model_copy(
        update={"medical_shock_monthly": monthly, "medical_shock_miss_push": push}
    )
    return sc.model_copy(update={"behaviour": b})


def test_off_by_default():
    sc = load_scenario(ROOT / "scenarios" / "baseline.yaml")
    assert sc.behaviour.medical_shock_monthly == 0.0
    assert sc.behaviour.medical_shock_miss_push == 0.0


def test_both_engines_run_the_shock_identically():
    """Roll counts and every integer KPI equal, money to 1e-9; and the shock moved the run."""
    book = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=400, days=60)
    sc = _shocked(book, 0.1, 1.0)
    vec = simulate(sc, resolve("standard"), 8)
    abm = run_abm(sc, resolve("standard"), 8)
    np.testing.assert_array_equal(abm.roll_counts, vec.roll_counts)
    counts = [k for k, v in vec.summary.items() if isinstance(v, int)]
    assert {"new_delinquent", "charge_offs", "churned", "promises_made"} <= set(counts)
    assert {k: abm.summary[k] for k in counts} == {k: vec.summary[k] for k in counts}
    for k in ("collected", "cost", "charge_off_amount"):
        assert abm.summary[k] == pytest.approx(vec.summary[k], rel=1e-9), k
    plain = simulate(book, resolve("standard"), 8).daily
    assert vec.daily["hardship_onsets"].sum() > plain["hardship_onsets"].sum()
    assert vec.summary["new_delinquent"] > plain["new_delinquent"].sum()


def test_more_shocks_give_more_new_delinquencies():
    """New delinquencies are counts: their difference between two runs has a standard error of
    about sqrt(n0 + n1); more shocks must raise them by well over three of those."""
    sc = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=4000, days=120)
    counts = []
    for monthly in (0.0, 0.03, 0.1):
        daily = simulate(_shocked(sc, monthly, 1.0), resolve("standard"), 5).daily
        counts.append((daily["new_delinquent"].sum(), daily["hardship_onsets"].sum()))
    for (n0, h0), (n1, h1) in itertools.pairwise(counts):
        assert n1 - n0 > 3 * math.sqrt(n0 + n1)
        assert h1 - h0 > 3 * math.sqrt(h0 + h1)


def test_the_excerpts_docs_extending_md_quotes_are_the_code():
    """Each not-run excerpt of docs/extending.md that names a source file (``<!-- not run: ...
    sim/x.py ... -->``) is that file's code: its lines appear there, in order."""
    quoted = 0
    for block in blocks(ROOT / "docs" / "extending.md"):
        source = re.search(r"\b((?:sim|strategies)/[\w/]+\.py)", block.not_run or "")
        if block.language != "python" or source is None:
            continue
        # compared without whitespace: the formatter may wrap a call in the source and not
        # in the page (or the other way round), the code is the same
        code = re.sub(r"\s+", "", (ROOT / source.group(1)).read_text())
        at = 0
        for line in filter(None, (re.sub(r"\s+", "", s) for s in block.text.splitlines())):
            found = code.find(line, at)
            assert found >= 0, f"{block.where}: not in {source.group(1)}: {line!r}"
            at = found + len(line)
        quoted += 1
    assert quoted >= 4
