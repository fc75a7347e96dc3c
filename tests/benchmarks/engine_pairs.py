"""Engine time of two checkouts, run alternately: is a change slower than the code before it?

The machine's speed wanders by a third within minutes, so two versions are only comparable when
measured in the same minutes. This script runs the baseline book (scaled) under the default
strategy in a fresh process per run, alternating between two source trees (``old`` first, then
``new``, ``--pairs`` times), and prints each run and the median of both with their ratio::

    .venv/bin/python tests/benchmarks/engine_pairs.py --old /path/to/old/checkout \\
        --new . --accounts 1000000 --days 365 --pairs 5

Each process warms up on a small book first (kernel loading, ``scipy.stats``), generates the
book and times ``simulate`` alone (population generation is timed apart). Not part of the
test suite: it is a measuring tool for the closing notes of engine changes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

_ONE_RUN = """
import json, sys, time
from sim.engine import simulate
from sim.population import generate
from sim.scenario import load_scenario
from strategies.default import default_strategy
import scipy.stats  # noqa: F401

path, accounts, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
simulate(load_scenario(path, accounts=2_000, days=5), default_strategy(), 1)
sc = load_scenario(path, accounts=accounts, days=days)
t0 = time.process_time()
book = generate(sc, sc.seed)
t1 = time.process_time()
simulate(sc, default_strategy(), sc.seed, portfolio=book)
t2 = time.process_time()
print(json.dumps({"generate": t1 - t0, "simulate": t2 - t1}))
"""


def one_run(root: Path, scenario: Path, accounts: int, days: int) -> dict:
    """Time one run of the checkout at ``root`` in a fresh process (CPU seconds)."""
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run(
        [sys.executable, "-c", _ONE_RUN, str(scenario), str(accounts), str(days)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True, help="checkout of the code before")
    ap.add_argument("--new", type=Path, default=Path("."), help="checkout of the change")
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--pairs", type=int, default=5)
    args = ap.parse_args()
    old, new = args.old.resolve(), args.new.resolve()
    times: dict[str, list[float]] = {"old": [], "new": []}
    for k in range(args.pairs):
        for label, root in (("old", old), ("new", new)):
            r = one_run(root, root / "scenarios" / "baseline.yaml", args.accounts, args.days)
            times[label].append(r["simulate"])
            print(
                f"pair {k + 1} {label}: simulate {r['simulate']:.2f} s "
                f"(generate {r['generate']:.2f} s)",
                flush=True,
            )
    m_old, m_new = statistics.median(times["old"]), statistics.median(times["new"])
    print(
        f"median old {m_old:.2f} s, new {m_new:.2f} s, new/old {m_new / m_old:.3f} "
        f"({args.accounts:,} x {args.days}, {args.pairs} pairs)"
    )


if __name__ == "__main__":
    main()
