"""Compiled code never goes stale (issue 14): editing a borrower rule invalidates every cached
kernel that inlines it.

numba's own on-disk cache keys a kernel on its own source file only, so a kernel in
``sim/kernels/due.py`` that calls a rule of ``sim/borrower/hardship.py`` would keep the old rule
after the rule's file changes. :mod:`sim.jit` installs a cache locator whose stamp also covers
every compiled project file. Both behaviours are shown on a copy of ``sim`` in a temporary
folder, each run in a fresh process (so only the on-disk cache carries code between runs).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Runs the DTI drift kernel (sim.kernels.due.dti_drift), which inlines the rule
#: sim.borrower.hardship.dti_factor; prints the drifted DTI of three accounts.
SCRIPT = """
import numpy as np
from sim.kernels import dti_drift
dti = np.ones(3)
dti_drift(np.arange(3), 5, np.zeros(3, np.bool_), dti, np.uint64(7))
print(repr(dti.tolist()))
"""
NUMBA_DEFAULT = (
    "UserProvidedCacheLocator,InTreeCacheLocator,UserWideCacheLocator,"
    "IPythonCacheLocator,ZipCacheLocator"
)


def _copy_sim(tmp: Path) -> Path:
    root = tmp / "project"
    shutil.copytree(ROOT / "sim", root / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _run(root: Path, locators: str | None = None) -> list[float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env["PYTHONPATH"] = str(root)
    if locators:
        env["NUMBA_CACHE_LOCATOR_CLASSES"] = locators
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, cwd=root, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def _edit_rule(root: Path) -> None:
    rule = root / "sim" / "borrower" / "hardship.py"
    text = rule.read_text()
    assert "DTI_DRIFT_SPREAD = 0.04" in text
    rule.write_text(text.replace("DTI_DRIFT_SPREAD = 0.04", "DTI_DRIFT_SPREAD = 0.4"))


def test_numba_alone_runs_a_stale_rule(tmp_path):
    """The problem: with numba's own locators, the edited rule is not seen."""
    root = _copy_sim(tmp_path)
    before = _run(root, NUMBA_DEFAULT)
    assert list((root / "sim" / "kernels" / "__pycache__").glob("due.dti_drift*.nbi"))
    _edit_rule(root)
    assert _run(root, NUMBA_DEFAULT) == before  # stale: loaded from the cache


def test_editing_a_rule_recompiles_the_kernels_that_use_it(tmp_path):
    """The fix: the project's locator stamps kernels with every compiled file's digest."""
    root = _copy_sim(tmp_path)
    before = _run(root)
    assert list((root / "sim" / "kernels" / "__pycache__").glob("due.dti_drift*.nbi"))
    assert _run(root) == before  # unchanged sources: the cache is used, same numbers
    _edit_rule(root)
    after = _run(root)
    assert after != before
    fresh = _copy_sim(tmp_path / "fresh")  # the edited rule compiled from an empty cache
    _edit_rule(fresh)
    assert _run(fresh) == after
