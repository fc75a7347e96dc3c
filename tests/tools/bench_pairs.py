"""Engine time of two checkouts, run alternately (the acceptance check of a refactor).

    python tests/tools/bench_pairs.py OLD_ROOT NEW_ROOT [--accounts N] [--days D] [--pairs K]

Each run is a fresh process with that checkout first on ``PYTHONPATH``, the two checkouts
taking turns to go first (numba caches warm from a first, untimed run); the figure is the CPU
time of ``simulate`` on ``scenarios/baseline.yaml`` under ``standard``, seed 1. Prints every
pair and the median ratio new / old.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ONE_RUN = """
import json, sys, time
from sim.engine import simulate
from sim.scenario import load_scenario
from strategies.registry import resolve
sc = load_scenario("scenarios/baseline.yaml", accounts={accounts}, days={days})
t = time.process_time()
simulate(sc, resolve("standard"), 1)
print(json.dumps(time.process_time() - t))
"""


def run(root: str, accounts: int, days: int) -> float:
    env = dict(os.environ, PYTHONPATH=root)
    code = ONE_RUN.format(accounts=accounts, days=days)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--pairs", type=int, default=5)
    a = ap.parse_args()
    for root in (a.old, a.new):  # warm the numba caches
        run(root, 2000, 40)
    ratios = []
    for k in range(a.pairs):  # ABBA: each checkout goes first in half of the pairs
        if k % 2:
            new = run(a.new, a.accounts, a.days)
            old = run(a.old, a.accounts, a.days)
        else:
            old = run(a.old, a.accounts, a.days)
            new = run(a.new, a.accounts, a.days)
        ratios.append(new / old)
        line = f"pair {k + 1}: old {old:.2f} s, new {new:.2f} s, new/old {new / old:.4f}"
        print(line, flush=True)
    print(f"median new/old over {a.pairs} pairs: {statistics.median(ratios):.4f}")


if __name__ == "__main__":
    main()
