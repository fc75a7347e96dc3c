"""Engine speed and memory: account-days per second of the default strategy, and peak RSS.

The acceptance target (issue 1) is the baseline book scaled to 1,000,000 accounts x 365 days
under ``default_strategy()`` in at most 10 s on one core (>= 36.5 million account-days per
second) with peak memory under 2 GiB; population generation is timed apart.

By default (and with benchmarks disabled, the project default) each function runs once on a
small book, as a quick test. For the figures on the full size::

    POSTLOAN_BENCH_FULL=1 .venv/bin/python -m pytest tests/benchmarks/test_bench_engine.py \\
        --benchmark-enable -s

Nothing about time is asserted (shared machines make timings noisy): the figures go into
``benchmark.extra_info`` (``account_days_per_second``, ``peak_mib``) and are printed.
Timings exclude one-off per-process costs: loading the compiled kernels and the first import
of ``scipy.stats`` (used by the summary), which a warm-up run pays first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sim.engine import simulate
from sim.population import generate
from sim.scenario import load_scenario
from strategies.default import default_strategy

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
FULL = os.environ.get("POSTLOAN_BENCH_FULL", "") not in ("", "0")
#: (accounts, days) measured: the acceptance size, or a small book that runs in seconds.
SIZE = (1_000_000, 365) if FULL else (20_000, 60)
TARGET_ACCOUNT_DAYS_PER_S = 1_000_000 * 365 / 10.0
TARGET_PEAK_MIB = 2048
ROUNDS = 3


def _warm_up() -> None:
    """Pay the per-process costs once: kernel loading and the ``scipy.stats`` import."""
    import scipy.stats  # noqa: F401

    small = load_scenario(BASELINE, accounts=2_000, days=5)
    simulate(small, default_strategy(), 1)


@pytest.fixture(scope="module")
def scenario():
    accounts, days = SIZE
    return load_scenario(BASELINE, accounts=accounts, days=days)


def test_engine_account_days_per_second(benchmark, scenario) -> None:
    _warm_up()
    accounts, days = SIZE
    walls: list[float] = []

    def fresh_book():
        return (), {"portfolio": generate(scenario, scenario.seed)}

    def run(portfolio):
        started = time.perf_counter()
        result = simulate(scenario, default_strategy(), scenario.seed, portfolio=portfolio)
        walls.append(time.perf_counter() - started)
        return result

    result = benchmark.pedantic(
        run, setup=fresh_book, rounds=1 if benchmark.disabled else ROUNDS, iterations=1
    )
    best = min(walls)
    rate = accounts * days / best
    benchmark.extra_info.update(
        accounts=accounts,
        days=days,
        wall_seconds_best=best,
        wall_seconds_all=walls,
        account_days_per_second=rate,
        target_account_days_per_second=TARGET_ACCOUNT_DAYS_PER_S,
    )
    print(f"\nengine {accounts} x {days}: best {best:.2f} s, {rate / 1e6:.1f} M account-days/s")
    assert result.summary["accounts"] == accounts  # a sanity check, not a speed target


_MEASURE = textwrap.dedent(
    """
    import json, resource, sys, time
    from sim.engine import simulate
    from sim.population import generate
    from sim.scenario import load_scenario
    from strategies.default import default_strategy
    import scipy.stats  # noqa: F401  (the summary's import, not the engine's memory)

    path, accounts, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    sc = load_scenario(path, accounts=accounts, days=days)
    started = time.perf_counter()
    book = generate(sc, sc.seed)
    generated = time.perf_counter() - started
    after_generate = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    simulate(sc, default_strategy(), sc.seed, portfolio=book)
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"generate_seconds": generated, "simulate_seconds": wall,
                      "peak_kib": peak, "after_generate_kib": after_generate,
                      "book_mib": book.nbytes() / 2**20}))
    """
)


def test_engine_peak_memory(benchmark) -> None:
    accounts, days = SIZE

    def measure() -> dict:
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(BASELINE), str(accounts), str(days)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])

    figures = benchmark.pedantic(measure, rounds=1, iterations=1)
    peak_mib = figures["peak_kib"] / 1024  # ru_maxrss is in KiB on Linux
    benchmark.extra_info.update(
        accounts=accounts,
        days=days,
        peak_mib=peak_mib,
        after_generate_mib=figures["after_generate_kib"] / 1024,
        book_mib=figures["book_mib"],
        generate_seconds=figures["generate_seconds"],
        simulate_seconds_cold=figures["simulate_seconds"],
        account_days_per_second_cold=accounts * days / figures["simulate_seconds"],
        target_peak_mib=TARGET_PEAK_MIB,
    )
    print(
        f"\nengine {accounts} x {days}: peak RSS {peak_mib:.0f} MiB "
        f"(book {figures['book_mib']:.0f} MiB), generation {figures['generate_seconds']:.2f} s, "
        f"simulate (cold process) {figures['simulate_seconds']:.2f} s"
    )
    assert figures["book_mib"] > 0
