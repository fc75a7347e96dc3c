"""After the install's warm-up, no command waits for the numba compiler.

``python -m postloan.warm`` (run by ``make`` at install) compiles and caches every kernel. Then
every command that simulates runs here in a fresh process on a tiny book, with a
``sitecustomize`` that logs each ``numba:compile`` event (numba raises it only on a cache miss,
never when it loads a cached kernel) to a file; worker processes log too (forked ones inherit
the listener, spawned ones run the same ``sitecustomize``). The log must stay empty.

The sizes differ from the warm-up's on purpose: a kernel's cached machine code depends on the
argument types, never on the book's size, and the test shows it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from postloan.warm import NOTICE, PANEL_CODES, postloan_entry

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "scenarios" / "small.yaml"
SIZE = ["--accounts", "400", "--days", "90"]


def _postloan() -> list[str]:
    """The ``postloan`` script as pyproject.toml declares it, run by this interpreter."""
    module, func = postloan_entry()
    return [sys.executable, "-c", f"import sys; from {module} import {func}; sys.exit({func}())"]


def _python(args: list[str], cwd: Path, path: str, timeout: float) -> subprocess.CompletedProcess:
    """Run this interpreter with ``args`` in ``cwd``, ``path`` as PYTHONPATH; it must succeed."""
    res = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert res.returncode == 0, res.stderr
    return res


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """Warm the cache, then an environment whose processes log every compile."""
    _python(["-m", "postloan.warm", "--quiet"], ROOT, str(ROOT), timeout=900)
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import os

            if os.environ.get("POSTLOAN_COMPILE_LOG"):
                from postloan.warm import compile_log

                compile_log(os.environ["POSTLOAN_COMPILE_LOG"])
            """
        )
    )
    return {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "COLUMNS": "120"}


def _panel(folder: Path) -> Path:
    from sim.calibration.fit import BookSpec, calibration_book
    from sim.calibration.synthetic import simulate_panel, write_panel_csv
    from sim.scenario import load_scenario
    from strategies.registry import resolve

    sc = calibration_book(
        load_scenario(SMALL, accounts=300),
        BookSpec(accounts=1500, months=6, initial=(0.03, 0.02, 0.02, 0.02)),
    )
    path = folder / "panel.csv"
    write_panel_csv(simulate_panel(sc, resolve("standard"), seed=9), path, PANEL_CODES)
    return path


COLUMNS = ["--id", "acct", "--period", "month", "--status", "status"]
MAP = ",".join(f"{code}={state}" for state, code in PANEL_CODES.items())
FIT = [
    "--accounts", "1000", "--months", "2", "--evaluations", "2", "--warm-evaluations", "2",
    "--late-evaluations", "2", "--refine-accounts", "1000", "--refine-evaluations", "1",
    "--holdout-seeds", "1",
]  # fmt: skip
SPACE = ROOT / "optimizer" / "spaces" / "example.yaml"

