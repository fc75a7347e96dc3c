"""Compile every numba kernel the commands use, once, at install: ``python -m postloan.warm``.

The kernels are compiled with ``cache=True``: numba writes the machine code next to the sources
(``__pycache__/*.nbi``, ``*.nbc``) and a later process loads it in milliseconds. Without a warm
cache the first command after an install or an update spends a minute or more in the compiler.
``make`` runs this module as part of the install step, so no user command waits for it.

The warm-up does not list kernels: it drives the public entry points the commands use (the
vectorised engine and the Mesa model over every library strategy and compliance profile and
every shipped scenario, then the commands themselves, in this process, on tiny books), so
whatever kernels the engine has today get compiled for the argument types the commands pass.
``tests/test_no_compile.py`` checks the result: after the warm-up, every command run in a fresh
process compiles nothing.

numba checks a cached kernel against its own source file only. A kernel that calls a compiled
function of another file, or reads a constant of another module, keeps the machine code of the
old version when only that other file changes: stale code, silently. So the warm-up keeps a
hash of every source the kernels can depend on (``sim/`` and ``strategies/``) beside the
cache, and when it differs from the sources it finds, it removes every cached kernel of the
project before compiling: after an update everything is compiled afresh, once.

:func:`prepare_kernels` is the other half: a command calls it before simulating. It removes
stale caches when the sources changed without a warm-up (a ``git pull`` without ``make``), and
if numba then has to compile, the user reads why the command pauses
(:func:`announce_compiles`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sim.shipped import scenarios_folder

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = scenarios_folder()
#: A book small enough to run in well under a second, long enough to reach charge-off (120 DPD
#: from the accounts already delinquent at the start) and post-charge-off recovery.
TINY_ACCOUNTS = 300

NOTICE = "compiling numba kernels (first run after an update, about a minute)..."
#: Packages whose sources can end up in compiled code (kernels, the functions they call, the
#: constants they read); ``sim`` imports nothing else of ours and strategies only ``sim``.
KERNEL_PACKAGES = ("sim", "strategies")
#: Packages whose ``__pycache__`` may hold cached kernels.
CACHED_PACKAGES = ("sim", "strategies", "optimizer", "postloan")
STAMP = ROOT / "sim" / "__pycache__" / "postloan-warm.sha256"


# ---------------------------------------------------------------------------- stale caches
def sources_hash() -> str:
    """The digest of the sources that hold compiled code in :data:`KERNEL_PACKAGES`, as the
    cache locator computes it (:func:`sim.jit.digest_compiled_sources`): an edit that cannot
    change a kernel (a docstring-only module, the CLI) no longer forces a full recompile."""
    from sim.jit import COMPILED_PACKAGES, PROJECT_ROOT, compiled_sources_digest

    if (ROOT, KERNEL_PACKAGES) == (PROJECT_ROOT, COMPILED_PACKAGES):
        return compiled_sources_digest()  # the locator's own, computed once per process
    from sim.jit import digest_compiled_sources

    return digest_compiled_sources(ROOT, KERNEL_PACKAGES)


def cached_kernel_files() -> list[Path]:
    """The numba cache files (index and data) of the project's packages."""
    return sorted(
        p
        for package in CACHED_PACKAGES
        for pattern in ("*.nbi", "*.nbc")
        for p in (ROOT / package).rglob(f"__pycache__/{pattern}")
    )


def clear_stale_caches() -> int:
    """Remove every cached kernel when the sources changed since the caches were last cleared.

    The stamp (the sources' hash) is written with the clearing: whatever numba caches from
    then on is compiled from these sources, so it stays valid until the next change. Cheap
    when nothing changed (one hash over the sources): a test session can call it first.

    Returns
    -------
    int
        The number of cache files removed (0 when the sources are the stamped ones).
    """
    digest = sources_hash()
    if STAMP.exists() and STAMP.read_text().strip() == digest:
        return 0
    removed = 0
    for path in cached_kernel_files():
        path.unlink(missing_ok=True)
        removed += 1
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(digest + "\n")
    return removed


