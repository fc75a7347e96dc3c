"""Reference outputs of every shipped scenario x library strategy, to prove a refactor changes
no result.

Runs each ``scenarios/*.yaml`` under every ``strategies/library`` strategy and no strategy, at a
reduced size, with the vectorised engine (and, smaller, the Mesa model), and writes one JSON
line per run: the summary without its timing fields, a SHA-256 of the daily frame, of the roll
counts and of the monthly table. Compare two files with ``diff``.

    PYTHONPATH=$PWD python tests/tools/reference_outputs.py out.jsonl [--abm]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path.cwd()  # run from the repository root
TIMING = ("wall_seconds", "account_days_per_second")


def digest(frame) -> str:
    h = hashlib.sha256()
    h.update(",".join(map(str, frame.columns)).encode())
    for c in frame.columns:
        h.update(np.ascontiguousarray(frame[c].to_numpy()).tobytes())
    return h.hexdigest()[:16]


def main(out: str, abm: bool) -> None:
    from sim.engine import simulate
    from sim.scenario import load_scenario
    from strategies.registry import library, resolve

    strategies = [None, *sorted(library())]
    scenarios = sorted((ROOT / "scenarios").glob("*.yaml"))
    runs = [("vector", simulate, 1500, 120)]
    if abm:
        from sim.abm import run_abm

        runs.append(("abm", run_abm, 300, 65))
    with open(out, "w") as f:
        for engine, run, accounts, days in runs:
            for path in scenarios:
                sc = load_scenario(path, accounts=accounts, days=days)
                for name in strategies:
                    strat = resolve(name) if name else None
                    r = run(sc, strat, 1)
                    summary = {k: v for k, v in r.summary.items() if k not in TIMING}
                    line = {
                        "engine": engine,
                        "scenario": path.stem,
                        "strategy": name or "none",
                        "summary": summary,
                        "daily": digest(r.daily),
                        "monthly": digest(r.monthly),
                        "roll": hashlib.sha256(r.roll_counts.tobytes()).hexdigest()[:16],
                    }
                    f.write(json.dumps(line, sort_keys=True, default=float) + "\n")
                    f.flush()
                    print(engine, path.stem, name, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], "--abm" in sys.argv[2:])