COMMANDS = {
    "run-vector": ["run", SMALL, *SIZE, "--strategy", "risk_based", "--out", "{out}"],
    "run-abm": ["run", SMALL, "--accounts", "120", "--days", "60", "--engine", "abm",
                "--compliance", "cn", "--out", "{out}"],
    "compare-j2": ["compare", SMALL, "--strategies", "standard,light_touch,none",
                   "--replications", "2", "-j", "2", *SIZE, "--out", "{out}"],
    "experiment-j2": ["experiment", "{spec}", "-j", "2", "--out", "{out}"],
    "calibrate": ["calibrate", "{panel}", *COLUMNS, "--map", MAP, *FIT,
                  "--scenario-accounts", "1000", "--allow-holdout-failure",
                  "--out", "{out}/calibrated.yaml"],
    "optimize": ["optimize", SMALL, "--space", SPACE, "--generations", "1", "--population", "4",
                 "--check-seeds", "2", *SIZE, "--out", "{out}/optimize"],
    "staffing-sweep": ["staffing", "sweep", SMALL, "--agents", "3,8", "--replications", "2",
                       "--no-marginal", *SIZE, "--json"],
}  # fmt: skip


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_compiles_nothing_after_warm_up(name, env, tmp_path):
    log = tmp_path / "compiles.log"
    spec = tmp_path / "exp.yaml"
    spec.write_text(
        f"name: nocompile\nscenario: {SMALL}\noverrides: {{accounts: 400, days: 90}}\n"
        "strategies: [aggressive, none]\nreplications: 2\nseed: 3\n"
        "variants: {grid: {staff.call_attempts_per_day: [4, 30]}}\n"
    )
    fill = {"{out}": str(tmp_path / "out"), "{spec}": str(spec)}
    if name == "calibrate":
        fill["{panel}"] = str(_panel(tmp_path))
    args = [str(a) for a in COMMANDS[name]]
    for key, value in fill.items():
        args = [a.replace(key, value) for a in args]
    res = subprocess.run(
        [*_postloan(), *args],
        cwd=tmp_path,
        env={**env, "POSTLOAN_COMPILE_LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    compiled = log.read_text() if log.exists() else ""
    assert compiled == "", f"postloan {name} compiled after the warm-up:\n{compiled}"
    assert NOTICE not in res.stderr


def test_a_compile_at_run_time_is_announced_once(tmp_path):
    """A kernel that is not cached: the user is told once, before the pause, not per kernel."""
    (tmp_path / "fresh_kernels.py").write_text(
        textwrap.dedent(
            """
            from numba import njit

            @njit
            def double(x):
                return 2 * x

            @njit
            def triple(x):
                return 3 * x
            """
        )
    )
    code = (
        "import sys; from postloan.warm import announce_compiles; announce_compiles(); "
        "import fresh_kernels as k; print(k.double(2), k.triple(2.0)); announce_compiles()"
    )
    res = _python(["-c", code], tmp_path, f"{tmp_path}{os.pathsep}{ROOT}", timeout=120)
    assert res.stdout.split() == ["4", "6.0"]
    assert res.stderr.count(NOTICE) == 1


def test_a_changed_source_clears_every_cached_kernel(tmp_path, monkeypatch):
    """numba checks a cached kernel against its own file only: ``g`` calls ``f`` of another
    file, and after ``f`` changes, ``g`` still runs the old ``f`` from the cache. The warm-up
    removes the project's cached kernels whenever a source changed, so ``g`` is compiled
    afresh."""
    from postloan import warm

    pkg = tmp_path / "sim"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "b.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef f(x):\n    return x + 1\n"
    )
    (pkg / "a.py").write_text(
        "from numba import njit\nfrom sim.b import f\n\n@njit(cache=True)\ndef g(x):\n"
        "    return f(x) * 10\n"
    )
    monkeypatch.setattr(warm, "ROOT", tmp_path)
    monkeypatch.setattr(warm, "KERNEL_PACKAGES", ("sim",))
    monkeypatch.setattr(warm, "CACHED_PACKAGES", ("sim",))
    monkeypatch.setattr(warm, "STAMP", pkg / "__pycache__" / "postloan-warm.sha256")

    def g_of_1() -> int:
        res = _python(["-c", "from sim.a import g; print(g(1))"], tmp_path, str(tmp_path), 120)
        return int(res.stdout)

    assert g_of_1() == 20
    assert warm.clear_stale_caches() == 4  # no stamp yet: the caches' sources are unknown
    assert g_of_1() == 20  # compiled again, from these sources
    assert warm.clear_stale_caches() == 0  # stamped: nothing changed, the cache stays
    assert len(warm.cached_kernel_files()) == 4  # index and data of f and g
    (pkg / "b.py").write_text((pkg / "b.py").read_text().replace("x + 1", "x + 2"))
    assert g_of_1() == 20  # numba's own check misses it: stale machine code
    announced = []
    monkeypatch.setattr(warm, "announce_compiles", lambda stream=None: announced.append(1))
    warm.prepare_kernels()  # what a command calls first
    assert announced == [1] and warm.cached_kernel_files() == []
    assert g_of_1() == 30
    assert warm.clear_stale_caches() == 0


def test_a_failing_step_fails_the_warm_up_with_its_message(tmp_path, monkeypatch, capsys):
    """An install must not pass over a broken command: exit 1 (make writes no stamp of its own
    and tries again next time), the command's own error shown."""
    from postloan import warm

    def broken(_folder: Path) -> None:
        warm.run_postloan("run", "no/such/scenario.yaml")

    monkeypatch.setattr(warm, "clear_stale_caches", lambda: 0)
    monkeypatch.setattr(warm, "STEPS", [("broken", broken)])
    assert warm.main([]) == 1
    err = capsys.readouterr().err
    assert "postloan run no/such/scenario.yaml exited with 2" in err
    assert "error: no/such/scenario.yaml: no such scenario file" in err  # the command's own