# ---------------------------------------------------------------------------- compile events
class _CompileListener:
    """Calls ``on_compile(dispatcher, args)`` when numba starts compiling a new signature.

    numba raises the ``numba:compile`` event only on a cache miss (a signature neither in memory
    nor in the on-disk cache), so loading cached kernels raises nothing.
    """

    def __init__(self, on_compile: Callable[[Any, tuple], None]) -> None:
        from numba.core import event

        class _Listener(event.Listener):
            def on_start(self, ev: event.Event) -> None:
                data = ev.data or {}
                on_compile(data.get("dispatcher"), tuple(data.get("args") or ()))

            def on_end(self, ev: event.Event) -> None:
                pass

        self.listener = _Listener()
        self._event = event

    def install(self) -> None:
        self._event.register("numba:compile", self.listener)

    def remove(self) -> None:
        self._event.unregister("numba:compile", self.listener)


_announcer: _CompileListener | None = None


def announce_compiles(stream: IO[str] | None = None) -> None:
    """Say on ``stream`` (stderr) when numba starts compiling, once per process.

    Call it in a command before the first simulation. It costs the import of numba (which the
    simulation needs anyway) and nothing while kernels load from the cache. Worker processes
    forked after the call inherit it. Calling it again does nothing.
    """
    global _announcer
    if _announcer is not None:
        return
    said = False

    def notice(_dispatcher: Any, _args: tuple) -> None:
        nonlocal said
        if not said:
            said = True
            print(NOTICE, file=stream or sys.stderr, flush=True)

    _announcer = _CompileListener(notice)
    _announcer.install()


def prepare_kernels(stream: IO[str] | None = None) -> None:
    """What a command that simulates calls first: stale caches removed, compiles announced.

    :func:`clear_stale_caches` (about 10 ms when nothing changed) makes the results right even
    when the sources were updated without ``make`` (a ``git pull``); :func:`announce_compiles`
    tells the user why the command then pauses. A cache folder that cannot be written (an
    installed package) is left alone.
    """
    try:
        clear_stale_caches()
    except OSError:
        pass
    announce_compiles(stream)


