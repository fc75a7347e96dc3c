"""Experiment executors: a 16-cell experiment, serially and on 2 local processes.

Target: 2 processes at least 1.7 times faster than serial (the speed-up is recorded in
``benchmark.extra_info["speedup"]`` and printed, not asserted: shared machines make timings
noisy). With benchmarks disabled (the project default) it runs once as a plain test and checks
that both executors give the same cells, on small cells (5,000 accounts x 60 days).

``POSTLOAN_BENCH_ACCOUNTS`` / ``POSTLOAN_BENCH_DAYS`` scale the cells (default 100,000 x 120:
the baseline's book size; smaller cells leave more to the driving process and fork overhead).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import yaml

from postloan.experiments.executors import ProcessExecutor, SerialExecutor
from postloan.experiments.runner import execute_experiment
from postloan.experiments.spec import load_experiment
from sim.engine import simulate
from sim.kpis import TIMING_FIELDS
from sim.scenario import load_scenario
from strategies.registry import resolve

ROOT = Path(__file__).resolve().parents[2]
TARGET_SPEEDUP = 1.7
ACCOUNTS = int(os.environ.get("POSTLOAN_BENCH_ACCOUNTS", "100000"))
DAYS = int(os.environ.get("POSTLOAN_BENCH_DAYS", "120"))


def _spec(tmp: Path, accounts: int, days: int) -> Path:
    path = tmp / "bench.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "bench16",
                "scenario": str(ROOT / "scenarios" / "small.yaml"),
                "overrides": {"accounts": accounts, "days": days},
                "strategies": ["default", "none"],
                "replications": 4,
                "seed": 5,
                "variants": {"grid": {"staff.call_attempts_per_day": [500, 2000]}},
            }
        )
    )
    return path


def _cells(outcome) -> pd.DataFrame:
    # cells carry no timing fields since timings moved to the manifests; drop any that remain
    drop = [c for c in ("experiment_id", *TIMING_FIELDS) if c in outcome.cells.columns]
    return outcome.cells.drop(columns=drop).reset_index(drop=True)


def _warm_up() -> None:
    """Import and compile the engine once, so neither timing pays one-time start-up costs
    (forked workers inherit the compiled engine)."""
    sc = load_scenario(ROOT / "scenarios" / "small.yaml", accounts=300, days=30)
    for name in ("default", "none"):
        simulate(sc, resolve(name), 1)


def test_sixteen_cells_two_processes_vs_serial(benchmark, tmp_path):
    # as a plain test (benchmarks disabled) small cells suffice to compare the executors
    small = benchmark.disabled
    accounts, days = (min(ACCOUNTS, 5000), min(DAYS, 60)) if small else (ACCOUNTS, DAYS)
    exp = load_experiment(_spec(tmp_path, accounts, days))
    assert len(exp.cells()) == 16
    _warm_up()

    t0 = time.perf_counter()
    serial = execute_experiment(exp, tmp_path / "serial", executor=SerialExecutor())
    serial_s = time.perf_counter() - t0

    timings: list[float] = []
    outcomes = []

    def parallel():
        t = time.perf_counter()
        with ProcessExecutor(2) as ex:  # pool start-up is part of the cost
            outcomes.append(execute_experiment(exp, tmp_path / f"p{len(timings)}", executor=ex))
        timings.append(time.perf_counter() - t)

    benchmark.pedantic(parallel, rounds=1, iterations=1)
    parallel_s = min(timings)
    speedup = serial_s / parallel_s
    benchmark.extra_info.update(
        cells=16,
        accounts=accounts,
        days=days,
        serial_seconds=round(serial_s, 3),
        two_process_seconds=round(parallel_s, 3),
        speedup=round(speedup, 3),
        target_speedup=TARGET_SPEEDUP,
        cpu_count=os.cpu_count(),
    )
    print(
        f"\n16 cells of {accounts:,} accounts x {days} days: serial {serial_s:.2f} s, "
        f"2 processes {parallel_s:.2f} s, speed-up {speedup:.2f}x (target {TARGET_SPEEDUP}x)"
    )
    pd.testing.assert_frame_equal(_cells(serial), _cells(outcomes[0]))
