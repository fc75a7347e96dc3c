"""Throughput of the two engines on the same scenario (account-days per second).

Runs as a plain test under ``--benchmark-disable``. The ratio (vectorised / ABM) goes to
``extra_info``; the issue's target is 100x.
"""

from __future__ import annotations

import time

from sim.abm import run_abm
from sim.engine import simulate
from sim.scenario import load_scenario
from strategies.registry import resolve


def _rate(fn, sc) -> float:
    t0 = time.perf_counter()
    fn()
    return sc.accounts * sc.days / (time.perf_counter() - t0)


def test_bench_abm_vs_vector(benchmark):
    sc = load_scenario("scenarios/small.yaml", accounts=4000, days=60)
    simulate(sc, resolve("standard"), 1)  # compile the kernels
    vector = max(_rate(lambda: simulate(sc, resolve("standard"), 1), sc) for _ in range(3))
    abm = benchmark.pedantic(
        lambda: _rate(lambda: run_abm(sc, resolve("standard"), 1), sc), rounds=1, iterations=1
    )
    benchmark.extra_info["accounts"] = sc.accounts
    benchmark.extra_info["days"] = sc.days
    benchmark.extra_info["vector_account_days_per_s"] = vector
    benchmark.extra_info["abm_account_days_per_s"] = abm
    benchmark.extra_info["ratio"] = vector / abm
    assert vector > abm