def compile_log(path: str | Path) -> None:
    """Append one line per compile (pid, kernel, argument types) to ``path``, in this process
    and in the workers it forks (for tests: see ``tests/test_no_compile.py``)."""
    import os

    target = Path(path)

    def record(dispatcher: Any, args: tuple) -> None:
        name = getattr(getattr(dispatcher, "py_func", None), "__qualname__", repr(dispatcher))
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", "?")
        with target.open("a", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\t{module}.{name}\t{', '.join(map(str, args))}\n")

    _CompileListener(record).install()


@contextmanager
def _counting() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(dispatcher: Any, _args: tuple) -> None:
        seen.append(getattr(getattr(dispatcher, "py_func", None), "__qualname__", "?"))

    listener = _CompileListener(count)
    listener.install()
    try:
        yield seen
    finally:
        listener.remove()


# ---------------------------------------------------------------------------- what is warmed
def _tiny(path: Path, accounts: int = TINY_ACCOUNTS, days: int | None = None):
    from sim.scenario import load_scenario

    return load_scenario(path, accounts=accounts, days=days)


def _shipped_scenarios() -> list[Path]:
    return sorted(SCENARIOS.glob("*.yaml"))


def _strategy_names() -> list[str]:
    from strategies.registry import names

    return [n for n in names() if n != "default"]  # "default" is an alias of "standard"


def _profiles() -> list[str]:
    from sim.compliance import PROFILES

    return list(PROFILES)


def warm_engine() -> None:
    """The vectorised engine: every shipped scenario, every strategy under every profile."""
    from sim.compliance import load_profile
    from sim.engine import simulate
    from strategies.registry import resolve

    for path in _shipped_scenarios():
        simulate(_tiny(path), resolve("standard"), 1)
    small = _tiny(SCENARIOS / "small.yaml")
    for name in _strategy_names():
        for profile in _profiles():
            simulate(small, resolve(name), 1, compliance=load_profile(profile))


def warm_abm() -> None:
    """The Mesa model: every strategy, every profile (fewer days: it runs Python per agent)."""
    from sim.abm import run_abm
    from sim.compliance import load_profile
    from strategies.registry import resolve

    small = _tiny(SCENARIOS / "small.yaml", accounts=150)
    for name in _strategy_names():
        run_abm(small, resolve(name), 1)
    for profile in _profiles():
        run_abm(small, resolve("standard"), 1, compliance=load_profile(profile))


def postloan_entry() -> tuple[str, str]:
    """``(module, function)`` of the ``postloan`` script: as ``pyproject.toml`` declares it in a
    source checkout, else as the installed package's metadata says."""
    pyproject = ROOT / "pyproject.toml"
    if pyproject.exists():
        import tomllib

        ref = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["scripts"]["postloan"]
    else:
        from importlib.metadata import entry_points

        ref = next(iter(entry_points(group="console_scripts", name="postloan"))).value
    module, func = ref.split(":")
    return module, func


def run_postloan(*args: str | Path) -> None:
    """One ``postloan`` command in this process, through the script's own entry point.

    Raises
    ------
    RuntimeError
        When the command does not exit 0 (its own message is on stderr).
    """
    import importlib

    module, func = postloan_entry()
    main = getattr(importlib.import_module(module), func)
    argv = [str(a) for a in args]
    saved = sys.argv
    sys.argv = ["postloan", *argv]
    try:
        code = main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = saved
    if code not in (0, None):
        raise RuntimeError(f"postloan {' '.join(argv)} exited with {code}")


def _synthetic_panel(folder: Path) -> Path:
    """A seven-month status panel of a small simulated book, in a lender's coding."""
    from sim.calibration.fit import BookSpec, calibration_book
    from sim.calibration.synthetic import simulate_panel, write_panel_csv
    from strategies.registry import resolve

    sc = calibration_book(
        _tiny(SCENARIOS / "small.yaml"),
        BookSpec(accounts=6000, months=6, initial=(0.06, 0.03, 0.02, 0.02)),
    )
    panel = simulate_panel(sc, resolve("standard"), seed=5)
    path = folder / "panel.csv"
    write_panel_csv(panel, path, PANEL_CODES)
    return path


PANEL_CODES = {
    "current": "0",
    "1-30": "1",
    "31-60": "2",
    "61-90": "3",
    "91-120": "4",
    "charged_off": "W",
    "paid_off": "C",
}


def warm_commands(folder: Path) -> None:
    """Every command that simulates, as a user types it, on tiny books."""
    small = SCENARIOS / "small.yaml"
    size = ["--accounts", str(TINY_ACCOUNTS), "--days", "120"]
    out = folder / "results"
    for engine in ("vector", "abm"):
        run_postloan("run", small, *size, "--engine", engine, "--out", out, "--json")
    run_postloan(
        "run",
        small,
        *size,
        "--strategy",
        "champion_challenger",
        "--compliance",
        "cn",
        "--out",
        out,
        "--json",
    )
    run_postloan(
        "compare",
        small,
        "--strategies",
        "standard,none",
        "--replications",
        "2",
        "-j",
        "2",
        *size,
        "--out",
        out,
        "--json",
    )
    spec = folder / "experiment.yaml"
    spec.write_text(
        f"name: warm\nscenario: {small}\n"
        f"overrides: {{accounts: {TINY_ACCOUNTS}, days: 120}}\n"
        "strategies: [standard, none]\nreplications: 2\nseed: 1\n"
        "variants: {grid: {staff.call_attempts_per_day: [5, 20]}}\n",
        encoding="utf-8",
    )
    run_postloan("experiment", spec, "-j", "2", "--out", out, "--json")
    run_postloan(
        "staffing",
        "sweep",
        small,
        "--agents",
        "2,6",
        "--replications",
        "2",
        "--no-marginal",
        *size,
        "--out",
        folder / "sweep",
        "--json",
    )
    run_postloan("stress", small, *size, "--json")
    run_postloan(
        "optimize",
        small,
        "--space",
        ROOT / "optimizer" / "spaces" / "example.yaml",
        "--generations",
        "1",
        "--population",
        "4",
        "--check-seeds",
        "2",
        *size,
        "--out",
        folder / "optimize",
    )
    run_postloan(
        "optimize",
        small,
        "--space",
        ROOT / "optimizer" / "spaces" / "example.yaml",
        "--method",
        "allocation",
        "--check-seeds",
        "2",
        *size,
        "--out",
        folder / "allocation",
    )
    panel = _synthetic_panel(folder)
    columns = ["--id", "acct", "--period", "month", "--status", "status"]
    mapping = ",".join(f"{code}={state}" for state, code in PANEL_CODES.items())
    budget = [
        "--accounts", "1000", "--months", "2", "--evaluations", "2", "--warm-evaluations", "2",
        "--late-evaluations", "2", "--refine-accounts", "1000", "--refine-evaluations", "1",
        "--holdout-seeds", "1",
    ]  # fmt: skip
    run_postloan(
        "calibrate",
        panel,
        *columns,
        "--map",
        mapping,
        *budget,
        "--scenario-accounts",
        "1000",
        "--allow-holdout-failure",
        "--out",
        folder / "calibrated.yaml",
    )
    run_postloan(
        "backtest",
        panel,
        *columns,
        "--map",
        mapping,
        *budget,
        "--train-until",
        "4",
        "--forecast-accounts",
        "1000",
        "--out",
        folder / "backtest.json",
    )


STEPS: list[tuple[str, Callable[[Path], None]]] = [
    ("engine: scenarios x strategies x compliance profiles", lambda _f: warm_engine()),
    ("Mesa model: strategies x compliance profiles", lambda _f: warm_abm()),
    ("commands: run, compare, experiment, staffing, stress, optimize, calibrate, backtest",
     warm_commands),
]  # fmt: skip


def warm(log: IO[str] | None = sys.stderr) -> int:
    """Run every step; return the number of kernel signatures compiled.

    Raises
    ------
    RuntimeError
        When a command fails (the message names it): an install should not pass over a broken
        command.
    """
    import logging
    import os

    os.environ.setdefault("COLUMNS", "120")
    logging.disable(logging.WARNING)  # the commands' own warnings are not news here
    total = 0
    t_all = time.perf_counter()
    removed = clear_stale_caches()
    if removed and log is not None:
        print(
            f"  sources changed since the last warm-up: {removed} cached kernel files removed",
            file=log,
            flush=True,
        )
    with tempfile.TemporaryDirectory(prefix="postloan-warm-") as tmp:
        for label, step in STEPS:
            t0 = time.perf_counter()
            with _counting() as seen, _quiet():
                step(Path(tmp))
            total += len(seen)
            if log is not None:
                print(
                    f"  {label}: {len(seen)} kernel signatures compiled, "
                    f"{time.perf_counter() - t0:.1f} s",
                    file=log,
                    flush=True,
                )
    if log is not None:
        print(
            f"numba cache warm: {total} compiled in {time.perf_counter() - t_all:.1f} s",
            file=log,
            flush=True,
        )
    return total


@contextmanager
def _quiet() -> Iterator[None]:
    """The commands print tables, JSON and progress; the warm-up shows only its own lines, and
    a failing command's own message."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    err = io.StringIO()
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            yield
    except Exception:
        sys.stderr.write(err.getvalue()[-4000:])
        raise


def main(argv: list[str] | None = None) -> int:
    """``python -m postloan.warm [--quiet]``: exit 0 when every step ran, 1 when one failed."""
    parser = argparse.ArgumentParser(
        prog="python -m postloan.warm",
        description="Compile and cache every numba kernel the postloan commands use.",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing unless a step fails")
    args = parser.parse_args(argv)
    log = None if args.quiet else sys.stderr
    if log is not None:
        print(
            "warming the numba cache (about a minute on a fresh install; seconds when warm)...",
            file=log,
            flush=True,
        )
    try:
        warm(log)
    except Exception as exc:  # one line for the install log, then fail
        print(f"postloan.warm: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
